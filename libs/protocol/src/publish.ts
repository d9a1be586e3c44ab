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
import {
  type AuditEvent,
  AuditEventSchema,
  encodeMessage,
  type Progress,
  ProgressSchema,
  type Result,
  ResultSchema,
  type SignedJob,
} from "./messages.js";
import { assertSafeId, EVENTS_STREAM, JOBS_STREAM, subjects } from "./names.js";
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
  /** A progress message's id: one per job and phase. */
  progress: (p: Pick<Progress, "jobId" | "phase">) =>
    `${assertSafeId(p.jobId, "job id")}.progress.${p.phase}`,
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

async function publishEvent<H>(
  js: JetStreamPublisher<H>,
  subject: string,
  payload: Uint8Array,
  msgID: string,
  headers?: H,
): Promise<PublishAckLike> {
  return js.publish(subject, payload, {
    msgID,
    expect: { streamName: EVENTS_STREAM },
    ...(headers === undefined ? {} : { headers }),
  });
}

/**
 * Publish a job's result to `fleet.v1.events.host.<host>.result` (validated first; msgID
 * `<jobId>.result.<status>`, so a retried publish is stored once). An executor acks the job
 * only after this resolves.
 */
export async function publishResult<H>(
  js: JetStreamPublisher<H>,
  result: Result,
  headers?: H,
): Promise<PublishAckLike> {
  const payload = encodeMessage(ResultSchema, result, "result");
  return publishEvent(
    js,
    subjects.hostEvent(result.host, "result"),
    payload,
    messageIds.result(result),
    headers,
  );
}

/** Publish progress to `fleet.v1.events.host.<host>.progress` (msgID `<jobId>.progress.<phase>`). */
export async function publishProgress<H>(
  js: JetStreamPublisher<H>,
  progress: Progress,
  headers?: H,
): Promise<PublishAckLike> {
  const payload = encodeMessage(ProgressSchema, progress, "progress");
  return publishEvent(
    js,
    subjects.hostEvent(progress.host, "progress"),
    payload,
    messageIds.progress(progress),
    headers,
  );
}

/**
 * Publish an audit event on `subject` (built with `subjects.hostEvent(host, "audit")`,
 * `subjects.rolloutEvent(id, type)`, … — must be under `fleet.v1.events.>`), msgID = its id.
 */
export async function publishAuditEvent<H>(
  js: JetStreamPublisher<H>,
  subject: string,
  event: AuditEvent,
  headers?: H,
): Promise<PublishAckLike> {
  if (!subject.startsWith(`${subjects.allEvents().slice(0, -1)}`)) {
    throw new RangeError(`audit events go under ${subjects.allEvents()}, not ${subject}`);
  }
  const payload = encodeMessage(AuditEventSchema, event, "audit event");
  return publishEvent(js, subject, payload, messageIds.audit(event), headers);
}
