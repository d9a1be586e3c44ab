/**
 * `lab up` / `lab down` / `lab status`: a lab fleet of hosts as network namespaces.
 *
 * Speed: everything structural goes through a handful of `ip -batch` / `bridge -batch`
 * processes (namespaces, all veth pairs, the fabric, the FDB) plus one small `ip -n NS -batch`
 * per host (addresses, neighbours); spawning is the cost on 2 cores, not netlink.
 *
 * Crash safety: the state file lists every namespace, root link and file BEFORE the step that
 * creates it, and daemons right after they are spawned. `down` kills recorded daemons (PID +
 * start time, so a reused PID is never hit) and every process still inside the lab's
 * namespaces, deletes exactly the recorded namespaces/links that exist, removes the recorded
 * files, and only then the state file. A failing `up` runs the same teardown before it throws.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { type Inventory, parseCidr, parseIp, prefixContains, prefixesOverlap } from "@fleetnet/intent";
import {
  checkSshPath,
  ensureSshUser,
  hostDir,
  LAB_SSH_USER,
  parseCollector,
  prepareSshHosts,
  softflowdArgv,
  softflowdControl,
  sshdArgv,
  startDaemons,
  waitListening,
  writeKeyPair,
} from "./daemons.js";
import { LabError } from "./errors.js";
import {
  bridgeBatch,
  CommandError,
  ipBatch,
  killPids,
  listNamespaces,
  mapLimit,
  pidAlive,
  pidsInNamespaces,
  rootLinkExists,
  run,
} from "./exec.js";
import { INVENTORY_MARKER, renderInventory } from "./inventory.js";
import { configureHostsInOneProcess } from "./nlconf.js";
import {
  createState,
  type LabProcess,
  type LabState,
  processStart,
  readState,
  stateFile,
  writeState,
} from "./state.js";
import {
  fabricBatch,
  fdbBatch,
  hostBatch,
  hostSubnets,
  type LabTopology,
  planFromCount,
  planFromInventory,
  rootBatch,
} from "./topology.js";

/** Default state dir: `${FLEETNET_STATE_DIR:-$HOME/.local/state/fleetnet}/lab`. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.FLEETNET_STATE_DIR || join(env.HOME || homedir(), ".local", "state", "fleetnet"), "lab");
}

/** A progress event of `lab up`. */
export interface LabProgress {
  step: "preflight" | "namespaces" | "links" | "hosts" | "ssh" | "flows" | "inventory" | "done";
  message: string;
  done?: number;
  total?: number;
}

/**
 * `ip -n NS -batch` processes in flight while configuring hosts. More than the core count on
 * purpose: the work is short syscall bursts, and on a busy machine more runnable processes
 * get the lab a fairer share of the CPU.
 */
const HOST_CONCURRENCY = 12;

/** Options of {@link labUp}: either `hosts` (count mode) or `inventories`. */
export interface LabUpOptions {
  /** Where the state file, keys, configs and (by default) the written inventory live. */
  stateDir: string;
  /** Namespace / interface name prefix (default `fn-`; tests use their own). */
  prefix?: string;
  /** Count mode: subnet of the hosts (default 10.250.0.0/16). */
  subnet?: string;
  /** Count mode: number of hypervisors. */
  hosts?: number;
  /** Count mode: racks (default ceil(hosts / 20)). */
  racks?: number;
  /** Count mode: spines (role spine), default 0. */
  spines?: number;
  /** Inventory mode: parsed Inventory documents. */
  inventories?: readonly Inventory[];
  /** Start an sshd per host and write an ssh-transport inventory. */
  ssh?: boolean;
  /** sshd port (default 22). */
  sshPort?: number;
  /** Start softflowd per host exporting NetFlow v9 to this `IPV4:PORT`. */
  flows?: string;
  /**
   * How host namespaces are configured: `auto` (one Perl process entering each namespace, else
   * `ip -n NS -batch` per host) or `ip` (always the latter; for tests of the fallback).
   */
  hostConfig?: "auto" | "ip";
  /** Inventory output file (default `<stateDir>/inventory.yaml`). */
  out?: string;
  onProgress?: (p: LabProgress) => void;
}

/** What {@link labUp} built. */
export interface LabUpResult {
  stateDir: string;
  inventoryFile: string;
  topology: LabTopology;
  processes: LabProcess[];
  /** Wall time of `up`, ms. */
  elapsedMs: number;
}

function requireRoot(): void {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new LabError(
      "NOT_ROOT",
      "the lab needs root: it creates network namespaces, veths and daemons (run as root)",
    );
  }
}

function requireTools(tools: readonly string[]): void {
  const path = (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin")
    .split(":")
    .concat(["/usr/sbin", "/sbin"]);
  const missing = tools.filter((t) =>
    t.startsWith("/") ? !existsSync(t) : !path.some((d) => existsSync(join(d, t))),
  );
  if (missing.length > 0) {
    throw new LabError(
      "MISSING_TOOL",
      `missing: ${missing.join(", ")} (Debian: iproute2, openssh-server, openssh-client, softflowd)`,
    );
  }
}

/**
 * Translate a kernel refusal of a link type ("Unknown device type", "not supported") into
 * KERNEL_FEATURE naming the feature and its kernel option; rethrow anything else.
 */
export function kernelCheck(err: unknown, what: string, config: string): never {
  if (
    err instanceof CommandError &&
    /Unknown device type|Operation not supported|not supported/i.test(err.result.stderr)
  ) {
    throw new LabError("KERNEL_FEATURE", `the kernel lacks ${what} (${config}): ${err.result.stderr.trim()}`);
  }
  throw err;
}

async function routesInRoot(): Promise<{ dst: string; dev?: string }[]> {
  const r = await run(["ip", "-j", "-4", "route", "show", "table", "all"], { allowFailure: true });
  try {
    return JSON.parse(r.stdout || "[]") as { dst: string; dev?: string }[];
  } catch {
    return [];
  }
}

/** Preflight checks that need the machine: names free, subnet not routed already. */
async function checkFree(t: LabTopology): Promise<void> {
  const existing = new Set(listNamespaces());
  const clash = [t.fabric, ...t.hosts.map((h) => h.namespace)].filter((n) => existing.has(n));
  if (clash.length > 0) {
    throw new LabError(
      "NAMESPACE_EXISTS",
      `network namespace${clash.length > 1 ? "s" : ""} ${clash.slice(0, 5).join(", ")}${clash.length > 5 ? ` (+${clash.length - 5})` : ""} already exist${clash.length > 1 ? "" : "s"}: another lab uses this prefix (bring it down, or pick another --prefix)`,
    );
  }
  if (rootLinkExists(t.mgmt.iface)) {
    throw new LabError(
      "LINK_EXISTS",
      `interface ${t.mgmt.iface} already exists in the root namespace (another lab with prefix "${t.prefix}"?)`,
    );
  }
  const ours = hostSubnets(t)
    .map((s) => parseCidr(s))
    .filter((p) => p !== undefined);
  for (const r of await routesInRoot()) {
    if (r.dst === "default") continue;
    const p = parseCidr(r.dst.includes("/") ? r.dst : `${r.dst}/32`);
    if (!p) continue;
    const hit = ours.find((o) => prefixesOverlap(o, p) && p.prefixLength > 0);
    if (hit) {
      throw new LabError(
        "SUBNET_IN_USE",
        `the root namespace already routes ${r.dst}${r.dev ? ` via ${r.dev}` : ""}, which overlaps the lab subnet; pick another --subnet`,
      );
    }
  }
}

/** Bring a lab up. On any failure everything already created is removed before throwing. */
export async function labUp(opts: LabUpOptions): Promise<LabUpResult> {
  const t0 = Date.now();
  const progress = opts.onProgress ?? (() => {});
  const stateDir = resolve(opts.stateDir);
  requireRoot();
  if ((opts.hosts === undefined) === (opts.inventories === undefined)) {
    throw new LabError(
      "BAD_OPTION",
      "give either a host count (--hosts N) or inventories (-f FILE), not both or neither",
    );
  }
  const topology =
    opts.inventories !== undefined
      ? planFromInventory(opts.inventories, { prefix: opts.prefix })
      : planFromCount({
          hosts: opts.hosts as number,
          racks: opts.racks,
          spines: opts.spines,
          prefix: opts.prefix,
          subnet: opts.subnet,
        });
  const tools = ["ip", "bridge"];
  if (opts.ssh) tools.push("/usr/sbin/sshd", "useradd", "usermod");
  if (opts.flows) tools.push("softflowd");
  requireTools(tools);
  const sshPort = opts.sshPort ?? 22;
  if (!Number.isInteger(sshPort) || sshPort < 1 || sshPort > 65535)
    throw new LabError("BAD_OPTION", `ssh port must be 1..65535, got ${sshPort}`);
  if (opts.ssh) checkSshPath(stateDir);
  const collector = opts.flows !== undefined ? parseCollector(opts.flows) : undefined;
  if (collector) {
    for (const h of topology.hosts.slice(0, 1)) softflowdControl(stateDir, h.name);
    const ip = parseIp(collector.host);
    const nets = hostSubnets(topology).map((c) => parseCidr(c));
    if (!ip || !nets.some((n) => n && prefixContains(n, ip))) {
      throw new LabError(
        "BAD_OPTION",
        `--flows ${opts.flows}: lab hosts only reach their own subnet (${hostSubnets(topology).join(", ")}); use the management address ${topology.mgmt.addresses[0]?.split("/")[0]} for a collector in the root namespace`,
      );
    }
  }
  const existingState = readState(stateDir);
  if (existingState) {
    throw new LabError(
      "LAB_ALREADY_UP",
      `a lab (status ${existingState.status}, ${existingState.topology.hosts.length} hosts) is recorded in ${stateDir}; run "fleetnet lab down --state-dir ${stateDir}" first`,
    );
  }
  await checkFree(topology);
  progress({ step: "preflight", message: `planned ${topology.hosts.length} hosts` });

  const inventoryFile = resolve(opts.out ?? join(stateDir, "inventory.yaml"));
  if (existsSync(inventoryFile) && !readFileSync(inventoryFile, "utf8").startsWith(INVENTORY_MARKER)) {
    throw new LabError(
      "BAD_OPTION",
      `--out ${inventoryFile} exists and was not written by "fleetnet lab up"; refusing to overwrite it (lab down would delete it)`,
    );
  }
  const namespaces = [topology.fabric, ...topology.hosts.map((h) => h.namespace)];
  const files = [join(stateDir, "hosts"), join(stateDir, "ssh"), inventoryFile];
  const state: LabState = {
    version: 1,
    status: "creating",
    mode: opts.inventories ? "inventory" : "count",
    owner: { pid: process.pid, start: processStart(process.pid) ?? 0 },
    createdAt: new Date().toISOString(),
    topology,
    namespaces,
    links: [topology.mgmt.iface],
    processes: [],
    files,
    inventoryFile,
    ...(collector ? { flows: `${collector.host}:${collector.port}` } : {}),
  };
  // Everything the following steps create is in the state file before the first of them.
  createState(stateDir, state);
  try {
    try {
      await ipBatch(namespaces.map((n) => `netns add ${n}`));
    } catch (err) {
      // Another lab with the same names won a race since the preflight: own only the namespaces
      // this batch created (the lines before the failing one), never theirs, and no link yet.
      const line =
        err instanceof CommandError ? /Command failed -:(\d+)/.exec(err.result.stderr)?.[1] : undefined;
      state.namespaces = line ? namespaces.slice(0, Number(line) - 1) : [];
      state.links = [];
      state.files = [];
      writeState(stateDir, state);
      if (err instanceof CommandError && /File exists/.test(err.result.stderr)) {
        throw new LabError(
          "NAMESPACE_EXISTS",
          `a namespace of this lab was created by someone else meanwhile: ${err.result.stderr.trim()}`,
        );
      }
      throw err;
    }
    progress({
      step: "namespaces",
      message: `${namespaces.length} namespaces`,
      done: namespaces.length,
      total: namespaces.length,
    });
    await ipBatch(fabricBatch(topology).slice(0, 3), { ns: topology.fabric }).catch((e) =>
      kernelCheck(e, "bridges", "CONFIG_BRIDGE"),
    );
    await ipBatch(rootBatch(topology)).catch((e) => kernelCheck(e, "veth pairs", "CONFIG_VETH"));
    await ipBatch(fabricBatch(topology).slice(3), { ns: topology.fabric });
    await bridgeBatch(fdbBatch(topology), { ns: topology.fabric });
    progress({ step: "links", message: `fabric ${topology.fabric} with ${topology.hosts.length} ports` });
    const fast = opts.hostConfig !== "ip" && (await configureHostsInOneProcess(topology, topology.hosts));
    if (!fast) {
      let configured = 0;
      await mapLimit(topology.hosts, HOST_CONCURRENCY, async (h) => {
        await ipBatch(hostBatch(topology, h), { ns: h.namespace });
        configured += 1;
        if (configured % 25 === 0 && configured < topology.hosts.length) {
          progress({
            step: "hosts",
            message: `configured ${configured}/${topology.hosts.length}`,
            done: configured,
            total: topology.hosts.length,
          });
        }
      });
    }
    progress({
      step: "hosts",
      message: `configured ${topology.hosts.length}/${topology.hosts.length}${fast ? "" : " (ip fallback)"}`,
      done: topology.hosts.length,
      total: topology.hosts.length,
    });

    if (opts.ssh) {
      await ensureSshUser(LAB_SSH_USER);
      mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
      const sshDir = join(stateDir, "ssh");
      mkdirSync(sshDir, { recursive: true, mode: 0o700 });
      const privateKeyFile = join(sshDir, "id_ed25519");
      const clientPub = writeKeyPair(privateKeyFile, "fleetnet-lab-client");
      const authorizedKeysFile = join(sshDir, "authorized_keys");
      writeFileSync(authorizedKeysFile, `${clientPub} fleetnet-lab-client\n`, { mode: 0o644 });
      const hostKeys = prepareSshHosts(stateDir, topology.hosts, {
        port: sshPort,
        user: LAB_SSH_USER,
        authorizedKeysFile,
      });
      const knownHostsFile = join(sshDir, "known_hosts");
      writeFileSync(
        knownHostsFile,
        topology.hosts
          .map((h) => `${sshPort === 22 ? h.address : `[${h.address}]:${sshPort}`} ${hostKeys[h.name]}\n`)
          .join(""),
        { mode: 0o644 },
      );
      state.ssh = { user: LAB_SSH_USER, port: sshPort, privateKeyFile, knownHostsFile, hostKeys };
      writeState(stateDir, state);
      const pids = await startDaemons(
        topology.hosts,
        (h) => sshdArgv(stateDir, h),
        (n) => {
          if (n % 25 === 0 || n === topology.hosts.length) {
            progress({
              step: "ssh",
              message: `sshd ${n}/${topology.hosts.length}`,
              done: n,
              total: topology.hosts.length,
            });
          }
        },
      );
      record(state, pids, "sshd");
      writeState(stateDir, state);
      await waitListening(
        topology.hosts.map((h) => h.address),
        sshPort,
      );
    }
    if (collector) {
      for (const h of topology.hosts) mkdirSync(hostDir(stateDir, h.name), { recursive: true, mode: 0o700 });
      const pids = await startDaemons(
        topology.hosts,
        (h) => softflowdArgv(stateDir, h, `${collector.host}:${collector.port}`),
        (n) => {
          if (n % 25 === 0 || n === topology.hosts.length) {
            progress({
              step: "flows",
              message: `softflowd ${n}/${topology.hosts.length}`,
              done: n,
              total: topology.hosts.length,
            });
          }
        },
      );
      record(state, pids, "softflowd");
      writeState(stateDir, state);
    }
    mkdirSync(dirname(inventoryFile), { recursive: true });
    writeFileSync(inventoryFile, renderInventory(topology, state.ssh), { mode: 0o644 });
    progress({ step: "inventory", message: inventoryFile });
    state.status = "up";
    writeState(stateDir, state);
  } catch (err) {
    await teardown(stateDir, state).catch(() => {});
    throw err;
  }
  const elapsedMs = Date.now() - t0;
  progress({ step: "done", message: `lab up: ${topology.hosts.length} hosts in ${elapsedMs} ms` });
  return { stateDir, inventoryFile, topology, processes: state.processes, elapsedMs };

  function record(s: LabState, pids: number[], kind: LabProcess["kind"]): void {
    pids.forEach((pid, i) => {
      const h = topology.hosts[i];
      if (h)
        s.processes.push({ pid, start: processStart(pid) ?? 0, kind, host: h.name, namespace: h.namespace });
    });
  }
}

/**
 * Where the executor's netns driver keeps a namespace host's `/run` (tmpfs runtime state: the
 * transaction lock and revert plans): `<this>/<namespace>`. The executor defines the same path
 * (`@fleetnet/executor` NETNS_RUN_ROOT, checked equal by its tests); whoever deletes a
 * namespace removes its directory with {@link removeNetnsRunDirs}.
 */
export const NETNS_RUN_ROOT = "/dev/shm/fleetnet-netns";

/** Remove the `/run` directories of netns hosts (see {@link NETNS_RUN_ROOT}); absent is fine. */
export function removeNetnsRunDirs(namespaces: Iterable<string>): void {
  for (const n of namespaces) {
    if (/^[A-Za-z0-9_.-]{1,64}$/.test(n) && n !== "." && n !== "..")
      rmSync(`${NETNS_RUN_ROOT}/${n}`, { recursive: true, force: true });
  }
}

/** What {@link labDown} removed. */
export interface LabDownResult {
  stateDir: string;
  namespaces: number;
  links: number;
  processes: number;
  files: number;
  elapsedMs: number;
}

/** Remove exactly what the state lists (idempotent), then the state file. */
async function teardown(
  stateDir: string,
  state: LabState,
): Promise<Omit<LabDownResult, "elapsedMs" | "stateDir">> {
  // Processes: recorded ones that are still the same process, plus anything in our namespaces.
  const recorded = state.processes
    .filter((p) => pidAlive(p.pid) && processStart(p.pid) === p.start)
    .map((p) => p.pid);
  const inside = [...pidsInNamespaces(state.namespaces).values()].flat();
  const pids = [...new Set([...recorded, ...inside])];
  await killPids(pids);
  const existing = new Set(listNamespaces());
  const nsToDelete = state.namespaces.filter((n) => existing.has(n));
  const links = state.links.filter((l) => rootLinkExists(l));
  const lines = [...links.map((l) => `link del ${l}`), ...nsToDelete.map((n) => `netns del ${n}`)];
  if (lines.length > 0) {
    const r = await ipBatch(lines, { force: true });
    const still = new Set(listNamespaces());
    const left = nsToDelete.filter((n) => still.has(n));
    const leftLinks = state.links.filter((l) => rootLinkExists(l));
    if (left.length > 0 || leftLinks.length > 0) {
      throw new LabError(
        "COMMAND_FAILED",
        `could not delete ${[...left, ...leftLinks].join(", ")}: ${r.stderr.trim()}`,
        true,
      );
    }
  }
  removeNetnsRunDirs(state.namespaces);
  let files = 0;
  for (const f of state.files) {
    if (existsSync(f)) {
      rmSync(f, { recursive: true, force: true });
      files += 1;
    }
  }
  rmSync(stateFile(stateDir), { force: true });
  rmSync(`${stateFile(stateDir)}.tmp`, { force: true });
  try {
    if (readdirSync(stateDir).length === 0) rmdirSync(stateDir);
  } catch {
    // not empty or already gone: leave it
  }
  return { namespaces: nsToDelete.length, links: links.length, processes: pids.length, files };
}

/**
 * Bring the lab recorded in `stateDir` down: kill its daemons, delete its namespaces and
 * management link, remove its files and the state file. Works after a crashed `up`.
 * Throws NO_LAB when nothing is recorded, LAB_BUSY while a `lab up` is still running.
 */
export async function labDown(opts: { stateDir: string }): Promise<LabDownResult> {
  const t0 = Date.now();
  const stateDir = resolve(opts.stateDir);
  requireRoot();
  const state = readState(stateDir);
  if (!state) throw new LabError("NO_LAB", `no lab is recorded in ${stateDir}`);
  const ownerRunning =
    state.status === "creating" &&
    state.owner.pid !== process.pid &&
    pidAlive(state.owner.pid) &&
    processStart(state.owner.pid) === state.owner.start;
  if (ownerRunning) {
    throw new LabError(
      "LAB_BUSY",
      `"lab up" (pid ${state.owner.pid}) is still building this lab; wait for it or stop it first`,
      true,
    );
  }
  state.status = "deleting";
  writeState(stateDir, state);
  const removed = await teardown(stateDir, state);
  return { stateDir, ...removed, elapsedMs: Date.now() - t0 };
}

/** One host in {@link LabStatus}. */
export interface LabHostStatus {
  name: string;
  namespace: string;
  address: string;
  namespacePresent: boolean;
  processes: { kind: LabProcess["kind"]; pid: number; alive: boolean }[];
}

/** Status of the lab in a state dir. */
export interface LabStatus {
  stateDir: string;
  /** False when no lab is recorded. */
  recorded: boolean;
  status?: LabState["status"];
  mode?: LabState["mode"];
  createdAt?: string;
  inventoryFile?: string;
  fabric?: { namespace: string; present: boolean };
  mgmt?: { iface: string; addresses: string[]; present: boolean };
  hosts: LabHostStatus[];
  summary: { hosts: number; namespacesPresent: number; processes: number; processesAlive: number };
  ssh?: { user: string; port: number; privateKeyFile: string; knownHostsFile: string };
  flows?: string;
}

/** Read the state and compare it with the machine (namespaces present, processes alive). */
export function labStatus(opts: { stateDir: string }): LabStatus {
  const stateDir = resolve(opts.stateDir);
  const state = readState(stateDir);
  if (!state)
    return {
      stateDir,
      recorded: false,
      hosts: [],
      summary: { hosts: 0, namespacesPresent: 0, processes: 0, processesAlive: 0 },
    };
  const present = new Set(listNamespaces());
  const hosts = state.topology.hosts.map((h) => ({
    name: h.name,
    namespace: h.namespace,
    address: `${h.address}/${h.prefixLength}`,
    namespacePresent: present.has(h.namespace),
    processes: state.processes
      .filter((p) => p.host === h.name)
      .map((p) => ({ kind: p.kind, pid: p.pid, alive: pidAlive(p.pid) && processStart(p.pid) === p.start })),
  }));
  const procs = hosts.flatMap((h) => h.processes);
  return {
    stateDir,
    recorded: true,
    status: state.status,
    mode: state.mode,
    createdAt: state.createdAt,
    inventoryFile: state.inventoryFile,
    fabric: { namespace: state.topology.fabric, present: present.has(state.topology.fabric) },
    mgmt: {
      iface: state.topology.mgmt.iface,
      addresses: state.topology.mgmt.addresses,
      present: rootLinkExists(state.topology.mgmt.iface),
    },
    hosts,
    summary: {
      hosts: hosts.length,
      namespacesPresent: hosts.filter((h) => h.namespacePresent).length,
      processes: procs.length,
      processesAlive: procs.filter((p) => p.alive).length,
    },
    ...(state.ssh
      ? {
          ssh: {
            user: state.ssh.user,
            port: state.ssh.port,
            privateKeyFile: state.ssh.privateKeyFile,
            knownHostsFile: state.ssh.knownHostsFile,
          },
        }
      : {}),
    ...(state.flows ? { flows: state.flows } : {}),
  };
}
