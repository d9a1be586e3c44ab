/**
 * `fleetnet demo [--keep] [--hosts N] [--state-dir DIR]` / `fleetnet demo --down`: the whole
 * tour on a lab fleet of network namespaces (root, Linux).
 *
 * Design: the demo drives the BUILT CLI as child processes — exactly the commands an operator
 * types — with `FLEETNET_STATE_DIR` pointing at the demo's own state dir (default
 * `$FLEETNET_STATE_DIR/demo`, else `~/.local/state/fleetnet/demo`), so its stack
 * (`<dir>/stack`), lab (`<dir>/lab`, prefix `fnd-`, subnet 10.249.0.0/24: not the lab
 * default 10.250.0.0/16, so an operator's own lab is left alone) and files never mix with
 * anything else:
 *   1. `fleetnet lab up` (N hypervisors over 3 racks + 2 spines, softflowd → the collector on
 *      the management address 10.249.0.254), the demo's collector (`fleetnet-telemetry
 *      collect`, see demo-flows.ts);
 *   2. `fleetnet validate`, `fleetnet up`, `fleetnet apply --yes` of `examples/demo/` (live
 *      wave output);
 *   3. the proofs (demo-proofs.ts, demo-flows.ts), each a ✓/✗ line with its evidence;
 *   4. teardown in `finally` unless `--keep`: `fleetnet down`, the collector by PID,
 *      `fleetnet lab down`, the state dir removed. `--down` tears a kept demo down.
 * Exit status: 0 every proof held, 1 a proof or step failed, 2 not runnable here (not root,
 * not Linux, tools or builds missing) or usage.
 */
import { createSocket } from "node:dgram";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { loadAndValidate } from "@fleetnet/intent";
import type { Command } from "commander";
import { colour, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "../io.js";
import { fleetnet, haveTool, type Proof, printProof, ROOT, step } from "./demo-exec.js";
import { type Collector, proveFlows, startCollector } from "./demo-flows.js";
import {
  type DemoHost,
  proveBgp,
  proveDriftHeal,
  proveEcmp,
  proveHealth,
  proveOverlay,
  proveVipFailover,
  proveWaves,
} from "./demo-proofs.js";

/** Namespace/interface prefix of the demo lab. */
const DEMO_PREFIX = "fnd-";
/** The demo lab's underlay; `examples/demo/` names addresses in it (VIP, ECMP nexthops). */
const SUBNET = "10.249.0.0/24";
const MGMT = "10.249.0.254";
/** What `examples/demo/` declares and the proofs check. */
const EXAMPLE = join(ROOT, "examples", "demo");
const VNI = 5200;
const BGP_PREFIX = "10.99.0.0/24";
const VIP = "10.249.0.100";
const PAIR = { primary: "h001", backup: "h003" };
const ECMP = { host: "h004", destination: "10.98.0.0/24", via: ["10.249.0.1", "10.249.0.2"] };
const DRIFT = { host: "h002", key: "net.ipv4.ip_forward", bad: "0" };

/** Tools the demo (and the lab/executor under it) runs. */
const TOOLS = [
  "ip",
  "bridge",
  "ping",
  "sysctl",
  "iperf3",
  "softflowd",
  "softflowctl",
  "keepalived",
  "vtysh",
  "/usr/lib/frr/zebra",
  "/usr/lib/frr/bgpd",
];

interface DemoOptions {
  keep?: boolean;
  down?: boolean;
  hosts?: number;
  stateDir?: string;
}

/**
 * The demo's state dir: `--state-dir`, else `$FLEETNET_STATE_DIR/demo`, else
 * `/run/fleetnet-demo` (not under `~`: root's home is 0700, and FRR's daemons, running as user
 * `frr`, must reach their per-host files under it).
 */
function demoDir(opts: DemoOptions): string {
  if (opts.stateDir) return resolve(opts.stateDir);
  if (process.env.FLEETNET_STATE_DIR) return join(resolve(process.env.FLEETNET_STATE_DIR), "demo");
  return "/run/fleetnet-demo";
}

/** The first ancestor of `dir` that other users cannot traverse (undefined when all can). */
function untraversable(dir: string): string | undefined {
  for (let d = dirname(dir); ; d = dirname(d)) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) return d;
    if (d === dirname(d)) return undefined;
  }
}

/** What stops the demo from running here (empty when it can run). */
function preflight(): string[] {
  const why: string[] = [];
  if (process.platform !== "linux")
    why.push(`it needs Linux (network namespaces, veth, VXLAN); this is ${process.platform}`);
  else if (process.getuid?.() !== 0)
    why.push("it needs root: it creates network namespaces and runs daemons in them (try: sudo pnpm demo)");
  const missing = TOOLS.filter((t) => !haveTool(t));
  if (process.platform === "linux" && missing.length > 0)
    why.push(
      `missing tools: ${missing.join(", ")} (Debian: apt-get install iproute2 iputils-ping procps iperf3 softflowd keepalived frr)`,
    );
  const bins = ["cli", "services/planner", "services/executor", "services/telemetry"]
    .map((p) => join(ROOT, p, "dist", "bin.js"))
    .filter((p) => !existsSync(p));
  if (bins.length > 0)
    why.push(
      `not built: ${bins.join(", ")} (run: pnpm exec tsc -b cli services/planner services/executor services/telemetry)`,
    );
  return why;
}

/** A free UDP port on loopback (the collector binds it on the management address). */
function freeUdpPort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createSocket("udp4");
    s.once("error", rej);
    s.bind(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** The hosts of the lab's Inventory file. */
function labHosts(inventoryFile: string): DemoHost[] {
  const v = loadAndValidate([inventoryFile]);
  if (!v.inventory) throw new Error(`the lab's inventory ${inventoryFile} does not load`);
  return v.inventory.spec.hosts.map((h) => ({
    name: h.name,
    ns: h.transport.driver === "netns" ? h.transport.namespace : `${DEMO_PREFIX}${h.name}`,
    address: (h.underlay?.address ?? "").split("/")[0] as string,
    rack: h.labels?.rack,
    role: h.labels?.role,
  }));
}

/**
 * The executor's netns hosts keep files under `<lab>/hosts/<host>`, which the lab creates
 * 0700; FRR's daemons drop to user `frr` and must traverse it to their run dir. Execute-only
 * (0711) keeps the directories unlistable.
 */
function letFrrTraverse(labDir: string): void {
  chmodSync(labDir, 0o711);
  const hosts = join(labDir, "hosts");
  if (!existsSync(hosts)) return;
  chmodSync(hosts, 0o711);
  for (const h of readdirSync(hosts)) chmodSync(join(hosts, h), 0o711);
}

/** Tear a demo down: stack, collector (by PID), lab, state dir. Returns the problems seen. */
async function teardown(dir: string, env: NodeJS.ProcessEnv, collector: Collector | null): Promise<string[]> {
  const problems: string[] = [];
  step("teardown");
  if (existsSync(join(dir, "stack"))) {
    const d = await fleetnet(["down"], env, { inherit: true, timeoutMs: 60_000 });
    if (d.code !== 0) problems.push(`fleetnet down exited ${d.code}`);
  }
  if (collector) await collector.stop();
  else {
    // a kept demo: the collector's pid file, checked against its command line
    try {
      const rec = JSON.parse(readFileSync(join(dir, "collector.pid"), "utf8")) as { pid: number };
      const cmd = readFileSync(`/proc/${rec.pid}/cmdline`, "utf8");
      if (cmd.includes("collect")) process.kill(rec.pid, "SIGTERM");
    } catch {
      // no record or no such process: nothing to stop
    }
  }
  if (existsSync(join(dir, "lab", "state.json"))) {
    const l = await fleetnet(["lab", "down", "--state-dir", join(dir, "lab")], env, {
      inherit: true,
      timeoutMs: 60_000,
    });
    if (l.code !== 0) problems.push(`fleetnet lab down exited ${l.code}`);
  }
  if (problems.length === 0) {
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`removed ${dir}\n`);
  } else process.stdout.write(`kept ${dir} (teardown problems: ${problems.join("; ")})\n`);
  return problems;
}

async function runDemo(opts: DemoOptions): Promise<number> {
  const why = preflight();
  if (why.length > 0) {
    process.stderr.write(`fleetnet demo cannot run here:\n${why.map((w) => `  - ${w}\n`).join("")}`);
    return EXIT_USAGE;
  }
  const dir = demoDir(opts);
  const env: NodeJS.ProcessEnv = { ...process.env, FLEETNET_STATE_DIR: dir };
  if (opts.down) {
    await teardown(dir, env, null);
    return EXIT_OK;
  }
  if (existsSync(join(dir, "lab", "state.json")) || existsSync(join(dir, "stack"))) {
    process.stderr.write(
      `fleetnet demo: a demo is already set up in ${dir} (--keep?); tear it down first: fleetnet demo --down --state-dir ${dir}\n`,
    );
    return EXIT_FAILED;
  }
  const closed = untraversable(dir);
  if (closed !== undefined) {
    process.stderr.write(
      `fleetnet demo: ${closed} is not traversable by other users, but FRR's daemons (user frr) must reach ${dir}; choose --state-dir under /run or /tmp\n`,
    );
    return EXIT_USAGE;
  }
  const hypervisors = opts.hosts ?? 6;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const inventory = join(dir, "inventory.yaml");
  const labDir = join(dir, "lab");
  const proofs: Proof[] = [];
  let collector: Collector | null = null;
  let failedStep: string | null = null;
  const t0 = Date.now();
  // Ctrl-C / SIGTERM: finish the current step, then tear down (the `finally` below)
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    process.stderr.write("fleetnet demo: interrupted; tearing down after the current step\n");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const check = () => {
    if (interrupted) throw new DemoStepError("interrupted");
  };
  try {
    step(`1. lab: ${hypervisors} hypervisors over 3 racks + 2 spines (prefix ${DEMO_PREFIX}, ${SUBNET})`);
    const port = await freeUdpPort();
    const lab = await fleetnet(
      [
        "lab",
        "up",
        "--hosts",
        String(hypervisors),
        "--racks",
        "3",
        "--spines",
        "2",
        "--prefix",
        DEMO_PREFIX,
        "--subnet",
        SUBNET,
        "--state-dir",
        labDir,
        "--flows",
        `${MGMT}:${port}`,
        "--out",
        inventory,
      ],
      env,
      { inherit: true, timeoutMs: 120_000 },
    );
    if (lab.code !== 0) throw new DemoStepError("fleetnet lab up");
    check();
    letFrrTraverse(labDir);
    collector = await startCollector(MGMT, port, join(dir, "flows.jsonl"), env);
    writeFileSync(join(dir, "collector.pid"), `${JSON.stringify({ pid: collector.pid })}\n`);
    process.stdout.write(`collector: fleetnet-telemetry collect on ${MGMT}:${port} (pid ${collector.pid})\n`);

    step("2. validate, start the stack, roll examples/demo out");
    const files = ["-f", inventory, "-f", EXAMPLE];
    if ((await fleetnet(["validate", ...files], env, { inherit: true })).code !== 0)
      throw new DemoStepError("fleetnet validate");
    // The stack starts with the intents: telemetry watches them from the start, and its heal
    // leaves the fresh hosts to the staged rollout below (it heals only what a rollout set).
    const upWith = async (f: string[]) => {
      const r = await fleetnet(
        [
          "up",
          ...f,
          "--lab-state-dir",
          labDir,
          "--heartbeat",
          "1s",
          "--state-report",
          "2s",
          "--timeout",
          "60s",
        ],
        env,
        { inherit: true, timeoutMs: 120_000 },
      );
      if (r.code !== 0) throw new DemoStepError(`fleetnet up ${f.join(" ")}`);
      check();
    };
    await upWith(files);
    const apply = await fleetnet(["apply", ...files, "--yes"], env, { tee: true, timeoutMs: 300_000 });
    proofs.push({
      name: "rollout of examples/demo",
      ok: apply.code === 0,
      evidence: [`fleetnet apply -f ${inventory} -f examples/demo --yes: exit ${apply.code}`],
    });
    if (apply.code !== 0) throw new DemoStepError("fleetnet apply");
    check();

    step("3. proofs");
    const hosts = labHosts(inventory);
    const byName = new Map(hosts.map((h) => [h.name, h]));
    const hyps = hosts.filter((h) => h.role === "hypervisor");
    const show = (p: Proof) => {
      proofs.push(p);
      printProof(p);
      check();
    };
    const indent = (text: string) => {
      for (const l of text.trimEnd().split("\n")) process.stdout.write(`      ${l}\n`);
    };
    show(proveWaves(`${apply.stdout}${apply.stderr}`, hosts, PAIR));
    show(await proveOverlay(hyps, VNI));
    show(await proveBgp(hyps, BGP_PREFIX, 30_000));
    const ecmpHost = byName.get(ECMP.host);
    if (ecmpHost) show(await proveEcmp(ecmpHost, ECMP.destination, ECMP.via));
    const from = hyps[0] as DemoHost;
    const to = [...hyps].reverse().find((h) => h.rack !== from.rack) ?? (hyps[1] as DemoHost);
    const flows = await proveFlows(
      {
        from: { name: from.name, ns: from.ns, address: from.address },
        to: { name: to.name, ns: to.ns, address: to.address },
        controls: hosts.map((h) => join(labDir, "hosts", h.name, "softflowd.ctl")),
      },
      collector,
      new Map(hosts.map((h) => [h.address, h.name])),
      env,
    );
    show(flows.proof);
    process.stdout.write("    fleetnet flows top --minutes 10:\n");
    indent(flows.table.join("\n"));
    const driftHost = byName.get(DRIFT.host) as DemoHost;
    const driftLines: string[] = [];
    show(await proveDriftHeal(driftHost, DRIFT.key, DRIFT.bad, env, (t) => driftLines.push(t)));
    indent(driftLines.join(""));
    const healthLines: string[] = [];
    const health = await proveHealth(env, 30_000, (t) => healthLines.push(t));
    show(health);
    indent(healthLines.join(""));
    const primary = byName.get(PAIR.primary) as DemoHost;
    const backup = byName.get(PAIR.backup) as DemoHost;
    show(await proveVipFailover(primary, backup, VIP));
  } catch (e) {
    failedStep = interrupted
      ? "interrupted"
      : e instanceof DemoStepError
        ? e.message
        : `error: ${(e as Error).message}`;
    process.stdout.write(`${colour.red("✗")} ${failedStep}\n`);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (opts.keep && failedStep === null) {
      step("kept (--keep)");
      process.stdout.write(
        `the lab and the stack keep running (the collector stopped after the flows proof); state in ${dir}\n  FLEETNET_STATE_DIR=${dir} fleetnet status\n  fleetnet demo --down --state-dir ${dir}\n`,
      );
    } else {
      const problems = await teardown(dir, env, collector);
      if (problems.length > 0) failedStep ??= `teardown: ${problems.join("; ")}`;
    }
  }
  const failed = proofs.filter((p) => !p.ok);
  step("summary");
  for (const p of proofs) process.stdout.write(`${p.ok ? colour.green("✓") : colour.red("✗")} ${p.name}\n`);
  const secs = ((Date.now() - t0) / 1000).toFixed(0);
  if (failedStep !== null || failed.length > 0) {
    process.stdout.write(
      `demo FAILED after ${secs} s: ${[failedStep, ...failed.map((p) => p.name)].filter(Boolean).join("; ")}\n`,
    );
    return EXIT_FAILED;
  }
  process.stdout.write(`demo passed: ${proofs.length} proofs in ${secs} s\n`);
  return EXIT_OK;
}

/** A demo step whose command failed (its own output already says why). */
class DemoStepError extends Error {
  constructor(what: string) {
    super(`${what} failed (see its output above)`);
  }
}

function hostsArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 4 || n > 20)
    throw new UsageError(`--hosts must be an integer 4..20, got ${v}`);
  return n;
}

/** Registers `fleetnet demo`. */
export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "The whole tour on a lab fleet (root, Linux): lab, stack, staged rollout of examples/demo, proofs, teardown",
    )
    .option("--keep", "keep the lab, the stack and the collector running afterwards")
    .option("--down", "tear down a demo kept with --keep")
    .option("--hosts <n>", "hypervisors (4..20; 2 spines are added)", hostsArg, 6)
    .option(
      "--state-dir <dir>",
      "the demo's state dir (default $FLEETNET_STATE_DIR/demo, else /run/fleetnet-demo)",
    )
    .action(async (opts: DemoOptions) => {
      process.exitCode = await runDemo(opts);
    });
}
