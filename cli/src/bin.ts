#!/usr/bin/env node
/**
 * `fleetnet` — the operator CLI. A thin client: it imports only libs and talks to the
 * services over NATS (or spawns their binaries for one-shot work). Each command group
 * lives in its own module under `commands/` and registers itself on the program.
 *
 * Exit status (INTENTS.md): 0 success/valid, 1 invalid input or failed operation,
 * 2 usage or I/O error.
 */
import { Command, CommanderError } from "commander";
import { registerDemo } from "./commands/demo.js";
import { registerFlows } from "./commands/flows.js";
import { registerHost } from "./commands/host.js";
import { registerIntent } from "./commands/intent.js";
import { registerLab } from "./commands/lab.js";
import { registerPlan } from "./commands/plan.js";
import { registerRollout } from "./commands/rollout.js";
import { registerStack } from "./commands/stack.js";
import { registerTelemetry } from "./commands/telemetry.js";
import { EXIT_USAGE, UsageError } from "./io.js";

// `fleetnet … | head` closes stdout early: that is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

const program = new Command("fleetnet")
  .description("Plan, roll out and watch the network of a Linux fleet.")
  .showHelpAfterError()
  .exitOverride();

registerIntent(program);
registerPlan(program);
registerLab(program);
registerHost(program);
registerStack(program);
registerRollout(program);
registerTelemetry(program);
registerFlows(program);
registerDemo(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help / --version end with exitCode 0; anything else is a usage error.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (err instanceof UsageError) {
    process.stderr.write(`fleetnet: ${err.message}\n`);
    process.exitCode = EXIT_USAGE;
  } else {
    process.stderr.write(`fleetnet: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = EXIT_USAGE;
  }
}
