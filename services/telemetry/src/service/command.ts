/**
 * `fleetnet-telemetry run --intents FILE [--intents FILE…] [--heartbeat-s N]`: the long-running
 * telemetry service (drift, health, baselines). NATS/Redis/metrics come from the runtime
 * configuration in the environment; the intent files are the ones the fleet was applied with
 * (they name the inventory, the SysctlBaselines, and are what a heal re-applies).
 * `FLOWS_REDIS_PREFIX` (default `fleetnet:flows`) must be the collector's: the `flows` verb
 * reads the collector's rollups under it.
 */
import { readFile } from "node:fs/promises";
import { expandPaths } from "@fleetnet/intent";
import { startService } from "@fleetnet/runtime";
import { TelemetryService } from "./service.js";

/** Exit statuses: clean stop, failure, usage error. */
const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Where the command writes its errors (tests capture them). */
export interface TelemetryCommandIo {
  err(line: string): void;
  env?: Readonly<Record<string, string | undefined>>;
}

class UsageProblem extends Error {}

function parseArgs(argv: readonly string[]): { intents: string[]; heartbeatS: number } {
  const intents: string[] = [];
  let heartbeatS = 10;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageProblem(`${a} needs a value`);
      return v;
    };
    if (a === "--intents") intents.push(val());
    else if (a === "--heartbeat-s") {
      const v = val();
      heartbeatS = Number(v);
      if (!Number.isFinite(heartbeatS) || heartbeatS <= 0)
        throw new UsageProblem(
          `--heartbeat-s: expected a positive number of seconds, got ${JSON.stringify(v)}`,
        );
    } else throw new UsageProblem(`unknown argument ${JSON.stringify(a)}`);
  }
  if (intents.length === 0) throw new UsageProblem("--intents FILE is required (the fleet's intent files)");
  return { intents, heartbeatS };
}

/** Run the service until a signal; returns the exit status (0 clean, 1 failed, 2 usage). */
export async function runTelemetryService(
  argv: readonly string[],
  io: TelemetryCommandIo = { err: (l) => process.stderr.write(`${l}\n`) },
): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  let files: { name: string; text: string }[];
  try {
    args = parseArgs(argv);
    // `--intents` takes files or directories (their *.yaml / *.yml), as every -f does.
    const expanded = expandPaths(args.intents);
    if (expanded.ioErrors.length > 0) throw new Error(expanded.ioErrors.map((e) => e.message).join("; "));
    files = await Promise.all(
      expanded.files.map(async (name) => ({ name, text: await readFile(name, "utf8") })),
    );
  } catch (e) {
    io.err(`fleetnet-telemetry run: ${(e as Error).message}`);
    return e instanceof UsageProblem ? EXIT.usage : EXIT.failed;
  }
  let rt: Awaited<ReturnType<typeof startService>>;
  try {
    rt = await startService({
      name: "fleetnet-telemetry",
      redis: true,
      ...(io.env ? { env: io.env } : {}),
      exitOnSignal: "resolve",
    });
  } catch (e) {
    io.err(`fleetnet-telemetry run: ${(e as Error).message}`);
    return EXIT.failed;
  }
  try {
    const svc = await TelemetryService.start({
      nc: rt.nats,
      redis: rt.redis as NonNullable<typeof rt.redis>,
      logger: rt.logger,
      intentFiles: files,
      heartbeatIntervalMs: args.heartbeatS * 1000,
      ...((io.env ?? process.env).FLOWS_REDIS_PREFIX
        ? { flowsPrefix: (io.env ?? process.env).FLOWS_REDIS_PREFIX as string }
        : {}),
    });
    rt.shutdown.register("telemetry", () => svc.stop(), "intake");
    rt.logger.info({ intents: args.intents }, "telemetry service running");
  } catch (e) {
    io.err(`fleetnet-telemetry run: ${(e as Error).message}`);
    await rt.shutdown.shutdown("start-up failed");
    return EXIT.failed;
  }
  return rt.stopped;
}
