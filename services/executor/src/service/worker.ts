/**
 * One host's side of the executor service: its jobs, heartbeats and state reports.
 *
 * Design:
 * - Jobs come from the host's durable pull consumer (`exec-<host>` on `fleet.v1.jobs.<host>`,
 *   `max_ack_pending: 1`, so a host's jobs run one at a time, in order). Each message is
 *   verified (`verifyJob`: signature, addressed here, not expired, not replayed with the
 *   file-backed replay cache). A refused job gets NO result (a forged job could reuse a
 *   real jobId): an audit event `job.refused` with the error code is published and the
 *   message is terminated, so it is never redelivered.
 * - An accepted job is marked in flight in the journal, run, its result recorded in the
 *   journal, published with `publishDurably` (`Nats-Msg-Id = <jobId>.result.<status>`),
 *   and only then acked. In-progress acks (`working()`) keep it from being redelivered
 *   while it runs. A job redelivered after a crash:
 *     * result already in the journal → the same result is re-published (dropped as a
 *       duplicate by the stream) and acked: never run twice;
 *     * killed mid-apply → at start-up, an armed revert plan on the host created after the
 *       in-flight job started belongs to that unfinished transaction: it is reverted at
 *       once, and the message is NAKed so it is redelivered now rather than after
 *       `ack_wait`; the redelivered job then applies from a clean snapshot (the engine's host
 *       lock left by the dead transaction is released too);
 *     * an apply that finds the host busy (`HOST_BUSY`: another transaction's lock) changed
 *       nothing: it is NAKed and retried a few times before it is failed.
 * - apply runs the engine's transaction with `confirm: "manual"`: `applied` leaves the
 *   on-host revert timer armed for `confirmTimeoutMs`. A `confirm` job disarms it
 *   (`confirmed`); without one the host reverts itself and a deadline watcher publishes
 *   `reverted` for the apply job. A `revert` job undoes the transaction (also a confirmed
 *   one, while its plan is the host's latest).
 * - Heartbeats (core NATS) every `heartbeatMs`; state reports (HostState + sysctl readings +
 *   live observations: BGP, VRRP, managed MACs, overlay probes — observations.ts) every
 *   `stateReportMs`, on `observe` jobs and right after a job changed the host. Host
 *   operations (jobs, watcher, reports) are serialised by one lock per host.
 */
import type { KeyObject } from "node:crypto";
import type { HostState } from "@fleetnet/netstate";
import {
  type ApplyJob,
  type AuditEvent,
  AuditEventSchema,
  type ConfirmJob,
  encodeMessage,
  FleetnetError,
  type Heartbeat,
  HeartbeatSchema,
  JOBS_STREAM,
  type Job,
  jobConsumerName,
  jobRefusedEvent,
  messageIds,
  newId,
  type ObserveJob,
  type Progress,
  ProgressSchema,
  type Result,
  ResultSchema,
  type RevertJob,
  type StateReport,
  StateReportSchema,
  subjects,
  toErrorEnvelope,
  verifyJob,
} from "@fleetnet/protocol";
import {
  extractTraceContext,
  inSpan,
  type JetStreamClient,
  type Logger,
  type NatsConnection,
  publishDurably,
} from "@fleetnet/runtime";
import type { HostDriver } from "../driver.js";
import { type ObserveResult, observe } from "../observe.js";
import { type PingLog, pingResults, underlayPeers } from "../probes.js";
import { confirmPlan, planStatus, REVERT_DIR, type RevertPlan, revertNow } from "../revert.js";
import { serviceManager } from "../services.js";
import { applyHost, type HostTarget, LOCK_DIR, pendingPlans, type TxResult } from "../transaction.js";
import { collectObservations } from "./observations.js";
import { type ApplyRecord, FileReplayCache, HostJournal, hostStateDir } from "./store.js";
import { readingsFrom, readSysctls } from "./sysctls.js";

type Consumer = Awaited<ReturnType<JetStreamClient["consumers"]["get"]>>;
/** A JetStream message as the pull consumer hands it out. */
type JobMsg = NonNullable<Awaited<ReturnType<Consumer["next"]>>>;

/** Identity of the executor process, carried in heartbeats and audit events. */
export interface ExecutorIdentity {
  id: string;
  mode: "agent" | "pool";
  version: string;
}

/** Options of {@link HostWorker}. */
export interface HostWorkerOptions {
  host: string;
  target: HostTarget;
  nc: NatsConnection;
  js: JetStreamClient;
  logger: Logger;
  /** The planner's public key(s) (several during a key rotation). */
  publicKeys: readonly KeyObject[];
  /** The executor's state dir; this host's files go to `<stateDir>/executor/<host>/`. */
  stateDir: string;
  executor: ExecutorIdentity;
  heartbeatMs: number;
  stateReportMs: number;
  /** Sysctl keys always read for state reports (intents/baselines), besides the last desired state's. */
  sysctlKeys: readonly string[];
  /** Longest wait of one pull request, ms. */
  fetchExpiresMs: number;
  /** Interval of in-progress acks while a job runs, ms (well below the consumer's ack_wait). */
  workingEveryMs: number;
  /** Test hook passed to the engine: runs after the ops were applied, before verify. */
  afterApply?: () => Promise<void> | void;
}

/** An observation of the host made by a transaction, with its last ping round. */
interface Fresh {
  o: ObserveResult;
  pings?: PingLog;
}

/** How many deliveries of an apply may find the host busy before it is failed with HOST_BUSY. */
const BUSY_RETRIES = 6;
const BUSY_RETRY_DELAY_MS = 5_000;

/** A job that could not start for a transient reason: NAKed for redelivery, no result. */
/**
 * Whether a host's periodic state report is due: not while its last report is less than half a
 * period old. A report right after a job (or an observe job's) is as fresh as a periodic one;
 * observing the host again seconds later would cost a host process for nothing (a 200-host
 * pool's periodic reports are ~800 program starts per period).
 */
export function periodicReportDue(now: number, lastReportAt: number, periodMs: number): boolean {
  return now - lastReportAt >= periodMs / 2;
}

class RetryLater extends Error {}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const iso = (ms = Date.now()) => new Date(ms).toISOString();

/** The txId's creation time (ids are `YYYYMMDD-HHMMSS-xxxxxx`, UTC), ms; NaN if not one. */
function txTime(txId: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-/.exec(txId);
  if (!m) return Number.NaN;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

const planOf = (txId: string): RevertPlan => ({ id: txId, dir: `${REVERT_DIR}/${txId}` });

/** The jobs, heartbeats and state reports of one host. */
export class HostWorker {
  readonly host: string;
  readonly #o: HostWorkerOptions;
  readonly #log: Logger;
  readonly #replay: FileReplayCache;
  readonly #journal: HostJournal;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #watchers = new Map<string, NodeJS.Timeout>();
  #lock: Promise<unknown> = Promise.resolve();
  #stopping = false;
  #loop: Promise<void> | undefined;
  #activeJobId: string | undefined;
  /** The verify observation (+ pings) of the apply job that just ran (taken by the report that follows). */
  #observed: Fresh | undefined;
  /** Milliseconds per phase of the apply job's transaction that just ran (logged with "job done"). */
  #timings: Record<string, number> | undefined;
  /** How many host operations have started under the host lock (see {@link #report}'s `observed`). */
  #lockedRuns = 0;
  /** When this host's last state report was published (ms since epoch). */
  #lastReportAt = 0;
  #hbSeq = 0;
  readonly #startedAt = Date.now();

  constructor(o: HostWorkerOptions) {
    this.host = o.host;
    this.#o = o;
    this.#log = o.logger.child({ host: o.host });
    const dir = hostStateDir(o.stateDir, o.host);
    this.#replay = new FileReplayCache(`${dir}/replay.jsonl`);
    this.#journal = new HostJournal(`${dir}/journal.jsonl`);
  }

  /** The journal (tests and status). */
  get journal(): HostJournal {
    return this.#journal;
  }

  /** The apply job's observation for the report that follows it (once). */
  #takeObserved(): Fresh | undefined {
    const o = this.#observed;
    this.#observed = undefined;
    return o;
  }

  /** Recover from a crash, then start pulling jobs, heartbeats and state reports. */
  async start(): Promise<void> {
    await this.#recover().catch((err: unknown) =>
      this.#log.error(
        { err },
        "crash recovery failed; the host's own timer reverts an unfinished transaction",
      ),
    );
    for (const a of this.#journal.applies) if (a.status === "armed") this.#watch(a);
    const consumer = await this.#o.js.consumers.get(JOBS_STREAM, jobConsumerName(this.host));
    this.#loop = this.#pull(consumer);
    this.#heartbeat();
    this.#timers.push(setInterval(() => this.#heartbeat(), this.#o.heartbeatMs));
    if (this.#o.stateReportMs > 0) {
      // spread a pool's reports over the period instead of observing every host at once
      const first = setTimeout(
        () => {
          void this.#report();
          const tick = () => {
            if (periodicReportDue(Date.now(), this.#lastReportAt, this.#o.stateReportMs)) void this.#report();
          };
          this.#timers.push(setInterval(tick, this.#o.stateReportMs));
        },
        Math.floor(Math.random() * Math.min(this.#o.stateReportMs, 10_000)),
      );
      this.#timers.push(first);
    }
  }

  /**
   * Stop pulling (a message received after this is NAKed for redelivery), stop timers and
   * wait for the job in hand. Armed transactions stay armed: the host's own timer reverts
   * them unless a confirm arrives (to this or the next executor process).
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const t of this.#timers) clearTimeout(t);
    await this.#loop;
    await this.#lock.catch(() => {});
    for (const t of this.#watchers.values()) clearTimeout(t);
    this.#watchers.clear();
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const go = () => {
      this.#lockedRuns++;
      return fn();
    };
    const run = this.#lock.then(go, go);
    this.#lock = run.catch(() => {});
    return run;
  }

  // ---------------------------------------------------------------- crash recovery

  async #recover(): Promise<void> {
    const inflight = this.#journal.inflight;
    if (!inflight) return;
    this.#log.warn({ inflight }, "a job was in flight when the executor stopped; recovering");
    if (inflight.kind === "apply") {
      const known = new Set(this.#journal.applies.flatMap((a) => (a.txId ? [a.txId] : [])));
      const d = await this.#o.target.connect();
      try {
        const orphan = (txId: string) => !known.has(txId) && txTime(txId) >= inflight.startedAt - 1000;
        for (const plan of await pendingPlans(d)) {
          if (!orphan(plan.id)) continue;
          const outcome = await revertNow(d, plan);
          this.#log.warn(
            { txId: plan.id, outcome },
            "reverted the unfinished transaction of the in-flight job",
          );
        }
        // The engine's host lock of that dead transaction would hold the host until its lease
        // ends (confirm timeout + minutes). WORKAROUND until the engine exports a release (or
        // records the owner's pid, which its takeover check reads): release it here, only when
        // its owner is the transaction this process left unfinished.
        const owner = await d.readFile(`${LOCK_DIR}/owner`);
        const lockTx = /"txId":"([0-9A-Za-z-]+)"/.exec(owner ?? "")?.[1];
        if (lockTx && orphan(lockTx)) {
          await d.run(["rm", "-rf", "--", d.hostPath(LOCK_DIR)]);
          this.#log.warn({ txId: lockTx }, "released the host lock of the unfinished transaction");
        }
      } finally {
        await d.close();
      }
    }
    // hand the message back now instead of after ack_wait; it is then redelivered and re-run
    if (inflight.ackSubject?.startsWith("$JS.ACK.")) this.#o.nc.publish(inflight.ackSubject, "-NAK");
    await this.#journal.clearInflight();
  }

  // ---------------------------------------------------------------- the pull loop

  async #pull(consumer: Consumer): Promise<void> {
    let backoff = 250;
    while (!this.#stopping) {
      let m: JobMsg | null;
      try {
        m = await consumer.next({ expires: this.#o.fetchExpiresMs });
        backoff = 250;
      } catch (err) {
        if (this.#stopping) break;
        this.#log.warn({ err }, "pulling jobs failed; retrying");
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5_000);
        continue;
      }
      if (!m) continue;
      if (this.#stopping) {
        m.nak();
        break;
      }
      const msg = m;
      await this.#locked(() =>
        inSpan(`executor.job ${this.host}`, () => this.#handle(msg), {
          parent: extractTraceContext(msg.headers),
        }),
      ).catch((err: unknown) => this.#log.error({ err }, "job handling failed"));
    }
  }

  async #handle(m: JobMsg): Promise<void> {
    const wip = setInterval(() => {
      try {
        m.working();
      } catch {
        /* connection closed: the message will be redelivered */
      }
    }, this.#o.workingEveryMs);
    try {
      let job: Job;
      try {
        job = await verifyJob(m.data, {
          publicKey: this.#o.publicKeys,
          host: this.host,
          replayCache: this.#replay.forMessage(m.seq, m.redelivered),
        });
      } catch (err) {
        if (!(err instanceof FleetnetError)) throw err;
        await this.#refuse(m, err);
        return;
      }
      const log = this.#log.child({ jobId: job.jobId, kind: job.kind });
      const earlier = this.#journal.result(job.jobId);
      if (earlier) {
        log.info({ status: earlier.status }, "redelivered job already done: re-publishing its result");
        await this.#publishResult(earlier);
        await this.#ack(m);
        return;
      }
      const reply = (m as { reply?: unknown }).reply;
      await this.#journal.begin({
        jobId: job.jobId,
        kind: job.kind,
        streamSeq: m.seq,
        startedAt: Date.now(),
        ...(typeof reply === "string" ? { ackSubject: reply } : {}),
      });
      this.#activeJobId = job.jobId;
      this.#observed = undefined;
      const started = Date.now();
      let result: Result;
      try {
        result = await this.#run(job, started, m.info.deliveryCount);
      } finally {
        this.#activeJobId = undefined;
      }
      const observed = this.#takeObserved();
      const timings = this.#timings;
      this.#timings = undefined;
      log.info(
        {
          status: result.status,
          ops: result.ops.length,
          error: result.error,
          ...(timings ? { timings } : {}),
        },
        "job done",
      );
      await this.#journal.finish(result);
      await this.#publishResult(result);
      await this.#ack(m);
      // a change: report at once (queued behind this job on the host lock), so telemetry's
      // gates judge the new state instead of waiting up to `stateReportMs`. An applied change
      // reports the transaction's own verify observation (the host cannot have changed since:
      // this worker holds it); a confirm changes nothing on the host, so it reports nothing.
      if (this.#o.stateReportMs > 0 && (result.status === "applied" || result.status === "reverted"))
        void this.#report(
          result.status === "applied" && observed ? { observed: { at: this.#lockedRuns, ...observed } } : {},
        );
    } catch (err) {
      // NATS gone, the host busy or unreachable: hand the job back for redelivery
      const later = err instanceof RetryLater;
      if (later) await this.#journal.clearInflight().catch(() => {});
      this.#log[later ? "warn" : "error"]({ err }, "job not finished; it will be redelivered");
      try {
        m.nak(later ? BUSY_RETRY_DELAY_MS : 2_000);
      } catch {
        /* closed: ack_wait redelivers it */
      }
    } finally {
      clearInterval(wip);
    }
  }

  async #ack(m: JobMsg): Promise<void> {
    try {
      await m.ackAck({ timeout: 5_000 });
    } catch (err) {
      // the result is published; a redelivery is answered from the journal
      this.#log.warn({ err }, "ack not confirmed");
    }
  }

  async #refuse(m: JobMsg, error: FleetnetError): Promise<void> {
    this.#log.warn({ code: error.code, err: error.message, seq: m.seq }, "job refused");
    const ev = jobRefusedEvent({
      host: this.host,
      executorId: this.#o.executor.id,
      error,
      streamSeq: m.info.streamSequence,
    });
    await this.#publishAudit(ev);
    // no reason text: nats-server 2.9 does not understand `+TERM <reason>` and would redeliver
    m.term();
  }

  // ---------------------------------------------------------------- jobs

  #run(job: Job, started: number, delivery: number): Promise<Result> {
    switch (job.kind) {
      case "apply":
        return this.#apply(job, started, delivery);
      case "confirm":
        return this.#confirm(job, started);
      case "revert":
        return this.#revert(job, started);
      case "observe":
        return this.#observeJob(job, started);
    }
  }

  #result(
    job: Job,
    status: Result["status"],
    started: number,
    extra: { ops?: Result["ops"]; error?: Result["error"] } = {},
  ): Result {
    return {
      v: 1,
      jobId: job.jobId,
      host: this.host,
      rolloutId: job.rolloutId,
      planHash: job.planHash,
      kind: job.kind,
      status,
      ops: extra.ops ?? [],
      ...(status === "failed"
        ? { error: extra.error ?? { code: "INTERNAL", message: "failed", retryable: true } }
        : {}),
      at: iso(),
      durationMs: Date.now() - started,
    };
  }

  async #apply(job: ApplyJob, started: number, delivery: number): Promise<Result> {
    const mine = this.#journal.apply(job.jobId);
    if (mine) {
      // the transaction ran before a crash (its result was not published yet): report it, never re-run
      const status = mine.status === "armed" || mine.status === "confirmed" ? "applied" : mine.status;
      return this.#result(job, status, started, {
        ops: mine.ops,
        error: {
          code: mine.errorCode ?? "APPLY_FAILED",
          message: `apply job ${job.jobId} failed`,
          retryable: false,
        },
      });
    }
    const pending = this.#journal.applies.find((a) => a.status === "armed");
    if (pending) {
      return this.#result(job, "failed", started, {
        error: {
          code: "CONFIRM_PENDING",
          message: `apply job ${pending.jobId} on ${this.host} still waits for its confirm (the host reverts it at ${iso(pending.deadline)}); confirm or revert it first`,
          retryable: true,
          details: { applyJobId: pending.jobId },
        },
      });
    }
    await this.#progress(job, "applying");
    const desired = job.payload.desired as HostState;
    const r: TxResult = await applyHost(this.#o.target, desired, {
      confirmTimeoutS: Math.max(1, Math.ceil(job.payload.confirmTimeoutMs / 1000)),
      confirm: "manual",
      ...(this.#o.afterApply ? { afterApply: this.#o.afterApply } : {}),
    });
    if (r.result === "failed" && r.error?.code === "HOST_BUSY" && delivery < BUSY_RETRIES) {
      // another transaction holds the host (e.g. the lease of one killed mid-apply): nothing
      // changed here, so hand the job back and try again shortly instead of failing it
      throw new RetryLater(`${r.error.message} (delivery ${delivery} of ${BUSY_RETRIES})`);
    }
    const rec: ApplyRecord = {
      jobId: job.jobId,
      rolloutId: job.rolloutId,
      planHash: job.planHash,
      status: r.result === "applied" ? "armed" : r.result,
      ops: r.ops,
      ...(r.txId ? { txId: r.txId } : {}),
      ...(r.pendingUntil !== undefined ? { deadline: r.pendingUntil } : {}),
      ...(r.error ? { errorCode: r.error.code } : {}),
    };
    // on disk with the job's result (finish): see HostJournal.stageApply for a crash before
    this.#journal.stageApply(rec, desired);
    this.#observed = r.observed ? { o: r.observed, ...(r.pings ? { pings: r.pings } : {}) } : undefined;
    this.#timings = r.timings;
    if (rec.status === "armed") {
      this.#watch(rec);
      await this.#progress(job, "awaiting-confirm");
    }
    if (r.result === "reverted" && r.error) await this.#revertedEvent(rec, r.error);
    return this.#result(job, r.result, started, {
      ops: r.ops,
      ...(r.error ? { error: r.error } : {}),
    });
  }

  async #confirm(job: ConfirmJob, started: number): Promise<Result> {
    const rec = this.#journal.apply(job.payload.applyJobId);
    if (!rec) {
      return this.#result(job, "failed", started, {
        error: {
          code: "CONFIRM_UNKNOWN_JOB",
          message: `${this.host} has no apply job ${job.payload.applyJobId} to confirm`,
          retryable: false,
        },
      });
    }
    if (rec.status === "armed" && rec.txId) {
      await this.#progress(job, "committing");
      const d = await this.#o.target.connect();
      try {
        if (await confirmPlan(d, planOf(rec.txId))) {
          // on disk with the job's result (finish): a redelivered confirm finds it confirmed
          this.#settle(rec, "confirmed", { staged: true });
        } else {
          await this.#afterDeadline(rec, d);
        }
      } finally {
        await d.close();
      }
    }
    switch (rec.status) {
      case "confirmed":
      case "unchanged":
        // a confirm runs no ops (the apply job's result listed them): nothing to repeat
        return this.#result(job, "confirmed", started);
      case "reverted":
        return this.#result(job, "reverted", started, { ops: rec.ops });
      default:
        return this.#result(job, "failed", started, {
          error: {
            code: rec.status === "armed" ? "CONFIRM_FAILED" : "APPLY_FAILED",
            message:
              rec.status === "armed"
                ? `could not confirm apply job ${rec.jobId} on ${this.host}`
                : `apply job ${rec.jobId} failed on ${this.host} (${rec.errorCode ?? "no code"}): nothing to confirm`,
            retryable: rec.status === "armed",
          },
        });
    }
  }

  async #revert(job: RevertJob, started: number): Promise<Result> {
    const rec = this.#journal.apply(job.payload.applyJobId);
    if (!rec) {
      return this.#result(job, "failed", started, {
        error: {
          code: "REVERT_UNKNOWN_JOB",
          message: `${this.host} has no apply job ${job.payload.applyJobId} to revert`,
          retryable: false,
        },
      });
    }
    if ((rec.status === "armed" || rec.status === "confirmed") && rec.txId) {
      await this.#progress(job, "reverting");
      const plan = planOf(rec.txId);
      const d = await this.#o.target.connect();
      try {
        if (rec.status === "confirmed") {
          // re-arm the kept plan (marker `confirmed` → `armed`), then run it like the timer would
          const rearm = await d.run([
            "mv",
            "--",
            d.hostPath(`${plan.dir}/confirmed`),
            d.hostPath(`${plan.dir}/armed`),
          ]);
          if (rearm.code !== 0 && (await planStatus(d, plan, 0)) !== "reverted") {
            return this.#result(job, "failed", started, {
              error: {
                code: "NOT_REVERTIBLE",
                message: `the revert plan of apply job ${rec.jobId} is no longer on ${this.host} (a later change replaced it)`,
                retryable: false,
              },
            });
          }
        }
        const outcome = await revertNow(d, plan);
        if (outcome === "reverted" || outcome === "already-reverted") await this.#settle(rec, "reverted");
        else {
          return this.#result(job, "failed", started, {
            error: {
              code: "REVERT_FAILED",
              message: `reverting apply job ${rec.jobId} on ${this.host}: ${outcome}`,
              retryable: true,
            },
          });
        }
      } finally {
        await d.close();
      }
      await this.#revertedEvent(rec, {
        code: "REVERT_REQUESTED",
        message: job.payload.reason,
        retryable: false,
      });
    }
    if (rec.status === "failed" && rec.errorCode === "REVERT_FAILED") {
      return this.#result(job, "failed", started, {
        error: {
          code: "REVERT_FAILED",
          message: `apply job ${rec.jobId} left ${this.host} in a mixed state; it cannot be reverted automatically`,
          retryable: false,
        },
      });
    }
    return this.#result(job, "reverted", started, { ops: rec.ops });
  }

  async #observeJob(job: ObserveJob, started: number): Promise<Result> {
    await this.#report({ jobId: job.jobId, extraKeys: job.payload.sysctls, must: true });
    return this.#result(job, "observed", started);
  }

  // ---------------------------------------------------------------- confirm deadline

  #settle(rec: ApplyRecord, status: ApplyRecord["status"], o: { staged?: boolean } = {}): Promise<void> {
    rec.status = status;
    delete rec.deadline;
    let written = Promise.resolve();
    if (o.staged) this.#journal.stageApply(rec);
    else written = this.#journal.putApply(rec);
    const t = this.#watchers.get(rec.jobId);
    if (t) clearTimeout(t);
    this.#watchers.delete(rec.jobId);
    return written;
  }

  /** After the confirm deadline of an armed apply: learn what the host did and report it. */
  #watch(rec: ApplyRecord, delayMs = (rec.deadline ?? Date.now()) - Date.now() + 1_000): void {
    const old = this.#watchers.get(rec.jobId);
    if (old) clearTimeout(old);
    if (this.#stopping) return; // the next process watches it (from the journal)
    const t = setTimeout(
      () => {
        this.#watchers.delete(rec.jobId);
        void this.#locked(async () => {
          const cur = this.#journal.apply(rec.jobId);
          if (this.#stopping || cur?.status !== "armed") return;
          const d = await this.#o.target.connect();
          try {
            await this.#afterDeadline(cur, d);
          } finally {
            await d.close();
          }
          if (cur.status === "armed" && !this.#stopping) this.#watch(cur, 5_000);
        }).catch((err: unknown) => {
          this.#log.warn({ err, jobId: rec.jobId }, "checking the confirm deadline failed; retrying");
          if (!this.#stopping) this.#watch(rec, 5_000);
        });
      },
      Math.max(0, delayMs),
    );
    this.#watchers.set(rec.jobId, t);
  }

  /** The host's timer fired (or is firing): record and publish `reverted` (or `failed`). */
  async #afterDeadline(rec: ApplyRecord, d: HostDriver): Promise<void> {
    if (!rec.txId) return;
    const st = await planStatus(d, planOf(rec.txId), 20_000);
    if (st === "confirmed") {
      await this.#settle(rec, "confirmed");
      return;
    }
    if (st === "failed" && (await d.readFile(`${planOf(rec.txId).dir}/armed`)) !== undefined) return;
    const reverted = st === "reverted" || st === "already-reverted";
    const settled = this.#settle(rec, reverted ? "reverted" : "failed");
    if (!reverted) rec.errorCode = "REVERT_FAILED";
    const error = {
      code: reverted ? "CONFIRM_TIMEOUT" : "REVERT_FAILED",
      message: reverted
        ? `no confirm for apply job ${rec.jobId} before the deadline: ${this.host} reverted itself`
        : `no confirm for apply job ${rec.jobId} and the host's revert did not finish cleanly`,
      retryable: reverted,
    };
    this.#log.warn({ jobId: rec.jobId, status: rec.status }, error.message);
    const result: Result = {
      v: 1,
      jobId: rec.jobId,
      host: this.host,
      rolloutId: rec.rolloutId,
      planHash: rec.planHash,
      kind: "apply",
      status: reverted ? "reverted" : "failed",
      ops: rec.ops,
      ...(reverted ? {} : { error }),
      at: iso(),
      durationMs: 0,
    };
    await settled;
    await this.#journal.finish(result);
    // no job message to redeliver this one: keep trying while NATS is away (the journal
    // already says reverted, so a later watcher run would not publish it again)
    for (let delay = 1_000; ; delay = Math.min(delay * 2, 30_000)) {
      try {
        await this.#publishResult(result);
        if (reverted) await this.#revertedEvent(rec, error);
        break;
      } catch (err) {
        if (this.#stopping) throw err;
        this.#log.warn({ err, jobId: rec.jobId }, "publishing the reverted result failed; retrying");
        await sleep(delay);
      }
    }
  }

  // ---------------------------------------------------------------- publishing

  async #publishResult(result: Result): Promise<void> {
    const payload = encodeMessage(ResultSchema, result, "result");
    await publishDurably(this.#o.js, subjects.hostEvent(this.host, "result"), payload, {
      msgID: messageIds.result(result),
      deadlineMs: 120_000,
    });
  }

  async #publishAudit(ev: AuditEvent): Promise<void> {
    const payload = encodeMessage(AuditEventSchema, ev, "audit event");
    await publishDurably(this.#o.js, subjects.hostEvent(this.host, "audit"), payload, {
      msgID: messageIds.audit(ev),
      deadlineMs: 120_000,
    });
  }

  /**
   * `host.reverted` audit event: a `reverted` result carries no error envelope (the
   * protocol allows one only on `failed`), so the reason travels here.
   */
  async #revertedEvent(rec: ApplyRecord, error: NonNullable<Result["error"]>): Promise<void> {
    await this.#publishAudit({
      v: 1,
      id: newId("e"),
      at: iso(),
      actor: { kind: "executor", id: this.#o.executor.id },
      action: "host.reverted",
      target: { host: this.host, rolloutId: rec.rolloutId, jobId: rec.jobId },
      result: "reverted",
      error,
      details: { ...(rec.txId ? { txId: rec.txId } : {}), ops: rec.ops.length },
    });
  }

  /** Progress is informative: a failure to publish it is logged, never fatal. */
  async #progress(job: Job, phase: Progress["phase"]): Promise<void> {
    try {
      const p: Progress = {
        v: 1,
        jobId: job.jobId,
        host: this.host,
        rolloutId: job.rolloutId,
        at: iso(),
        phase,
      };
      await publishDurably(
        this.#o.js,
        subjects.hostEvent(this.host, "progress"),
        encodeMessage(ProgressSchema, p, "progress"),
        { msgID: messageIds.progress(p), deadlineMs: 5_000 },
      );
    } catch (err) {
      this.#log.debug({ err, phase }, "progress not published");
    }
  }

  #heartbeat(): void {
    const armed = this.#journal.applies.find((a) => a.status === "armed");
    const hb: Heartbeat = {
      v: 1,
      host: this.host,
      at: iso(),
      seq: this.#hbSeq++,
      executor: this.#o.executor,
      uptimeS: (Date.now() - this.#startedAt) / 1000,
      ...(this.#activeJobId ? { activeJobId: this.#activeJobId } : {}),
      ...(armed?.deadline !== undefined
        ? { awaitingConfirm: { applyJobId: armed.jobId, deadline: iso(armed.deadline) } }
        : {}),
    };
    try {
      this.#o.nc.publish(subjects.heartbeat(this.host), encodeMessage(HeartbeatSchema, hb, "heartbeat"));
    } catch (err) {
      this.#log.warn({ err }, "heartbeat not published");
    }
  }

  /**
   * Observe the host (or take `observed`, an observation just made while holding the host)
   * and publish a state report (HostState + sysctl readings + observations). Periodic reports
   * skip a turn while a job runs; an observe job's report (`must`) throws on failure.
   */
  async #report(
    opts: {
      jobId?: string;
      extraKeys?: readonly string[];
      must?: boolean;
      /** An observation made under the host lock, and the lock's run count then. */
      observed?: Fresh & { at: number };
    } = {},
  ): Promise<void> {
    const { jobId, extraKeys = [], must = false } = opts;
    const work = async () => {
      const d = await this.#o.target.connect();
      try {
        const desired = this.#journal.lastDesired;
        const services = serviceManager(d, this.#o.target.serviceMode);
        // still the host's state only if nothing else ran under the lock since (this run is +1)
        const fresh = opts.observed && this.#lockedRuns === opts.observed.at + 1 ? opts.observed : undefined;
        // a new observation pings the overlay probes' peers in the same host process
        const peers = desired ? underlayPeers(desired, this.host) : [];
        const o = fresh?.o ?? (await observe(d, services, desired ? { desired, ping: peers } : {}));
        const pings: PingLog = fresh?.pings ?? pingResults(peers, o.pings);
        const keys = [...this.#o.sysctlKeys, ...(desired?.sysctls.map((s) => s.key) ?? []), ...extraKeys];
        // the observation already read the desired state's keys (and the ledger's)
        const known = readingsFrom(o, keys);
        const [sysctls, observations] = await Promise.all([
          known.rest.length > 0
            ? readSysctls(d, known.rest).then((r) => ({ ...known.readings, ...r }))
            : Promise.resolve(known.readings),
          collectObservations({
            d,
            services,
            state: o.state,
            links: o.linkMacs,
            pings,
            ...(desired ? { desired } : {}),
            onError: (category, err) =>
              this.#log.warn({ category, err: toErrorEnvelope(err) }, "observation skipped"),
          }),
        ]);
        const report: StateReport = {
          v: 1,
          host: this.host,
          at: iso(),
          ...(jobId ? { jobId } : {}),
          state: o.state,
          sysctls,
          observations,
        };
        this.#o.nc.publish(
          subjects.state(this.host),
          encodeMessage(StateReportSchema, report, "state report"),
        );
        this.#lastReportAt = Date.now();
      } finally {
        await d.close();
      }
    };
    if (must) return work();
    if (this.#activeJobId || this.#stopping) return;
    await this.#locked(work).catch((err: unknown) =>
      this.#log.warn({ err: toErrorEnvelope(err) }, "state report failed"),
    );
  }
}
