/** Public API of @fleetnet/intent. */
export {};
