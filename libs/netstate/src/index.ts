/** Public API of @fleetnet/netstate. */
export {};
