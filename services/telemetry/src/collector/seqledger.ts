/**
 * Exporter sequence accounting when several workers read one socket (WORKERS > 1).
 *
 * Why not per worker: the kernel hands each datagram of an exporter to whichever worker is
 * reading, so every worker sees gaps in the exporter's sequence that are only the other workers'
 * packets. Routing per exporter is not available either: Node 20's dgram has no SO_REUSEPORT
 * (and no BPF steering), the workers share ONE socket, and forwarding packets through the
 * primary would put the whole stream back on one event loop. So the workers report what they
 * received and the primary, which sees every report, tracks the sequence:
 *
 * - Worker side ({@link SequenceRuns}): the decoder's `onSequence` hook gives (domain, seq,
 *   advance) per packet/message; consecutive ones of a domain are coalesced into runs
 *   `[seq, length]` (a worker reads datagrams in bursts, so runs are long) and sent with the
 *   worker's counters every ~100 ms — a few numbers per burst, not per packet.
 * - Primary side ({@link SequenceLedger}): per exporter/domain the runs of all workers are merged
 *   in sequence order. A gap is declared lost only once a run after it has waited `graceMs`
 *   (default 2 s) — long enough for every worker's report of that period to arrive — so
 *   reordering between workers is never loss, and the loss counter only grows (a Prometheus
 *   counter). A run that arrives behind what was already settled is counted as `late` (its gap
 *   was counted as lost; the counter is not taken back). A jump back by more than
 *   `restartDistance` is an exporter restart: the domain starts over, nothing counted.
 * - Sequence numbers are 32-bit and wrap: each one is unwrapped against the domain's highest
 *   position (signed 32-bit distance), so arithmetic is on plain numbers.
 *
 * Units are the exporter's: v9 counts packets, v5 and IPFIX count records. An IPFIX message with
 * an unknown advance (a set skipped for want of a template) ends its run open: the next run of
 * that domain starts without a gap being counted (as the single-process decoder does).
 */

/** Advance of a message whose record count is not known. */
export const UNKNOWN_ADVANCE = -1;

/** What a worker reports: per domain key, flattened runs `[seq, length, seq, length, …]`. */
export type SequenceReport = Array<[domainKey: string, runs: number[]]>;

interface OpenRun {
  start: number;
  /** Units covered; UNKNOWN_ADVANCE once a message of unknown advance closed it. */
  len: number;
}

/** Worker side: coalesces the decoder's per-packet sequence notes into runs per domain. */
export class SequenceRuns {
  private readonly open = new Map<string, OpenRun>();
  private done = new Map<string, number[]>();
  private lastKey = "";
  private last: OpenRun | null = null;

  /** One packet/message of `key` with sequence `seq` advancing by `advance` (-1 unknown). */
  note(key: string, seq: number, advance: number): void {
    let r = key === this.lastKey ? this.last : (this.open.get(key) ?? null);
    if (r !== null && r.len !== UNKNOWN_ADVANCE && (r.start + r.len) >>> 0 === seq) {
      r.len = advance < 0 ? UNKNOWN_ADVANCE : r.len + advance;
    } else {
      if (r !== null) this.finish(key, r);
      r = { start: seq, len: advance < 0 ? UNKNOWN_ADVANCE : advance };
      this.open.set(key, r);
    }
    this.lastKey = key;
    this.last = r;
  }

  private finish(key: string, r: OpenRun): void {
    let out = this.done.get(key);
    if (out === undefined) {
      out = [];
      this.done.set(key, out);
    }
    out.push(r.start, r.len);
  }

  /** Every run so far (the open ones too) — the report to send; starts afresh. */
  take(): SequenceReport {
    for (const [k, r] of this.open) this.finish(k, r);
    this.open.clear();
    this.last = null;
    this.lastKey = "";
    const out = [...this.done];
    this.done = new Map();
    return out;
  }
}

/** Tunables of {@link SequenceLedger}. */
export interface SequenceLedgerOptions {
  /** How long a gap may wait for a late report before it counts as lost (default 2000 ms). */
  graceMs?: number;
  /** A jump back by more than this many units restarts the domain (default 2^24). */
  restartDistance?: number;
  /** Waiting runs per domain past which the oldest gaps are settled at once (default 65 536). */
  maxPending?: number;
}

interface Interval {
  /** Unwrapped start and end (exclusive); end null = unknown advance. */
  s: number;
  e: number | null;
  /** When it was reported (ms). */
  at: number;
}

interface Domain {
  /** Everything below this is settled (received or counted lost); null = not anchored yet. */
  next: number | null;
  /** Highest unwrapped position seen: the reference for unwrapping. */
  hi: number;
  /** Reported runs not settled yet (sorted at settle time). */
  pending: Interval[];
  /** When the domain was (re)anchored-to-be: a fresh domain waits graceMs for every worker. */
  since: number;
}

/** Primary side: merges the workers' runs per exporter/domain and counts lost units. */
export class SequenceLedger {
  /** Units missing from the exporters' sequences (monotonic). */
  lost = 0;
  /** Runs that arrived behind the settled position (late beyond the grace, or duplicates). */
  late = 0;
  /** Exporter restarts seen (a jump back by more than restartDistance). */
  restarts = 0;
  private readonly domains = new Map<string, Domain>();
  private readonly graceMs: number;
  private readonly restartDistance: number;
  private readonly maxPending: number;

  constructor(opts: SequenceLedgerOptions = {}) {
    this.graceMs = opts.graceMs ?? 2000;
    this.restartDistance = opts.restartDistance ?? 2 ** 24;
    this.maxPending = opts.maxPending ?? 65_536;
  }

  /** Take a worker's report (received at `nowMs`) and settle what can be settled. */
  add(report: SequenceReport, nowMs = Date.now()): void {
    for (const [key, runs] of report) {
      for (let i = 0; i + 1 < runs.length; i += 2)
        this.run(key, runs[i] as number, runs[i + 1] as number, nowMs);
    }
    this.settle(nowMs);
  }

  private run(key: string, seq: number, len: number, now: number): void {
    let d = this.domains.get(key);
    if (d === undefined) {
      d = { next: null, hi: seq, pending: [], since: now };
      this.domains.set(key, d);
    }
    // Signed 32-bit distance from the highest position: unwraps the 32-bit counter.
    let s = d.hi + ((seq - (d.hi >>> 0)) | 0);
    if (d.next !== null && s < d.next - this.restartDistance) {
      this.restarts++;
      d.next = null;
      d.pending = [];
      d.hi = seq;
      d.since = now;
      s = seq;
    }
    let e = len < 0 ? null : s + len;
    if (d.next !== null && s < d.next) {
      if (e !== null && e <= d.next) {
        this.late++;
        return;
      }
      s = d.next;
      e = e === null ? null : Math.max(e, s);
    }
    d.hi = Math.max(d.hi, e ?? s);
    d.pending.push({ s, e, at: now });
  }

  /**
   * Settle every domain: contiguous runs advance it; a gap before a run older than the grace
   * (or any gap when `final`) counts as lost.
   */
  settle(nowMs = Date.now(), final = false): void {
    for (const d of this.domains.values()) this.settleDomain(d, nowMs, final);
  }

  private settleDomain(d: Domain, now: number, final: boolean): void {
    const p = d.pending;
    if (p.length === 0) return;
    p.sort((a, b) => a.s - b.s);
    const force = p.length > this.maxPending ? p.length - this.maxPending : 0;
    if (d.next === null) {
      if (!final && force === 0 && now - d.since < this.graceMs) return;
      d.next = (p[0] as Interval).s;
    }
    let next: number | null = d.next;
    let k = 0;
    for (; k < p.length; k++) {
      const r = p[k] as Interval;
      if (next === null) {
        // The previous run ended with an unknown advance: resynchronise on this one.
        next = r.s;
      } else if (r.s > next) {
        if (!final && k >= force && now - r.at < this.graceMs) break;
        this.lost += r.s - next;
        next = r.s;
      }
      if (r.e === null) next = null;
      else next = Math.max(next ?? r.e, r.e);
    }
    d.pending = k === 0 ? p : p.slice(k);
    if (next === null) {
      // Open end: re-anchor on whatever comes next (after its grace, as a fresh domain).
      d.next = null;
      d.since = now;
    } else {
      d.next = next;
    }
  }
}
