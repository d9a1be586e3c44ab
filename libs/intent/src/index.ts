/**
 * Public API of @fleetnet/intent: the intent format v1 (INTENTS.md) — zod schemas and
 * types for every kind, host selection, YAML loading, semantic validation and JSON Schema
 * export.
 */
export * from "./ip.js";
export * from "./schema.js";
export * from "./selector.js";
