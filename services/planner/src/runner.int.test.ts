import { randomBytes } from "node:crypto";
import { RolloutPolicySpecSchema } from "@fleetnet/intent";
import { applyOps, diff, emptyHostState, type HostState, ownerAlias } from "@fleetnet/netstate";
import { type AuditEvent, isFleetnetError, redisKeys } from "@fleetnet/protocol";
import { startRedisServer } from "@fleetnet/testkit";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type DispatchRequest,
  type DispatchResult,
  HeartbeatGates,
  type HostDispatcher,
  type ResultSubscription,
} from "./dispatch.js";
import { lockHolders } from "./locks.js";
import { RolloutRunner, type RunnerOptions } from "./runner.js";

/**
 * STAND-IN for the executor service, whose NATS service mode is not built yet: an
 * in-process fleet that acts on each job at most once per jobId (like an executor's replay
 * cache), applies `diff(desired, live)` to an in-memory HostState with netstate's
 * `applyOps` model, keeps a snapshot for revert, and keeps every result in a log that it
 * replays to each new subscriber (like the FLEET_EVENTS stream). The runner, BullMQ,
 * Redis records and locks in these tests are all real; only the host side is modelled.
 */
class ModelFleet implements HostDispatcher {
  readonly live = new Map<string, HostState>();
  readonly dispatchCalls = new Map<string, number>();
  readonly applies = new Map<string, number>(); // host → applies that changed it
  readonly received: DispatchRequest[] = [];
  readonly failing = new Set<string>();
  private readonly snapshots = new Map<string, HostState>();
  private readonly acted = new Set<string>();
  private readonly log: DispatchResult[] = [];
  private readonly listeners = new Set<(r: DispatchResult) => void>();
  delayMs = 20;

  async dispatch(req: DispatchRequest): Promise<void> {
    this.dispatchCalls.set(req.jobId, (this.dispatchCalls.get(req.jobId) ?? 0) + 1);
    if (this.acted.has(req.jobId)) return;
    this.acted.add(req.jobId);
    this.received.push(req);
    setTimeout(() => this.act(req), this.delayMs);
  }

  private act(req: DispatchRequest): void {
    const live = this.live.get(req.host) ?? emptyHostState();
    const base = { rolloutId: req.rolloutId, host: req.host, jobId: req.jobId };
    let r: DispatchResult;
    if (req.kind === "apply") {
      const ops = diff(req.desired as HostState, live);
      if (this.failing.has(req.host))
        r = { ...base, status: "failed", error: { code: "APPLY_FAILED", message: "injected failure" } };
      else if (ops.length === 0) r = { ...base, status: "unchanged" };
      else {
        this.snapshots.set(req.jobId, live);
        this.live.set(req.host, applyOps(live, ops));
        this.applies.set(req.host, (this.applies.get(req.host) ?? 0) + 1);
        r = { ...base, status: "applied" };
      }
    } else if (req.kind === "confirm") r = { ...base, status: "confirmed" };
    else {
      const snap = this.snapshots.get(req.applyJobId ?? "");
      if (snap) this.live.set(req.host, snap);
      r = { ...base, status: "reverted" };
    }
    this.log.push(r);
    for (const l of this.listeners) l(r);
  }

  async results(
    rolloutId: string,
    _since: number,
    onResult: (r: DispatchResult) => void,
  ): Promise<ResultSubscription> {
    const l = (r: DispatchResult) => {
      if (r.rolloutId === rolloutId) onResult(r);
    };
    for (const r of this.log) l(r);
    this.listeners.add(l);
    return { close: async () => void this.listeners.delete(l) };
  }
}

const tag = randomBytes(3).toString("hex");
const hostName = (i: number) => `pr-${tag}-h${i}`;
const desired = (): HostState => ({
  ...emptyHostState(),
  links: [{ kind: "bridge", name: "brfn0", up: true, alias: ownerAlias("Bridge", "brfn0") }],
});
const connections: Redis[] = [];
const runners: RolloutRunner[] = [];
const rolloutIds: string[] = [];
let redis: Redis;
let queueName: string;

async function connect(): Promise<Redis> {
  const c = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: null, lazyConnect: true });
  await c.connect();
  connections.push(c);
  return c;
}

async function runner(fleet: ModelFleet, extra: Partial<RunnerOptions> = {}): Promise<RolloutRunner> {
  const healthy = { lastSeen: (h: string) => (fleet.failing.has(`unhealthy:${h}`) ? undefined : Date.now()) };
  const r = new RolloutRunner({
    redis: await connect(),
    bullConnection: await connect(),
    dispatcher: fleet,
    gates: new HeartbeatGates(healthy, 5_000),
    queueName,
    pollMs: 20,
    gatePollMs: 20,
    jobLockMs: 1_000,
    stalledIntervalMs: 300,
    ...extra,
  });
  runners.push(r);
  r.start();
  return r;
}

const policy = (p: Record<string, unknown> = {}) =>
  RolloutPolicySpecSchema.parse({
    waves: [{ hosts: 1 }, { percent: 50 }, { percent: 100 }],
    maxUnavailable: 2,
    soak: "0s",
    confirmTimeout: "10s",
    ...p,
  });

function request(hosts: string[], p = policy(), id = `r-${tag}-${rolloutIds.length}`) {
  rolloutIds.push(id);
  return {
    rolloutId: id,
    planHash: `plan-${tag}`,
    desired: Object.fromEntries(hosts.map((h) => [h, desired()])),
    hosts: hosts.map((name) => ({ name, labels: {} })),
    policy: p,
    by: "tester",
  };
}

async function until<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const finalStatus = (r: RolloutRunner, id: string) =>
  until(`rollout ${id} to end`, async () => {
    const { state } = await r.store.load(id);
    return ["succeeded", "failed", "rolled_back", "aborted"].includes(state.status) ? state : undefined;
  });

beforeAll(async () => {
  queueName = `rollouts-test-${tag}`;
  redis = await connect();
});

afterEach(async () => {
  for (const r of runners.splice(0)) await r.close(true).catch(() => {});
});

afterAll(async () => {
  const q = new RolloutRunner({
    redis,
    bullConnection: redis,
    dispatcher: new ModelFleet(),
    gates: new HeartbeatGates({ lastSeen: () => undefined }),
    queueName,
  });
  await q.queue.obliterate({ force: true });
  await q.queue.close();
  for (const id of rolloutIds) await q.store.remove(id);
  await redis.del(
    redisKeys.plan(`plan-${tag}`),
    ...Array.from({ length: 12 }, (_, i) => redisKeys.hostLock(hostName(i + 1))),
  );
  for (const c of connections) c.disconnect();
});

describe("rollout runner (BullMQ + Redis; hosts modelled in-process)", () => {
  it("8 hosts in 3 waves: every host converges, audit tells the story, locks are released", async () => {
    const fleet = new ModelFleet();
    const audit: AuditEvent[] = [];
    const r = await runner(fleet, { audit: { publish: async (e) => void audit.push(e) } });
    const hosts = Array.from({ length: 8 }, (_, i) => hostName(i + 1));
    const submitted = await r.submit(request(hosts));
    expect(submitted.waves.map((w) => w.hosts.length)).toEqual([1, 3, 4]);
    const end = await finalStatus(r, submitted.id);
    expect(end.status).toBe("succeeded");
    for (const h of hosts) {
      expect(diff(desired(), fleet.live.get(h) ?? emptyHostState())).toEqual([]);
      expect(fleet.applies.get(h)).toBe(1);
      expect(end.hosts[h]?.status).toBe("confirmed");
    }
    expect(audit.map((e) => e.action)).toContain("rollout.succeeded");
    expect(audit.filter((e) => e.action === "host.confirmed")).toHaveLength(8);
    expect(audit[0]).toMatchObject({ action: "rollout.pending", actor: { kind: "user", id: "tester" } });
    expect(
      await until("locks released", async () =>
        (await lockHolders(redis, hosts)) && Object.keys(await lockHolders(redis, hosts)).length === 0
          ? true
          : undefined,
      ),
    ).toBe(true);
  });

  it("a host failing in wave 2 stops the rollout; autoRollback wave reverts that wave only", async () => {
    const fleet = new ModelFleet();
    const hosts = Array.from({ length: 8 }, (_, i) => hostName(i + 1));
    fleet.failing.add(hostName(3));
    const r = await runner(fleet);
    const s = await r.submit(request(hosts, policy({ maxUnavailable: 4, failureThreshold: { hosts: 0 } })));
    const end = await finalStatus(r, s.id);
    expect(end.status).toBe("rolled_back");
    expect(end.waves.map((w) => w.status)).toEqual(["succeeded", "reverted", "skipped"]);
    expect(diff(desired(), fleet.live.get(hostName(1)) as HostState)).toEqual([]);
    for (const h of [hostName(2), hostName(3), hostName(4)])
      expect(fleet.live.get(h) ?? emptyHostState()).toEqual(emptyHostState());
    for (const h of hosts.slice(4)) expect(fleet.received.some((j) => j.host === h)).toBe(false);
    expect(end.hosts[hostName(3)]).toMatchObject({ status: "failed", error: { code: "APPLY_FAILED" } });
  });

  it("failureThreshold {hosts: 1}: one failure is tolerated, every wave runs, the rollout ends failed saying so", async () => {
    const fleet = new ModelFleet();
    const audit: AuditEvent[] = [];
    const hosts = Array.from({ length: 8 }, (_, i) => hostName(i + 1));
    fleet.failing.add(hostName(3));
    const r = await runner(fleet, { audit: { publish: async (e) => void audit.push(e) } });
    const s = await r.submit(request(hosts, policy({ maxUnavailable: 4, failureThreshold: { hosts: 1 } })));
    const end = await finalStatus(r, s.id);
    expect(end.status).toBe("failed");
    expect(end.waves.map((w) => w.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    for (const h of hosts.filter((n) => n !== hostName(3))) {
      expect(end.hosts[h]?.status, h).toBe("confirmed");
      expect(diff(desired(), fleet.live.get(h) as HostState), h).toEqual([]); // converged hosts stay
    }
    expect(end.hosts[hostName(3)]).toMatchObject({ status: "failed", error: { code: "APPLY_FAILED" } });
    expect(fleet.received.filter((j) => j.kind === "revert")).toEqual([]); // nothing rolled back
    const reason = `completed with 1 failed host(s) within failureThreshold (tolerates 1): ${hostName(3)}`;
    expect(end.stop).toMatchObject({ kind: "failure", reason });
    expect(audit.at(-1)).toMatchObject({ action: "rollout.failed", details: { detail: reason } });
  });

  it("a second rollout touching a locked host is refused with the holder's id", async () => {
    const fleet = new ModelFleet();
    fleet.delayMs = 1_500; // the first rollout stays in flight a while
    const r = await runner(fleet);
    const first = await r.submit(request([hostName(9), hostName(10)]));
    const err = await r.submit(request([hostName(11), hostName(10)])).catch((e: unknown) => e);
    expect(isFleetnetError(err, "HOST_LOCKED")).toBe(true);
    expect((err as Error).message).toContain(`locked by rollout ${first.id}`);
    await expect(r.store.load(rolloutIds.at(-1) as string)).rejects.toThrow(/no rollout/);
    expect(Object.keys(await lockHolders(redis, [hostName(11)]))).toEqual([]);
    await r.command(first.id, "abort", "tester");
    expect((await finalStatus(r, first.id)).status).toBe("aborted");
    await until("locks released", async () =>
      Object.keys(await lockHolders(redis, [hostName(9), hostName(10)])).length === 0 ? true : undefined,
    );
  });

  it("pause holds the rollout, resume finishes it; abort mid-rollout ends it aborted", async () => {
    const fleet = new ModelFleet();
    const r = await runner(fleet);
    const hosts = Array.from({ length: 6 }, (_, i) => hostName(i + 1));
    const s = await r.submit(request(hosts, policy({ maxUnavailable: 1 })));
    await r.command(s.id, "pause", "alice");
    const paused = await until("paused", async () => {
      const { state } = await r.store.load(s.id);
      return state.status === "paused" ? state : undefined;
    });
    await new Promise((res) => setTimeout(res, 300));
    const still = (await r.store.load(s.id)).state;
    expect(still.status).toBe("paused");
    const started = (st: typeof still) =>
      Object.values(st.hosts).filter((h) => h.status !== "pending").length;
    expect(started(still)).toBe(started(paused)); // nothing new was dispatched while paused
    expect(started(still)).toBeLessThan(hosts.length);
    await r.command(s.id, "resume", "alice");
    expect((await finalStatus(r, s.id)).status).toBe("succeeded");

    const fleet2 = new ModelFleet();
    fleet2.delayMs = 100;
    const r2 = await runner(fleet2);
    const s2 = await r2.submit(request(hosts, policy({ maxUnavailable: 1 })));
    await until("wave 1 started", async () =>
      (await r2.store.load(s2.id)).state.current >= 1 ? true : undefined,
    );
    await r2.command(s2.id, "abort", "bob");
    const end = await finalStatus(r2, s2.id);
    expect(end.status).toBe("aborted");
    expect(end.stop).toMatchObject({ kind: "abort", by: "bob" });
    expect(end.hosts[hostName(6)]?.status).toBe("pending");
    for (const [h, rec] of Object.entries(end.hosts))
      expect(["confirmed", "reverted", "pending", "unchanged"], h).toContain(rec.status);
  });

  it("a runner whose host lock is taken over stops without touching the hosts", async () => {
    const fleet = new ModelFleet();
    fleet.delayMs = 800;
    const r = await runner(fleet, { lockTtlMs: 600 });
    const s = await r.submit(request([hostName(1), hostName(2)], policy({ maxUnavailable: 2 })));
    await until("dispatched", () => (fleet.received.length > 0 ? true : undefined));
    await redis.set(redisKeys.hostLock(hostName(1)), "r-thief:999999999", "PX", 10_000);
    const end = await finalStatus(r, s.id);
    expect(end.status).toBe("failed");
    expect(end.stop).toMatchObject({ kind: "lost" });
    expect(end.stop?.reason).toContain(`lost its lock on ${hostName(1)}`);
    expect(fleet.received.filter((j) => j.kind === "revert")).toEqual([]);
    expect((await lockHolders(redis, [hostName(1)]))[hostName(1)]?.rolloutId).toBe("r-thief");
    await redis.del(redisKeys.hostLock(hostName(1)));
  });

  it.each([1, 3, 6])(
    "a planner killed after %i apply dispatches resumes on another: the rollout completes, no host applied twice",
    async (killAfter) => {
      const fleet = new ModelFleet();
      fleet.delayMs = 40;
      const hosts = Array.from({ length: 8 }, (_, i) => hostName(i + 1));
      const kill = new AbortController();
      const a = await runner(fleet, { signal: kill.signal });
      const s = await a.submit(request(hosts, policy({ maxUnavailable: 2 })));
      await until("dispatches", () =>
        fleet.received.filter((j) => j.kind === "apply").length >= killAfter ? true : undefined,
      );
      // kill planner A: its drive stops where it is, its BullMQ worker goes away without a word
      kill.abort();
      await a.close(true).catch(() => {});
      const atKill = (await a.store.load(s.id)).state;
      expect(atKill.status).toBe("running");
      const receivedAtKill = fleet.received.length;
      const b = await runner(fleet);
      const end = await finalStatus(b, s.id);
      expect(end.status).toBe("succeeded");
      expect(fleet.received.length).toBeGreaterThan(receivedAtKill); // B did the rest
      for (const h of hosts) {
        expect(fleet.applies.get(h), h).toBe(1);
        expect(diff(desired(), fleet.live.get(h) as HostState)).toEqual([]);
      }
      for (const [jobId, calls] of fleet.dispatchCalls) expect(calls, jobId).toBeLessThanOrEqual(2);
      const sent = await b.store.sentJobs(s.id);
      expect(Object.keys(sent).sort()).toEqual([...fleet.dispatchCalls.keys()].sort());
    },
  );

  it("Redis restarted mid-rollout (AOF): the rollout completes, no host applied twice", async () => {
    await using server = await startRedisServer();
    const own = async () => {
      const c = new Redis(server.url, { maxRetriesPerRequest: null, lazyConnect: true });
      await c.connect();
      connections.push(c);
      return c;
    };
    const fleet = new ModelFleet();
    fleet.delayMs = 30;
    const r = new RolloutRunner({
      redis: await own(),
      bullConnection: await own(),
      dispatcher: fleet,
      gates: new HeartbeatGates({ lastSeen: () => Date.now() }, 5_000),
      queueName,
      pollMs: 20,
      gatePollMs: 20,
      jobLockMs: 2_000,
      stalledIntervalMs: 500,
    });
    runners.push(r);
    r.start();
    const hosts = Array.from({ length: 8 }, (_, i) => hostName(i + 1));
    const s = await r.submit(request(hosts, policy({ maxUnavailable: 2 })));
    await until("wave 1 in flight", () =>
      fleet.received.filter((j) => j.kind === "apply").length >= 3 ? true : undefined,
    );
    const pid = server.pid;
    expect((await r.store.load(s.id)).state.status).toBe("running");
    await server.restart(); // same port, same append-only file
    expect(server.pid).not.toBe(pid);
    const end = await until(
      "rollout to end after the Redis restart",
      async () => {
        const { state } = await r.store.load(s.id);
        return ["succeeded", "failed", "rolled_back", "aborted"].includes(state.status) ? state : undefined;
      },
      40_000,
    );
    expect(end.status).toBe("succeeded");
    for (const h of hosts) expect(fleet.applies.get(h), h).toBe(1);
    await r.close(true);
  });
});
