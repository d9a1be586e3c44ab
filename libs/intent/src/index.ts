/**
 * Public API of @fleetnet/intent: the intent format v1 (INTENTS.md) — zod schemas and
 * types for every kind, host selection, YAML loading, semantic validation and JSON Schema
 * export.
 */

export * from "./errors.js";
export * from "./ip.js";
export * from "./jsonschema.js";
export { expandPaths, type LoadResult, loadDocuments, parseDocuments, type SourceDocument } from "./load.js";
export * from "./schema.js";
export * from "./selector.js";
export { assignAsns } from "./semantic.js";
export {
  type LoadValidationResult,
  loadAndValidate,
  type ParsedDocument,
  type ValidationResult,
  validateData,
  validateDocuments,
  validateText,
} from "./validate.js";
