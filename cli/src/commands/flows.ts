import type { Command } from "commander";

/** Registers the flows commands (not built yet). */
export function registerFlows(_program: Command): void {}
