/**
 * The NATS JetStream side of the runner: jobs out, results and audit in the event log,
 * heartbeats in.
 *
 * Design: every job is a signed envelope (Ed25519, libs/protocol) published to
 * `fleet.v1.jobs.<host>` with `Nats-Msg-Id = jobId` through the runtime's durable publish
 * (retries across reconnects; a repeat within the stream's duplicate window is dropped,
 * and an executor refuses a jobId it has seen as a replay). Results are read from the
 * FLEET_EVENTS stream with an ordered consumer starting at the rollout's creation time, so
 * a planner that restarts sees every result produced while it was down; the state machine
 * ignores the ones it already has. An executor's `job.refused` for an expired or misaddressed
 * job counts as that job's failed result. Audit events go to `fleet.v1.events.rollout.<id>.<scope>`.
 */
import type { KeyObject } from "node:crypto";
import {
  type AuditEvent,
  AuditEventSchema,
  DEFAULT_JOB_TTL_MS,
  EVENTS_STREAM,
  encodeMessage,
  HeartbeatSchema,
  type Job,
  jobPublication,
  messageIds,
  newJob,
  parseMessage,
  ResultSummarySchema,
  redisKeys,
  StateReportSchema,
  signJob,
  subjects,
} from "@fleetnet/protocol";
import { type JetStreamClient, type NatsConnection, publishDurably, type Redis } from "@fleetnet/runtime";
import type {
  DispatchRequest,
  DispatchResult,
  HeartbeatBook,
  HostDispatcher,
  ResultSubscription,
} from "./dispatch.js";
import { parseJobId } from "./machine.js";
import type { AuditSink } from "./runner.js";

/** Options of {@link NatsDispatcher}. */
export interface NatsDispatcherOptions {
  js: JetStreamClient;
  /** The planner's Ed25519 job-signing key. */
  signingKey: KeyObject;
  /** This planner instance (the jobs' `issuer`). */
  issuer: string;
  /** How long a job stays valid after it is issued (ms, default protocol's `DEFAULT_JOB_TTL_MS`). */
  jobTtlMs?: number;
  clock?: () => number;
}

/** Build the (unsigned) job envelope of a dispatch request (protocol's `newJob`). */
export function jobEnvelope(req: DispatchRequest, issuer: string, now: number, ttlMs: number): Job {
  const base = {
    jobId: req.jobId,
    host: req.host,
    rolloutId: req.rolloutId,
    planHash: req.planHash,
    issuer,
    now,
    ttlMs,
  };
  switch (req.kind) {
    case "apply":
      if (!req.desired || req.confirmTimeoutMs === undefined)
        throw new TypeError(`apply job ${req.jobId} needs desired state and confirmTimeoutMs`);
      return newJob({
        ...base,
        kind: "apply",
        payload: { desired: req.desired, confirmTimeoutMs: req.confirmTimeoutMs, wave: req.wave },
      });
    case "confirm":
      return newJob({ ...base, kind: "confirm", payload: { applyJobId: req.applyJobId ?? "" } });
    case "revert":
      return newJob({
        ...base,
        kind: "revert",
        payload: { applyJobId: req.applyJobId ?? "", reason: (req.reason ?? "rollback").slice(0, 1024) },
      });
  }
}

/** Dispatch over NATS JetStream (FLEET_JOBS out, FLEET_EVENTS results in). */
export class NatsDispatcher implements HostDispatcher {
  private readonly ttl: number;
  private readonly clock: () => number;

  constructor(private readonly o: NatsDispatcherOptions) {
    this.ttl = o.jobTtlMs ?? DEFAULT_JOB_TTL_MS;
    this.clock = o.clock ?? Date.now;
  }

  async dispatch(req: DispatchRequest): Promise<void> {
    const signed = signJob(jobEnvelope(req, this.o.issuer, this.clock(), this.ttl), this.o.signingKey);
    const { subject, payload, msgID } = jobPublication(signed);
    await publishDurably(this.o.js, subject, payload, { msgID });
  }

  async results(
    rolloutId: string,
    sinceMs: number,
    onResult: (r: DispatchResult) => void,
  ): Promise<ResultSubscription> {
    const filter = subjects.allHostEvents();
    let next = await this.firstSeqSince(filter, sinceMs);
    let closed = false;
    let current: { close(): Promise<unknown> } | undefined;
    const loop = (async () => {
      while (!closed) {
        try {
          // By start SEQUENCE, not time: when the client re-creates an ordered consumer (after a
          // server restart) it keeps the original config and adds opt_start_seq, which the
          // server refuses next to opt_start_time — results would silently stop.
          const consumer = await this.o.js.consumers.get(EVENTS_STREAM, {
            filter_subjects: filter,
            deliver_policy: "by_start_sequence",
            opt_start_seq: next,
          });
          // short pulls: a restarted server is noticed (missed heartbeats) within seconds
          const messages = await consumer.consume({ expires: 5_000 });
          current = messages;
          if (closed) await messages.close();
          for await (const m of messages) {
            next = m.seq + 1;
            const r = m.subject.endsWith(".result") ? resultOf(m.data) : refusalOf(m.data);
            if (r && r.rolloutId === rolloutId) onResult(r);
          }
        } catch {
          // the consumer could not be made or broke off: try again from the next sequence
        }
        if (!closed) await new Promise((res) => setTimeout(res, 500));
      }
    })();
    return {
      close: async () => {
        closed = true;
        await current?.close();
        await loop;
      },
    };
  }

  /** Stream sequence of the first message on `filter` at or after `sinceMs` (or the next one to come). */
  private async firstSeqSince(filter: string, sinceMs: number): Promise<number> {
    // the last sequence BEFORE probing: anything newer is picked up by starting after it
    const last = (await (await this.o.js.streams.get(EVENTS_STREAM)).info()).state.last_seq;
    const probe = await this.o.js.consumers.get(EVENTS_STREAM, {
      filter_subjects: filter,
      deliver_policy: "by_start_time",
      opt_start_time: new Date(sinceMs).toISOString(),
    });
    try {
      if ((await probe.info(true)).num_pending === 0) return last + 1;
      const m = await probe.next({ expires: 5_000 });
      return m ? m.seq : last + 1;
    } finally {
      await probe.delete().catch(() => {});
    }
  }
}

function resultOf(data: Uint8Array): DispatchResult | undefined {
  const parsed = parseMessage(ResultSummarySchema, data, { what: "result" }); // the planner reads status + error, not the ops
  if (!parsed.ok) return undefined;
  const r = parsed.value;
  if (r.status === "observed") return undefined;
  return {
    rolloutId: r.rolloutId,
    host: r.host,
    jobId: r.jobId,
    status: r.status,
    ...(r.error ? { error: { code: r.error.code, message: r.error.message } } : {}),
  };
}

/**
 * Refusals that mean "this job will never run": expired (it waited too long, e.g. the host
 * was down) or misaddressed. Turned into a failed result for the job the executor names, so
 * the rollout does not wait for the result timeout. A replay refusal is ignored (the job
 * ran before: its result is in the stream), and so is any refusal without a job id.
 */
const FATAL_REFUSALS = new Set(["JOB_EXPIRED", "JOB_MISADDRESSED"]);

function refusalOf(data: Uint8Array): DispatchResult | undefined {
  const parsed = parseMessage(AuditEventSchema, data, { what: "audit event" });
  if (!parsed.ok) return undefined;
  const e = parsed.value;
  const claimed = e.details?.claimedJobId;
  if (
    e.action !== "job.refused" ||
    !e.error ||
    !FATAL_REFUSALS.has(e.error.code) ||
    typeof claimed !== "string"
  )
    return undefined;
  const id = parseJobId(claimed);
  if (!id || !e.target.host || id.host !== e.target.host) return undefined;
  return {
    rolloutId: id.rolloutId,
    host: id.host,
    jobId: claimed,
    status: "failed",
    error: { code: e.error.code, message: `job refused by ${e.target.host}: ${e.error.message}` },
  };
}

/** Audit events to the FLEET_EVENTS stream, de-duplicated by event id. */
export class NatsAuditSink implements AuditSink {
  constructor(private readonly js: JetStreamClient) {}

  async publish(event: AuditEvent): Promise<void> {
    const scope = event.action.split(".")[0] as string;
    const subject = event.target.rolloutId
      ? subjects.rolloutEvent(event.target.rolloutId, scope)
      : subjects.plannerEvent(scope);
    await publishDurably(this.js, subject, encodeMessage(AuditEventSchema, event, "audit event"), {
      msgID: messageIds.audit(event),
    });
  }
}

/** Feed every heartbeat on `fleet.v1.heartbeat.*` into `book`. Returns a stop function. */
export function followHeartbeats(nc: NatsConnection, book: HeartbeatBook): () => Promise<void> {
  const sub = nc.subscribe(subjects.allHeartbeats());
  const done = (async () => {
    for await (const m of sub) {
      const hb = parseMessage(HeartbeatSchema, m.data, { what: "heartbeat" });
      if (hb.ok) book.record(hb.value);
    }
  })();
  return async () => {
    await sub.drain();
    await done;
  };
}

/**
 * Keep the last state each executor reports (`fleet.v1.state.<host>`) in Redis
 * (`redisKeys.hostState(host)`): what live planning diffs against. Returns a stop function.
 */
export function followStateReports(nc: NatsConnection, redis: Redis): () => Promise<void> {
  const sub = nc.subscribe(subjects.allStates());
  const done = (async () => {
    for await (const m of sub) {
      const r = parseMessage(StateReportSchema, m.data, { what: "state report" });
      if (r.ok) await redis.set(redisKeys.hostState(r.value.host), JSON.stringify(r.value.state));
    }
  })();
  return async () => {
    await sub.drain();
    await done;
  };
}
