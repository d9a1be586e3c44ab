/**
 * Durable per-host state of the executor service, in JSON-lines logs under
 * `<stateDir>/executor/<host>/` ({@link JsonLog}: a snapshot line, then one line per change,
 * each appended and fdatasync'd before the caller acts on it; rewritten as one snapshot — temp
 * file + fsync + rename — once it has grown). A change costs one append, not a rewrite of the
 * whole state into a new file: on a pool of hundreds of hosts the rewrites were a new inode and
 * a deleted one per job and host, which a filesystem without a journal pays dearly for.
 *
 * - {@link FileReplayCache} (`replay.jsonl`): job ids and nonces this host accepted, until
 *   they expire — the replay check of `verifyJob`, surviving restarts. Bounded like the
 *   protocol's `MemoryReplayCache`: evicting an unexpired entry raises an `issuedAt`
 *   horizon at or before which every job is refused (it can no longer be proven unseen).
 *   A JetStream REDELIVERY of the message that was accepted (same stream sequence,
 *   `redelivered` set) is not a replay: {@link FileReplayCache.forMessage} lets it through,
 *   so an executor killed mid-job can finish the job after a restart. A re-publish of the
 *   same job gets a new stream sequence and is refused.
 * - {@link HostJournal} (`journal.jsonl`, written off the event loop: each mutation returns
 *   the promise of its append, appends land in order): the job in flight (to recover after a crash),
 *   the results already published (a redelivered job is answered with the same result, not
 *   run twice), and recent apply transactions (applyJobId → on-host revert plan id and
 *   whether it is armed, confirmed or reverted) so confirm/revert jobs and the confirm
 *   deadline find their transaction after a restart.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
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

/**
 * A state kept as a JSON-lines file: an optional `{"snapshot": …}` first line, then one line per
 * change. {@link JsonLog.append} queues a change; queued changes are written together (one
 * write, one fdatasync) in call order, and each caller's promise resolves once its line is on
 * disk. A torn last line (the process died mid-write) is ignored on load. Past `compactBytes`
 * the file is rewritten as one snapshot of the current state (temp file + fsync + rename).
 */
class JsonLog {
  readonly #path: string;
  readonly #compactBytes: number;
  readonly #snapshot: () => unknown;
  #size = 0;
  #pending: { line: string; done: () => void; failed: (e: unknown) => void }[] = [];
  #writing: Promise<void> | undefined;

  /**
   * @param path the log file
   * @param snapshot the current state, for compaction
   * @param compactBytes rewrite as a snapshot once the file is larger than this
   */
  constructor(path: string, snapshot: () => unknown, compactBytes = 256 * 1024) {
    this.#path = path;
    this.#snapshot = snapshot;
    this.#compactBytes = compactBytes;
  }

  /**
   * The snapshot (or `undefined`) and the changes after it. With no log yet, an earlier
   * version's whole-state file next to it (`x.json` for `x.jsonl`) is read as the snapshot.
   */
  load(): { snapshot: unknown; changes: unknown[] } {
    const legacy = this.#path.endsWith(".jsonl") ? this.#path.slice(0, -1) : undefined;
    let text: string;
    try {
      text = readFileSync(this.#path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        throw new Error(`cannot read ${this.#path}: ${(err as Error).message}`, { cause: err });
      return { snapshot: legacy && existsSync(legacy) ? readJson(legacy) : undefined, changes: [] };
    }
    this.#size = Buffer.byteLength(text);
    const lines = text.split("\n").filter((l) => l !== "");
    const out: { snapshot: unknown; changes: unknown[] } = { snapshot: undefined, changes: [] };
    lines.forEach((line, n) => {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (err) {
        if (n === lines.length - 1) return; // torn by a crash mid-append: never acknowledged
        throw new Error(`cannot read ${this.#path} line ${n + 1}: ${(err as Error).message}`, { cause: err });
      }
      if (n === 0 && v !== null && typeof v === "object" && "snapshot" in v)
        out.snapshot = (v as { snapshot: unknown }).snapshot;
      else out.changes.push(v);
    });
    return out;
  }

  /** Append `change` (JSON); resolves once it is on disk. */
  append(change: unknown): Promise<void> {
    return new Promise<void>((done, failed) => {
      this.#pending.push({ line: `${JSON.stringify(change)}\n`, done, failed });
      this.#writing ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      try {
        if (this.#size > this.#compactBytes) {
          // the snapshot already holds every queued change (they are applied in memory first)
          const text = `${JSON.stringify({ snapshot: this.#snapshot() })}\n`;
          await writeTextAtomic(this.#path, text);
          this.#size = Buffer.byteLength(text);
        } else {
          const text = batch.map((b) => b.line).join("");
          const fh = await open(this.#path, "a", 0o600);
          try {
            await fh.writeFile(text);
            await fh.datasync();
          } finally {
            await fh.close();
          }
          this.#size += Buffer.byteLength(text);
        }
        for (const b of batch) b.done();
      } catch (err) {
        for (const b of batch) b.failed(err);
      }
    }
    this.#writing = undefined;
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
  readonly #capacity: number;
  readonly #entries = new Map<string, ReplayEntry>();
  #horizonMs = Number.NEGATIVE_INFINITY;
  readonly #log: JsonLog;

  /**
   * @param path the log file (`replay.jsonl`, loaded now when it exists; an earlier version's
   *   `replay.json` next to it is read when there is no log yet)
   * @param capacity maximum number of remembered keys (each job uses two)
   */
  constructor(path: string, capacity = 20_000) {
    if (!Number.isInteger(capacity) || capacity < 2)
      throw new RangeError("replay cache capacity must be an integer >= 2");
    this.#capacity = capacity;
    this.#log = new JsonLog(path, () => this.#state());
    const { snapshot, changes } = this.#log.load();
    for (const c of [snapshot, ...changes] as (
      | { horizon?: number | null; entries?: [string, ReplayEntry][] }
      | undefined
    )[]) {
      if (!c) continue;
      if (typeof c.horizon === "number") this.#horizonMs = c.horizon;
      for (const [k, v] of c.entries ?? []) {
        this.#entries.delete(k);
        this.#entries.set(k, v);
      }
    }
    this.#evict(Date.now());
  }

  /** The whole cache, as a snapshot or a change line holds it. */
  #state(entries: [string, ReplayEntry][] = [...this.#entries]) {
    return { horizon: Number.isFinite(this.#horizonMs) ? this.#horizonMs : null, entries };
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
    // recorded in memory at once (the check is atomic); on disk before the job may run
    const added = keys.flatMap((k): [string, ReplayEntry][] => {
      const v = this.#entries.get(k);
      return v ? [[k, v]] : [];
    });
    return this.#log.append(this.#state(added)).then(() => true);
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
  readonly #data: JournalData = { v: 1, done: [], applies: [] };
  readonly #keep: number;
  readonly #log: JsonLog;
  /** Apply records (and a desired state) changed in memory, written with the next append. */
  #staged: { rec: ApplyRecord; desired?: HostState }[] = [];

  /**
   * @param path the log file (`journal.jsonl`; an earlier version's `journal.json` next to it
   *   is read when there is no log yet)
   * @param keep how many results and apply records to keep
   * @param compactBytes rewrite the log as one snapshot once it is larger than this
   */
  constructor(path: string, keep = 64, compactBytes?: number) {
    this.#keep = keep;
    this.#log = new JsonLog(path, () => this.#data, compactBytes);
    const { snapshot, changes } = this.#log.load();
    const saved = snapshot as JournalData | undefined;
    if (saved?.v === 1) Object.assign(this.#data, saved);
    for (const c of changes as JournalChange[]) {
      for (const a of c.applies ?? []) this.#stage(a.rec, a.desired);
      if (c.begin) this.#data.inflight = c.begin;
      if (c.clear) delete this.#data.inflight;
      if (c.finish) this.#finish(c.finish);
    }
    this.#trim();
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
    return this.#append({ begin: job });
  }

  /** Clear the in-flight mark (job refused, or handed back for redelivery). */
  clearInflight(): Promise<void> {
    delete this.#data.inflight;
    return this.#append({ clear: true });
  }

  /** Record the result of a job (before it is published) and clear the in-flight mark. */
  finish(result: Result): Promise<void> {
    this.#finish(result);
    return this.#append({ finish: result });
  }

  /** Add or replace an apply record. */
  putApply(rec: ApplyRecord, desired?: HostState): Promise<void> {
    this.stageApply(rec, desired);
    return this.#append({});
  }

  /**
   * Add or replace an apply record in memory only: it is on disk with the next append (the
   * job's `finish`). For a record whose loss in a crash is recovered anyway — an armed plan
   * the journal does not know is an orphan that recovery reverts before the job is redelivered;
   * a confirm that reached the host is found confirmed there when the confirm job is redelivered.
   */
  stageApply(rec: ApplyRecord, desired?: HostState): void {
    this.#stage(rec, desired);
    this.#staged.push({ rec: { ...rec }, ...(desired ? { desired } : {}) });
  }

  #stage(rec: ApplyRecord, desired?: HostState): void {
    this.#data.applies = this.#data.applies.filter((a) => a.jobId !== rec.jobId);
    this.#data.applies.push(rec);
    if (this.#data.applies.length > this.#keep)
      this.#data.applies.splice(0, this.#data.applies.length - this.#keep);
    if (desired) this.#data.lastDesired = desired;
  }

  #finish(result: Result): void {
    this.#data.done = this.#data.done.filter(([id]) => id !== result.jobId);
    this.#data.done.push([result.jobId, result]);
    if (this.#data.done.length > this.#keep) this.#data.done.splice(0, this.#data.done.length - this.#keep);
    if (this.#data.inflight?.jobId === result.jobId) delete this.#data.inflight;
  }

  /**
   * Only the newest {@link OPS_KEPT} results and apply records keep their op lists in memory
   * and in snapshots (a redelivery or a rollback only ever concerns the latest jobs of a host;
   * a full mesh's ops are ~20 KB per job).
   */
  #trim(): void {
    trimOps(this.#data.done.map(([, r]) => r));
    trimOps(this.#data.applies);
  }

  /** Append a change (with the staged apply records); changes land in call order. */
  #append(change: JournalChange): Promise<void> {
    this.#trim();
    const staged = this.#staged;
    this.#staged = [];
    return this.#log.append(staged.length > 0 ? { applies: staged, ...change } : change);
  }
}

/** One line of the journal log (any combination; applied in this order: applies, begin, clear, finish). */
interface JournalChange {
  applies?: { rec: ApplyRecord; desired?: HostState }[];
  begin?: InflightJob;
  clear?: true;
  finish?: Result;
}
