/**
 * The error envelope shared by every fleetnet package and every message on the wire.
 *
 * Every failure that crosses a boundary (a NATS reply, a result event, a CLI exit) carries
 * a stable machine-readable `code`, a sentence a person understands, and whether retrying
 * the same operation can help. {@link FleetnetError} is the in-process form,
 * {@link ErrorEnvelope} the wire form; {@link toErrorEnvelope} and
 * {@link FleetnetError.fromEnvelope} convert between them.
 */
import { z } from "zod";

/** Pattern of an error code: SCREAMING_SNAKE_CASE, e.g. `JOB_EXPIRED`. */
export const ERROR_CODE_RE = /^[A-Z][A-Z0-9_]{1,63}$/;

/**
 * Codes defined by the protocol itself. Other packages define their own codes (any string
 * matching {@link ERROR_CODE_RE}); these are the ones every executor and planner must
 * understand.
 */
export const ProtocolErrorCodes = {
  /** A job's signature does not verify against the planner's public key(s). Not retryable. */
  JOB_SIGNATURE_INVALID: "JOB_SIGNATURE_INVALID",
  /** A job addressed to another host reached this executor. Not retryable. */
  JOB_MISADDRESSED: "JOB_MISADDRESSED",
  /** A job's `expiresAt` has passed (or `issuedAt` lies in the future beyond the skew). */
  JOB_EXPIRED: "JOB_EXPIRED",
  /** A job's `jobId` or `nonce` was seen before. Not retryable. */
  JOB_REPLAYED: "JOB_REPLAYED",
  /** A job envelope does not match the schema. Not retryable. */
  JOB_MALFORMED: "JOB_MALFORMED",
  /** A message (other than a job) does not match its schema. Not retryable. */
  MESSAGE_MALFORMED: "MESSAGE_MALFORMED",
  /** A subject/stream/key builder got a part that is not a safe token. */
  INVALID_NAME: "INVALID_NAME",
  /** A key file could not be read or is not an Ed25519 key of the expected kind. */
  KEY_INVALID: "KEY_INVALID",
  /** A value cannot be encoded as canonical JSON (NaN, bigint, cycles, …). */
  NOT_CANONICAL_JSON: "NOT_CANONICAL_JSON",
  /** The inventory given to the NATS config generator is unusable. */
  NATS_CONFIG_INVALID: "NATS_CONFIG_INVALID",
  /** An unexpected error without a code of its own. Retryable: it may be transient. */
  INTERNAL: "INTERNAL",
} as const;

/** One of the codes in {@link ProtocolErrorCodes}. */
export type ProtocolErrorCode = (typeof ProtocolErrorCodes)[keyof typeof ProtocolErrorCodes];

/** Wire form of an error: `{code, message, retryable, details?}`. */
export const ErrorEnvelopeSchema = z
  .object({
    code: z.string().regex(ERROR_CODE_RE, "error code must be SCREAMING_SNAKE_CASE"),
    message: z.string().min(1),
    retryable: z.boolean(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** Wire form of an error. */
export type ErrorEnvelope = z.infer<typeof ErrorEnvelopeSchema>;

/** Options of {@link FleetnetError}. */
export interface FleetnetErrorOptions {
  /** Whether retrying the same operation can succeed (default false). */
  retryable?: boolean;
  /** Structured facts for logs and the wire (field path, value, holder id…). No secrets. */
  details?: Record<string, unknown>;
  /** The underlying error, kept for logs; never put on the wire. */
  cause?: unknown;
}

/**
 * An error with a stable `code` and a `retryable` flag. Throw this (or a subclass) from any
 * fleetnet package; callers branch on `code`, never on the message text.
 */
export class FleetnetError extends Error {
  override name = "FleetnetError";
  /** Stable machine-readable code, e.g. `JOB_EXPIRED`. */
  readonly code: string;
  /** Whether retrying the same operation can help. */
  readonly retryable: boolean;
  /** Structured facts (no secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: FleetnetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!ERROR_CODE_RE.test(code)) throw new TypeError(`invalid error code "${code}"`);
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  /** The wire form of this error. */
  toEnvelope(): ErrorEnvelope {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }

  /** Rebuild an error received on the wire (e.g. a NATS reply) so it can be rethrown. */
  static fromEnvelope(envelope: ErrorEnvelope): FleetnetError {
    return new FleetnetError(envelope.code, envelope.message, {
      retryable: envelope.retryable,
      ...(envelope.details === undefined ? {} : { details: envelope.details }),
    });
  }
}

/** True when `err` is a {@link FleetnetError} (optionally with the given code). */
export function isFleetnetError(err: unknown, code?: string): err is FleetnetError {
  return err instanceof FleetnetError && (code === undefined || err.code === code);
}

/**
 * Wire form of any thrown value. A {@link FleetnetError} keeps its code; so does an error of
 * a package below this one (e.g. netstate's `NetstateError`: an `Error` with a
 * SCREAMING_SNAKE_CASE `code`, a boolean `retryable` and optional `details`); anything else
 * becomes `INTERNAL` (retryable, since an unexpected failure may be transient) with the
 * error's message.
 */
export function toErrorEnvelope(err: unknown): ErrorEnvelope {
  if (err instanceof FleetnetError) return err.toEnvelope();
  const message = err instanceof Error ? err.message : String(err);
  const coded = err as { code?: unknown; retryable?: unknown; details?: unknown } | undefined;
  if (
    err instanceof Error &&
    typeof coded?.code === "string" &&
    ERROR_CODE_RE.test(coded.code) &&
    typeof coded.retryable === "boolean"
  ) {
    const details = coded.details;
    return {
      code: coded.code,
      message: message || coded.code,
      retryable: coded.retryable,
      ...(details !== null && typeof details === "object" && !Array.isArray(details)
        ? { details: details as Record<string, unknown> }
        : {}),
    };
  }
  return { code: ProtocolErrorCodes.INTERNAL, message: message || "unknown error", retryable: true };
}
