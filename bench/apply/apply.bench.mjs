// bench/apply/apply.bench.mjs NS STATE_DIR OUT_DIR
//
// One host (network namespace NS with underlay veth fnxu0 = 10.77.0.1/24): 20 links
// (4 VXLAN + 16 bridges), 1000 FDB entries (250 per VXLAN device) and 50 routes.
// Measures, on the built executor (services/executor/dist):
//   1. ops applied with batching (runOps: one `ip -batch -` + one `bridge -batch -`)
//   2. the same ops with one process per op (`ip -n NS …` / `bridge -n NS …` each)
//   3. the full transaction (observe, diff, plan + armed timer, apply, verify, confirm)
//      by the real binary `fleetnet-executor once apply`, with its peak RSS (VmHWM)
// Each run starts from an empty host (everything removed in between).
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { diff, emptyHostState, ownerAlias } from "../../libs/netstate/dist/index.js";
import {
  applyHost,
  bridgeLine,
  ipLines,
  netnsDriver,
  observe,
  runOps,
  serviceManager,
} from "../../services/executor/dist/index.js";

const [ns, stateDir, outDir] = process.argv.slice(2);
if (!ns || !stateDir || !outDir) throw new Error("usage: apply.bench.mjs NS STATE_DIR OUT_DIR");
const ROUNDS = Number(process.env.ROUNDS ?? 3);

function desired() {
  const s = emptyHostState();
  const a = ownerAlias("Bench", "apply");
  for (let v = 0; v < 4; v++) {
    s.links.push({ kind: "bridge", name: `brb${v}`, up: true, alias: a });
    s.links.push({
      kind: "vxlan",
      name: `vxb${v}`,
      up: true,
      alias: a,
      master: `brb${v}`,
      vni: 1000 + v,
      local: "10.77.0.1",
      port: 4789,
      dev: "fnxu0",
      learning: false,
    });
  }
  for (let b = 4; b < 16; b++) s.links.push({ kind: "bridge", name: `brb${b}`, up: true, alias: a });
  for (let i = 0; i < 1000; i++) {
    const v = i % 4;
    const n = Math.floor(i / 4) + 2; // 250 remote VTEPs per device
    s.fdb.push({ dev: `vxb${v}`, mac: "00:00:00:00:00:00", dst: `10.78.${Math.floor(n / 250)}.${n % 250}` });
  }
  for (let r = 0; r < 50; r++)
    s.routes.push({ destination: `10.90.${r}.0/24`, table: 254, protocol: 250, gateway: "10.77.0.2" });
  return s;
}

const target = {
  host: "bench",
  serviceMode: "direct",
  connect: async () => netnsDriver({ host: "bench", netns: ns, stateDir }),
};
const d = netnsDriver({ host: "bench", netns: ns, stateDir });
const svc = serviceManager(d, "direct");

async function reset() {
  const r = await applyHost(target, emptyHostState());
  if (r.result !== "applied" && r.result !== "unchanged")
    throw new Error(`reset: ${JSON.stringify(r.error)}`);
}
async function opsFromEmpty() {
  const o = await observe(d, svc, { desired: desired() });
  return diff(desired(), o.state);
}
function run(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}
async function perOp(ops) {
  for (const op of ops) {
    if (op.op === "fdb.append") run(["bridge", "-n", ns, ...bridgeLine(op).split(" ")]);
    else for (const line of ipLines(op)) run(["ip", "-n", ns, ...line.split(" ")]);
  }
}
function peakRss(args) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ["services/executor/dist/bin.js", "once", ...args], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    let hwm = 0;
    child.stdout.on("data", (b) => (out += b));
    const timer = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m) hwm = Math.max(hwm, Number(m[1]));
      } catch {}
    }, 10);
    child.on("close", (code) => {
      clearInterval(timer);
      if (code !== 0) reject(new Error(`executor exited ${code}: ${out}`));
      else resolve({ ms: performance.now() - t0, kib: hwm, result: JSON.parse(out) });
    });
  });
}

const results = { batched: [], perOp: [], transaction: [], rss: [] };
await reset();
let opsCount = 0;
for (let i = 0; i < ROUNDS; i++) {
  const ops = await opsFromEmpty();
  opsCount = ops.length;
  let t = performance.now();
  await runOps(d, svc, ops);
  results.batched.push(performance.now() - t);
  await reset();
  t = performance.now();
  await perOp(ops);
  results.perOp.push(performance.now() - t);
  await reset();
  writeFileSync(join(outDir, "desired.json"), JSON.stringify(desired()));
  const tx = await peakRss([
    "apply",
    "--host",
    "bench",
    "-f",
    join(outDir, "inventory.yaml"),
    "--desired",
    join(outDir, "desired.json"),
    "--state-dir",
    stateDir,
    "--json",
  ]);
  if (tx.result.result !== "applied") throw new Error(JSON.stringify(tx.result));
  results.transaction.push(tx.ms);
  results.rss.push(tx.kib);
  results.phases = tx.result.timings;
  await reset();
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  JSON.stringify(
    {
      ops: opsCount,
      rounds: ROUNDS,
      medianMs: {
        batched: Math.round(med(results.batched)),
        perOp: Math.round(med(results.perOp)),
        transaction: Math.round(med(results.transaction)),
      },
      peakRssMiB: Math.max(...results.rss) / 1024,
      all: results,
    },
    null,
    1,
  ),
);
