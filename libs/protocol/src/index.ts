/**
 * Public API of @fleetnet/protocol: everything that crosses a process boundary.
 *
 * - names: NATS subjects, stream/consumer names, Redis keys — the only place they are made;
 * - streams: JetStream stream/consumer configs as data (nats-server 2.9 features only);
 * - messages: zod schemas of every message, `parseMessage`/`encodeMessage` edge helpers;
 * - errors: the error envelope and `FleetnetError` (stable `code`, `retryable`);
 * - canonical JSON, signed jobs (Ed25519), replay cache;
 * - publish helpers (`Nats-Msg-Id`, trace headers);
 * - nats-server config generation with per-host permissions (nkeys).
 */
export * from "./canonical.js";
export * from "./errors.js";
export * from "./jobs.js";
export * from "./messages.js";
export * from "./names.js";
export * from "./natsconfig.js";
export * from "./netstate.js";
export * from "./nkeys.js";
export * from "./publish.js";
export * from "./signing.js";
export * from "./streams.js";
