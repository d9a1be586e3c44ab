import type { Command } from "commander";

/** Registers the rollout commands (not built yet). */
export function registerRollout(_program: Command): void {}
