import type { Command } from "commander";

/** Registers the telemetry commands (not built yet). */
export function registerTelemetry(_program: Command): void {}
