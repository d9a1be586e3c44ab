import type { Command } from "commander";

/** Registers the intent commands (not built yet). */
export function registerIntent(_program: Command): void {}
