/** Public API of @fleetnet/planner. */
export {};
