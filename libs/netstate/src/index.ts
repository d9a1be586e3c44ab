/**
 * Public API of @fleetnet/netstate: the `HostState` model and its zod schema, typed ops
 * (`Op`, `OpSchema`, `invertOp`), `diff`/`applyOps`, `compile` (intents → desired state
 * per host, IPAM) and the plan (`buildPlan`, `formatPlan`). Pure: no I/O.
 */

export * from "./apply.js";
export * from "./canonical.js";
export * from "./compile.js";
export * from "./diff.js";
export * from "./errors.js";
export * from "./model.js";
export * from "./ops.js";
export * from "./plan.js";
export * from "./render.js";
export * from "./secrets.js";
