/** Public API of @fleetnet/executor. */
export {};
