// bench/executor-service/pool.bench.mjs [HOSTS]
//
// The executor SERVICE (pool mode, services/executor/src/service) against its floor, on a
// lab of HOSTS network namespaces (default 50) and a private nats-server:
//   floor:   the same per-host ops rendered to `ip -batch` / `bridge -batch` input and
//            `sysctl -w`, run directly (8 hosts at a time), no orchestration;
//   engine:  the executor's transaction (applyHost, self-confirmed) for every host at once,
//            in process, no NATS — the service's own share is service minus engine;
//   service: one pool process serving all hosts; N signed apply jobs published at once →
//            all `applied` results (each host: observe, diff, preflight, revert plan + armed
//            timer, apply, verify) → N confirm jobs → all `confirmed`.
// Desired state: one VXLAN overlay full mesh over every host (bridge + vxlan + an overlay
// address + N-1 FDB entries per host) and a sysctl baseline, compiled by @fleetnet/netstate.
// CPU is this process (publisher, pool, subscriber) plus its reaped children (ip, bridge,
// sysctl…), from /proc/self/stat. Build first: pnpm exec tsc -b services/executor libs/testkit
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { diff, emptyHostState } from "../../libs/netstate/dist/index.js";
import {
  generateJobKeyPair,
  jobPublication,
  newJob,
  signJob,
  subjects,
} from "../../libs/protocol/dist/index.js";
import {
  connectJetStream,
  connectNats,
  createLogger,
  loadConfig,
  publishDurably,
} from "../../libs/runtime/dist/index.js";
import { startNatsServer, testLab } from "../../libs/testkit/dist/index.js";
import { netnsDriver } from "../../services/executor/dist/drivers/process.js";
import { bridgeLine, ipLines, segments, sysctlAssignment } from "../../services/executor/dist/render.js";
import { runExecutorService } from "../../services/executor/dist/service/index.js";
import { applyHost } from "../../services/executor/dist/transaction.js";
import { cpuSeconds, labDesiredState } from "../lib/lab.mjs";

const N = Number(process.argv[2] ?? 50);
function rssMiB() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}
function run(argv, stdin) {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0], argv.slice(1), {
      stdio: [stdin === undefined ? "ignore" : "pipe", "ignore", "pipe"],
    });
    let err = "";
    c.stderr.on("data", (b) => (err += b));
    c.on("error", reject);
    c.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(" ")}: ${err}`))));
    if (stdin !== undefined) c.stdin.end(stdin);
  });
}
async function pool(items, k, fn) {
  let i = 0;
  await Promise.all(
    Array.from({ length: k }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

const dir = mkdtempSync(join(tmpdir(), "fns-bench-"));
const nats = await startNatsServer();
const lab = await testLab({ prefix: "fnsb", hosts: N });
const names = lab.hosts.map((h) => h.name);
try {
  const { desired, nsOf } = labDesiredState(lab, dir);
  const opsOf = new Map(names.map((n) => [n, diff(desired.get(n), emptyHostState())]));
  const opCount = [...opsOf.values()].reduce((a, o) => a + o.length, 0);

  // ---- floor
  let cpu0 = cpuSeconds();
  let t0 = performance.now();
  await pool(names, 8, async (n) => {
    const ns = nsOf.get(n);
    for (const seg of segments(opsOf.get(n))) {
      if (seg.tool === "ip")
        await run(["ip", "-n", ns, "-batch", "-"], `${seg.ops.flatMap(ipLines).join("\n")}\n`);
      else if (seg.tool === "bridge")
        await run(["bridge", "-n", ns, "-batch", "-"], `${seg.ops.map(bridgeLine).join("\n")}\n`);
      else if (seg.tool === "sysctl")
        await run([
          "ip",
          "netns",
          "exec",
          ns,
          "sysctl",
          "-q",
          "-w",
          ...seg.ops.map((o) => sysctlAssignment(o.key, o.value)),
        ]);
    }
  });
  const floor = { wall: (performance.now() - t0) / 1000, cpu: cpuSeconds() - cpu0 };
  // back to empty hosts
  const reset = () =>
    pool(names, 8, async (n) => {
      const links = desired
        .get(n)
        .links.filter((l) => l.kind === "vxlan")
        .concat(desired.get(n).links.filter((l) => l.kind !== "vxlan"));
      await run(
        ["ip", "-n", nsOf.get(n), "-force", "-batch", "-"],
        `${links.map((l) => `link del ${l.name}`).join("\n")}\n`,
      );
      await run(["ip", "netns", "exec", nsOf.get(n), "sysctl", "-q", "-w", "net.ipv4.ip_forward=0"]);
    });
  await reset();

  // ---- the engine alone (no NATS): every host's transaction at once, self-confirmed
  const targetOf = (n, root) => ({
    host: n,
    serviceMode: "direct",
    connect: async () => netnsDriver({ host: n, netns: nsOf.get(n), stateDir: join(dir, root) }),
  });
  cpu0 = cpuSeconds();
  t0 = performance.now();
  const tx = await Promise.all(
    names.map((n) => applyHost(targetOf(n, "lab-engine"), desired.get(n), { confirmTimeoutS: 300 })),
  );
  const engine = { wall: (performance.now() - t0) / 1000, cpu: cpuSeconds() - cpu0 };
  const notApplied = tx.filter((r) => r.result !== "applied");
  if (notApplied.length > 0) throw new Error(`engine: ${JSON.stringify(notApplied[0])}`);
  await reset();

  // ---- service
  const logger = createLogger({ level: "warn", serviceName: "bench" });
  const nc = await connectNats(loadConfig({ NATS_URL: nats.url }), { logger });
  const { js, jsm } = await connectJetStream(nc);
  const keys = generateJobKeyPair();
  const results = new Map();
  const sub = nc.subscribe(subjects.allHostEvents("result"));
  void (async () => {
    for await (const m of sub) {
      const r = JSON.parse(new TextDecoder().decode(m.data));
      results.set(`${r.jobId}`, r);
    }
  })();
  const svc = await runExecutorService({
    mode: "pool",
    hosts: names.map((n) => ({
      target: targetOf(n, "lab"),
    })),
    nc,
    js,
    jsm,
    logger,
    publicKeys: keys.publicKey,
    stateDir: join(dir, "exec"),
    stateReportMs: 0,
  });
  const job = (kind, n, payload) =>
    signJob(
      newJob({ kind, host: n, rolloutId: "r-bench", planHash: "p-bench", issuer: "bench", payload }),
      keys.privateKey,
    );
  const wait = async (ids, status) => {
    while (!ids.every((id) => results.get(id)?.status === status)) {
      const bad = ids.map((id) => results.get(id)).find((r) => r && r.status !== status);
      if (bad) throw new Error(`${bad.host}: ${bad.status} ${JSON.stringify(bad.error)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  cpu0 = cpuSeconds();
  t0 = performance.now();
  const applies = names.map((n) =>
    job("apply", n, { desired: desired.get(n), confirmTimeoutMs: 300_000, wave: 0 }),
  );
  await Promise.all(
    applies.map((s) => {
      const p = jobPublication(s);
      return publishDurably(js, p.subject, p.payload, { msgID: p.msgID });
    }),
  );
  await wait(
    applies.map((s) => s.job.jobId),
    "applied",
  );
  const tApplied = (performance.now() - t0) / 1000;
  const confirms = applies.map((s) => job("confirm", s.job.host, { applyJobId: s.job.jobId }));
  await Promise.all(
    confirms.map((s) => {
      const p = jobPublication(s);
      return publishDurably(js, p.subject, p.payload, { msgID: p.msgID });
    }),
  );
  await wait(
    confirms.map((s) => s.job.jobId),
    "confirmed",
  );
  const service = { wall: (performance.now() - t0) / 1000, applied: tApplied, cpu: cpuSeconds() - cpu0 };
  await svc.close();
  await nc.drain();

  const f = (x) => x.toFixed(2);
  console.log(`hosts ${N}, ops ${opCount} (${Math.round(opCount / N)} per host)`);
  console.log(
    `floor   (ip/bridge -batch + sysctl directly, 8 at a time): wall ${f(floor.wall)} s, cpu ${f(floor.cpu)} s`,
  );
  console.log(
    `engine  (applyHost for every host at once, no NATS):        wall ${f(engine.wall)} s, cpu ${f(engine.cpu)} s`,
  );
  console.log(
    `service (pool: signed jobs → applied → confirmed):         wall ${f(service.wall)} s (all applied at ${f(service.applied)} s), cpu ${f(service.cpu)} s, ratio ${f(service.wall / floor.wall)}x`,
  );
  console.log(`peak RSS of this process (pool + publisher): ${rssMiB()} MiB`);
} finally {
  await lab.dispose();
  await nats[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
}
