/**
 * Publishing jobs and events with de-duplication ids and trace context.
 *
 * Every JetStream publish carries `Nats-Msg-Id`: a job's is its `jobId`, an event's is
 * derived from what it reports, so a publish retried after a timeout (or by a planner
 * restarted mid-wave) is dropped by the stream within its duplicate window instead of
 * being applied twice. W3C trace context travels in the `traceparent`/`tracestate`
 * headers (set by the runtime's OpenTelemetry propagator).
 *
 * The publisher is structural ({@link JetStreamPublisher}) so this package needs no NATS
 * client: `@nats-io/jetstream`'s `JetStreamClient` fits it as it is.
 */
import type { AuditEvent, Result, SignedJob } from "./messages.js";
import { assertSafeId, JOBS_STREAM, subjects } from "./names.js";
import { encodeSignedJob } from "./signing.js";

/** The JetStream de-duplication header. */
export const MSG_ID_HEADER = "Nats-Msg-Id";
/** W3C trace context header. */
export const TRACEPARENT_HEADER = "traceparent";
/** W3C trace state header. */
export const TRACESTATE_HEADER = "tracestate";
/** A valid W3C `traceparent` value (version 00). */
export const TRACEPARENT_RE = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** `Nats-Msg-Id` builders. */
export const messageIds = {
  /** A job's message id: its jobId. */
  job: (jobId: string) => assertSafeId(jobId, "job id"),
  /** A result's message id: one result per job and status. */
  result: (r: Pick<Result, "jobId" | "status">) => `${assertSafeId(r.jobId, "job id")}.result.${r.status}`,
  /** An audit event's message id: its id. */
  audit: (e: Pick<AuditEvent, "id">) => assertSafeId(e.id, "event id"),
} as const;

/** What a JetStream publish acknowledges. */
export interface PublishAckLike {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** Minimal JetStream publisher (e.g. `@nats-io/jetstream`'s `JetStreamClient`). */
export interface JetStreamPublisher<H> {
  publish(
    subject: string,
    payload: Uint8Array,
    options: { msgID: string; headers?: H; expect?: { streamName?: string } },
  ): Promise<PublishAckLike>;
}

/** Subject, payload and message id of a signed job, for callers that publish themselves. */
export function jobPublication(signed: SignedJob): { subject: string; payload: Uint8Array; msgID: string } {
  return {
    subject: subjects.job(signed.job.host),
    payload: encodeSignedJob(signed),
    msgID: messageIds.job(signed.job.jobId),
  };
}

/**
 * Publish a signed job to `fleet.v1.jobs.<host>` with `Nats-Msg-Id = jobId`, expecting the
 * FLEET_JOBS stream. A re-publish of the same job within the duplicate window returns an
 * ack with `duplicate: true` and stores nothing.
 */
export async function publishJob<H>(
  js: JetStreamPublisher<H>,
  signed: SignedJob,
  headers?: H,
): Promise<PublishAckLike> {
  const { subject, payload, msgID } = jobPublication(signed);
  return js.publish(subject, payload, {
    msgID,
    expect: { streamName: JOBS_STREAM },
    ...(headers === undefined ? {} : { headers }),
  });
}
