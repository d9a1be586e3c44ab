/**
 * JetStream stream and consumer configurations, as plain data.
 *
 * Field names are the JetStream API's (snake_case), which `@nats-io/jetstream`'s
 * `StreamConfig`/`ConsumerConfig` use, so runtime code passes them to `jsm.streams.add` /
 * `jsm.consumers.add` as they are (string-literal enums may need a cast to the client's
 * enum types). Only features of nats-server 2.9.10 are used: one `filter_subject` per
 * consumer, no subject transforms, no per-message TTL.
 */
import { EVENTS_STREAM, JOBS_STREAM, jobConsumerName, subjects } from "./names.js";

const NS_PER_MS = 1_000_000;
/** Milliseconds → nanoseconds (JetStream durations). */
export function nanos(ms: number): number {
  return ms * NS_PER_MS;
}

/** The subset of a JetStream stream config fleetnet sets. */
export interface FleetStreamConfig {
  name: string;
  description: string;
  subjects: string[];
  retention: "limits" | "workqueue" | "interest";
  storage: "file" | "memory";
  discard: "old" | "new";
  /** Nanoseconds. */
  max_age: number;
  max_msgs: number;
  max_bytes: number;
  max_msg_size: number;
  /** Nanoseconds: window in which a repeated `Nats-Msg-Id` is dropped. */
  duplicate_window: number;
  num_replicas: number;
  deny_delete: boolean;
  deny_purge: boolean;
  allow_rollup_hdrs: boolean;
}

/** The subset of a JetStream consumer config fleetnet sets. */
export interface FleetConsumerConfig {
  durable_name: string;
  name: string;
  description: string;
  filter_subject: string;
  ack_policy: "explicit" | "none" | "all";
  deliver_policy: "all" | "new" | "last";
  /** Nanoseconds: unacked → redelivered after this (executors send in-progress acks). */
  ack_wait: number;
  max_deliver: number;
  max_ack_pending: number;
  max_waiting: number;
}

/** Window in which a job re-published with the same `jobId` is de-duplicated. */
export const DUPLICATE_WINDOW_MS = 10 * 60_000;

/**
 * `FLEET_JOBS`: a work queue on `fleet.v1.jobs.>`. A job is removed once its host's
 * executor acks it (after publishing the result). Jobs are short-lived (each expires on
 * its own `expiresAt`), so a day of retention bounds a backlog for a dead host.
 */
export const jobsStreamConfig: FleetStreamConfig = {
  name: JOBS_STREAM,
  description: "fleetnet jobs: signed envelopes for one host each (work queue)",
  subjects: [subjects.allJobs()],
  retention: "workqueue",
  storage: "file",
  discard: "old",
  max_age: nanos(24 * 3_600_000),
  max_msgs: -1,
  max_bytes: 1024 * 1024 * 1024,
  max_msg_size: 8 * 1024 * 1024,
  duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  num_replicas: 1,
  deny_delete: false,
  deny_purge: false,
  allow_rollup_hdrs: false,
};

/**
 * `FLEET_EVENTS`: the audit log on `fleet.v1.events.>` (limits retention: every consumer
 * sees every event). Deleting or purging is denied so history cannot be rewritten through
 * the API; age and size limits bound it.
 */
export const eventsStreamConfig: FleetStreamConfig = {
  name: EVENTS_STREAM,
  description: "fleetnet audit log: every rollout and host transition",
  subjects: [subjects.allEvents()],
  retention: "limits",
  storage: "file",
  discard: "old",
  max_age: nanos(30 * 24 * 3_600_000),
  max_msgs: -1,
  max_bytes: 4 * 1024 * 1024 * 1024,
  max_msg_size: 8 * 1024 * 1024,
  duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  num_replicas: 1,
  deny_delete: true,
  deny_purge: true,
  allow_rollup_hdrs: false,
};

/** Both streams, in creation order. */
export const streamConfigs: readonly FleetStreamConfig[] = [jobsStreamConfig, eventsStreamConfig];

/**
 * The durable pull consumer of one host's jobs (`exec-<host>` on `fleet.v1.jobs.<host>`).
 * `max_ack_pending: 1` serialises a host's jobs: a confirm or revert is never handed out
 * while the apply before it is still unacknowledged.
 */
export function jobConsumerConfig(host: string): FleetConsumerConfig {
  return {
    durable_name: jobConsumerName(host),
    name: jobConsumerName(host),
    description: `fleetnet executor for host ${host}`,
    filter_subject: subjects.job(host),
    ack_policy: "explicit",
    deliver_policy: "all",
    ack_wait: nanos(30_000),
    max_deliver: 50,
    max_ack_pending: 1,
    max_waiting: 16,
  };
}
