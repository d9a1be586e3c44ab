/** Public API of @fleetnet/protocol. */
export {};
