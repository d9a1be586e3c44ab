/**
 * Errors of the executor. Every failure carries a stable `code` (machines branch on
 * it), a human message (people read it) and whether retrying the same request can help.
 */

/** Stable error codes the executor reports. */
export type ExecutorErrorCode =
  /** The host presented a key different from the pinned one. */
  | "HOSTKEY_MISMATCH"
  /** No pinned key / known_hosts entry exists for the host: refused (never trust on first use). */
  | "HOSTKEY_UNKNOWN"
  /** SSH key authentication failed. */
  | "SSH_AUTH"
  /** Could not connect (refused, timeout, DNS). */
  | "CONNECT_FAILED"
  /** The connection to the host dropped during the transaction. */
  | "CONNECTION_LOST"
  /** A command ran and failed (non-zero exit). */
  | "COMMAND_FAILED"
  /** The host's kernel lacks a feature an op needs (nothing applied). */
  | "KERNEL_UNSUPPORTED"
  /** A new FRR/keepalived config failed the daemon's own check (nothing applied). */
  | "CONFIG_CHECK_FAILED"
  /** Applying ops failed; what was applied has been reverted. */
  | "APPLY_FAILED"
  /** After applying, the observed state still differs from the desired state. */
  | "VERIFY_FAILED"
  /** A probe that passed before the change failed after it. */
  | "PROBE_FAILED"
  /** No confirm arrived before the deadline: the host reverted itself. */
  | "CONFIRM_TIMEOUT"
  /** The revert itself failed: the host may be in a mixed state. */
  | "REVERT_FAILED"
  /** Input (inventory, intents, desired state, argument) is invalid. */
  | "INVALID_INPUT"
  /** A value is not safe to hand to a host command (e.g. a newline in an argument). */
  | "UNSAFE_ARGUMENT"
  /** The feature is not implemented yet. */
  | "NOT_IMPLEMENTED"
  /** Another transaction runs on the host, or a `--try` change awaits its confirm. */
  | "HOST_BUSY";

/** An error with a stable code, a message and retryability. */
export class ExecutorError extends Error {
  override name = "ExecutorError";
  constructor(
    readonly code: ExecutorErrorCode,
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The JSON form used in results: `{code, message, retryable}`. */
  toJSON(): { code: ExecutorErrorCode; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

/** Wrap anything thrown into an {@link ExecutorError} (unknown errors become `code`). */
export function asExecutorError(err: unknown, code: ExecutorErrorCode = "COMMAND_FAILED"): ExecutorError {
  if (err instanceof ExecutorError) return err;
  return new ExecutorError(code, err instanceof Error ? err.message : String(err), false, { cause: err });
}
