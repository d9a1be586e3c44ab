/**
 * NetFlow v5 / v9 / IPFIX decoder.
 *
 * Design:
 * - State lives per *domain*: exporter address (+ UDP source port for IPFIX, the transport
 *   session) + version + source id / observation domain. Templates, sequence tracking, sampler
 *   tables and data waiting for its template are all per domain, so two exporters (or two
 *   line cards of one router) never see each other's templates.
 * - Records are not materialised: the decoder points one reused {@link RecordView} at each
 *   record (buffer, offset, compiled template) and calls the sink. Reading a counter is a
 *   DataView read at a precompiled offset; `toRecord()` builds the full JSON object only when
 *   a caller wants it (CLI, tests). This keeps the collector's hot path allocation-free per record.
 * - Never loops, never throws on input: every length is checked before it is used, sets/records
 *   that would run past their end stop the walk and count an error code in `stats.errors`;
 *   a template whose records would have length 0 is refused (it could not advance). A last-resort
 *   try/catch turns any RangeError into an `INTERNAL` count for that packet.
 * - Data sets whose template is unknown are copied and kept (bounded count and age) and decoded
 *   when the template arrives — exporters often send data first after a restart, and some put
 *   the data set before its template in the same packet.
 */

import type { NetflowErrorCode } from "./errors.js";
import { NetflowError } from "./errors.js";
import type { TemplateField, TemplateSnapshot } from "./template.js";
import { Template, V9_SCOPE_PEN } from "./template.js";
import { RecordView, rateOf } from "./view.js";

/** Counters of one decoder (monotonic). */
export interface DecoderStats {
  packets: number;
  records: number;
  /** Options records (also included in `records`). */
  optionRecords: number;
  templates: number;
  templatesRedefined: number;
  templatesWithdrawn: number;
  /** Data sets kept while waiting for their template. */
  pendingSets: number;
  /** Data sets dropped because their template never came (expired or over the cap). */
  templateMisses: number;
  /** Exporter sequence gaps (v9: packets; v5/IPFIX: records), net of late arrivals. */
  sequenceLost: number;
  /** Packets whose sequence number was behind the expected one (late/reordered/duplicated). */
  sequenceReordered: number;
  /** Decode problems by code; a packet may add several. */
  errors: Partial<Record<NetflowErrorCode, number>>;
}

/** Tunables. */
export interface DecoderOptions {
  /** Max data sets kept waiting for templates, over all domains (default 1024). */
  pendingMaxSets?: number;
  /** Max age of a waiting data set in ms, judged by the `nowMs` given to decode (default 60 s). */
  pendingMaxAgeMs?: number;
  /**
   * Track exporter sequence numbers (default true). Turn off when this decoder sees only a
   * share of the exporter's packets (several workers reading one socket).
   */
  trackSequence?: boolean;
  /**
   * Called once per received v5/v9 packet or IPFIX message (not in `learn()`) with the domain's
   * key (as in {@link TemplateSnapshot.key}), its sequence number and how far it advances the
   * sequence (v9: 1 packet; v5/IPFIX: data records; -1 = unknown, e.g. an IPFIX set skipped for
   * want of a template). Lets a caller that sees only a share of an exporter's packets report
   * them to whoever tracks the whole sequence.
   */
  onSequence?: (domainKey: string, seq: number, advance: number) => void;
}

/** Called once per decoded record. The view is reused: copy what you keep. */
export type RecordSink = (rec: RecordView) => void;

interface Pending {
  readonly tid: number;
  readonly body: Uint8Array;
  readonly exportMs: number;
  readonly sysUptime: number;
  readonly at: number;
}

/** Per exporter/domain state. Exported for the view only. */
export class DomainState {
  readonly templates = new Map<number, Template>();
  readonly samplers = new Map<number, number>();
  defaultRate: number | null = null;
  sysInitMs: number | null = null;
  expectedSeq = -1;
  pending: Pending[] = [];
  constructor(
    readonly key: string,
    readonly exporter: string,
    readonly port: number,
    readonly version: number,
    readonly domain: number,
  ) {}
}

/** A NetFlow v5/v9/IPFIX decoder with its template and sequence state. */
export class NetflowDecoder {
  readonly stats: DecoderStats = {
    packets: 0,
    records: 0,
    optionRecords: 0,
    templates: 0,
    templatesRedefined: 0,
    templatesWithdrawn: 0,
    pendingSets: 0,
    templateMisses: 0,
    sequenceLost: 0,
    sequenceReordered: 0,
    errors: {},
  };
  private readonly domains = new Map<string, DomainState>();
  private lastDomain: DomainState | null = null;
  private readonly view = new RecordView();
  private pendingTotal = 0;
  private readonly pendingMax: number;
  private readonly pendingAge: number;
  private sink: RecordSink = () => {};
  private setHadMiss = false;
  private msgRecords = 0;
  private readonly trackSeq: boolean;
  private readonly onSeq: DecoderOptions["onSequence"];
  /** In learn(): the packet's own data sets are not emitted (only options feed the tables). */
  private learning = false;

  constructor(opts: DecoderOptions = {}) {
    this.pendingMax = opts.pendingMaxSets ?? 1024;
    this.pendingAge = opts.pendingMaxAgeMs ?? 60_000;
    this.trackSeq = opts.trackSequence ?? true;
    this.onSeq = opts.onSequence;
  }

  private err(code: NetflowErrorCode): void {
    const e = this.stats.errors;
    e[code] = (e[code] ?? 0) + 1;
  }

  private domainFor(exporter: string, port: number, version: number, domain: number): DomainState {
    // Exporters send runs of packets: skip building the key when it is the same domain again.
    const c = this.lastDomain;
    if (
      c !== null &&
      c.domain === domain &&
      c.version === version &&
      c.exporter === exporter &&
      (version !== 10 || c.port === port)
    ) {
      return c;
    }
    // IPFIX keys templates per transport session (RFC 7011 §8); v9 per source address + id.
    const key = version === 10 ? `${exporter}:${port}|10|${domain}` : `${exporter}|${version}|${domain}`;
    let d = this.domains.get(key);
    if (d === undefined) {
      d = new DomainState(key, exporter, port, version, domain);
      this.domains.set(key, d);
    }
    this.lastDomain = d;
    return d;
  }

  /**
   * Decode one UDP payload from `exporter` (address string) / `port`. Calls `sink` per record
   * and returns the number of records decoded (including buffered data replayed now).
   * Never throws on bad input: problems are counted in {@link stats}.
   * @param nowMs clock for ageing buffered data (pass the capture time when reading pcaps).
   */
  decode(packet: Uint8Array, exporter: string, port: number, sink: RecordSink, nowMs = Date.now()): number {
    this.stats.packets++;
    const before = this.stats.records;
    this.sink = sink;
    const dv = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
    try {
      if (dv.byteLength < 2) {
        this.err("TRUNCATED_HEADER");
      } else {
        const version = dv.getUint16(0);
        if (version === 9) this.v9(dv, exporter, port, nowMs);
        else if (version === 10) this.ipfix(dv, exporter, port, nowMs);
        else if (version === 5) this.v5(dv, exporter, port);
        else this.err("UNKNOWN_VERSION");
      }
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      this.err("INTERNAL");
    }
    return this.stats.records - before;
  }

  /**
   * Learn from a packet another decoder already decoded: its templates, withdrawals and options
   * records (sampler tables) — no records of its own are emitted or counted, no sequence check.
   * Data sets buffered here that the new templates unlock are replayed to `sink`. Used to share
   * template state between workers that read one socket.
   */
  learn(packet: Uint8Array, exporter: string, port: number, sink: RecordSink, nowMs = Date.now()): number {
    const before = this.stats.records;
    this.learning = true;
    this.sink = sink;
    const packets = this.stats.packets;
    const errors = { ...this.stats.errors };
    try {
      this.decode(packet, exporter, port, sink, nowMs);
    } finally {
      this.learning = false;
      this.stats.packets = packets;
      this.stats.errors = errors;
    }
    return this.stats.records - before;
  }

  // ---- v5 ---------------------------------------------------------------------------------

  private v5(dv: DataView, exporter: string, port: number): void {
    if (this.learning) return;
    const len = dv.byteLength;
    if (len < 24) {
      this.err("TRUNCATED_HEADER");
      return;
    }
    const count = dv.getUint16(2);
    const avail = Math.floor((len - 24) / 48);
    const n = Math.min(count, avail);
    if (count > avail) this.err("V5_COUNT_MISMATCH");
    const sysUptime = dv.getUint32(4);
    const exportMs = dv.getUint32(8) * 1000 + Math.floor(dv.getUint32(12) / 1e6);
    const seq = dv.getUint32(16);
    const engine = dv.getUint16(20);
    const d = this.domainFor(exporter, port, 5, engine);
    const si = dv.getUint16(22) & 0x3fff;
    d.defaultRate = si > 0 ? si : null;
    this.checkSeq(d, seq, n);
    const v = this.view;
    v.bind(dv, d, V5_TEMPLATE, exportMs, sysUptime);
    for (let i = 0; i < n; i++) {
      v.at(24 + i * 48);
      this.stats.records++;
      this.sink(v);
    }
  }

  // ---- sequence ---------------------------------------------------------------------------

  private checkSeq(d: DomainState, seq: number, advance: number): void {
    if (this.learning) return;
    if (this.onSeq !== undefined) this.onSeq(d.key, seq, advance);
    if (!this.trackSeq) return;
    if (d.expectedSeq >= 0 && seq !== d.expectedSeq) {
      const diff = (seq - d.expectedSeq) >>> 0;
      if (diff < 0x80000000) {
        this.stats.sequenceLost += diff;
      } else {
        // Behind the expected number: a late packet (fills a gap counted earlier) or a duplicate.
        this.stats.sequenceReordered++;
        if (advance > 0) this.stats.sequenceLost -= Math.min(advance, this.stats.sequenceLost);
        return;
      }
    }
    d.expectedSeq = advance < 0 ? -1 : (seq + advance) >>> 0;
  }

  // ---- v9 ---------------------------------------------------------------------------------

  private v9(dv: DataView, exporter: string, port: number, nowMs: number): void {
    const len = dv.byteLength;
    if (len < 20) {
      this.err("TRUNCATED_HEADER");
      return;
    }
    const sysUptime = dv.getUint32(4);
    const exportMs = dv.getUint32(8) * 1000;
    const seq = dv.getUint32(12);
    const d = this.domainFor(exporter, port, 9, dv.getUint32(16));
    this.checkSeq(d, seq, 1);
    this.expire(d, nowMs);
    this.sets(dv, 20, len, d, exportMs, sysUptime, nowMs);
  }

  // ---- IPFIX ------------------------------------------------------------------------------

  private ipfix(dv: DataView, exporter: string, port: number, nowMs: number): void {
    let off = 0;
    const total = dv.byteLength;
    // One message per datagram by RFC; tolerate several back to back (seen in captures).
    while (off + 16 <= total) {
      if (dv.getUint16(off) !== 10) {
        this.err("TRAILING_GARBAGE");
        return;
      }
      const mlen = dv.getUint16(off + 2);
      let end = off + mlen;
      if (mlen < 16) {
        this.err("BAD_MESSAGE_LENGTH");
        return;
      }
      if (end > total) {
        this.err("BAD_MESSAGE_LENGTH");
        end = total;
      }
      const exportMs = dv.getUint32(off + 4) * 1000;
      const seq = dv.getUint32(off + 8);
      const d = this.domainFor(exporter, port, 10, dv.getUint32(off + 12));
      this.expire(d, nowMs);
      this.setHadMiss = false;
      this.msgRecords = 0;
      this.sets(dv, off + 16, end, d, exportMs, 0, nowMs);
      // IPFIX sequence counts data records sent before this message; unknown if a set was skipped.
      this.checkSeq(d, seq, this.setHadMiss ? -1 : this.msgRecords);
      off = end;
    }
    if (off < total && off === 0) this.err("TRUNCATED_HEADER");
  }

  // ---- sets (shared by v9 and IPFIX) ------------------------------------------------------

  private sets(
    dv: DataView,
    off: number,
    end: number,
    d: DomainState,
    exportMs: number,
    sysUptime: number,
    nowMs: number,
  ): void {
    const ipfix = d.version === 10;
    while (off + 4 <= end) {
      const sid = dv.getUint16(off);
      const slen = dv.getUint16(off + 2);
      if (slen < 4) {
        // v9 exporters pad packets with zeros (Palo Alto sends 1400-byte zero-filled packets).
        if (!allZero(dv, off, end)) this.err("BAD_SET_LENGTH");
        return;
      }
      if (off + slen > end) {
        this.err("BAD_SET_LENGTH");
        return;
      }
      const body = off + 4;
      const bend = off + slen;
      if (sid >= 256) {
        const t = d.templates.get(sid);
        if (this.learning) {
          if (t?.kind === "options") this.data(dv, body, bend, d, t, exportMs, sysUptime);
        } else if (t === undefined) this.park(d, sid, dv, body, bend, exportMs, sysUptime, nowMs);
        else this.data(dv, body, bend, d, t, exportMs, sysUptime);
      } else if (ipfix ? sid === 2 : sid === 0) {
        this.templateSet(dv, body, bend, d, false, nowMs);
      } else if (ipfix ? sid === 3 : sid === 1) {
        if (ipfix) this.templateSet(dv, body, bend, d, true, nowMs);
        else this.v9OptionsSet(dv, body, bend, d, nowMs);
      }
      // Other ids < 256 are reserved: skipped by length.
      off = bend;
    }
    if (off < end && !allZero(dv, off, end)) this.err("TRAILING_GARBAGE");
  }

  private templateSet(
    dv: DataView,
    off: number,
    end: number,
    d: DomainState,
    options: boolean,
    nowMs: number,
  ): void {
    const ipfix = d.version === 10;
    const hdr = options ? 6 : 4;
    while (off + 4 <= end) {
      const tid = dv.getUint16(off);
      const count = dv.getUint16(off + 2);
      if (ipfix && count === 0) {
        // Withdrawal (RFC 7011 §8.1): one template, or all of this set kind with the set id.
        this.withdraw(d, tid, options);
        off += 4;
        continue;
      }
      if (tid < 256) {
        if (!allZero(dv, off, end)) this.err("BAD_TEMPLATE");
        return; // padding
      }
      if (off + hdr > end) {
        this.err("BAD_TEMPLATE");
        return;
      }
      const scope = options ? dv.getUint16(off + 4) : 0;
      if (scope > count || (options && ipfix && scope === 0)) {
        this.err("BAD_TEMPLATE");
        return;
      }
      off += hdr;
      const fields: TemplateField[] = [];
      for (let i = 0; i < count; i++) {
        if (off + 4 > end) {
          this.err("BAD_TEMPLATE");
          return;
        }
        let id = dv.getUint16(off);
        const len = dv.getUint16(off + 2);
        off += 4;
        let pen = 0;
        if (ipfix && id & 0x8000) {
          if (off + 4 > end) {
            this.err("BAD_TEMPLATE");
            return;
          }
          pen = dv.getUint32(off);
          id &= 0x7fff;
          off += 4;
        }
        fields.push({ id, pen, len });
      }
      this.addTemplate(d, new Template(tid, scope, fields), nowMs);
    }
  }

  private v9OptionsSet(dv: DataView, off: number, end: number, d: DomainState, nowMs: number): void {
    while (off + 6 <= end) {
      const tid = dv.getUint16(off);
      const scopeLen = dv.getUint16(off + 2);
      const optLen = dv.getUint16(off + 4);
      if (tid < 256) {
        if (!allZero(dv, off, end)) this.err("BAD_TEMPLATE");
        return;
      }
      if (scopeLen % 4 !== 0 || optLen % 4 !== 0 || off + 6 + scopeLen + optLen > end) {
        this.err("BAD_TEMPLATE");
        return;
      }
      off += 6;
      const fields: TemplateField[] = [];
      const ns = scopeLen / 4;
      const no = optLen / 4;
      for (let i = 0; i < ns + no; i++, off += 4) {
        fields.push({ id: dv.getUint16(off), pen: i < ns ? V9_SCOPE_PEN : 0, len: dv.getUint16(off + 2) });
      }
      if (ns === 0 && no === 0) {
        this.err("BAD_TEMPLATE");
        return;
      }
      this.addTemplate(d, new Template(tid, ns, fields), nowMs);
    }
  }

  private addTemplate(d: DomainState, t: Template, nowMs: number): void {
    if (t.minLen === 0) {
      // Records of length 0 cannot be framed (a set of them would never advance).
      this.err("ZERO_LENGTH_TEMPLATE");
      return;
    }
    const old = d.templates.get(t.id);
    if (old?.sameAs(t)) return;
    if (old !== undefined) this.stats.templatesRedefined++;
    d.templates.set(t.id, t);
    this.stats.templates++;
    if (d.pending.length > 0) this.replay(d, t, nowMs);
  }

  private withdraw(d: DomainState, tid: number, options: boolean): void {
    if (tid === 2 || tid === 3) {
      for (const [id, t] of d.templates) {
        if ((t.kind === "options") === options) {
          d.templates.delete(id);
          this.stats.templatesWithdrawn++;
        }
      }
    } else if (d.templates.delete(tid)) {
      this.stats.templatesWithdrawn++;
    }
  }

  // ---- data -------------------------------------------------------------------------------

  private data(
    dv: DataView,
    off: number,
    end: number,
    d: DomainState,
    t: Template,
    exportMs: number,
    sysUptime: number,
  ): void {
    const v = this.view;
    v.bind(dv, d, t, exportMs, sysUptime);
    const opt = t.kind === "options";
    const fixed = t.fixedLen;
    if (fixed > 0) {
      const n = Math.floor((end - off) / fixed);
      for (let i = 0; i < n; i++, off += fixed) {
        v.at(off);
        this.emit(v, d, opt);
      }
      // A tail shorter than a record is padding (RFC 3954 §5.3, RFC 7011 §3.3.1).
      return;
    }
    const minLen = t.minLen;
    while (end - off >= minLen) {
      const next = v.atVar(off, end);
      if (next < 0) {
        // Zero padding after the last record can look like the start of one; that's fine.
        if (!allZero(dv, off, end)) this.err("TRUNCATED_RECORD");
        return;
      }
      this.emit(v, d, opt);
      off = next;
    }
  }

  private emit(v: RecordView, d: DomainState, opt: boolean): void {
    if (this.learning) {
      if (opt) this.learnOptions(v, d);
      return;
    }
    this.stats.records++;
    this.msgRecords++;
    if (opt) {
      this.stats.optionRecords++;
      this.learnOptions(v, d);
    }
    this.sink(v);
  }

  /** Options records feed the domain's sampler table and system init time. */
  private learnOptions(v: RecordView, d: DomainState): void {
    const t = v.tpl;
    const rate = rateOf(v);
    if (rate !== null) {
      if (t.iSampler >= 0) d.samplers.set(v.uintAt(t.iSampler), rate);
      else d.defaultRate = rate;
    }
    if (t.iSysInit >= 0) d.sysInitMs = v.uintAt(t.iSysInit);
  }

  private park(
    d: DomainState,
    tid: number,
    dv: DataView,
    off: number,
    end: number,
    exportMs: number,
    sysUptime: number,
    nowMs: number,
  ): void {
    this.setHadMiss = true;
    if (this.pendingTotal >= this.pendingMax) {
      this.stats.templateMisses++;
      return;
    }
    const body = new Uint8Array(end - off);
    body.set(new Uint8Array(dv.buffer, dv.byteOffset + off, end - off));
    d.pending.push({ tid, body, exportMs, sysUptime, at: nowMs });
    this.pendingTotal++;
    this.stats.pendingSets++;
  }

  private replay(d: DomainState, t: Template, _nowMs: number): void {
    const keep: Pending[] = [];
    const todo: Pending[] = [];
    for (const p of d.pending) (p.tid === t.id ? todo : keep).push(p);
    if (todo.length === 0) return;
    d.pending = keep;
    this.pendingTotal -= todo.length;
    const mr = this.msgRecords;
    const learning = this.learning;
    this.learning = false;
    for (const p of todo) {
      const dv = new DataView(p.body.buffer, p.body.byteOffset, p.body.byteLength);
      this.data(dv, 0, p.body.byteLength, d, t, p.exportMs, p.sysUptime);
    }
    this.msgRecords = mr;
    this.learning = learning;
  }

  private expire(d: DomainState, nowMs: number): void {
    if (d.pending.length === 0) return;
    const limit = nowMs - this.pendingAge;
    const keep = d.pending.filter((p) => p.at >= limit);
    const gone = d.pending.length - keep.length;
    if (gone > 0) {
      d.pending = keep;
      this.pendingTotal -= gone;
      this.stats.templateMisses += gone;
    }
  }

  /** Drop every buffered data set (counted as template misses); returns how many. */
  flushPending(): number {
    let n = 0;
    for (const d of this.domains.values()) {
      n += d.pending.length;
      d.pending = [];
    }
    this.pendingTotal = 0;
    this.stats.templateMisses += n;
    return n;
  }

  /** All known templates, for persistence (e.g. Redis) so a restart decodes at once. */
  exportTemplates(): TemplateSnapshot[] {
    const out: TemplateSnapshot[] = [];
    for (const d of this.domains.values()) {
      for (const t of d.templates.values()) {
        out.push({
          key: d.key,
          id: t.id,
          scopeCount: t.scopeCount,
          fields: t.fields.map((f) => [f.id, f.pen, f.len]),
        });
      }
    }
    return out;
  }

  /**
   * Restore templates saved by {@link exportTemplates}. Invalid entries throw
   * `NetflowError(BAD_TEMPLATE)` naming the entry; nothing is half-applied for that entry.
   */
  importTemplates(snaps: readonly TemplateSnapshot[]): void {
    for (const [i, s] of snaps.entries()) {
      const m = /^(.*?)(?::(\d+))?\|(9|10|5)\|(\d+)$/.exec(s.key);
      if (m === null || !Number.isInteger(s.id) || s.id < 256 || s.id > 65535 || !Array.isArray(s.fields)) {
        throw new NetflowError("BAD_TEMPLATE", `template snapshot #${i}: bad key/id (${s.key} / ${s.id})`);
      }
      const fields = s.fields.map(([id, pen, len]) => ({ id, pen, len }));
      const t = new Template(s.id, s.scopeCount, fields);
      if (t.minLen === 0)
        throw new NetflowError("BAD_TEMPLATE", `template snapshot #${i}: zero-length records`);
      const d = this.domainFor(m[1] as string, Number(m[2] ?? 0), Number(m[3]), Number(m[4]));
      d.templates.set(t.id, t);
    }
  }

  /** Domains seen so far (exporter, version, domain id, template count, waiting data sets). */
  domainsSummary(): Array<{
    exporter: string;
    version: number;
    domain: number;
    templates: number;
    pending: number;
  }> {
    return [...this.domains.values()].map((d) => ({
      exporter: d.exporter,
      version: d.version,
      domain: d.domain,
      templates: d.templates.size,
      pending: d.pending.length,
    }));
  }
}

function allZero(dv: DataView, off: number, end: number): boolean {
  for (let i = off; i < end; i++) if (dv.getUint8(i) !== 0) return false;
  return true;
}

/** NetFlow v5 record layout (48 bytes) expressed as a template, so one view serves all versions. */
const V5_TEMPLATE = new Template(0, 0, [
  { id: 8, pen: 0, len: 4 },
  { id: 12, pen: 0, len: 4 },
  { id: 15, pen: 0, len: 4 },
  { id: 10, pen: 0, len: 2 },
  { id: 14, pen: 0, len: 2 },
  { id: 2, pen: 0, len: 4 },
  { id: 1, pen: 0, len: 4 },
  { id: 22, pen: 0, len: 4 },
  { id: 21, pen: 0, len: 4 },
  { id: 7, pen: 0, len: 2 },
  { id: 11, pen: 0, len: 2 },
  { id: 210, pen: 0, len: 1 },
  { id: 6, pen: 0, len: 1 },
  { id: 4, pen: 0, len: 1 },
  { id: 5, pen: 0, len: 1 },
  { id: 16, pen: 0, len: 2 },
  { id: 17, pen: 0, len: 2 },
  { id: 9, pen: 0, len: 1 },
  { id: 13, pen: 0, len: 1 },
  { id: 210, pen: 0, len: 2 },
]);
