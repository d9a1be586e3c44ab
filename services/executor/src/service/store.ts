/**
 * Durable per-host state of the executor service, in small JSON files under
 * `<stateDir>/executor/<host>/` (written atomically: temp file + fsync + rename).
 *
 * - {@link FileReplayCache} (`replay.json`): job ids and nonces this host accepted, until
 *   they expire — the replay check of `verifyJob`, surviving restarts. Bounded like the
 *   protocol's `MemoryReplayCache`: evicting an unexpired entry raises an `issuedAt`
 *   horizon at or before which every job is refused (it can no longer be proven unseen).
 *   A JetStream REDELIVERY of the message that was accepted (same stream sequence,
 *   `redelivered` set) is not a replay: {@link FileReplayCache.forMessage} lets it through,
 *   so an executor killed mid-job can finish the job after a restart. A re-publish of the
 *   same job gets a new stream sequence and is refused.
 * - {@link HostJournal} (`journal.json`, written off the event loop: each mutation returns
 *   the promise of its write, writes land in order): the job in flight (to recover after a crash),
 *   the results already published (a redelivered job is answered with the same result, not
 *   run twice), and recent apply transactions (applyJobId → on-host revert plan id and
 *   whether it is armed, confirmed or reverted) so confirm/revert jobs and the confirm
 *   deadline find their transaction after a restart.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { join } from "node:path";
import type { HostState, Op } from "@fleetnet/netstate";
import type { ReplayCache, Result } from "@fleetnet/protocol";

/** Write `text` (JSON) atomically, off the event loop: temp file, fsync (libuv's thread pool), rename. */
async function writeTextAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, "w", 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The executor's state dir of one host: `<stateDir>/executor/<host>` (created). */
export function hostStateDir(stateDir: string, host: string): string {
  const dir = join(stateDir, "executor", host);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

interface ReplayEntry {
  /** expiresAt, ms */
  e: number;
  /** issuedAt, ms */
  i: number;
  /** JetStream stream sequence of the message that carried it */
  s?: number;
}

/** A bounded, file-backed replay cache for one host (see the module header). */
export class FileReplayCache implements ReplayCache {
  readonly #path: string;
  readonly #capacity: number;
  readonly #entries = new Map<string, ReplayEntry>();
  #horizonMs = Number.NEGATIVE_INFINITY;
  /** Writes land in call order (each the whole cache as it was then). */
  #writes: Promise<void> = Promise.resolve();

  /**
   * @param path the JSON file (loaded now when it exists)
   * @param capacity maximum number of remembered keys (each job uses two)
   */
  constructor(path: string, capacity = 20_000) {
    if (!Number.isInteger(capacity) || capacity < 2)
      throw new RangeError("replay cache capacity must be an integer >= 2");
    this.#path = path;
    this.#capacity = capacity;
    const saved = readJson(path) as
      | { horizon?: number | null; entries?: [string, ReplayEntry][] }
      | undefined;
    if (saved) {
      if (typeof saved.horizon === "number") this.#horizonMs = saved.horizon;
      for (const [k, v] of saved.entries ?? []) this.#entries.set(k, v);
    }
  }

  /** Number of keys remembered now. */
  get size(): number {
    return this.#entries.size;
  }

  checkAndRecord(
    keys: readonly string[],
    expiresAtMs: number,
    issuedAtMs: number,
    nowMs: number,
  ): boolean | Promise<boolean> {
    return this.#check(keys, expiresAtMs, issuedAtMs, nowMs, undefined);
  }

  /**
   * The cache as seen by one received message: a redelivery (`redelivered`) of the very
   * message whose keys were recorded (same `streamSeq`) passes; anything else is checked
   * normally and recorded with `streamSeq`.
   */
  forMessage(streamSeq: number, redelivered: boolean): ReplayCache {
    return {
      checkAndRecord: (keys, expiresAtMs, issuedAtMs, nowMs) => {
        if (redelivered && keys.length > 0 && keys.every((k) => this.#entries.get(k)?.s === streamSeq))
          return true;
        return this.#check(keys, expiresAtMs, issuedAtMs, nowMs, streamSeq);
      },
    };
  }

  #check(
    keys: readonly string[],
    e: number,
    i: number,
    now: number,
    s: number | undefined,
  ): boolean | Promise<boolean> {
    if (i <= this.#horizonMs) return false;
    for (const k of keys) {
      const old = this.#entries.get(k);
      if (old !== undefined && old.e > now) return false;
    }
    for (const k of keys) {
      this.#entries.delete(k);
      this.#entries.set(k, s === undefined ? { e, i } : { e, i, s });
    }
    this.#evict(now);
    const text = JSON.stringify({
      horizon: Number.isFinite(this.#horizonMs) ? this.#horizonMs : null,
      entries: [...this.#entries],
    });
    // recorded in memory at once (the check is atomic); on disk before the job may run
    const write = this.#writes.then(() => writeTextAtomic(this.#path, text));
    this.#writes = write.catch(() => {});
    return write.then(() => true);
  }

  #evict(now: number): void {
    if (this.#entries.size <= this.#capacity) return;
    for (const [k, v] of this.#entries) if (v.e <= now) this.#entries.delete(k);
    for (const [k, v] of this.#entries) {
      if (this.#entries.size <= this.#capacity) break;
      this.#entries.delete(k);
      if (v.i > this.#horizonMs) this.#horizonMs = v.i;
    }
  }
}

/** How many of the newest journal entries keep their op lists (see {@link HostJournal}). */
export const OPS_KEPT = 8;

/** Empty the op lists of all but the newest {@link OPS_KEPT} entries (oldest first). */
function trimOps(entries: { ops: Op[] }[]): void {
  for (let i = 0; i < entries.length - OPS_KEPT; i++) {
    const e = entries[i] as { ops: Op[] };
    if (e.ops.length > 0) e.ops = [];
  }
}

/** Where an apply transaction stands. */
type ApplyStatus = "armed" | "confirmed" | "reverted" | "unchanged" | "failed";

/** One apply job's transaction, as the journal keeps it. */
export interface ApplyRecord {
  jobId: string;
  rolloutId: string;
  planHash: string;
  status: ApplyStatus;
  /** Revert plan id on the host (absent when nothing changed). */
  txId?: string;
  /** While armed: the host reverts itself at this time (ms). */
  deadline?: number;
  ops: Op[];
  /** Error code of a failed apply (a REVERT_FAILED host is not known to be clean). */
  errorCode?: string;
}

/** A job being worked on when the process stopped. */
export interface InflightJob {
  jobId: string;
  kind: string;
  streamSeq: number;
  startedAt: number;
  /** The message's ack subject, to NAK it at once after a restart instead of waiting for ack_wait. */
  ackSubject?: string;
}

interface JournalData {
  v: 1;
  inflight?: InflightJob;
  /** Published results by jobId, oldest first. */
  done: [string, Result][];
  /** Apply transactions, oldest first. */
  applies: ApplyRecord[];
  /** Desired state of the last apply (names the sysctls the state reports read). */
  lastDesired?: HostState;
}

/**
 * The journal of one host (see the module header). Every mutation changes the journal in
 * memory at once and returns the promise of its write (await it before acting on it: a job
 * runs only once `begin` is on disk, a result is published only once `finish` is).
 */
export class HostJournal {
  readonly #path: string;
  readonly #data: JournalData;
  readonly #keep: number;
  #writes: Promise<void> = Promise.resolve();

  /** @param keep how many results and apply records to keep */
  constructor(path: string, keep = 64) {
    this.#path = path;
    this.#keep = keep;
    const saved = readJson(path) as JournalData | undefined;
    this.#data = saved?.v === 1 ? saved : { v: 1, done: [], applies: [] };
  }

  /** The job in flight when the last process stopped (or now). */
  get inflight(): InflightJob | undefined {
    return this.#data.inflight;
  }

  /** Desired state of the last apply job. */
  get lastDesired(): HostState | undefined {
    return this.#data.lastDesired;
  }

  /** Apply records, oldest first. */
  get applies(): readonly ApplyRecord[] {
    return this.#data.applies;
  }

  /** The result already published for `jobId`, if any. */
  result(jobId: string): Result | undefined {
    return this.#data.done.find(([id]) => id === jobId)?.[1];
  }

  /** The apply record of `jobId`. */
  apply(jobId: string): ApplyRecord | undefined {
    return this.#data.applies.find((a) => a.jobId === jobId);
  }

  /** Mark a job in flight. */
  begin(job: InflightJob): Promise<void> {
    this.#data.inflight = job;
    return this.#save();
  }

  /** Clear the in-flight mark (job refused, or handed back for redelivery). */
  clearInflight(): Promise<void> {
    delete this.#data.inflight;
    return this.#save();
  }

  /** Record the result of a job (before it is published) and clear the in-flight mark. */
  finish(result: Result): Promise<void> {
    this.#data.done = this.#data.done.filter(([id]) => id !== result.jobId);
    this.#data.done.push([result.jobId, result]);
    if (this.#data.done.length > this.#keep) this.#data.done.splice(0, this.#data.done.length - this.#keep);
    if (this.#data.inflight?.jobId === result.jobId) delete this.#data.inflight;
    return this.#save();
  }

  /** Add or replace an apply record. */
  putApply(rec: ApplyRecord, desired?: HostState): Promise<void> {
    this.stageApply(rec, desired);
    return this.#save();
  }

  /**
   * Add or replace an apply record in memory only: it is on disk with the next write (the
   * job's `finish`). For a record whose loss in a crash is recovered anyway — an armed plan
   * the journal does not know is an orphan that recovery reverts before the job is redelivered;
   * a confirm that reached the host is found confirmed there when the confirm job is redelivered.
   */
  stageApply(rec: ApplyRecord, desired?: HostState): void {
    this.#data.applies = this.#data.applies.filter((a) => a.jobId !== rec.jobId);
    this.#data.applies.push(rec);
    if (this.#data.applies.length > this.#keep)
      this.#data.applies.splice(0, this.#data.applies.length - this.#keep);
    if (desired) this.#data.lastDesired = desired;
  }

  /**
   * Queue a write of the journal as it is now; writes land in call order. Only the newest
   * {@link OPS_KEPT} results and apply records keep their op lists (a redelivery or a
   * rollback only ever concerns the latest jobs of a host; a full mesh's ops are ~20 KB per
   * job, and the journal is rewritten for every job).
   */
  #save(): Promise<void> {
    trimOps(this.#data.done.map(([, r]) => r));
    trimOps(this.#data.applies);
    const text = JSON.stringify(this.#data);
    const write = this.#writes.then(() => writeTextAtomic(this.#path, text));
    this.#writes = write.catch(() => {});
    return write;
  }
}
