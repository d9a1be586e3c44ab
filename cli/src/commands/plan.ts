import type { Command } from "commander";

/** Registers the plan command (not built yet). */
export function registerPlan(_program: Command): void {}
