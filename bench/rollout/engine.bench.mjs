// bench/rollout (planner side): submit-to-all-confirmed time of one rollout over N hosts with the
// REAL planner (RolloutRunner: BullMQ + Redis records, locks, CAS saves, audit) and hosts that
// answer at once, so the number is the orchestration's own cost — the part of the issue's
// "within 3x of the floor" target that the planner controls. Policy as in the issue:
// waves [{hosts: 1}, {percent: 10}, {percent: 100}], soak 0, maxUnavailable 100%.
//
//   pnpm exec tsc -b services/planner && node bench/rollout/engine.bench.mjs [hosts=200]
//
// Two dispatchers:
//   memory — hosts answer in-process (no NATS): runner + Redis only;
//   nats   — the real NatsDispatcher (signed jobs on FLEET_JOBS, results on FLEET_EVENTS, audit
//            events) against a PRIVATE nats-server (free port, temp dir, killed by PID); one
//            stand-in consumer answers every job (verifies the signature, publishes the result).
// Needs Redis on 127.0.0.1:6379 (keys and the BullMQ queue are unique per run and removed).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RolloutPolicySpecSchema } from "../../libs/intent/dist/index.js";
import { emptyHostState, ownerAlias } from "../../libs/netstate/dist/index.js";
import {
  generateJobKeyPair,
  JOBS_STREAM,
  MemoryReplayCache,
  publishResult,
  redisKeys,
  streamConfigs,
  verifyJob,
} from "../../libs/protocol/dist/index.js";
import {
  connectJetStream,
  connectNats,
  connectRedis,
  createLogger,
  ensureStream,
  loadConfig,
} from "../../libs/runtime/dist/index.js";
import {
  HeartbeatGates,
  NatsAuditSink,
  NatsDispatcher,
  RolloutRunner,
} from "../../services/planner/dist/index.js";

const N = Number(process.argv[2] ?? 200);
const tag = randomBytes(3).toString("hex");
const hosts = Array.from({ length: N }, (_, i) => `bn-${tag}-h${i + 1}`);
const desired = () => ({
  ...emptyHostState(),
  links: [{ kind: "bridge", name: "brbench", up: true, alias: ownerAlias("Bridge", "brbench") }],
});
const policy = RolloutPolicySpecSchema.parse({
  waves: [{ hosts: 1 }, { percent: 10 }, { percent: 100 }],
  maxUnavailable: "100%",
  soak: "0s",
  confirmTimeout: "60s",
});
const healthy = new HeartbeatGates({ lastSeen: () => Date.now() });

class MemoryFleet {
  listeners = new Set();
  log = [];
  async dispatch(req) {
    const status = req.kind === "apply" ? "applied" : req.kind === "confirm" ? "confirmed" : "reverted";
    const r = { rolloutId: req.rolloutId, host: req.host, jobId: req.jobId, status };
    queueMicrotask(() => {
      this.log.push(r);
      for (const l of this.listeners) l(r);
    });
  }
  async results(id, _since, cb) {
    const l = (r) => r.rolloutId === id && cb(r);
    for (const r of this.log) l(r);
    this.listeners.add(l);
    return { close: async () => void this.listeners.delete(l) };
  }
}

async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function privateNats() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "fn-bench-nats-"));
  const proc = spawn("/usr/sbin/nats-server", ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir], {
    stdio: "ignore",
  });
  const logger = createLogger({ level: "silent", serviceName: "bench" });
  const url = `nats://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const nc = await connectNats(loadConfig({ NATS_URL: url }), { logger });
      return {
        nc,
        stop: async () => {
          await nc.close();
          process.kill(proc.pid, "SIGTERM");
          await new Promise((r) => proc.once("exit", r));
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      if (i > 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** One stand-in consumer for all hosts: verify each job, publish its result, ack. */
async function standInExecutors(js, jsm, publicKey) {
  await jsm.consumers.add(JOBS_STREAM, {
    durable_name: "bench-all",
    filter_subject: "fleet.v1.jobs.>",
    ack_policy: "explicit",
    max_ack_pending: 10_000,
  });
  const msgs = await (await js.consumers.get(JOBS_STREAM, "bench-all")).consume();
  const caches = new Map();
  const done = (async () => {
    for await (const m of msgs) {
      const host = m.subject.split(".").at(-1);
      if (!caches.has(host)) caches.set(host, new MemoryReplayCache());
      const job = await verifyJob(m.data, { publicKey, host, replayCache: caches.get(host) });
      const status = job.kind === "apply" ? "applied" : job.kind === "confirm" ? "confirmed" : "reverted";
      const result = {
        v: 1,
        jobId: job.jobId,
        host,
        rolloutId: job.rolloutId,
        planHash: job.planHash,
        kind: job.kind,
        status,
        ops: [],
        at: new Date().toISOString(),
        durationMs: 0,
      };
      void publishResult(js, result).then(() => m.ack());
    }
  })();
  return async () => {
    await msgs.close();
    await done.catch(() => {});
  };
}

async function run(kind) {
  const rc = loadConfig({ REDIS_URL: "redis://127.0.0.1:6379" });
  const quiet = createLogger({ level: "silent", serviceName: "bench" });
  const redis = await connectRedis(rc, { logger: quiet });
  const bull = await connectRedis(rc, { logger: quiet });
  let nats;
  let stopExec = async () => {};
  let dispatcher;
  let audit;
  if (kind === "nats") {
    nats = await privateNats();
    const { js, jsm } = await connectJetStream(nats.nc);
    for (const cfg of streamConfigs) await ensureStream(jsm, cfg);
    const keys = generateJobKeyPair();
    stopExec = await standInExecutors(js, jsm, keys.publicKey);
    dispatcher = new NatsDispatcher({ js, signingKey: keys.privateKey, issuer: "bench" });
    audit = new NatsAuditSink(js);
  } else dispatcher = new MemoryFleet();
  // timeline of wave transitions (ms since submit)
  const timeline = [];
  const inner = audit;
  audit = {
    publish: async (e) => {
      if (e.action.startsWith("wave."))
        timeline.push(`w${e.target.wave}:${e.action.slice(5)}@${Math.round(performance.now() - t0)}`);
      if (inner) await inner.publish(e);
    },
  };
  let t0 = performance.now();
  const queueName = `rollouts-bench-${tag}-${kind}`;
  const runner = new RolloutRunner({
    redis,
    bullConnection: bull,
    dispatcher,
    gates: healthy,
    audit,
    queueName,
    pollMs: 20,
    gatePollMs: 20,
  });
  runner.start();
  await runner.ready();
  const id = `r-bench-${tag}-${kind}`;
  const cpu0 = process.cpuUsage();
  t0 = performance.now();
  await runner.submit({
    rolloutId: id,
    planHash: `plan-bench-${tag}`,
    desired: Object.fromEntries(hosts.map((h) => [h, desired()])),
    hosts: hosts.map((name) => ({ name, labels: {} })),
    policy,
  });
  let state;
  for (;;) {
    state = (await runner.store.load(id)).state;
    if (["succeeded", "failed", "rolled_back", "aborted"].includes(state.status)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const confirmed = Object.values(state.hosts).filter((h) => h.status === "confirmed").length;
  await runner.close(true);
  await runner.queue.obliterate({ force: true }).catch(() => {});
  await runner.store.remove(id);
  await redis.del(redisKeys.plan(`plan-bench-${tag}`));
  await stopExec();
  await nats?.stop();
  redis.disconnect();
  bull.disconnect();
  console.log(`${kind}: ${timeline.join(" ")}`);
  return {
    dispatcher: kind,
    hosts: N,
    status: state.status,
    confirmed,
    waves: state.waves.map((w) => w.hosts.length).join("+"),
    wallMs: Math.round(ms),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    rssMiB: Math.round(process.memoryUsage().rss / 1048576),
  };
}

const rows = [];
for (const kind of ["memory", "nats"]) rows.push(await run(kind));
console.table(rows);
console.log(`peak RSS of the process: ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`);
process.exit(0);
