// bench/plan: compile + diff for a VXLAN full mesh of N hosts plus a sysctl baseline, and one
// host joining a 1000-host overlay (incremental: compile with the previous allocations, diff
// against the converged previous state). Each scenario runs in its own child process so that
// the reported peak RSS (process.resourceUsage().maxRSS) belongs to that scenario alone.
//
//   pnpm exec tsc -b libs/netstate && node bench/plan/plan.bench.mjs
//
// Uses the BUILT packages (libs/netstate/dist, libs/intent/dist). Reported per scenario: the
// cold run of a fresh process (wall and CPU time, peak RSS), then warm runs (median and min):
// wall time suffers when other work shares the 2 cores, CPU time (user+system) much less.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { InventorySchema, SysctlBaselineSchema, VxlanOverlaySchema } from "../../libs/intent/dist/index.js";
import { compile, desiredStateHash, diff, emptyHostState } from "../../libs/netstate/dist/index.js";

const self = fileURLToPath(import.meta.url);

function hostName(i) {
  return `h${String(i).padStart(4, "0")}`;
}

function hostNumber(name) {
  return Number(name.slice(1));
}

function underlayOf(i) {
  return `10.${100 + Math.floor(i / 250)}.${Math.floor(i / 250)}.${(i % 250) + 1}/8`;
}

function inventory(names) {
  return InventorySchema.parse({
    apiVersion: "fleetnet/v1",
    kind: "Inventory",
    metadata: { name: "bench" },
    spec: {
      hosts: names.map((name) => ({
        name,
        labels: { role: "hypervisor", rack: `r${hostNumber(name) % 20}` },
        // Derived from the host's number, so that a joining host moves no one's underlay.
        underlay: { interface: "eth0", address: underlayOf(hostNumber(name)) },
        transport: { driver: "local" },
      })),
    },
  });
}

const intents = [
  VxlanOverlaySchema.parse({
    apiVersion: "fleetnet/v1",
    kind: "VxlanOverlay",
    metadata: { name: "mesh" },
    spec: { hosts: { matchLabels: { role: "hypervisor" } }, vni: 5001, addresses: { pool: "172.16.0.0/16" } },
  }),
  SysctlBaselineSchema.parse({
    apiVersion: "fleetnet/v1",
    kind: "SysctlBaseline",
    metadata: { name: "base" },
    spec: {
      hosts: { matchLabels: {} },
      settings: {
        "net.ipv4.ip_forward": "1",
        "net.core.somaxconn": "4096",
        "net.ipv4.tcp_rmem": "4096 131072 16777216",
        "net.ipv4.conf.all.rp_filter": "0",
      },
      persist: true,
    },
  }),
];

const ms = (t) => Number((performance.now() - t).toFixed(1));
/** CPU time (user + system) since `c` in ms: stable when other work shares the cores. */
const cpuMs = (c) => {
  const u = process.cpuUsage(c);
  return Number(((u.user + u.system) / 1000).toFixed(1));
};

function full(n) {
  const names = Array.from({ length: n }, (_, i) => hostName(i + 1));
  const inv = inventory(names);
  globalThis.gc?.();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const c = compile(inv, intents);
  const tCompile = ms(t0);
  let ops = 0;
  let fdb = 0;
  const t1 = performance.now();
  const empty = emptyHostState();
  for (const [, s] of c.hosts) {
    ops += diff(s, empty).length;
    fdb += s.fdb.length;
  }
  const tDiff = ms(t1);
  const cpu = cpuMs(c0);
  const t2 = performance.now();
  const hash = desiredStateHash(c.hosts);
  const tHash = ms(t2);
  return {
    scenario: `mesh-${n}`,
    compileMs: tCompile,
    diffMs: tDiff,
    compileDiffMs: Number((tCompile + tDiff).toFixed(1)),
    compileDiffCpuMs: cpu,
    hashMs: tHash,
    fdbEntries: fdb,
    ops,
    hash: hash.slice(0, 19),
  };
}

function join(mode) {
  const names = Array.from({ length: 1000 }, (_, i) => hostName(i * 2 + 2)); // even numbers
  const before = compile(inventory(names), intents);
  // A converged fleet: observed = the previous plan's desired states, as the executors
  // report them after applying (sysctls owned, with their original value).
  const observed = new Map();
  for (const [h, s] of before.hosts) {
    observed.set(h, { ...s, sysctls: s.sysctls.map((x) => ({ ...x, original: "0" })) });
  }
  if (mode === "json") {
    // As received over the wire: no object shared with the new compile.
    for (const [h, s] of observed) observed.set(h, JSON.parse(JSON.stringify(s)));
  }
  // A host whose name sorts in the middle joins (h1001 sorts between h1000 and h1002).
  const joined = [...names, hostName(1001)].sort();
  const inv2 = inventory(joined);
  globalThis.gc?.();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const after = compile(inv2, intents, before.allocations, { previous: before.hosts });
  const tCompile = ms(t0);
  const t1 = performance.now();
  let ops = 0;
  let changedHosts = 0;
  const empty = emptyHostState();
  for (const [name, s] of after.hosts) {
    const o = diff(s, observed.get(name) ?? empty);
    ops += o.length;
    if (o.length > 0) changedHosts++;
  }
  const tDiff = ms(t1);
  const cpu = cpuMs(c0);
  let moved = 0;
  for (const [h, a] of Object.entries(before.allocations.addresses["VxlanOverlay/mesh"])) {
    if (after.allocations.addresses["VxlanOverlay/mesh"][h] !== a) moved++;
  }
  return {
    scenario: `join-1000${mode === "json" ? " (observed from JSON)" : ""}`,
    compileMs: tCompile,
    diffMs: tDiff,
    compileDiffMs: Number((tCompile + tDiff).toFixed(1)),
    compileDiffCpuMs: cpu,
    changedHosts,
    ops,
    addressesMoved: moved,
  };
}

/** Median of numbers. */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const WARM_RUNS = 6;
const arg = process.argv[2];
if (arg) {
  // One cold run (fresh process: includes JIT warm-up, as a CLI invocation), its peak RSS,
  // then warm runs (as a long-running planner) reported as medians.
  const run = () =>
    arg.startsWith("join") ? join(arg === "join-json" ? "json" : "state") : full(Number(arg));
  const cold = run();
  cold.peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  const warm = Array.from({ length: WARM_RUNS }, run);
  const stat = (k) => {
    const xs = warm.map((w) => w[k]);
    return { median: Number(median(xs).toFixed(1)), min: Math.min(...xs) };
  };
  cold.warm = { compileDiffMs: stat("compileDiffMs"), compileDiffCpuMs: stat("compileDiffCpuMs") };
  if (cold.hashMs !== undefined) cold.warm.hashMs = stat("hashMs");
  process.stdout.write(`${JSON.stringify(cold)}\n`);
} else {
  const { loadavg, cpus } = await import("node:os");
  process.stdout.write(
    `# node ${process.version}, ${cpus().length} cores, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}\n`,
  );
  for (const s of ["100", "500", "1000", "join", "join-json"]) {
    // --expose-gc: garbage of the set-up is collected before each timed section.
    const p = spawnSync(process.execPath, ["--expose-gc", self, s], { encoding: "utf8" });
    if (p.status !== 0) {
      process.stderr.write(p.stderr);
      process.exit(1);
    }
    process.stdout.write(p.stdout);
  }
  process.stdout.write(
    `# load average after: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}\n`,
  );
}
