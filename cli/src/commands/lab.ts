import type { Command } from "commander";

/** Registers the lab commands (not built yet). */
export function registerLab(_program: Command): void {}
