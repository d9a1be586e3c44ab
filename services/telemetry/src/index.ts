/** Public API of @fleetnet/telemetry. */
export {};
