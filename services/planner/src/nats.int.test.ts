import { randomBytes } from "node:crypto";
import { RolloutPolicySpecSchema } from "@fleetnet/intent";
import { applyOps, diff, emptyHostState, type HostState, ownerAlias } from "@fleetnet/netstate";
import {
  AuditEventSchema,
  EVENTS_STREAM,
  encodeMessage,
  type FleetnetError,
  generateJobKeyPair,
  JOBS_STREAM,
  type Job,
  jobConsumerConfig,
  jobConsumerName,
  jobRefusedEvent,
  MemoryReplayCache,
  messageIds,
  parseMessage,
  publishAuditEvent,
  type Result,
  ResultSchema,
  redisKeys,
  streamConfigs,
  subjects,
  verifyJob,
} from "@fleetnet/protocol";
import {
  connectJetStream,
  connectNats,
  createLogger,
  ensureStream,
  type JetStreamClient,
  type JetStreamManager,
  loadConfig,
  type NatsConnection,
  publishDurably,
} from "@fleetnet/runtime";
import { type PrivateServer, startNatsServer } from "@fleetnet/testkit";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PlannerApi, startPlannerApi } from "./api.js";
import { HeartbeatBook, HeartbeatGates } from "./dispatch.js";
import { followHeartbeats, followStateReports, NatsAuditSink, NatsDispatcher } from "./nats.js";
import { RolloutRunner } from "./runner.js";

/**
 * STAND-IN for the executor service (its NATS service mode is not built yet): one durable
 * pull consumer per host on the real FLEET_JOBS stream (protocol's consumer config), each
 * job verified with protocol's `verifyJob` (signature, address, expiry, replay), applied
 * to an in-memory HostState with netstate's `applyOps` model, its result published to the
 * real FLEET_EVENTS stream, then acked; heartbeats on `fleet.v1.heartbeat.<host>`. The
 * planner side (NatsDispatcher, NatsAuditSink, heartbeat gates, runner, BullMQ, Redis) is
 * the real thing.
 */
class JetStreamFleet {
  readonly live = new Map<string, HostState>();
  readonly applies = new Map<string, number>();
  readonly jobs: Job[] = [];
  readonly refused: string[] = [];
  readonly errors: string[] = [];
  private readonly snapshots = new Map<string, HostState>();
  private readonly stops: (() => Promise<void>)[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly publicKey: ReturnType<typeof generateJobKeyPair>["publicKey"],
  ) {}

  async serve(host: string): Promise<void> {
    await this.jsm.consumers.add(JOBS_STREAM, jobConsumerConfig(host) as never);
    const consumer = await this.js.consumers.get(JOBS_STREAM, jobConsumerName(host));
    const msgs = await consumer.consume();
    const cache = new MemoryReplayCache();
    const loop = (async () => {
      for await (const m of msgs) {
        let job: Job;
        try {
          job = await verifyJob(m.data, { publicKey: this.publicKey, host, replayCache: cache });
        } catch (err) {
          // like the executor: refused jobs get no result, only a `job.refused` audit event
          this.refused.push((err as { code: string }).code);
          await publishAuditEvent(
            this.js,
            subjects.hostEvent(host, "audit"),
            jobRefusedEvent({ host, executorId: `standin-${host}`, error: err as FleetnetError }),
          );
          m.ack();
          continue;
        }
        this.jobs.push(job);
        const result = this.act(job);
        // like the executor: publish durably (retries across a server restart), then ack
        await publishDurably(
          this.js,
          subjects.hostEvent(host, "result"),
          encodeMessage(ResultSchema, result),
          {
            msgID: messageIds.result(result),
          },
        ).catch((err: unknown) => this.errors.push(String(err)));
        m.ack();
      }
    })();
    let seq = 0;
    const beat = setInterval(() => {
      const hb = {
        v: 1,
        host,
        at: new Date().toISOString(),
        seq: seq++,
        executor: { id: `standin-${host}`, mode: "pool", version: "0" },
        uptimeS: 1,
      };
      this.nc.publish(subjects.heartbeat(host), JSON.stringify(hb));
    }, 100);
    this.stops.push(async () => {
      clearInterval(beat);
      await msgs.close();
      await loop.catch(() => {});
      await this.jsm.consumers.delete(JOBS_STREAM, jobConsumerName(host)).catch(() => {});
    });
  }

  private act(job: Job): Result {
    const live = this.live.get(job.host) ?? emptyHostState();
    const base = {
      v: 1 as const,
      jobId: job.jobId,
      host: job.host,
      rolloutId: job.rolloutId,
      planHash: job.planHash,
      kind: job.kind,
      ops: [],
      at: new Date().toISOString(),
      durationMs: 1,
    };
    if (job.kind === "apply") {
      const ops = diff(job.payload.desired, live);
      if (ops.length === 0) return { ...base, status: "unchanged" };
      this.snapshots.set(job.jobId, live);
      this.live.set(job.host, applyOps(live, ops));
      this.applies.set(job.host, (this.applies.get(job.host) ?? 0) + 1);
      return { ...base, status: "applied", ops };
    }
    if (job.kind === "confirm") return { ...base, status: "confirmed" };
    if (job.kind === "revert") {
      const snap = this.snapshots.get(job.payload.applyJobId);
      if (snap) this.live.set(job.host, snap);
      return { ...base, status: "reverted" };
    }
    return { ...base, status: "observed" };
  }

  async stop(): Promise<void> {
    for (const s of this.stops.splice(0)) await s();
  }
}

const tag = randomBytes(3).toString("hex");
const hosts = Array.from({ length: 6 }, (_, i) => `pn-${tag}-h${i + 1}`);
const desired = (): HostState => ({
  ...emptyHostState(),
  links: [{ kind: "bridge", name: "brfn1", up: true, alias: ownerAlias("Bridge", "brfn1") }],
});
const keys = generateJobKeyPair();
const queueName = `rollouts-nats-test-${tag}`;
const rolloutIds: string[] = [];
const planKeys: string[] = [];
let natsServer: PrivateServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let fleet: JetStreamFleet;
let book: HeartbeatBook;
let stopHeartbeats: () => Promise<void>;
const redisConns: Redis[] = [];

async function redisConn(): Promise<Redis> {
  const r = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: null, lazyConnect: true });
  await r.connect();
  redisConns.push(r);
  return r;
}

async function plannerRunner(signal?: AbortSignal, jobTtlMs?: number): Promise<RolloutRunner> {
  const r = new RolloutRunner({
    redis: await redisConn(),
    bullConnection: await redisConn(),
    dispatcher: new NatsDispatcher({
      js,
      signingKey: keys.privateKey,
      issuer: `planner-test-${tag}`,
      ...(jobTtlMs ? { jobTtlMs } : {}),
    }),
    gates: new HeartbeatGates(book, 2_000),
    audit: new NatsAuditSink(js),
    queueName,
    pollMs: 20,
    gatePollMs: 50,
    jobLockMs: 1_000,
    stalledIntervalMs: 300,
    ...(signal ? { signal } : {}),
  });
  r.start();
  return r;
}

const policy = RolloutPolicySpecSchema.parse({
  waves: [{ hosts: 1 }, { percent: 50 }, { percent: 100 }],
  maxUnavailable: 2,
  soak: "0s",
  confirmTimeout: "20s",
});

async function until<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function ended(r: RolloutRunner, id: string) {
  return until(`rollout ${id} to end`, async () => {
    const { state } = await r.store.load(id);
    return ["succeeded", "failed", "rolled_back", "aborted"].includes(state.status) ? state : undefined;
  });
}

beforeAll(async () => {
  const logger = createLogger({ level: "silent", serviceName: "planner-test" });
  // a private nats-server: the API's queue group and the work-queue consumers must not meet
  // other planners or executors on the shared server, and one test restarts it
  natsServer = await startNatsServer();
  nc = await connectNats(
    loadConfig({ NATS_URL: natsServer.url, NATS_RECONNECT_WAIT_MS: "100", NATS_RECONNECT_JITTER_MS: "50" }),
    { logger },
  );
  ({ js, jsm } = await connectJetStream(nc));
  for (const cfg of streamConfigs) await ensureStream(jsm, cfg as never);
  fleet = new JetStreamFleet(nc, js, jsm, keys.publicKey);
  for (const h of hosts) await fleet.serve(h);
  book = new HeartbeatBook();
  stopHeartbeats = followHeartbeats(nc, book);
});

afterAll(async () => {
  await fleet?.stop();
  await stopHeartbeats?.();
  const r = await redisConn();
  const runner = new RolloutRunner({
    redis: r,
    bullConnection: r,
    dispatcher: new NatsDispatcher({ js, signingKey: keys.privateKey, issuer: "x" }),
    gates: new HeartbeatGates(book),
    queueName,
  });
  await runner.queue.obliterate({ force: true });
  await runner.queue.close();
  for (const id of rolloutIds) await runner.store.remove(id);
  await r.del(
    redisKeys.plan(`plan-${tag}`),
    ...planKeys.map((k) => redisKeys.plan(k)),
    ...hosts.map((h) => redisKeys.hostLock(h)),
    ...hosts.map((h) => redisKeys.hostState(h)),
    redisKeys.allocations(`Bridge_api-bridge-${tag}`),
  );
  for (const c of redisConns) c.disconnect();
  await nc?.close();
  await natsServer?.[Symbol.asyncDispose]();
});

describe("rollout over real NATS JetStream (signed jobs, results and audit in FLEET_EVENTS)", () => {
  it("rolls out in waves gated by heartbeats; the audit stream tells the story; a re-publish is dropped", async () => {
    await until("heartbeats", () => (hosts.every((h) => book.lastSeen(h) !== undefined) ? true : undefined));
    const r = await plannerRunner();
    const id = `r-${tag}-a`;
    rolloutIds.push(id);
    await r.submit({
      rolloutId: id,
      planHash: `plan-${tag}`,
      desired: Object.fromEntries(hosts.map((h) => [h, desired()])),
      hosts: hosts.map((name) => ({ name, labels: {} })),
      policy,
      by: "tester",
    });
    const end = await ended(r, id);
    expect(end.status).toBe("succeeded");
    for (const h of hosts) {
      expect(fleet.applies.get(h), h).toBe(1);
      expect(diff(desired(), fleet.live.get(h) as HostState)).toEqual([]);
    }
    expect(fleet.refused).toEqual([]);
    const applyJobs = fleet.jobs.filter((j) => j.rolloutId === id && j.kind === "apply");
    expect(applyJobs).toHaveLength(hosts.length);
    expect(applyJobs[0]?.kind === "apply" && applyJobs[0].payload.confirmTimeoutMs).toBe(20_000);

    // the audit log, read back from FLEET_EVENTS
    const c = await js.consumers.get(EVENTS_STREAM, { filter_subjects: subjects.rolloutEvents(id) });
    const actions: string[] = [];
    for (;;) {
      const m = await c.next({ expires: 1_000 });
      if (!m) break;
      const ev = parseMessage(AuditEventSchema, m.data);
      if (ev.ok) actions.push(ev.value.action);
    }
    expect(actions[0]).toBe("rollout.pending");
    expect(actions).toContain("rollout.running");
    expect(actions.filter((a) => a === "host.confirmed")).toHaveLength(hosts.length);
    expect(actions.at(-1)).toBe("rollout.succeeded");

    // publishing the same jobId again (a resumed planner) is dropped by the stream
    const before = fleet.jobs.length;
    const first = applyJobs[0] as Job & { kind: "apply" };
    await new NatsDispatcher({ js, signingKey: keys.privateKey, issuer: "again" }).dispatch({
      kind: "apply",
      rolloutId: id,
      planHash: first.planHash,
      host: first.host,
      wave: 0,
      jobId: first.jobId,
      desired: desired(),
      confirmTimeoutMs: 20_000,
    });
    await new Promise((res) => setTimeout(res, 500));
    expect(fleet.jobs.length).toBe(before);
    await r.close(true);
  });

  it("a planner killed mid-rollout resumes on another and no host applies twice", async () => {
    const kill = new AbortController();
    const a = await plannerRunner(kill.signal);
    const id = `r-${tag}-b`;
    rolloutIds.push(id);
    const other = (): HostState => ({
      ...emptyHostState(),
      links: [{ kind: "bridge", name: "brfn2", up: true, alias: ownerAlias("Bridge", "brfn2") }],
    });
    await a.submit({
      rolloutId: id,
      planHash: `plan-${tag}`,
      desired: Object.fromEntries(hosts.map((h) => [h, other()])),
      hosts: hosts.map((name) => ({ name, labels: {} })),
      policy,
    });
    const appliesBefore = new Map(fleet.applies);
    await until("wave 1 applying", () =>
      fleet.jobs.filter((j) => j.rolloutId === id && j.kind === "apply").length >= 2 ? true : undefined,
    );
    kill.abort();
    await a.close(true);
    const b = await plannerRunner();
    const end = await ended(b, id);
    expect(end.status).toBe("succeeded");
    for (const h of hosts) {
      expect((fleet.applies.get(h) ?? 0) - (appliesBefore.get(h) ?? 0), h).toBe(1);
      expect(diff(other(), fleet.live.get(h) as HostState)).toEqual([]);
    }
    const jobIds = fleet.jobs.filter((j) => j.rolloutId === id).map((j) => j.jobId);
    expect(new Set(jobIds).size).toBe(jobIds.length);
    await b.close(true);
  });
});

describe("fault: nats-server restarted mid-rollout", () => {
  it("the rollout completes and no host applies twice", async () => {
    const r = await plannerRunner();
    const id = `r-${tag}-d`;
    rolloutIds.push(id);
    const third = (): HostState => ({
      ...emptyHostState(),
      links: [{ kind: "bridge", name: "brfn3", up: true, alias: ownerAlias("Bridge", "brfn3") }],
    });
    const before = new Map(fleet.applies);
    await r.submit({
      rolloutId: id,
      planHash: `plan-${tag}`,
      desired: Object.fromEntries(hosts.map((h) => [h, third()])),
      hosts: hosts.map((name) => ({ name, labels: {} })),
      policy,
    });
    await until("first wave applied", () =>
      fleet.jobs.some((j) => j.rolloutId === id && j.kind === "confirm") ? true : undefined,
    );
    await natsServer.restart(); // same port and JetStream store
    const end = await ended(r, id).catch(async (e: Error) => {
      const st = (await r.store.load(id)).state;
      const hostsNow = Object.entries(st.hosts).map(
        ([n, h]) => `${n}:${h.status}/${h.job ?? "-"}#${h.attempt}`,
      );
      throw new Error(
        `${e.message}; state ${st.status}, hosts ${hostsNow.join(" ")}; executor errors ${fleet.errors}`,
      );
    });
    expect(end.status).toBe("succeeded");
    for (const h of hosts) {
      expect((fleet.applies.get(h) ?? 0) - (before.get(h) ?? 0), h).toBe(1);
      expect(diff(third(), fleet.live.get(h) as HostState)).toEqual([]);
    }
    await r.close(true);
  });
});

describe("executor refusals", () => {
  it("a job the executor refuses as expired fails its host at once (no wait for the result timeout)", async () => {
    const r = await plannerRunner(undefined, 1); // every job expires 1 ms after it is issued
    const id = `r-${tag}-c`;
    rolloutIds.push(id);
    const started = Date.now();
    await r.submit({
      rolloutId: id,
      planHash: `plan-${tag}`,
      desired: { [hosts[5] as string]: desired() },
      hosts: [{ name: hosts[5] as string, labels: {} }],
      policy: { ...policy, failureThreshold: { hosts: 0 } },
    });
    const end = await ended(r, id);
    expect(Date.now() - started).toBeLessThan(15_000); // the result timeout would be 80 s
    expect(end.status).toBe("rolled_back");
    expect(end.hosts[hosts[5] as string]).toMatchObject({ status: "failed", error: { code: "JOB_EXPIRED" } });
    expect(fleet.refused).toContain("JOB_EXPIRED");
    await r.close(true);
  });
});

describe("planner API over NATS request/reply (@nats-io/services)", () => {
  const inventory = `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: lab}
spec:
  hosts:
${hosts
  .map(
    (h, i) => `    - name: ${h}
      labels: {rack: r${i % 2}, role: hypervisor}
      underlay: {interface: veth0, address: 10.250.0.${i + 1}/16}
      transport: {driver: netns, namespace: fn-${i}}`,
  )
  .join("\n")}
`;
  const intents = `apiVersion: fleetnet/v1
kind: Bridge
metadata: {name: api-bridge-${tag}}
spec:
  hosts: {matchLabels: {role: hypervisor}}
  name: brapi0
  addresses: {pool: 10.88.0.0/24}
---
apiVersion: fleetnet/v1
kind: RolloutPolicy
metadata: {name: fast}
spec:
  waves: [{hosts: 1}, {percent: 100}]
  maxUnavailable: 3
  soak: 0s
  confirmTimeout: 20s
  spreadBy: rack
  maxPerDomain: 2
`;
  const files = [
    { name: "inventory.yaml", text: inventory },
    { name: "intents.yaml", text: intents },
  ];
  let api: PlannerApi;
  let runner: RolloutRunner;
  let stopStates: () => Promise<void>;
  const call = async (verb: string, body: unknown) => {
    const m = await nc.request(subjects.api(verb as never), JSON.stringify(body), { timeout: 10_000 });
    // biome-ignore lint/suspicious/noExplicitAny: replies are JSON, checked field by field below
    return JSON.parse(new TextDecoder().decode(m.data)) as Record<string, any>;
  };

  beforeAll(async () => {
    runner = await plannerRunner();
    const r = await redisConn();
    api = await startPlannerApi({ nc, js, redis: r, runner, eventsIdleMs: 1_000 });
    stopStates = followStateReports(nc, r);
  });
  afterAll(async () => {
    await api?.stop();
    await stopStates?.();
    await runner?.close(true);
  });

  it("plan validates and plans against reported state; bad input is refused with a code", async () => {
    // one host reports its state: it is planned against it, the others count as empty
    nc.publish(
      subjects.state(hosts[0] as string),
      JSON.stringify({
        v: 1,
        host: hosts[0],
        at: new Date().toISOString(),
        state: emptyHostState(),
        sysctls: {},
      }),
    );
    await until("state stored", async () =>
      (await (await redisConn()).get(redisKeys.hostState(hosts[0] as string))) ? true : undefined,
    );
    const planned = await call("plan", { files });
    expect(planned.ok).toBe(true);
    expect(planned.plan.summary).toMatchObject({ hosts: 6, changedHosts: 6 });
    expect(planned.planHash).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(planned.unobserved).toEqual(hosts.slice(1));

    const bad = await call("plan", { files: [{ name: "x.yaml", text: "kind: Bridge\n" }] });
    expect(bad).toMatchObject({ ok: false, error: { code: "INTENTS_INVALID" } });
    expect(bad.error.details.errors.length).toBeGreaterThan(0);
    expect(await call("plan", { nope: 1 })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    expect(await call("status", { rolloutId: "r-none-here" })).toMatchObject({
      ok: false,
      error: { code: "ROLLOUT_NOT_FOUND" },
    });
    expect(await call("pause", { rolloutId: "bad id" })).toMatchObject({
      ok: false,
      error: { code: "INVALID_NAME" },
    });
  });

  it("apply rolls out; status, events and rollback work; a second apply on locked hosts is refused", async () => {
    const applied = await call("apply", { files, by: "alice" });
    expect(applied.ok).toBe(true);
    const id = applied.rolloutId as string;
    rolloutIds.push(id);
    planKeys.push(applied.planHash);
    // spreadBy rack, 2 per rack: the 100% wave is cut into waves of at most 2 per rack
    expect(applied.waves.map((w: { hosts: string[] }) => w.hosts.length)).toEqual([1, 4, 1]);
    const again = await call("apply", { files });
    expect(again).toMatchObject({ ok: false, error: { code: "HOST_LOCKED" } });
    expect(again.error.message).toContain(`locked by rollout ${id}`);

    const done = await until("rollout done", async () => {
      const st = await call("status", { rolloutId: id });
      return ["succeeded", "failed", "rolled_back", "aborted"].includes(st.status) ? st : undefined;
    });
    expect(done.status, JSON.stringify({ stop: done.stop, hosts: done.hosts })).toBe("succeeded");
    expect(Object.values(done.hosts).map((h) => (h as { status: string }).status)).toEqual(
      Array(6).fill("confirmed"),
    );
    for (const h of hosts) expect(fleet.live.get(h)?.links.map((l) => l.name)).toContain("brapi0");

    const events = await call("events", { rolloutId: id });
    if (!events.ok) throw new Error(JSON.stringify(events));
    const actions = events.events.map((e: { action: string }) => e.action);
    expect(actions[0]).toBe("rollout.pending");
    expect(events.events[0].actor).toEqual({ kind: "user", id: "alice" });
    expect(actions.at(-1)).toBe("rollout.succeeded");

    expect(await call("rollback", { rolloutId: id, by: "bob" })).toMatchObject({
      ok: true,
      queued: "rollback",
    });
    const back = await until("rolled back", async () => {
      const st = await call("status", { rolloutId: id });
      return st.status === "rolled_back" ? st : undefined;
    });
    expect(back.stop).toMatchObject({ kind: "rollback", by: "bob" });
    for (const h of hosts) expect(fleet.live.get(h)?.links.map((l) => l.name) ?? []).not.toContain("brapi0");
  });

  it("apply {hosts} rolls out to those hosts of the plan only (a heal); unknown hosts are refused", async () => {
    const [h1, h2] = [hosts[1] as string, hosts[4] as string];
    expect(await call("apply", { files, hosts: [h1, "pn-nowhere"] })).toMatchObject({
      ok: false,
      error: { code: "BAD_REQUEST", message: expect.stringContaining("not in the plan: pn-nowhere") },
    });
    expect(await call("apply", { files, hosts: [] })).toMatchObject({
      ok: false,
      error: { code: "BAD_REQUEST" },
    });
    const before = new Map(hosts.map((h) => [h, fleet.jobs.filter((j) => j.host === h).length]));
    const applied = await call("apply", { files, by: "heal", hosts: [h2, h1, h1] });
    expect(applied.ok, JSON.stringify(applied)).toBe(true);
    rolloutIds.push(applied.rolloutId);
    expect(Object.keys(applied.hosts).sort()).toEqual([h1, h2].sort());
    const done = await until("subset rollout done", async () => {
      const st = await call("status", { rolloutId: applied.rolloutId });
      return ["succeeded", "failed", "rolled_back", "aborted"].includes(st.status) ? st : undefined;
    });
    expect(done.status).toBe("succeeded");
    for (const h of [h1, h2])
      expect(
        fleet.live.get(h)?.links.map((l) => l.name),
        h,
      ).toContain("brapi0");
    for (const h of hosts.filter((n) => n !== h1 && n !== h2))
      expect(fleet.jobs.filter((j) => j.host === h).length, h).toBe(before.get(h)); // untouched
  });

  it("IPAM stays put: after an apply, a new host does not renumber the others", async () => {
    const key = `Bridge/api-bridge-${tag}`;
    const before = (await call("plan", { files })).plan.allocations.addresses[key] as Record<string, string>;
    expect(Object.keys(before).sort()).toEqual([...hosts].sort());
    const extra = `pn-${tag}-a0`; // sorts before every other host
    const grown = inventory.replace(
      "  hosts:\n",
      `  hosts:\n    - name: ${extra}\n      labels: {role: hypervisor}\n      underlay: {interface: veth0, address: 10.250.1.1/16}\n      transport: {driver: netns, namespace: fn-x}\n`,
    );
    const after = (
      await call("plan", {
        files: [
          { name: "inventory.yaml", text: grown },
          { name: "intents.yaml", text: intents },
        ],
      })
    ).plan.allocations.addresses[key] as Record<string, string>;
    for (const h of hosts) expect(after[h], h).toBe(before[h]);
    expect(Object.values(before)).not.toContain(after[extra]);
  });
});
