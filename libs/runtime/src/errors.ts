/**
 * The project's base error and its wire form.
 *
 * Every failure that crosses a module or process boundary is a {@link FleetnetError}: a stable
 * machine-readable `code` (SCREAMING_SNAKE_CASE, never reworded once published), a message a person
 * can act on, and `retryable` — whether trying the same thing again later can succeed (a server that is
 * down: yes; an invalid intent: no). Over NATS it travels as an {@link ErrorEnvelope}.
 */
import { z } from "zod";

/** Wire form of an error (request/reply answers, job results, events). */
export const ErrorEnvelopeSchema = z
  .object({
    code: z.string().regex(/^[A-Z][A-Z0-9_]*$/, "expected an upper-case code like NATS_UNAVAILABLE"),
    message: z.string().min(1),
    retryable: z.boolean(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** An error as carried in messages; see {@link ErrorEnvelopeSchema}. */
export type ErrorEnvelope = z.infer<typeof ErrorEnvelopeSchema>;

/** Fields of a {@link FleetnetError}. */
export interface FleetnetErrorInit {
  /** Stable code, e.g. `CONFIG_INVALID`. */
  code: string;
  /** What went wrong and, where possible, what to do about it. */
  message: string;
  /** Whether the same operation may succeed if tried again later. Default false. */
  retryable?: boolean;
  /** Structured facts for programs (variable names, ids); must be JSON-serialisable, never secrets. */
  details?: Record<string, unknown>;
  /** The underlying error, kept for logs; not sent over the wire. */
  cause?: unknown;
}

/** The base error of fleetnet: a stable code, a human message and whether retrying can help. */
export class FleetnetError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(init: FleetnetErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "FleetnetError";
    this.code = init.code;
    this.retryable = init.retryable ?? false;
    this.details = init.details;
  }
}

/**
 * Converts any thrown value to its wire form. A {@link FleetnetError} keeps its code; anything else
 * becomes `INTERNAL` (not retryable) with its message, so a reply never carries a stack trace.
 */
export function toEnvelope(err: unknown): ErrorEnvelope {
  if (err instanceof FleetnetError) {
    const env: ErrorEnvelope = { code: err.code, message: err.message || err.code, retryable: err.retryable };
    if (err.details !== undefined) env.details = err.details;
    return env;
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: "INTERNAL", message: message || "internal error", retryable: false };
}

/**
 * Rebuilds a {@link FleetnetError} from a received envelope. A value that is not a valid envelope
 * yields `ENVELOPE_INVALID` naming the offending field, so a malformed peer never goes unnoticed.
 */
export function fromEnvelope(input: unknown): FleetnetError {
  const parsed = ErrorEnvelopeSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join(".") : "(envelope)";
    return new FleetnetError({
      code: "ENVELOPE_INVALID",
      message: `error envelope: ${where}: ${issue?.message ?? "invalid"}`,
      details: { path: where },
    });
  }
  return new FleetnetError(parsed.data);
}
