/** Public API of @fleetnet/lab. */
export {};
