/** Public API of @fleetnet/runtime. */
export {};
