/**
 * Public API of @fleetnet/planner: wave planning, host locks, the rollout state machine
 * and the BullMQ rollout runner.
 */

export * from "./dispatch.js";
export * from "./locks.js";
export * from "./machine.js";
export * from "./runner.js";
export * from "./store.js";
export * from "./waves.js";
export * from "./nats.js";
