/**
 * `fleetnet up [-f PATH...]` / `fleetnet down` / `fleetnet status [--json]`: the whole stack
 * on this machine, in the background.
 *
 * Design: `up` makes NATS + Redis reachable with `infra/dev/services up` (which reuses
 * running servers), generates the planner's Ed25519 job-signing key pair once
 * (`<state>/stack/signing.key`, 0600; `signing.pub`), then starts — detached, output to
 * `<state>/stack/<name>.log` — the planner (`services/planner/dist/bin.js run`) and, given an
 * inventory, one executor pool for its netns/ssh hosts (`services/executor/dist/bin.js run
 * --pool -f …`) and the telemetry service (`services/telemetry/dist/bin.js run --intents …`:
 * drift, health, rollout gates). Each process has a pid file `<name>.pid` holding `{pid, argv}`; a pid
 * counts as ours only while `/proc/<pid>/cmdline` is still that argv, so a recycled pid is
 * never signalled. `up` returns once the planner answers its API and every served host
 * heartbeats; run again it keeps what runs (restarting the pool when the inventory paths
 * changed). `down` stops exactly what `up` started (SIGTERM, SIGKILL after 15 s) and runs
 * `infra/dev/services down` (which only stops servers it started itself).
 *
 * The service binaries are found relative to this file (`cli/dist/commands/stack.js` →
 * the repository root); `FLEETNET_PLANNER_BIN`, `FLEETNET_EXECUTOR_BIN`,
 * `FLEETNET_TELEMETRY_BIN` and `FLEETNET_DEV_SERVICES` override them. The NetFlow collector
 * (`fleetnet-telemetry collect`) is not part of the stack.
 *
 * Exit status: 0 up / down / all running, 1 a component failed or is not running,
 * 2 usage or I/O error.
 */
import { spawn } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { formatError, loadAndValidate } from "@fleetnet/intent";
import {
  exportKeyPairPem,
  FleetnetError,
  generateJobKeyPair,
  HeartbeatSchema,
  parseMessage,
  subjects,
} from "@fleetnet/protocol";
import type { Command } from "commander";
import { colour, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "../io.js";
import { PlannerClient } from "./rollout-api.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** The state dir of the stack: `$FLEETNET_STATE_DIR/stack` (default ~/.local/state/fleetnet/stack). */
function stackDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.FLEETNET_STATE_DIR || join(env.HOME || homedir(), ".local", "state", "fleetnet");
  return join(base, "stack");
}

/** Paths of the programs the stack runs (overridable by environment). */
function stackPrograms(env: NodeJS.ProcessEnv = process.env): {
  planner: string;
  executor: string;
  telemetry: string;
  devServices: string;
} {
  return {
    planner: resolve(env.FLEETNET_PLANNER_BIN || join(ROOT, "services", "planner", "dist", "bin.js")),
    executor: resolve(env.FLEETNET_EXECUTOR_BIN || join(ROOT, "services", "executor", "dist", "bin.js")),
    telemetry: resolve(env.FLEETNET_TELEMETRY_BIN || join(ROOT, "services", "telemetry", "dist", "bin.js")),
    devServices: resolve(env.FLEETNET_DEV_SERVICES || join(ROOT, "infra", "dev", "services")),
  };
}

const COMPONENTS = ["planner", "executor", "telemetry"] as const;
type Component = (typeof COMPONENTS)[number];

interface PidRecord {
  pid: number;
  argv: string[];
  startedAt: string;
}

function readPid(dir: string, name: Component): PidRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(join(dir, `${name}.pid`), "utf8")) as PidRecord;
    return Number.isInteger(r.pid) && Array.isArray(r.argv) ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the pid file's process still runs with the recorded argv (not a recycled pid). */
function alive(r: PidRecord | undefined): r is PidRecord {
  if (!r) return false;
  try {
    const cmd = readFileSync(`/proc/${r.pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    return cmd.length === r.argv.length && cmd.every((a, i) => a === r.argv[i]);
  } catch {
    return false;
  }
}

function startDetached(dir: string, name: Component, argv: string[], env: NodeJS.ProcessEnv): PidRecord {
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, "a", 0o600);
  try {
    const child = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio: ["ignore", fd, fd], env });
    if (child.pid === undefined) throw new UsageError(`cannot start ${name}: ${argv.join(" ")}`);
    child.unref();
    const rec: PidRecord = { pid: child.pid, argv, startedAt: new Date().toISOString() };
    writeFileSync(join(dir, `${name}.pid`), `${JSON.stringify(rec)}\n`, { mode: 0o600 });
    return rec;
  } finally {
    closeSync(fd);
  }
}

async function stop(dir: string, name: Component, say: (t: string) => void): Promise<void> {
  const r = readPid(dir, name);
  if (alive(r)) {
    const { pid } = r;
    const running = () => alive(r);
    process.kill(pid, "SIGTERM");
    const until = Date.now() + 15_000;
    while (running() && Date.now() < until) await sleep(100);
    if (running()) process.kill(pid, "SIGKILL");
    while (running()) await sleep(50);
    say(`${name} stopped (pid ${pid})\n`);
  }
  rmSync(join(dir, `${name}.pid`), { force: true });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function runScript(path: string, verb: string): Promise<number> {
  return new Promise((res, rej) => {
    const c = spawn(path, [verb], { stdio: ["ignore", "inherit", "inherit"] });
    c.once("error", rej);
    c.once("exit", (code) => res(code ?? 1));
  });
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** Hosts an executor pool serves for these intent paths (netns and ssh transports). */
function poolHosts(paths: string[]): string[] {
  const v = loadAndValidate(paths);
  for (const e of v.ioErrors) throw new UsageError(e.message);
  if (!v.valid || !v.inventory) {
    const text = v.errors.map((e) => formatError(e)).join("\n  ");
    throw new FleetnetError("INTENTS_INVALID", `the inventory is invalid; nothing started:\n  ${text}`);
  }
  return v.inventory.spec.hosts.filter((h) => h.transport.driver !== "local").map((h) => h.name);
}

/** Options of `fleetnet up`. */
interface UpOptions {
  file?: string[];
  labStateDir?: string;
  timeout?: string;
  heartbeat?: string;
  /** Executor state-report period (default: the executor's). */
  stateReport?: string;
}

/** What `up` ran with (`<state>/stack/up.json`): a later `up` without options reuses it. */
interface UpRecord {
  files: string[];
  hosts: string[];
  labStateDir?: string;
  heartbeat?: string;
  stateReport?: string;
}

/** Wait until the planner answers and every host heartbeats; returns what is missing. */
async function waitReady(
  client: PlannerClient,
  hosts: string[],
  deadline: number,
  died: () => string | undefined,
): Promise<string | undefined> {
  const { seen, stop } = watchHeartbeats(client);
  try {
    let answering = false;
    while (Date.now() < deadline) {
      const dead = died();
      if (dead) return dead;
      if (!answering) answering = await plannerAnswers(client, 2_000);
      if (answering && hosts.every((h) => seen.has(h))) return undefined;
      await sleep(200);
    }
    if (!answering) return "the planner does not answer its API";
    return `no heartbeat from ${hosts.filter((h) => !seen.has(h)).join(", ")}`;
  } finally {
    stop();
  }
}

/** The hosts heard heartbeating from now on (`seen`), until `stop()`. */
function watchHeartbeats(client: PlannerClient): { seen: ReadonlySet<string>; stop: () => void } {
  const seen = new Set<string>();
  const sub = client.nc.subscribe(subjects.allHeartbeats());
  void (async () => {
    for await (const m of sub) {
      const hb = parseMessage(HeartbeatSchema, m.data);
      if (hb.ok) seen.add(hb.value.host);
    }
  })();
  return { seen, stop: () => sub.unsubscribe() };
}

/** The planner answers its `status` API (an unknown rollout id is a good enough question). */
async function plannerAnswers(client: PlannerClient, timeoutMs: number): Promise<boolean> {
  try {
    await client.call("status", { rolloutId: "fleetnet-up-probe" }, timeoutMs);
    return true;
  } catch (err) {
    return !(err instanceof FleetnetError && err.code === "PLANNER_UNAVAILABLE");
  }
}

/**
 * The local stack's heartbeat period without `--heartbeat`: 2 s (a dead executor shows within
 * seconds in a lab), longer for a big pool so that the fleet's heartbeats stay at most ~50
 * messages a second (200 hosts: 4 s) — each one is encoded, routed and parsed by the planner
 * and telemetry, and at 2 s a 200-host pool's heartbeats alone took ~0.3 CPU-s of every 10 s.
 */
function defaultHeartbeatS(hosts: number): number {
  return Math.max(2, Math.ceil(hosts / 50));
}

function parseSeconds(v: string | undefined, what: string, def: number): number {
  if (v === undefined) return def;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw new UsageError(`${what} must be a duration like 30s, got ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  return m[2] === "ms" ? n / 1000 : m[2] === "m" ? n * 60 : n;
}

/** `fleetnet up`: returns the exit status. */
async function runUp(opts: UpOptions): Promise<number> {
  const dir = stackDir();
  const progs = stackPrograms();
  const timeoutS = parseSeconds(opts.timeout, "--timeout", 60);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const recordFile = join(dir, "up.json");
  let previous: UpRecord | undefined;
  try {
    previous = JSON.parse(readFileSync(recordFile, "utf8")) as UpRecord;
  } catch {
    previous = undefined;
  }
  const files =
    (opts.file ?? []).length > 0 ? (opts.file ?? []).map((f) => resolve(f)) : (previous?.files ?? []);
  const hosts = files.length > 0 ? poolHosts(files) : [];
  const labStateDir = opts.labStateDir ? resolve(opts.labStateDir) : previous?.labStateDir;
  const heartbeat = opts.heartbeat ?? previous?.heartbeat;
  const stateReport = opts.stateReport ?? previous?.stateReport;
  const heartbeatS = parseSeconds(heartbeat, "--heartbeat", defaultHeartbeatS(hosts.length));
  for (const [what, p] of Object.entries(progs))
    if (!existsSync(p))
      throw new UsageError(`${what}: ${p} not found (run pnpm build, or set its FLEETNET_*_BIN)`);

  if ((await runScript(progs.devServices, "up")) !== 0) {
    process.stderr.write("fleetnet: infra/dev/services up failed; nothing else started\n");
    return EXIT_FAILED;
  }
  const keyFile = join(dir, "signing.key");
  const pubFile = join(dir, "signing.pub");
  if (!existsSync(keyFile) || !existsSync(pubFile)) {
    const pem = exportKeyPairPem(generateJobKeyPair());
    writeFileSync(keyFile, pem.privateKeyPem, { mode: 0o600 });
    writeFileSync(pubFile, pem.publicKeyPem, { mode: 0o644 });
  }
  chmodSync(keyFile, 0o600);

  const node = process.execPath;
  const want: Record<Component, string[] | undefined> = {
    planner: [node, progs.planner, "run"],
    executor:
      hosts.length === 0
        ? undefined
        : [
            node,
            progs.executor,
            "run",
            "--pool",
            "-f",
            ...files,
            "--public-key",
            pubFile,
            "--heartbeat",
            `${heartbeatS}s`,
            ...(labStateDir ? ["--lab-state-dir", labStateDir] : []),
            ...(stateReport === undefined
              ? []
              : ["--state-report", `${parseSeconds(stateReport, "--state-report", 60)}s`]),
          ],
    telemetry: undefined, // set below
  };
  // Telemetry (drift, health, gates) needs the fleet's intents: every file the stack was given.
  want.telemetry =
    hosts.length === 0
      ? undefined
      : [
          node,
          progs.telemetry,
          "run",
          ...files.flatMap((f) => ["--intents", f]),
          "--heartbeat-s",
          String(heartbeatS),
        ];
  const env = { ...process.env, FLEETNET_SIGNING_KEY_FILE: keyFile };
  const say = (t: string) => process.stderr.write(t);
  for (const name of COMPONENTS) {
    const argv = want[name];
    const cur = readPid(dir, name);
    if (alive(cur) && argv && cur.argv.join("\0") === argv.join("\0")) {
      say(`${name} already running (pid ${cur.pid})\n`);
      continue;
    }
    await stop(dir, name, say); // not running, or running with other arguments
    if (!argv) continue;
    const rec = startDetached(dir, name, argv, env);
    say(`${name} started (pid ${rec.pid}, log ${join(dir, `${name}.log`)})\n`);
  }
  writeFileSync(
    recordFile,
    `${JSON.stringify({ files, hosts, labStateDir, heartbeat, stateReport } satisfies UpRecord)}\n`,
    {
      mode: 0o600,
    },
  );

  const client = await PlannerClient.connect();
  try {
    const died = () => {
      for (const name of COMPONENTS)
        if (want[name] && !alive(readPid(dir, name)))
          return `${name} exited; last lines of ${join(dir, `${name}.log`)}:\n${tail(join(dir, `${name}.log`))}`;
      return undefined;
    };
    const problem = await waitReady(client, hosts, Date.now() + timeoutS * 1000, died);
    if (problem) {
      process.stderr.write(`fleetnet: the stack is not ready: ${problem}\n`);
      return EXIT_FAILED;
    }
  } finally {
    await client.close();
  }
  process.stdout.write(
    `${colour.green("up")}: planner answering${hosts.length ? `, ${hosts.length} host(s) heartbeating` : ", no inventory (no executors)"}; state in ${dir}\n`,
  );
  return EXIT_OK;
}

/** `fleetnet down`: returns the exit status. */
async function runDown(): Promise<number> {
  const dir = stackDir();
  const say = (t: string) => process.stderr.write(t);
  for (const name of [...COMPONENTS].reverse()) await stop(dir, name, say);
  rmSync(join(dir, "up.json"), { force: true });
  const code = await runScript(stackPrograms().devServices, "down");
  if (code !== 0) {
    process.stderr.write("fleetnet: infra/dev/services down failed\n");
    return EXIT_FAILED;
  }
  process.stdout.write(`${colour.green("down")}: stack stopped\n`);
  return EXIT_OK;
}

/** `fleetnet status`: returns the exit status (0 when everything that should run runs). */
async function runStatus(opts: { json?: boolean }): Promise<number> {
  const dir = stackDir();
  let rec: UpRecord | undefined;
  try {
    rec = JSON.parse(readFileSync(join(dir, "up.json"), "utf8")) as UpRecord;
  } catch {
    rec = undefined;
  }
  const processes = Object.fromEntries(
    COMPONENTS.map((name) => {
      const r = readPid(dir, name);
      return [name, { running: alive(r), pid: alive(r) ? r.pid : null, log: join(dir, `${name}.log`) }];
    }),
  ) as Record<Component, { running: boolean; pid: number | null; log: string }>;
  const hosts: Record<string, "heartbeating" | "silent"> = {};
  let answering = false;
  let natsReachable = true;
  try {
    const client = await PlannerClient.connect();
    try {
      const { seen, stop } = watchHeartbeats(client);
      answering = await plannerAnswers(client, 2_000);
      const until = Date.now() + 3_000;
      while (Date.now() < until && !(rec?.hosts ?? []).every((h) => seen.has(h))) await sleep(100);
      stop();
      for (const h of rec?.hosts ?? []) hosts[h] = seen.has(h) ? "heartbeating" : "silent";
    } finally {
      await client.close();
    }
  } catch (err) {
    if (!(err instanceof FleetnetError)) throw err;
    natsReachable = false;
    for (const h of rec?.hosts ?? []) hosts[h] = "silent";
  }
  const up =
    rec !== undefined &&
    processes.planner.running &&
    (rec.hosts.length === 0 || (processes.executor.running && processes.telemetry.running)) &&
    answering &&
    Object.values(hosts).every((s) => s === "heartbeating");
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify({ up, stateDir: dir, nats: natsReachable, plannerAnswering: answering, processes, hosts, files: rec?.files ?? [] })}\n`,
    );
  } else {
    process.stdout.write(
      `stack: ${up ? colour.green("up") : colour.red(rec ? "degraded" : "down")} (${dir})\n`,
    );
    process.stdout.write(`  nats: ${natsReachable ? "reachable" : colour.red("unreachable")}\n`);
    for (const [n, p] of Object.entries(processes))
      process.stdout.write(`  ${n}: ${p.running ? `running (pid ${p.pid})` : "not running"}  log ${p.log}\n`);
    process.stdout.write(`  planner API: ${answering ? "answering" : colour.red("not answering")}\n`);
    for (const [h, s] of Object.entries(hosts))
      process.stdout.write(`  host ${h}: ${s === "heartbeating" ? s : colour.red(s)}\n`);
  }
  return up ? EXIT_OK : EXIT_FAILED;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Registers `fleetnet up|down|status`. */
export function registerStack(program: Command): void {
  program
    .command("up")
    .description(
      "Start NATS/Redis (if needed), the planner and an executor pool for the inventory, in the background.",
    )
    .option(
      "-f, --file <path>",
      "inventory (and intents) file or directory (repeatable; default: the last up's)",
      collect,
      [],
    )
    .option(
      "--lab-state-dir <dir>",
      "state dir of the lab whose namespaces the pool serves (default $FLEETNET_STATE_DIR/lab)",
    )
    .option("--timeout <duration>", "how long to wait for the planner and every host's heartbeat", "60s")
    .option(
      "--heartbeat <duration>",
      "executor heartbeat period (default 2s; 1s per 50 hosts for bigger pools: at most ~50 a second)",
    )
    .option("--state-report <duration>", "executor state-report period (default the executor's, 60s)")
    .action(async (opts: UpOptions) => {
      process.exitCode = await runUp(opts).catch((err: unknown) => {
        if (err instanceof FleetnetError) {
          process.stderr.write(`fleetnet: ${err.code}: ${err.message}\n`);
          return err.code === "INTENTS_INVALID" ? EXIT_FAILED : EXIT_USAGE;
        }
        throw err;
      });
    });
  program
    .command("down")
    .description("Stop what `fleetnet up` started.")
    .action(async () => {
      process.exitCode = await runDown();
    });
  program
    .command("status")
    .description("Show whether the stack runs: processes, planner API, host heartbeats.")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      process.exitCode = await runStatus(opts);
    });
}
