/**
 * Public API of @fleetnet/netflow: a dependency-free NetFlow v5 / v9 / IPFIX decoder
 * ({@link NetflowDecoder}), a pcap/pcapng reader for offline use, and whole-capture decoding.
 */

export type { DecoderOptions, DecoderStats, RecordSink } from "./decoder.js";
export { NetflowDecoder } from "./decoder.js";
export type { NetflowErrorCode } from "./errors.js";
export { NetflowError } from "./errors.js";
export { fieldKey, REVERSE_PEN } from "./ie.js";
export type { DecodedCapture } from "./offline.js";
export { decodeCapture } from "./offline.js";
export type { Capture, UdpDatagram } from "./pcap.js";
export { parseCapture, readCaptureFile } from "./pcap.js";
export { encodePcap } from "./pcapwrite.js";
export type { TemplateField, TemplateSnapshot } from "./template.js";
export { VARLEN } from "./template.js";
export type { FlowRecord, RecordView } from "./view.js";
