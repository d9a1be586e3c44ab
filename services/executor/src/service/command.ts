/**
 * `fleetnet-executor run` — the service mode's command line:
 *
 *   fleetnet-executor run --agent --host NAME -f INVENTORY [INTENTS...]
 *   fleetnet-executor run --pool -f INVENTORY [INTENTS...] [--hosts a,b,...]
 *     [--public-key FILE] [--lab-state-dir DIR] [--heartbeat 10s] [--state-report 60s]
 *     [--setup ensure|assume]
 *
 * Agent mode serves one host whose transport is `local`; pool mode serves the inventory's
 * `netns` and `ssh` hosts (all, or those in `--hosts`). The planner's public key comes from
 * `--public-key` or `FLEETNET_SIGNING_KEY_FILE`; NATS, state dir, logging and the shutdown
 * deadline from the runtime's environment (see `CONFIG_VARIABLES`). Sysctl keys named by the
 * intents (baselines included) are read in every state report. Runs until SIGINT/SIGTERM,
 * then shuts down gracefully; resolves with the exit status.
 */
import { loadAndValidate } from "@fleetnet/intent";
import { compile } from "@fleetnet/netstate";
import { loadPublicKey } from "@fleetnet/protocol";
import { startService } from "@fleetnet/runtime";
import { EXIT, parseDuration, UsageProblem } from "../once.js";
import { defaultLabStateDir, targetFor } from "../target.js";
import { runExecutorService, type ServiceHost } from "./index.js";

/** Parsed `run` arguments. */
interface RunArgs {
  mode: "agent" | "pool";
  host?: string;
  hosts?: string[];
  files: string[];
  publicKey?: string;
  labStateDir?: string;
  heartbeatS: number;
  stateReportS: number;
  setup: "ensure" | "assume";
}

/** Where the command writes (tests pass their own). */
export interface ServiceCommandIo {
  err: (line: string) => void;
  env?: Readonly<Record<string, string | undefined>>;
}

function parseRunArgs(argv: readonly string[]): RunArgs {
  let mode: RunArgs["mode"] | undefined;
  const a: Omit<RunArgs, "mode"> = { files: [], heartbeatS: 10, stateReportS: 60, setup: "ensure" };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i] as string;
    const val = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new UsageProblem(`${k} needs a value`);
      return v;
    };
    if (k === "--agent" || k === "--pool") {
      const m = k === "--agent" ? "agent" : "pool";
      if (mode && mode !== m) throw new UsageProblem("give either --agent or --pool, not both");
      mode = m;
    } else if (k === "--host") a.host = val();
    else if (k === "--hosts") a.hosts = val().split(",").filter(Boolean);
    else if (k === "-f" || k === "--file") {
      a.files.push(val());
      while (argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith("-"))
        a.files.push(argv[++i] as string);
    } else if (k === "--public-key") a.publicKey = val();
    else if (k === "--lab-state-dir") a.labStateDir = val();
    else if (k === "--heartbeat") a.heartbeatS = parseDuration(val());
    else if (k === "--state-report") a.stateReportS = parseDuration(val());
    else if (k === "--setup") {
      const v = val();
      if (v !== "ensure" && v !== "assume") throw new UsageProblem("--setup must be ensure or assume");
      a.setup = v;
    } else throw new UsageProblem(`unknown option ${k}`);
  }
  if (!mode) throw new UsageProblem("run needs --agent --host NAME or --pool");
  if (mode === "agent" && !a.host) throw new UsageProblem("--agent needs --host NAME");
  if (mode === "agent" && a.hosts) throw new UsageProblem("--hosts is for --pool; an agent serves --host");
  if (mode === "pool" && a.host)
    throw new UsageProblem("--host is for --agent; a pool takes --hosts a,b,...");
  if (a.files.length === 0) throw new UsageProblem("-f INVENTORY (and intents) is required");
  return { mode, ...a };
}

/** The hosts to serve, from the inventory (and the sysctl keys their intents name). */
function selectHosts(a: RunArgs, env: Readonly<Record<string, string | undefined>>): ServiceHost[] {
  const v = loadAndValidate(a.files);
  if (!v.valid || !v.inventory) {
    const msgs = [
      ...v.ioErrors.map((e) => e.message),
      ...v.errors.map((e) => `${e.file ?? ""} ${e.path}: ${e.message}`),
    ];
    throw new Error(`invalid input:\n  ${msgs.join("\n  ") || "no Inventory document"}`); // exit 1, like \`once\`
  }
  const all = v.inventory.spec.hosts;
  let chosen: typeof all;
  if (a.mode === "agent") {
    const h = all.find((x) => x.name === a.host);
    if (!h) throw new UsageProblem(`host "${a.host}" is not in the inventory`);
    if (h.transport.driver !== "local")
      throw new UsageProblem(
        `host "${a.host}" has transport ${h.transport.driver}; an agent serves a local host (use --pool)`,
      );
    chosen = [h];
  } else {
    const wanted = a.hosts ? new Set(a.hosts) : undefined;
    for (const n of wanted ?? []) {
      const h = all.find((x) => x.name === n);
      if (!h) throw new UsageProblem(`--hosts: "${n}" is not in the inventory`);
      if (h.transport.driver === "local")
        throw new UsageProblem(
          `--hosts: "${n}" has transport local; run an agent on it (--agent --host ${n})`,
        );
    }
    chosen = all.filter((h) => h.transport.driver !== "local" && (!wanted || wanted.has(h.name)));
    if (chosen.length === 0) throw new UsageProblem("no netns or ssh host to serve in the inventory");
  }
  let desired: Map<string, { sysctls: { key: string }[] }> = new Map();
  try {
    desired = compile(v.inventory, v.intents).hosts;
  } catch {
    /* the planner reports compile errors; reports then read only the applied state's sysctls */
  }
  const stateDir = a.labStateDir ?? defaultLabStateDir(env as NodeJS.ProcessEnv);
  return chosen.map((h) => ({
    target: targetFor(h, { stateDir }),
    sysctlKeys: desired.get(h.name)?.sysctls.map((s) => s.key) ?? [],
  }));
}

/**
 * Run `fleetnet-executor run …` until a signal; returns the exit status (0 clean shutdown,
 * 1 failed start or unclean shutdown, 2 usage error).
 */
export async function runServiceCommand(
  argv: readonly string[],
  io: ServiceCommandIo = { err: (l) => process.stderr.write(`${l}\n`) },
): Promise<number> {
  const env = io.env ?? process.env;
  let a: RunArgs;
  let hosts: ServiceHost[];
  try {
    a = parseRunArgs(argv);
    hosts = selectHosts(a, env);
  } catch (e) {
    io.err(`fleetnet-executor run: ${(e as Error).message}`);
    return e instanceof UsageProblem ? EXIT.usage : EXIT.failed;
  }
  let rt: Awaited<ReturnType<typeof startService>>;
  try {
    rt = await startService({ name: "fleetnet-executor", env, exitOnSignal: "resolve" });
  } catch (e) {
    io.err(`fleetnet-executor run: ${(e as Error).message}`);
    return EXIT.failed;
  }
  try {
    const keyFile = a.publicKey ?? rt.config.signingKeyFile;
    if (!keyFile)
      throw new UsageProblem(
        "the planner's public key is needed: --public-key FILE or FLEETNET_SIGNING_KEY_FILE",
      );
    const svc = await runExecutorService({
      mode: a.mode,
      hosts,
      nc: rt.nats,
      js: rt.js,
      jsm: rt.jsm,
      setup: a.setup,
      logger: rt.logger,
      publicKeys: loadPublicKey(keyFile),
      stateDir: rt.config.stateDir,
      heartbeatMs: a.heartbeatS * 1000,
      stateReportMs: a.stateReportS * 1000,
    });
    rt.shutdown.register("executor", () => svc.close(), "intake");
  } catch (e) {
    io.err(`fleetnet-executor run: ${(e as Error).message}`);
    await rt.shutdown.shutdown("start-up failed");
    return e instanceof UsageProblem ? EXIT.usage : EXIT.failed;
  }
  return rt.stopped;
}
