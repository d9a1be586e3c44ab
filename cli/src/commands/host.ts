import type { Command } from "commander";

/** Registers the host commands (not built yet). */
export function registerHost(_program: Command): void {}
