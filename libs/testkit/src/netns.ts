/**
 * Network-namespace helpers for `*.netns.test.ts` tests that ALWAYS clean up.
 *
 * Design:
 * - Every namespace gets a unique name `<prefix><pid36><thread36><counter36>` (≤ 15 chars, so it
 *   also fits interface names derived from it); parallel test files and parallel engineers
 *   (each with their own prefix) never collide.
 * - Everything is spawned with argv arrays (`ip netns exec NS argv…`, `ip -batch -` via stdin);
 *   the process plumbing is @fleetnet/lab's, re-exported here.
 * - Cleanup deletes namespaces by exact name and kills processes by recorded PID plus the PIDs
 *   the kernel reports inside the namespace being deleted. It is idempotent, usable from
 *   `await using` (`Symbol.asyncDispose`) and from `afterAll`.
 * - A process-exit hook synchronously deletes whatever this process created and did not
 *   delete (namespaces, and labs by their state dir), so a forgotten dispose or a worker that
 *   exits early still leaves nothing behind.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { threadId } from "node:worker_threads";
import {
  CommandError,
  ipBatch,
  killPids,
  listNamespaces,
  pidsInNamespaces,
  type RunOptions,
  type RunResult,
  reachable,
  readState,
  removeNetnsRunDirs,
  run,
  runIn,
} from "@fleetnet/lab";
import { testLab } from "./lab.js";

/** Where the executor's netns driver keeps a namespace host's /run (re-exported for its tests). */
export { NETNS_RUN_ROOT } from "@fleetnet/lab";

export {
  CommandError,
  ipBatch,
  killPids,
  listNamespaces,
  type RunOptions,
  type RunResult,
  reachable,
  run,
  runIn,
};

let counter = 0;

/**
 * A unique name `<prefix><pid36><thread36><counter36>`. Throws when it would exceed
 * `maxLength` (default 15, the kernel's interface-name limit).
 */
export function uniqueName(prefix: string, maxLength = 15): string {
  counter += 1;
  const name = `${prefix}${process.pid.toString(36)}${threadId.toString(36)}${counter.toString(36)}`;
  if (name.length > maxLength) {
    throw new RangeError(`name ${name} is longer than ${maxLength} chars; use a shorter prefix`);
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new RangeError(`name ${JSON.stringify(name)} is invalid`);
  return name;
}

/** Namespaces, PIDs and lab state dirs created by this process and not yet cleaned up. */
const live = { namespaces: new Set<string>(), pids: new Set<number>(), stateDirs: new Set<string>() };
let exitHookInstalled = false;

function emergencyCleanup(): void {
  const namespaces = new Set(live.namespaces);
  for (const dir of live.stateDirs) {
    try {
      const s = readState(dir);
      if (!s) continue;
      for (const n of s.namespaces) namespaces.add(n);
      for (const p of s.processes) live.pids.add(p.pid);
      for (const l of s.links) spawnSync("ip", ["link", "del", l], { stdio: "ignore" });
    } catch {
      // best effort
    }
  }
  for (const pids of pidsInNamespaces(namespaces).values()) for (const p of pids) live.pids.add(p);
  for (const pid of live.pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  if (namespaces.size > 0) {
    const lines = [...namespaces].map((n) => `netns del ${n}`).join("\n");
    spawnSync("ip", ["-force", "-batch", "-"], { input: `${lines}\n`, stdio: ["pipe", "ignore", "ignore"] });
    removeNetnsRunDirs(namespaces);
  }
  // Lab state dirs registered here are temporary dirs owned by the lab helpers.
  for (const dir of live.stateDirs) rmSync(dir, { recursive: true, force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", emergencyCleanup);
}

/**
 * Register resources for the process-exit safety net (used by the lab helpers). A `stateDir`
 * must be a temporary directory owned by the caller: the net brings its lab down and removes it.
 */
export function trackForExit(r: {
  namespaces?: Iterable<string>;
  pids?: Iterable<number>;
  stateDir?: string;
}): void {
  installExitHook();
  for (const n of r.namespaces ?? []) live.namespaces.add(n);
  for (const p of r.pids ?? []) live.pids.add(p);
  if (r.stateDir) live.stateDirs.add(r.stateDir);
}

/** Forget resources that were cleaned up normally. */
export function untrackForExit(r: {
  namespaces?: Iterable<string>;
  pids?: Iterable<number>;
  stateDir?: string;
}): void {
  for (const n of r.namespaces ?? []) live.namespaces.delete(n);
  for (const p of r.pids ?? []) live.pids.delete(p);
  if (r.stateDir) live.stateDirs.delete(r.stateDir);
}

/** PIDs of processes whose network namespace is `ns`; [] if it does not exist. */
export function namespacePids(ns: string): number[] {
  return pidsInNamespaces([ns]).get(ns) ?? [];
}

/**
 * Delete namespaces by exact name: kill every process still inside each (by PID), then
 * `ip netns del`. Names that do not exist are ignored. Veths with one end inside go with them.
 */
export async function deleteNamespaces(names: Iterable<string>): Promise<void> {
  const list = [...new Set(names)];
  if (list.length === 0) return;
  await killPids([...pidsInNamespaces(list).values()].flat());
  const existing = new Set(listNamespaces());
  const lines = list.filter((n) => existing.has(n)).map((n) => `netns del ${n}`);
  if (lines.length > 0) await ipBatch(lines, { force: true });
  removeNetnsRunDirs(list); // the executor's netns driver keeps each host's /run there
  untrackForExit({ namespaces: list });
}

/** Create namespaces (lo up in each); they are registered for cleanup before creation. */
export async function createNamespaces(names: readonly string[]): Promise<void> {
  const existing = new Set(listNamespaces());
  const clash = names.filter((n) => existing.has(n));
  if (clash.length > 0) throw new Error(`namespace already exists: ${clash.join(", ")}`);
  trackForExit({ namespaces: names });
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
  const track = (pid: number) => {
    pids.add(pid);
    trackForExit({ pids: [pid] });
  };
  return {
    spawnIn(ns: string, argv: readonly string[], opts: { stdio?: "pipe" | "ignore" } = {}): ChildProcess {
      const child = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: opts.stdio ?? "ignore" });
      if (child.pid !== undefined) track(child.pid);
      child.on("error", () => {});
      return child;
    },
    track,
    dispose(): Promise<void> {
      disposed ??= (async () => {
        await killPids(pids);
        untrackForExit({ pids });
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
  /** Root-namespace address on the fabric (the lab's management veth). */
  readonly mgmtAddress: string;
  /** Run argv inside namespace `ns`. */
  run(ns: string, argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Start a long-running process in `ns`; killed by PID on dispose. */
  spawn(ns: string, argv: readonly string[], opts?: { stdio?: "pipe" | "ignore" }): ChildProcess;
  /** Record a PID to kill on dispose. */
  track(pid: number): void;
  /** Kill tracked processes and delete all namespaces. Idempotent. */
  dispose(): Promise<void>;
}

/**
 * `hosts` namespaces, each with `veth0` (fixed MAC, addresses `.1`, `.2`, … of `subnet`) in
 * bridge `br0` of a fabric namespace, permanent neighbour entries, and a management veth from
 * the root namespace (the subnet's last usable address). Built by @fleetnet/lab (see
 * {@link testLab} for the full lab with sshd/softflowd).
 *
 * ```ts
 * await using lab = await netnsFabric({ prefix: "fnl", hosts: 3, subnet: "10.251.7.0/24" });
 * await lab.run(lab.hosts[0].ns, ["ip", "-br", "addr"]);
 * ```
 */
export async function netnsFabric(opts: {
  prefix: string;
  hosts: number;
  subnet: string;
}): Promise<NetnsFabric> {
  const lab = await testLab({ prefix: opts.prefix, hosts: opts.hosts, subnet: opts.subnet, racks: 1 });
  const t = makeTracked([]);
  const dispose = async () => {
    await t.dispose();
    await lab.dispose();
  };
  return {
    fabric: lab.topology.fabric,
    hosts: lab.hosts.map((h) => ({
      ns: h.namespace,
      iface: h.iface,
      address: h.address,
      cidr: `${h.address}/${h.prefixLength}`,
      mac: h.mac,
    })),
    mgmtAddress: lab.mgmtAddress,
    run: (ns, argv, o) => runIn(ns, argv, o),
    spawn: (ns, argv, o) => t.spawnIn(ns, argv, o),
    track: t.track,
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}
