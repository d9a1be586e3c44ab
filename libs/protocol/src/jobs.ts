/**
 * Building jobs and the events around them: fresh ids, job envelopes with their
 * nonce/issue/expiry filled in, and the audit event an executor publishes when it refuses
 * a job (a refused job never gets a `result`: see signing.ts).
 */
import { randomBytes } from "node:crypto";
import { type FleetnetError, toErrorEnvelope } from "./errors.js";
import type { ApplyJob, AuditEvent, ConfirmJob, Job, ObserveJob, RevertJob } from "./messages.js";
import { assertHostName, assertSafeId } from "./names.js";
import { newNonce } from "./signing.js";

/**
 * A fresh id `<prefix>-<time base36>-<random>`: safe for subjects and Redis keys, unique
 * without coordination (64 random bits), and roughly time-ordered for humans.
 */
export function newId(prefix: string, now: number = Date.now()): string {
  if (!/^[a-z][a-z0-9]{0,15}$/.test(prefix))
    throw new RangeError(`id prefix ${JSON.stringify(prefix)} must be a short lower-case word`);
  return `${prefix}-${now.toString(36)}-${randomBytes(8).toString("hex")}`;
}

/** Default lifetime of a job: long enough for a slow host, short enough to bound replay. */
export const DEFAULT_JOB_TTL_MS = 15 * 60_000;

type PayloadOf<K extends Job["kind"]> = K extends "apply"
  ? ApplyJob["payload"]
  : K extends "confirm"
    ? ConfirmJob["payload"]
    : K extends "revert"
      ? RevertJob["payload"]
      : ObserveJob["payload"];

/** Input of {@link newJob}. */
export interface NewJobInput<K extends Job["kind"]> {
  kind: K;
  host: string;
  rolloutId: string;
  planHash: string;
  /** Planner instance id (audit). */
  issuer: string;
  payload: PayloadOf<K>;
  /** Lifetime in ms (default {@link DEFAULT_JOB_TTL_MS}). */
  ttlMs?: number;
  /** Issue time (default now). */
  now?: number;
  /** Job id (default a fresh `j-…` id). Give a deterministic one to make re-publishing idempotent. */
  jobId?: string;
}

/**
 * A job envelope with `v`, `jobId`, `nonce`, `issuedAt` and `expiresAt` filled in. Sign it
 * with `signJob` (which validates it).
 */
export function newJob<K extends Job["kind"]>(input: NewJobInput<K>): Extract<Job, { kind: K }> {
  const now = input.now ?? Date.now();
  const ttl = input.ttlMs ?? DEFAULT_JOB_TTL_MS;
  if (!Number.isFinite(ttl) || ttl <= 0)
    throw new RangeError(`job ttl ${ttl} must be a positive number of ms`);
  return {
    v: 1,
    jobId: assertSafeId(input.jobId ?? newId("j", now), "job id"),
    host: assertHostName(input.host),
    rolloutId: assertSafeId(input.rolloutId, "rollout id"),
    planHash: assertSafeId(input.planHash, "plan hash"),
    issuer: input.issuer,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + ttl).toISOString(),
    nonce: newNonce(),
    kind: input.kind,
    payload: input.payload,
  } as unknown as Extract<Job, { kind: K }>;
}

/** What an executor knows about a job it refused (fields may be untrustworthy or absent). */
export interface RefusedJobInfo {
  /** The executor's host. */
  host: string;
  /** The executor's id (actor of the event). */
  executorId: string;
  /** The refusal from `verifyJob`. */
  error: FleetnetError;
  /** The JetStream stream sequence of the refused message, to find it in FLEET_JOBS history. */
  streamSeq?: number;
  /** Event time (default now). */
  now?: number;
}

/**
 * The audit event `job.refused` (result `refused`) an executor publishes on
 * `fleet.v1.events.host.<host>.audit` for a job it would not run. The claimed jobId is kept
 * only in `details.claimedJobId` (never as `target.jobId`), because a forged job may claim
 * a real job's id.
 */
export function jobRefusedEvent(info: RefusedJobInfo): AuditEvent {
  const claimed = info.error.details?.jobId;
  return {
    v: 1,
    id: newId("e", info.now),
    at: new Date(info.now ?? Date.now()).toISOString(),
    actor: { kind: "executor", id: info.executorId },
    action: "job.refused",
    target: { host: assertHostName(info.host) },
    result: "refused",
    error: toErrorEnvelope(info.error),
    details: {
      ...(typeof claimed === "string" ? { claimedJobId: claimed } : {}),
      ...(info.streamSeq === undefined ? {} : { streamSeq: info.streamSeq }),
    },
  };
}

/**
 * The job id of the confirm or revert that follows apply job `applyJobId`:
 * `<applyJobId>-c` / `-r` (`-r2`, `-r3`… for a later attempt). Deterministic, so a planner
 * that re-sends it after a restart is de-duplicated by `Nats-Msg-Id` instead of queued twice.
 */
export function followUpJobId(applyJobId: string, kind: "confirm" | "revert", attempt = 1): string {
  if (!Number.isInteger(attempt) || attempt < 1)
    throw new RangeError(`attempt ${attempt} must be an integer >= 1`);
  const suffix = `${kind === "confirm" ? "c" : "r"}${attempt > 1 ? attempt : ""}`;
  return assertSafeId(`${assertSafeId(applyJobId, "job id")}-${suffix}`, "follow-up job id");
}
