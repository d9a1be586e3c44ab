/** Stable error codes of the NetFlow library. */
export type NetflowErrorCode =
  // Per-packet decode problems (counted in DecoderStats.errors, never thrown by decode()).
  | "TRUNCATED_HEADER"
  | "UNKNOWN_VERSION"
  | "BAD_MESSAGE_LENGTH"
  | "BAD_SET_LENGTH"
  | "BAD_TEMPLATE"
  | "TRUNCATED_RECORD"
  | "ZERO_LENGTH_TEMPLATE"
  | "V5_COUNT_MISMATCH"
  | "TRAILING_GARBAGE"
  | "INTERNAL"
  // Capture-file problems (thrown by the pcap reader).
  | "PCAP_UNREADABLE"
  | "PCAP_BAD_FORMAT"
  | "PCAP_TRUNCATED";

/** An error with a stable code, a human message, and whether retrying can help. */
export class NetflowError extends Error {
  override name = "NetflowError";
  constructor(
    readonly code: NetflowErrorCode,
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}
