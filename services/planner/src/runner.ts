/**
 * The rollout runner: one BullMQ job per rollout drives the state machine.
 *
 * Design: `submit` plans the waves, takes every host lock (a second rollout touching a
 * locked host is refused right there with `HOST_LOCKED`), stores the plan and the rollout
 * record, and enqueues a BullMQ job whose id IS the rollout id (so submitting twice queues
 * once). The job's processor (`drive`) is a loop:
 *
 *   load state → collect events (results from the dispatcher, operator commands from the
 *   record, gate verdicts, a clock tick) → reduce → save (compare-and-set on the record's
 *   revision) → emit audit events for the transitions → publish each outstanding job not
 *   yet recorded as sent, then record it → renew the host leases → wait.
 *
 * The state is saved before any job it implies is published, and a job is recorded as sent
 * only after its publish returned. A planner killed at any point therefore resumes (BullMQ
 * hands the stalled job to the next worker) from the last saved state: jobs recorded as
 * sent are not published again; a job published but not yet recorded is published again
 * with the same `jobId`, which the transport de-duplicates (`Nats-Msg-Id`) and the executor
 * refuses as a replay — so no host applies twice. Results produced while no planner was
 * running are replayed by the dispatcher from the rollout's start; the machine ignores the
 * ones it has already seen.
 */
import { randomBytes } from "node:crypto";
import type { RolloutPolicySpec } from "@fleetnet/intent";
import type { HostState } from "@fleetnet/netstate";
import { type AuditEvent, bullmq, FleetnetError, isFleetnetError } from "@fleetnet/protocol";
import { type Job, Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { DispatchResult, GateChecker, HostDispatcher } from "./dispatch.js";
import {
  acquireHosts,
  type HostLease,
  LockErrorCodes,
  lockHolders,
  releaseHosts,
  renewHosts,
} from "./locks.js";
import {
  isTerminal,
  machineConfig,
  newRollout,
  outstanding,
  parseJobId,
  type RolloutEvent,
  type RolloutState,
  reduceAll,
  type Transition,
  transitions,
} from "./machine.js";
import { type ControlEvent, RolloutStore } from "./store.js";
import { planWaves, type RolloutTopology, type WaveHost } from "./waves.js";

/** Receives the audit trail: one event per rollout, wave and host transition. */
export interface AuditSink {
  publish(event: AuditEvent): Promise<void>;
}

/** Options of {@link RolloutRunner}. */
export interface RunnerOptions {
  /** Redis for rollout records and locks. */
  redis: Redis;
  /** Redis connection BullMQ uses (it needs `maxRetriesPerRequest: null`). */
  bullConnection: Redis;
  dispatcher: HostDispatcher;
  gates: GateChecker;
  audit?: AuditSink;
  /** This planner instance, for the audit log. */
  plannerId?: string;
  clock?: () => number;
  /** Loop period when nothing happens (ms, default 200). */
  pollMs?: number;
  /** How often a waiting gate is re-checked (ms, default 1000). */
  gatePollMs?: number;
  /** Host lock lease (ms, default 30 000); renewed every third of it. */
  lockTtlMs?: number;
  /**
   * BullMQ job lock (ms, default 10 000; renewed every half of it): a killed planner's
   * rollout is resumed by another planner once it expires. Keep lock + stalled interval well
   * under `confirmTimeout`, or hosts applied just before the crash revert themselves first.
   */
  jobLockMs?: number;
  /** How often BullMQ looks for stalled jobs (ms, default 3 000). */
  stalledIntervalMs?: number;
  /** Rollouts driven at once by this planner (default 64). */
  concurrency?: number;
  /** BullMQ queue name (default protocol's `bullmq.rolloutQueue`). */
  queueName?: string;
  /**
   * Aborting it stops every drive at its next step without writing anything, exactly as if
   * the process had died (used by crash tests; a graceful stop is {@link RolloutRunner.close}).
   */
  signal?: AbortSignal;
}

/** What to roll out. */
export interface SubmitRequest {
  /** Default: a fresh `r-…` id. */
  rolloutId?: string;
  planHash: string;
  /** Desired state of every selected host (hosts with nothing to change included). */
  desired: Record<string, HostState>;
  /** The selected hosts with their labels. */
  hosts: WaveHost[];
  policy: RolloutPolicySpec;
  topology?: RolloutTopology;
  /** Who asked, for the audit log. */
  by?: string;
}

/** Operator commands. */
export type ControlEventType = ControlEvent["type"];

/** The BullMQ job's data. */
interface DriveJobData {
  rolloutId: string;
}

/** A fresh rollout id: `r-<time base36>-<random hex>`. */
export function newRolloutId(now = Date.now()): string {
  return `r-${now.toString(36)}-${randomBytes(4).toString("hex")}`;
}

/** Jobs published at once by one drive. */
const DISPATCH_CONCURRENCY = 64;

/** Run `f` over `items`, at most `n` at a time, in order of start. */
async function inBatches<T>(items: readonly T[], n: number, f: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += n) await Promise.all(items.slice(i, i + n).map(f));
}

/** Thrown inside `drive` when its signal aborts: the loop stops where it is, writing nothing. */
class Aborted extends Error {}

/** Drives rollouts: submission, the BullMQ worker, control commands. */
export class RolloutRunner {
  readonly store: RolloutStore;
  readonly queue: Queue<DriveJobData>;
  private worker: Worker<DriveJobData> | undefined;
  private readonly o: Required<Omit<RunnerOptions, "audit" | "signal">> &
    Pick<RunnerOptions, "audit" | "signal">;

  constructor(options: RunnerOptions) {
    this.o = {
      plannerId: `planner-${randomBytes(3).toString("hex")}`,
      clock: Date.now,
      pollMs: 200,
      gatePollMs: 1_000,
      lockTtlMs: 30_000,
      jobLockMs: 10_000,
      stalledIntervalMs: 3_000,
      concurrency: 64,
      queueName: bullmq.rolloutQueue,
      ...options,
    };
    this.store = new RolloutStore(options.redis);
    this.queue = new Queue<DriveJobData>(this.o.queueName, {
      connection: options.bullConnection,
      prefix: bullmq.prefix,
    });
  }

  /**
   * Plan waves, lock the hosts and queue the rollout.
   * @throws FleetnetError `HOST_LOCKED` (naming the holder's rollout id) when a host is busy;
   * nothing is stored then.
   */
  async submit(req: SubmitRequest): Promise<RolloutState> {
    const id = req.rolloutId ?? newRolloutId(this.o.clock());
    const plan = planWaves(req.hosts, req.policy, req.topology);
    const missing = req.hosts.filter((h) => !req.desired[h.name]).map((h) => h.name);
    if (missing.length > 0)
      throw new FleetnetError("DESIRED_STATE_MISSING", `no desired state for host(s) ${missing.join(", ")}`, {
        details: { hosts: missing },
      });
    const state = newRollout(id, plan.waves, machineConfig(req.policy, req.hosts.length), this.o.clock());
    const lease = await acquireHosts(
      this.o.redis,
      id,
      req.hosts.map((h) => h.name),
      this.o.lockTtlMs,
    );
    try {
      await this.store.putPlan(req.planHash, req.desired);
      await this.store.create(state, req.planHash);
    } catch (err) {
      await releaseHosts(this.o.redis, lease);
      throw err;
    }
    await this.audit(
      state,
      [{ scope: "rollout", id, action: "rollout.pending", from: "none", to: "pending" }],
      0,
      req.by,
    );
    await this.queue.add("rollout", { rolloutId: id }, { jobId: id, attempts: 1_000_000, backoff: 1_000 });
    return state;
  }

  /** Queue an operator command (pause, resume, abort, rollback) for a rollout. */
  async command(rolloutId: string, type: ControlEventType, by?: string): Promise<void> {
    const event = { type, at: this.o.clock(), ...(by === undefined ? {} : { by }) } as ControlEvent;
    const { state } = await this.store.load(rolloutId);
    const reopen = type === "rollback" && isTerminal(state);
    if (reopen) {
      // a finished rollout released its hosts: refuse if another rollout holds one now
      const held = await lockHolders(this.o.redis, Object.keys(state.hosts));
      const other = Object.entries(held).find(([, v]) => v.rolloutId !== rolloutId);
      if (other)
        throw new FleetnetError(
          LockErrorCodes.HOST_LOCKED,
          `host ${other[0]} is locked by rollout ${other[1].rolloutId}; cannot roll back ${rolloutId} now`,
          { retryable: true, details: { host: other[0], holder: other[1].rolloutId } },
        );
    }
    await this.store.command(rolloutId, event);
    if (reopen)
      await this.queue.add(
        "rollout",
        { rolloutId },
        { jobId: `${rolloutId}-rb-${event.at}`, attempts: 1_000_000, backoff: 1_000 },
      );
  }

  /** Start processing rollouts (idempotent). */
  start(): void {
    if (this.worker) return;
    this.worker = new Worker<DriveJobData>(
      this.o.queueName,
      async (job: Job<DriveJobData>) => this.drive(job.data.rolloutId, this.o.signal),
      {
        connection: this.o.bullConnection,
        prefix: bullmq.prefix,
        concurrency: this.o.concurrency,
        lockDuration: this.o.jobLockMs,
        stalledInterval: this.o.stalledIntervalMs,
        maxStalledCount: 1_000_000,
      },
    );
    this.worker.on("error", () => {});
  }

  /** Resolves when the worker is connected and taking rollouts (after {@link start}). */
  async ready(): Promise<void> {
    await this.worker?.waitUntilReady();
  }

  /**
   * Stop taking rollouts. Graceful by default: waits for running drives (which end only with
   * their rollout). `force`: return at once; unfinished rollouts resume on another planner
   * once their BullMQ lock expires.
   */
  async close(force = false): Promise<void> {
    await this.worker?.close(force);
    await this.queue.close();
  }

  /**
   * Drive one rollout until it ends (or `signal` aborts, which stops at once without
   * writing anything — as if the process died). Resumes from the persisted state.
   */
  async drive(rolloutId: string, signal?: AbortSignal): Promise<string> {
    const alive = () => {
      if (signal?.aborted) throw new Aborted("drive aborted");
    };
    let loaded = await this.store.load(rolloutId);
    alive();
    let { state, rev } = loaded;
    if (isTerminal(state) && loaded.commands.every((c) => c.event.type !== "rollback")) return state.status;
    const desired = await this.store.getPlan(loaded.planHash);
    const hosts = Object.keys(state.hosts);
    let lease: HostLease | undefined;
    const inbox: RolloutEvent[] = [];
    let wake: (() => void) | undefined;
    const onResult = (r: DispatchResult) => {
      const parsed = parseJobId(r.jobId);
      if (!parsed || r.rolloutId !== rolloutId) return;
      inbox.push({
        type: "result",
        at: this.o.clock(),
        host: r.host,
        attempt: parsed.attempt,
        outcome: r.status,
        ...(r.error ? { error: r.error } : {}),
      });
      wake?.();
    };
    try {
      lease = await acquireHosts(this.o.redis, rolloutId, hosts, this.o.lockTtlMs);
    } catch (err) {
      alive();
      if (!isFleetnetError(err, "HOST_LOCKED")) throw err;
      inbox.push({ type: "fail", at: this.o.clock(), reason: err.message, revert: false });
    }
    alive();
    const sub = await this.o.dispatcher.results(rolloutId, state.createdAt, onResult);
    const sent = new Set(Object.keys(await this.store.sentJobs(rolloutId)));
    let lastGate = 0;
    let lastRenew = this.o.clock();
    try {
      for (;;) {
        alive();
        const now = this.o.clock();
        const events: RolloutEvent[] = [];
        if (state.status === "pending") events.push({ type: "start", at: now });
        const cmdDone = loaded.commands.at(-1)?.seq ?? loaded.cmdDone;
        events.push(...loaded.commands.map((c) => c.event), ...inbox.splice(0), { type: "tick", at: now });
        const gate = outstanding(state).find((a) => a.kind === "gates");
        if (gate && gate.kind === "gates" && now - lastGate >= this.o.gatePollMs) {
          lastGate = now;
          const v = await this.o.gates.check(gate.gates, gate.hosts, now);
          alive();
          events.push({
            type: "gates",
            at: now,
            wave: gate.wave,
            passed: v.passed,
            ...(v.detail ? { detail: v.detail } : {}),
          });
        }
        const next = reduceAll(state, events);
        if (next !== state || cmdDone !== loaded.cmdDone) {
          rev = await this.store.save(next, rev, cmdDone, loaded.cmdDone);
          alive();
          await this.audit(next, transitions(state, next), rev, loaded.commands.at(-1)?.event.by);
          state = next;
        }
        if (isTerminal(state)) break;
        const toSend = outstanding(state).filter((a) => a.kind !== "gates" && !sent.has(a.jobId));
        await inBatches(toSend, DISPATCH_CONCURRENCY, async (a) => {
          if (a.kind === "gates") return;
          const host = desired[a.host];
          await this.o.dispatcher.dispatch({
            kind: a.kind,
            rolloutId,
            planHash: loaded.planHash,
            host: a.host,
            wave: a.wave,
            jobId: a.jobId,
            ...(a.kind === "apply" && host
              ? { desired: host, confirmTimeoutMs: state.config.confirmTimeoutMs }
              : {}),
            ...(a.applyJobId ? { applyJobId: a.applyJobId } : {}),
            ...(a.kind === "revert" ? { reason: state.stop?.reason ?? "rollback" } : {}),
          });
          alive();
          await this.store.markSent(rolloutId, a.jobId, a.host);
          alive();
          sent.add(a.jobId);
        });
        if (lease && this.o.clock() - lastRenew >= this.o.lockTtlMs / 3) {
          try {
            await renewHosts(this.o.redis, lease);
            lastRenew = this.o.clock();
          } catch (err) {
            alive();
            if (!isFleetnetError(err, "LOCK_LOST")) throw err;
            lease = undefined;
            inbox.push({ type: "fail", at: this.o.clock(), reason: err.message, revert: false });
          }
        }
        if (inbox.length === 0)
          await new Promise<void>((res) => {
            const t = setTimeout(res, this.o.pollMs);
            wake = () => {
              clearTimeout(t);
              res();
            };
          });
        wake = undefined;
        loaded = { ...(await this.store.load(rolloutId)), planHash: loaded.planHash };
        alive();
        if (loaded.rev !== rev)
          throw new FleetnetError("ROLLOUT_CONFLICT", `rollout ${rolloutId} changed under us`);
      }
      if (lease) await releaseHosts(this.o.redis, lease);
      return state.status;
    } catch (err) {
      if (err instanceof Aborted) return new Promise<string>(() => {}); // a dead planner never answers
      throw err;
    } finally {
      if (!signal?.aborted) await sub.close();
    }
  }

  private async audit(state: RolloutState, ts: Transition[], rev: number, by?: string): Promise<void> {
    if (!this.o.audit || ts.length === 0) return;
    const at = new Date(this.o.clock()).toISOString();
    const events = ts.map((t, i): AuditEvent => {
      const to = t.to.split("+")[0] as string;
      return {
        v: 1,
        id: `${state.id}_${rev}_${i}`,
        at,
        actor: by ? { kind: "user", id: by } : { kind: "planner", id: this.o.plannerId },
        action: t.action,
        target: {
          rolloutId: state.id,
          ...(t.scope === "host" ? { host: t.id, wave: state.hosts[t.id]?.wave } : {}),
          ...(t.scope === "wave" ? { wave: Number(t.id) } : {}),
        },
        result:
          to === "failed"
            ? "failed"
            : to === "reverted" || to === "rolled_back"
              ? "reverted"
              : to === "skipped"
                ? "skipped"
                : "ok",
        details: { from: t.from, to: t.to, ...(t.detail ? { detail: t.detail } : {}) },
      };
    });
    // started in order (a NATS connection keeps that order), awaited together
    const sink = this.o.audit;
    await Promise.all(events.map((e) => sink.publish(e)));
  }
}
