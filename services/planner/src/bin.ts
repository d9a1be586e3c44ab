#!/usr/bin/env node
/**
 * `fleetnet-planner [run]`: the planner service (plans, rollouts, API on `fleet.v1.api.*`).
 * Configuration comes from the environment (NATS_URL, REDIS_URL, FLEETNET_SIGNING_KEY_FILE,
 * LOG_LEVEL, … — see @fleetnet/runtime). Exit status: 0 after a clean shutdown, 1 when it
 * cannot start, 2 on a usage error.
 */
import { startPlanner } from "./service.js";

const USAGE = `usage: fleetnet-planner [run]
  Runs the fleetnet planner until SIGINT/SIGTERM.
  Environment: NATS_URL, REDIS_URL, FLEETNET_SIGNING_KEY_FILE (required), LOG_LEVEL, METRICS_PORT.
`;

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0] ?? "run";
  if (["-h", "--help", "help"].includes(cmd)) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd !== "run" || argv.length > 1) {
    process.stderr.write(`fleetnet-planner: unknown arguments: ${argv.join(" ")}\n${USAGE}`);
    return 2;
  }
  try {
    await startPlanner();
    return -1; // keep running; the runtime's signal handler exits
  } catch (err) {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`fleetnet-planner: ${e.code ? `${e.code}: ` : ""}${e.message ?? String(err)}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
