/** Errors of @fleetnet/netstate: a stable `code`, a human message, and whether a retry can help. */

/** Stable codes raised by netstate. */
export const NetstateErrorCodes = {
  /** A desired link has the name of a link fleetnet does not own and cannot adopt. */
  FOREIGN_LINK_CONFLICT: "FOREIGN_LINK_CONFLICT",
  /** An op cannot be applied to a state (model of the executor: e.g. link exists already). */
  OP_NOT_APPLICABLE: "OP_NOT_APPLICABLE",
  /** An IPAM address or ASN pool has no free entry left for a host. */
  POOL_EXHAUSTED: "POOL_EXHAUSTED",
  /** Intents that compile into conflicting objects on one host (same link name, …). */
  COMPILE_CONFLICT: "COMPILE_CONFLICT",
  /** An intent references something the inventory/intents do not define. */
  COMPILE_UNRESOLVED: "COMPILE_UNRESOLVED",
} as const;
export type NetstateErrorCode = (typeof NetstateErrorCodes)[keyof typeof NetstateErrorCodes];

/** An error of this package. None is retryable: the same input gives the same result. */
export class NetstateError extends Error {
  override name = "NetstateError";
  readonly retryable = false;
  constructor(
    readonly code: NetstateErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}
