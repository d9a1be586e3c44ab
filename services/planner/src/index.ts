/**
 * Public API of @fleetnet/planner: wave planning, host locks, the rollout state machine
 * and the BullMQ rollout runner.
 */

export * from "./api.js";
export * from "./dispatch.js";
export * from "./locks.js";
export * from "./machine.js";
export * from "./nats.js";
export * from "./runner.js";
export * from "./service.js";
export * from "./store.js";
export * from "./waves.js";
