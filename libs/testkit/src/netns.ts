/**
 * Network-namespace helpers for `*.netns.test.ts` tests that ALWAYS clean up.
 *
 * Design:
 * - Every namespace gets a unique name `<prefix><pid36><thread36><counter36>` (≤ 15 chars, the
 *   kernel's interface-name limit also applies to veth peers named after it), so parallel test
 *   files and parallel engineers (each with their own prefix) never collide.
 * - Everything is spawned with argv arrays (`ip netns exec NS argv…`, `ip -batch -` via stdin);
 *   no shell string is ever built.
 * - Cleanup deletes namespaces by exact name and kills processes by recorded PID (plus the PIDs
 *   the kernel reports inside the namespace being deleted, `ip netns pids NAME`). It is
 *   idempotent, usable from `await using` (via `Symbol.asyncDispose`) and from `afterAll`.
 * - A process-exit hook deletes whatever this process created and did not yet delete, so a
 *   test that forgets to dispose (or a worker that exits early) still leaves nothing behind.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { threadId } from "node:worker_threads";

/** Result of a finished command. */
export interface RunResult {
  /** Exit status (null when killed by a signal). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options for {@link run} / {@link runIn}. */
export interface RunOptions {
  /** Written to the child's stdin, then stdin is closed. */
  input?: string;
  /** Kill the child (SIGKILL) after this many ms; default 30 s. */
  timeoutMs?: number;
  /** Resolve even when the exit status is not 0 (default: reject with {@link CommandError}). */
  allowFailure?: boolean;
}

/**
 * A command exited non-zero (or could not start). `retryable` is false: the helpers only run
 * local, deterministic commands, so running them again will not help.
 */
export class CommandError extends Error {
  override name = "CommandError";
  readonly code = "COMMAND_FAILED";
  readonly retryable = false;
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    super(
      `${argv.join(" ")} exited ${result.code ?? "by signal"}${result.stderr ? `: ${result.stderr.trim()}` : ""}`,
    );
  }
}

/** Run `argv` (no shell) and collect its output. Rejects with {@link CommandError} on failure. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new TypeError("run: empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new CommandError(argv, { code: null, stdout, stderr: stderr + String(err) }));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const result = { code, stdout, stderr };
      if (code === 0 || opts.allowFailure) resolve(result);
      else reject(new CommandError(argv, result));
    });
    child.stdin.on("error", () => {}); // child may exit before reading all input
    child.stdin.end(opts.input ?? "");
  });
}

/** Run `argv` inside network namespace `ns` (`ip netns exec ns argv…`). */
export function runIn(ns: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(["ip", "netns", "exec", ns, ...argv], opts);
}

/** Feed `lines` to `ip [-n NS] -batch -` (one spawn for many steps). */
export function ipBatch(
  lines: readonly string[],
  opts: { ns?: string; force?: boolean } = {},
): Promise<RunResult> {
  const argv = ["ip"];
  if (opts.force) argv.push("-force");
  if (opts.ns) argv.push("-n", opts.ns);
  argv.push("-batch", "-");
  return run(argv, { input: `${lines.join("\n")}\n`, allowFailure: opts.force === true });
}

/**
 * Fixed probe program run by {@link reachable} inside a namespace (argv: port, timeout ms,
 * addresses). A TCP SYN to a closed port that comes back as RST (`ECONNREFUSED`) proves the
 * round trip; a timeout or `EHOSTUNREACH` means unreachable. No responder and no `ping`
 * binary are needed (Debian's minimal images lack iputils-ping).
 */
const PROBE = `
const net = require("node:net");
const [port, timeout, ...targets] = process.argv.slice(1);
const out = {};
Promise.all(targets.map((host) => new Promise((done) => {
  const s = net.connect({ host, port: Number(port) });
  const end = (ok) => { out[host] = ok; s.destroy(); clearTimeout(t); done(); };
  const t = setTimeout(() => end(false), Number(timeout));
  s.on("connect", () => end(true));
  s.on("error", (e) => end(e.code === "ECONNREFUSED"));
}))).then(() => process.stdout.write(JSON.stringify(out)));
`;

/**
 * Which of `addresses` answer from inside namespace `ns` (one `node` process for all of them).
 * Probes TCP `port` (default 9, normally closed: the peer kernel's RST is the answer).
 */
export async function reachable(
  ns: string,
  addresses: readonly string[],
  opts: { port?: number; timeoutMs?: number } = {},
): Promise<Record<string, boolean>> {
  const r = await runIn(ns, [
    process.execPath,
    "-e",
    PROBE,
    String(opts.port ?? 9),
    String(opts.timeoutMs ?? 1000),
    ...addresses,
  ]);
  return JSON.parse(r.stdout) as Record<string, boolean>;
}

let counter = 0;

/**
 * A unique namespace name `<prefix><pid36><thread36><counter36>`. Throws when it would exceed
 * `maxLength` (default 15, so names also fit interface names derived from them).
 */
export function uniqueName(prefix: string, maxLength = 15): string {
  counter += 1;
  const name = `${prefix}${process.pid.toString(36)}${threadId.toString(36)}${counter.toString(36)}`;
  if (name.length > maxLength) {
    throw new RangeError(`namespace name ${name} is longer than ${maxLength} chars; use a shorter prefix`);
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(name))
    throw new RangeError(`namespace name ${JSON.stringify(name)} is invalid`);
  return name;
}

/** Namespaces created by this process and not yet deleted (for the exit hook). */
const live = new Set<string>();
/** PIDs spawned by this process into namespaces and not yet reaped. */
const livePids = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const pid of livePids) killPid(pid, "SIGKILL");
    if (live.size === 0) return;
    const lines = [...live].map((n) => `netns del ${n}`).join("\n");
    spawnSync("ip", ["-force", "-batch", "-"], { input: `${lines}\n`, stdio: ["pipe", "ignore", "ignore"] });
  });
}

function killPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kill `pids` (SIGTERM, then SIGKILL after `graceMs`), waiting until they are gone. */
export async function killPids(pids: Iterable<number>, graceMs = 2000): Promise<void> {
  const list = [...new Set(pids)].filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
  for (const pid of list) killPid(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  let rest = list.filter(alive);
  while (rest.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    rest = rest.filter(alive);
  }
  for (const pid of rest) killPid(pid, "SIGKILL");
  for (const pid of list) livePids.delete(pid);
}

/** PIDs of processes whose network namespace is `ns` (`ip netns pids`); [] if it does not exist. */
export async function namespacePids(ns: string): Promise<number[]> {
  const r = await run(["ip", "netns", "pids", ns], { allowFailure: true });
  if (r.code !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n));
}

/** Names of the network namespaces that exist now. */
export async function listNamespaces(): Promise<string[]> {
  const r = await run(["ip", "-j", "netns", "list"], { allowFailure: true });
  const text = r.stdout.trim();
  if (r.code !== 0 || text === "") return [];
  return (JSON.parse(text) as { name: string }[]).map((e) => e.name);
}

/**
 * Delete namespaces by exact name: kill every process still inside each (by PID), then
 * `ip netns del`. Names that do not exist are ignored. Veths with one end inside go with them.
 */
export async function deleteNamespaces(names: Iterable<string>): Promise<void> {
  const list = [...new Set(names)];
  if (list.length === 0) return;
  const pids = (await Promise.all(list.map(namespacePids))).flat();
  await killPids(pids);
  const existing = new Set(await listNamespaces());
  const lines = list.filter((n) => existing.has(n)).map((n) => `netns del ${n}`);
  if (lines.length > 0) await ipBatch(lines, { force: true });
  for (const n of list) live.delete(n);
}

/** Create namespaces (lo up in each); records them for cleanup before creating them. */
export async function createNamespaces(names: readonly string[]): Promise<void> {
  installExitHook();
  for (const n of names) live.add(n);
  const existing = new Set(await listNamespaces());
  const clash = names.filter((n) => existing.has(n));
  if (clash.length > 0) {
    for (const n of names) live.delete(n);
    throw new Error(`namespace already exists: ${clash.join(", ")}`);
  }
  await ipBatch(names.map((n) => `netns add ${n}`));
  await Promise.all(names.map((n) => ipBatch(["link set lo up"], { ns: n })));
}

/** A namespace that exists until disposed. */
export interface ScratchNamespace extends AsyncDisposable {
  /** Exact namespace name. */
  readonly name: string;
  /** Run argv inside the namespace. */
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /**
   * Start a long-running process inside the namespace; its PID is recorded and it is killed on
   * dispose. stdout/stderr are ignored unless `stdio: "pipe"`.
   */
  spawn(argv: readonly string[], opts?: { stdio?: "pipe" | "ignore" }): ChildProcess;
  /** Record a PID (e.g. a daemon's pid file) to kill on dispose. */
  track(pid: number): void;
  /** Kill tracked processes and delete the namespace. Idempotent. */
  dispose(): Promise<void>;
}

function makeTracked(names: string[]) {
  const pids = new Set<number>();
  let disposed: Promise<void> | undefined;
  return {
    pids,
    spawnIn(ns: string, argv: readonly string[], opts: { stdio?: "pipe" | "ignore" } = {}): ChildProcess {
      const child = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: opts.stdio ?? "ignore" });
      if (child.pid !== undefined) {
        pids.add(child.pid);
        livePids.add(child.pid);
      }
      child.on("error", () => {});
      return child;
    },
    track(pid: number) {
      pids.add(pid);
      livePids.add(pid);
    },
    dispose(): Promise<void> {
      disposed ??= (async () => {
        await killPids(pids);
        await deleteNamespaces(names);
      })();
      return disposed;
    },
  };
}

/**
 * Create a fresh namespace named {@link uniqueName}(prefix) with `lo` up.
 *
 * ```ts
 * await using ns = await scratchNamespace("fnl");
 * await ns.run(["ip", "link"]);
 * ```
 */
export async function scratchNamespace(prefix: string): Promise<ScratchNamespace> {
  const name = uniqueName(prefix);
  await createNamespaces([name]);
  const t = makeTracked([name]);
  return {
    name,
    run: (argv, opts) => runIn(name, argv, opts),
    spawn: (argv, opts) => t.spawnIn(name, argv, opts),
    track: t.track,
    dispose: t.dispose,
    [Symbol.asyncDispose]: t.dispose,
  };
}

/** One host of a {@link netnsFabric}. */
export interface FabricHost {
  /** Namespace name. */
  readonly ns: string;
  /** Underlay interface inside the namespace (`veth0`). */
  readonly iface: string;
  /** Address without prefix length, e.g. `10.251.3.1`. */
  readonly address: string;
  /** Address with prefix length, e.g. `10.251.3.1/24`. */
  readonly cidr: string;
  /** Fixed MAC address of `iface`. */
  readonly mac: string;
}

/** A tiny lab: N namespaces joined by a bridge in a fabric namespace. */
export interface NetnsFabric extends AsyncDisposable {
  /** The fabric namespace holding bridge `br0`. */
  readonly fabric: string;
  readonly hosts: readonly FabricHost[];
  /** Run argv inside namespace `ns`. */
  run(ns: string, argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Start a long-running process in `ns`; killed by PID on dispose. */
  spawn(ns: string, argv: readonly string[], opts?: { stdio?: "pipe" | "ignore" }): ChildProcess;
  /** Record a PID to kill on dispose. */
  track(pid: number): void;
  /** Kill tracked processes and delete all namespaces. Idempotent. */
  dispose(): Promise<void>;
}

function parseV4Subnet(subnet: string): { base: number; bits: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(subnet);
  if (!m) throw new RangeError(`subnet ${JSON.stringify(subnet)} is not an IPv4 CIDR`);
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits < 8 || bits > 30) {
    throw new RangeError(`subnet ${subnet}: octets must be ≤ 255 and the prefix 8..30`);
  }
  const [a = 0, b = 0, c = 0, d = 0] = octets;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (((a << 24) | (b << 16) | (c << 8) | d) >>> 0) & mask, bits };
}

function v4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/**
 * Create `hosts` namespaces, each with `veth0` (fixed MAC, address `.1`, `.2`, … of `subnet`)
 * plugged into bridge `br0` of a fabric namespace. Permanent neighbour entries for every other
 * host are installed so the first packets do not depend on ARP.
 *
 * ```ts
 * await using lab = await netnsFabric({ prefix: "fnl", hosts: 3, subnet: "10.251.7.0/24" });
 * await lab.run(lab.hosts[0].ns, ["ping", "-c1", "-W1", lab.hosts[1].address]);
 * ```
 */
export async function netnsFabric(opts: {
  prefix: string;
  hosts: number;
  subnet: string;
}): Promise<NetnsFabric> {
  const { base, bits } = parseV4Subnet(opts.subnet);
  const capacity = 2 ** (32 - bits) - 2;
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > Math.min(capacity, 250)) {
    throw new RangeError(`hosts must be 1..${Math.min(capacity, 250)} for subnet ${opts.subnet}`);
  }
  const fabric = uniqueName(opts.prefix);
  const tag = Math.floor(Math.random() * 0xffff);
  const hosts: FabricHost[] = Array.from({ length: opts.hosts }, (_, i) => {
    const address = v4(base + i + 1);
    const mac = `02:fb:${(tag >> 8).toString(16).padStart(2, "0")}:${(tag & 255).toString(16).padStart(2, "0")}:00:${(i + 1).toString(16).padStart(2, "0")}`;
    return { ns: uniqueName(opts.prefix), iface: "veth0", address, cidr: `${address}/${bits}`, mac };
  });
  const names = [fabric, ...hosts.map((h) => h.ns)];
  const t = makeTracked(names);
  try {
    await createNamespaces(names);
    await ipBatch(["link add br0 type bridge", "link set br0 up"], { ns: fabric });
    // Root-namespace batch: create every veth with both ends placed directly.
    await ipBatch(
      hosts.map(
        (h, i) =>
          `link add veth0 netns ${h.ns} address ${h.mac} type veth peer name p${i + 1} netns ${fabric}`,
      ),
    );
    await ipBatch(
      hosts.map((_, i) => `link set p${i + 1} master br0 up`),
      { ns: fabric },
    );
    await Promise.all(
      hosts.map((h) =>
        ipBatch(
          [
            `addr add ${h.cidr} dev veth0`,
            "link set veth0 up",
            ...hosts
              .filter((o) => o !== h)
              .map((o) => `neigh replace ${o.address} lladdr ${o.mac} dev veth0 nud permanent`),
          ],
          { ns: h.ns },
        ),
      ),
    );
  } catch (err) {
    await t.dispose();
    throw err;
  }
  return {
    fabric,
    hosts,
    run: (ns, argv, o) => runIn(ns, argv, o),
    spawn: (ns, argv, o) => t.spawnIn(ns, argv, o),
    track: t.track,
    dispose: t.dispose,
    [Symbol.asyncDispose]: t.dispose,
  };
}
