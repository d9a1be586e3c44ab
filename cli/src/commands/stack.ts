import type { Command } from "commander";

/** Registers `fleetnet up|down|status` (not built yet). */
export function registerStack(_program: Command): void {}
