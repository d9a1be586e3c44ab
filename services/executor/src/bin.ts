#!/usr/bin/env node
/**
 * `fleetnet-executor` — the executor's entry point.
 *
 *   fleetnet-executor once observe|apply|confirm --host NAME -f PATH... [--json] [--try D]
 *       one-shot engine (what `fleetnet host …` spawns)
 *   fleetnet-executor revert --plan DIR [--netns NS]
 *       run a revert plan now on this machine (the same fixed script the timer runs)
 *   fleetnet-executor run --agent --host NAME -f INVENTORY [INTENTS...] | run --pool -f INVENTORY …
 *       agent/pool service mode over NATS JetStream (see service/command.ts); starts its host
 *       commands through `fleetnet-executor spawner` (internal: drivers/spawner.ts)
 */
// Only the drivers are imported up front: the `spawner` subcommand must stay a small process.
// Every start forks it, and a fork copies its page tables — loading the engine's modules (zod,
// netstate) made each fork ~50 % dearer on the fifth session's machine (bench/RESULTS.md).
import { availableParallelism } from "node:os";
import { localDriver, netnsDriver, startProcess, startStaged } from "./drivers/process.js";
import { spawnerMain, useSpawner } from "./drivers/spawner.js";
import { EXIT } from "./exit.js";

async function revertCmd(args: readonly string[]): Promise<number> {
  const { REVERT_DIR, revertNow } = await import("./revert.js");
  let planDir: string | undefined;
  let ns: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--plan") planDir = args[++i];
    else if (args[i] === "--netns") ns = args[++i];
    else {
      process.stderr.write(`fleetnet-executor revert: unknown option ${args[i]}\n`);
      return EXIT.usage;
    }
  }
  // <dir that is the host's /run>/fleetnet/revert/<id> (REVERT_DIR is /run/fleetnet/revert)
  const sub = REVERT_DIR.slice("/run".length);
  const m = planDir ? new RegExp(`^(.*)${sub}/([0-9A-Za-z-]+)/?$`).exec(planDir) : null;
  if (!m) {
    process.stderr.write(`fleetnet-executor revert: --plan must be a plan dir <run dir>${sub}/<id>\n`);
    return EXIT.usage;
  }
  const runRoot = m[1] || "/";
  const id = m[2] as string;
  const d = ns
    ? netnsDriver({ host: "host", netns: ns, stateDir: "/nonexistent", runRoot })
    : localDriver({ runRoot });
  const outcome = await revertNow(d, { id, dir: `${REVERT_DIR}/${id}` });
  process.stdout.write(`${outcome}\n`);
  return outcome === "reverted" ? EXIT.ok : EXIT.failed;
}

/**
 * How many process starters the service runs beside it: one per core, at least 2 and at most 4
 * (each is a small Node process, ~40 MiB).
 */
function spawnerCount(): number {
  return Math.min(4, Math.max(2, availableParallelism()));
}

async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "once":
      return (await import("./once.js")).runOnce(rest);
    case "revert":
      return revertCmd(rest);
    case "run": {
      // A pool's fs work (journal appends with fdatasync, the hosts' plan files) goes through
      // libuv's thread pool; 4 threads (the default) queue a tmpfs write behind a disk sync.
      // Read once, when the pool first starts: nothing before this line uses it.
      process.env.UV_THREADPOOL_SIZE ??= "16";
      // the service starts its host commands from a small process beside it (drivers/spawner.ts)
      const self = process.argv[1];
      if (self) useSpawner([process.execPath, self, "spawner"], spawnerCount());
      // loaded only for service mode: NATS/OTel stay out of the one-shot engine's footprint
      return (await import("./service/index.js")).runServiceCommand(rest);
    }
    case "spawner":
      return spawnerMain(startProcess, startStaged);
    default:
      process.stderr.write(
        "usage: fleetnet-executor once observe|apply|confirm --host NAME -f PATH... [--json] [--try DURATION]\n" +
          "       fleetnet-executor revert --plan DIR [--netns NS]\n" +
          "       fleetnet-executor run --agent --host NAME -f INVENTORY [INTENTS...] [--public-key FILE]\n" +
          "       fleetnet-executor run --pool -f INVENTORY [INTENTS...] [--hosts a,b] [--public-key FILE] [--lab-state-dir DIR] [--heartbeat 10s] [--state-report 60s] [--setup ensure|assume]\n",
      );
      return EXIT.usage;
  }
}

process.exitCode = await main(process.argv.slice(2));
