/**
 * Names on the wire: NATS subjects, JetStream stream and consumer names, Redis keys.
 *
 * Design: these builders are the ONLY place such names are made. Each validates its parts
 * (host names are DNS labels, ids are safe tokens: no `.`, `*`, `>`, `:`, braces or
 * whitespace), so no input can smuggle a wildcard or an extra subject token into a
 * subject, nor a separator into a Redis key. A bad part throws `INVALID_NAME`.
 *
 * Subject layout (`fleet.v1.` is the version root; a v2 protocol would live beside it):
 *
 * | subject | who publishes | what |
 * |---|---|---|
 * | `fleet.v1.jobs.<host>` | planner | signed job envelopes (apply, confirm, revert, observe) → stream FLEET_JOBS |
 * | `fleet.v1.events.host.<host>.<type>` | executor for `<host>` | progress, result, audit → stream FLEET_EVENTS |
 * | `fleet.v1.events.rollout.<id>.<type>` | planner | rollout transitions → stream FLEET_EVENTS |
 * | `fleet.v1.events.planner.<type>` / `fleet.v1.events.telemetry.<type>` | planner / telemetry | service-level audit → FLEET_EVENTS |
 * | `fleet.v1.heartbeat.<host>` | executor for `<host>` | heartbeats (core NATS, not stored) |
 * | `fleet.v1.state.<host>` | executor for `<host>` | state + sysctl reports (core NATS) |
 * | `fleet.v1.api.<verb>` | CLI → planner | request/reply API |
 * | `fleet.v1.telemetry.<verb>` | CLI → telemetry | request/reply API |
 *
 * Why `events.host.<host>` and not `events.<host>`: rollout events share the
 * `fleet.v1.events.>` stream, and a host named `rollout` would otherwise be allowed (by its
 * per-host permission `fleet.v1.events.<host>.>`) to publish rollout events. With a fixed
 * second token per publisher class, every host's permission covers exactly its own names.
 *
 * Confirms are jobs (`kind: "confirm"` on `fleet.v1.jobs.<host>`), not a subject of their
 * own: they must be signed like any job, survive an executor restart while it waits
 * (JetStream keeps them), and the host's permissions already cover exactly its job
 * consumer — a separate confirm subject would need a second consumer and more rights.
 */
import { FleetnetError, ProtocolErrorCodes } from "./errors.js";

/** A host name: a DNS label (RFC 1123), the same rule as the inventory's. */
export const HOST_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A safe id (job, rollout, plan, nonce…): letters, digits, `_` and `-`, 1–128 chars. */
export const SAFE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** A type/verb token: lower-case word with `-`, e.g. `result`, `rollback`. */
export const TOKEN_RE = /^[a-z][a-z0-9-]{0,31}$/;

function invalid(kind: string, value: unknown, rule: string): never {
  throw new FleetnetError(
    ProtocolErrorCodes.INVALID_NAME,
    `invalid ${kind} ${JSON.stringify(value)}: ${rule}`,
    { details: { kind, value } },
  );
}

/** Validate and return a host name; throws `INVALID_NAME` naming the value. */
export function assertHostName(host: string): string {
  if (typeof host !== "string" || !HOST_NAME_RE.test(host)) {
    invalid(
      "host name",
      host,
      "must be a DNS label (1–63 lower-case letters, digits and '-', starting and ending with a letter or digit)",
    );
  }
  return host;
}

/** Validate and return a safe id (jobId, rolloutId, planHash, nonce…). */
export function assertSafeId(id: string, kind = "id"): string {
  if (typeof id !== "string" || !SAFE_ID_RE.test(id)) {
    invalid(kind, id, "must be 1–128 letters, digits, '_' or '-' (no '.', '*', '>', ':', spaces)");
  }
  return id;
}

/**
 * The safe-id form of a plan hash: netstate's `sha256:<hex>` becomes `sha256-<hex>` (a `:`
 * is not allowed in ids: it separates Redis key parts). Ids already safe pass unchanged.
 */
export function planHashId(hash: string): string {
  return assertSafeId(hash.replace(/^([a-z0-9]+):/, "$1-"), "plan hash");
}

/** Validate and return a type/verb token. */
export function assertToken(token: string, kind = "token"): string {
  if (typeof token !== "string" || !TOKEN_RE.test(token)) {
    invalid(kind, token, "must be a lower-case word of letters, digits and '-' (max 32)");
  }
  return token;
}

/** Root of every fleetnet subject (protocol version 1). */
export const SUBJECT_ROOT = "fleet.v1";

/** Event types a host's executor publishes under its own events subject. */
export const HOST_EVENT_TYPES = ["progress", "result", "audit"] as const;
/** One of {@link HOST_EVENT_TYPES}. */
export type HostEventType = (typeof HOST_EVENT_TYPES)[number];

/** Planner API verbs served on `fleet.v1.api.<verb>`. */
export const API_VERBS = [
  "plan",
  "apply",
  "status",
  "pause",
  "resume",
  "abort",
  "rollback",
  "events",
] as const;
/** One of {@link API_VERBS}. */
export type ApiVerb = (typeof API_VERBS)[number];

/** Subject builders. Each validates its parts. */
export const subjects = {
  /** `fleet.v1.jobs.<host>`: jobs for one host (stream FLEET_JOBS). */
  job: (host: string) => `${SUBJECT_ROOT}.jobs.${assertHostName(host)}`,
  /** `fleet.v1.jobs.>`: every job subject (the FLEET_JOBS stream's filter). */
  allJobs: () => `${SUBJECT_ROOT}.jobs.>`,
  /** `fleet.v1.events.host.<host>.<type>`: an event from a host's executor. */
  hostEvent: (host: string, type: HostEventType) =>
    `${SUBJECT_ROOT}.events.host.${assertHostName(host)}.${assertToken(type, "event type")}`,
  /** `fleet.v1.events.host.<host>.>`: every event of one host (its publish permission). */
  hostEvents: (host: string) => `${SUBJECT_ROOT}.events.host.${assertHostName(host)}.>`,
  /** `fleet.v1.events.host.*.<type>` (or `.>` without a type): one event type of all hosts. */
  allHostEvents: (type?: HostEventType) =>
    type === undefined
      ? `${SUBJECT_ROOT}.events.host.>`
      : `${SUBJECT_ROOT}.events.host.*.${assertToken(type, "event type")}`,
  /** `fleet.v1.events.rollout.<id>.<type>`: a rollout transition (planner). */
  rolloutEvent: (rolloutId: string, type: string) =>
    `${SUBJECT_ROOT}.events.rollout.${assertSafeId(rolloutId, "rollout id")}.${assertToken(type, "event type")}`,
  /** `fleet.v1.events.rollout.<id>.>` (or every rollout without an id). */
  rolloutEvents: (rolloutId?: string) =>
    rolloutId === undefined
      ? `${SUBJECT_ROOT}.events.rollout.>`
      : `${SUBJECT_ROOT}.events.rollout.${assertSafeId(rolloutId, "rollout id")}.>`,
  /** `fleet.v1.events.planner.<type>`: planner-level audit (start, stop, API calls). */
  plannerEvent: (type: string) => `${SUBJECT_ROOT}.events.planner.${assertToken(type, "event type")}`,
  /** `fleet.v1.events.telemetry.<type>`: telemetry findings (drift, health changes). */
  telemetryEvent: (type: string) => `${SUBJECT_ROOT}.events.telemetry.${assertToken(type, "event type")}`,
  /** `fleet.v1.events.>`: every event (the FLEET_EVENTS stream's filter). */
  allEvents: () => `${SUBJECT_ROOT}.events.>`,
  /** `fleet.v1.heartbeat.<host>`. */
  heartbeat: (host: string) => `${SUBJECT_ROOT}.heartbeat.${assertHostName(host)}`,
  /** `fleet.v1.heartbeat.*`. */
  allHeartbeats: () => `${SUBJECT_ROOT}.heartbeat.*`,
  /** `fleet.v1.state.<host>`: state + sysctl reports. */
  state: (host: string) => `${SUBJECT_ROOT}.state.${assertHostName(host)}`,
  /** `fleet.v1.state.*`. */
  allStates: () => `${SUBJECT_ROOT}.state.*`,
  /** `fleet.v1.api.<verb>`: planner request/reply API. */
  api: (verb: ApiVerb) => `${SUBJECT_ROOT}.api.${assertToken(verb, "API verb")}`,
  /** `fleet.v1.api.>`. */
  allApi: () => `${SUBJECT_ROOT}.api.>`,
  /** `fleet.v1.telemetry.<verb>`: telemetry request/reply API (health, flows, drift). */
  telemetryApi: (verb: string) => `${SUBJECT_ROOT}.telemetry.${assertToken(verb, "API verb")}`,
  /** `fleet.v1.telemetry.>`. */
  allTelemetryApi: () => `${SUBJECT_ROOT}.telemetry.>`,
} as const;

/**
 * The inbox prefix a host's connection must use (client option `inboxPrefix`): replies to
 * its requests (pull batches, publish acks) arrive only under it, and its permissions
 * allow subscribing only there, so no host can read replies meant for another.
 */
export function hostInboxPrefix(host: string): string {
  return `_INBOX_${assertHostName(host)}`;
}

/** Name of the stream of jobs (work queue). */
export const JOBS_STREAM = "FLEET_JOBS";
/** Name of the stream of events (the audit log). */
export const EVENTS_STREAM = "FLEET_EVENTS";

/** Durable pull consumer of one host's jobs: `exec-<host>`. */
export function jobConsumerName(host: string): string {
  return `exec-${assertHostName(host)}`;
}

/**
 * JetStream API subjects a host's executor needs for its pull consumer: fetch, info, and
 * acks (acks are published to the message's reply subject
 * `$JS.ACK.<stream>.<consumer>.<…>`).
 */
export const jsApi = {
  /** `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`: request the next batch. */
  consumerNext: (stream: string, consumer: string) =>
    `$JS.API.CONSUMER.MSG.NEXT.${assertStreamName(stream)}.${assertConsumerName(consumer)}`,
  /** `$JS.API.CONSUMER.INFO.<stream>.<consumer>`. */
  consumerInfo: (stream: string, consumer: string) =>
    `$JS.API.CONSUMER.INFO.${assertStreamName(stream)}.${assertConsumerName(consumer)}`,
  /** `$JS.ACK.<stream>.<consumer>.>`: acks, naks, in-progress and term of one consumer. */
  consumerAcks: (stream: string, consumer: string) =>
    `$JS.ACK.${assertStreamName(stream)}.${assertConsumerName(consumer)}.>`,
} as const;

const STREAM_NAME_RE = /^[A-Z][A-Z0-9_]{0,31}$/;
const CONSUMER_NAME_RE = /^[a-z][a-z0-9-]{0,79}$/;

function assertStreamName(name: string): string {
  if (!STREAM_NAME_RE.test(name)) invalid("stream name", name, "must match [A-Z][A-Z0-9_]*");
  return name;
}

function assertConsumerName(name: string): string {
  if (!CONSUMER_NAME_RE.test(name)) invalid("consumer name", name, "must match [a-z][a-z0-9-]*");
  return name;
}

/** Prefix of every Redis key. */
export const REDIS_PREFIX = "fleetnet";

/**
 * Redis key builders. Keys of one rollout share the hash tag `{<id>}` so a Lua script or
 * MULTI over one rollout stays in one Redis Cluster slot; every host lock shares the tag
 * `{locks}` so a rollout can take all its host locks in one atomic script.
 */
export const redisKeys = {
  /** Hash: a rollout's record (status, plan hash, policy, current wave, timestamps). */
  rollout: (rolloutId: string) => `${REDIS_PREFIX}:rollout:{${assertSafeId(rolloutId, "rollout id")}}`,
  /** Hash: host → status within one rollout. */
  rolloutHosts: (rolloutId: string) =>
    `${REDIS_PREFIX}:rollout:{${assertSafeId(rolloutId, "rollout id")}}:hosts`,
  /** String/JSON: the computed waves of one rollout. */
  rolloutWaves: (rolloutId: string) =>
    `${REDIS_PREFIX}:rollout:{${assertSafeId(rolloutId, "rollout id")}}:waves`,
  /** Hash: jobId → host for the jobs a rollout issued (to match results). */
  rolloutJobs: (rolloutId: string) =>
    `${REDIS_PREFIX}:rollout:{${assertSafeId(rolloutId, "rollout id")}}:jobs`,
  /** Sorted set: rollout ids by creation time. */
  rolloutIndex: () => `${REDIS_PREFIX}:rollouts`,
  /** String: the lock of one host (value: rollout id + fencing token; with a lease TTL). */
  hostLock: (host: string) => `${REDIS_PREFIX}:{locks}:host:${assertHostName(host)}`,
  /** Counter: fencing tokens for host locks (monotonic). */
  lockFence: () => `${REDIS_PREFIX}:{locks}:fence`,
  /** String/JSON: a plan by its hash. */
  plan: (planHash: string) => `${REDIS_PREFIX}:plan:${assertSafeId(planHash, "plan hash")}`,
  /** String/JSON: the last observed state a host reported. */
  hostState: (host: string) => `${REDIS_PREFIX}:host:${assertHostName(host)}:state`,
  /** Hash: the last heartbeat per host. */
  heartbeats: () => `${REDIS_PREFIX}:heartbeats`,
  /** Hash: IPAM allocations of one pool (owner key → address). */
  allocations: (poolId: string) => `${REDIS_PREFIX}:alloc:${assertSafeId(poolId, "pool id")}`,
  /** Sorted set: nonces/jobIds a host has seen (a persistent replay cache), by expiry. */
  replay: (host: string) => `${REDIS_PREFIX}:replay:${assertHostName(host)}`,
} as const;

/** BullMQ key prefix and queue name for rollout driver jobs. */
export const bullmq = {
  /** BullMQ `prefix` option. */
  prefix: `${REDIS_PREFIX}:bull`,
  /** Queue that drives rollouts (one BullMQ job per rollout). */
  rolloutQueue: "rollouts",
} as const;
