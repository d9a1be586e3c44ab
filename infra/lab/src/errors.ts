/**
 * Lab errors: a stable `code`, a human message, and whether retrying the same call can help.
 */

/** Stable error codes of the lab. */
export type LabErrorCode =
  | "NOT_ROOT"
  | "MISSING_TOOL"
  | "KERNEL_FEATURE"
  | "NAMESPACE_EXISTS"
  | "LINK_EXISTS"
  | "SUBNET_IN_USE"
  | "LAB_ALREADY_UP"
  | "LAB_BUSY"
  | "NO_LAB"
  | "BAD_OPTION"
  | "BAD_INVENTORY"
  | "COMMAND_FAILED"
  | "STATE_CORRUPT";

/** An error of the lab with a stable {@link LabErrorCode}. */
export class LabError extends Error {
  override name = "LabError";
  constructor(
    readonly code: LabErrorCode,
    message: string,
    /** True when running the same operation again may succeed (e.g. a transient failure). */
    readonly retryable = false,
  ) {
    super(message);
  }
}
