/**
 * Flow rollups: per exporting host, per minute — totals, per-interface in/out counters, and the
 * top talkers: source→destination address pairs by bytes ("who talks to whom"). Sampling is
 * applied here (counters × 1-in-N rate), the records themselves stay as exported.
 *
 * A pair is keyed by its two addresses only, not by ports: a server's replies to many ephemeral
 * client ports stay one pair instead of thousands of light ones that pruning would drop. The
 * pair carries the protocol and destination port of its largest record (informational: "what
 * the pair mostly is"), read only when that record is the largest so far.
 *
 * Hot path (`add`, once per record) touches only numbers, the interface array (small integer
 * keys) and a typed-array hash table for IPv4 pairs (IPv6 pairs: a Map by text). Memory is
 * bounded per host: the pair tables grow with the host's working set up to `talkerCap` pairs and
 * are then pruned to the heaviest half (the top talkers of a minute are heavy hitters, which
 * survive pruning; light pairs may be under-counted); a closed minute keeps its `topN` pairs.
 */
import type { RecordView } from "@fleetnet/netflow";

/** Interface counters of one host-minute (sampling applied). */
export interface InterfaceCounters {
  ifIndex: number;
  inBytes: number;
  inPackets: number;
  outBytes: number;
  outPackets: number;
}

/** One closed host-minute. */
export interface RollupMinute {
  /** Exporter address. */
  host: string;
  /** Start of the minute, ISO 8601 (by export time of the packets). */
  minute: string;
  flows: number;
  bytes: number;
  packets: number;
  interfaces: InterfaceCounters[];
  /** The heaviest src→dst pairs of the minute (at most `topN`), by bytes. */
  topTalkers: TalkerPair[];
}

/** One top-talker pair: bytes/packets with sampling applied, `flows` = records. */
export interface TalkerPair {
  src: string;
  dst: string;
  bytes: number;
  packets: number;
  flows: number;
  /** Protocol and destination port of the pair's largest record (null when not exported). */
  protocol: number | null;
  dstPort: number | null;
}

/** Tunables of {@link FlowRollup}. */
export interface RollupOptions {
  /** Talker pairs kept per host-minute in the result (default 20). */
  topN?: number;
  /** Pairs per host (per address family) that trigger pruning to the heaviest half (default 16 384). */
  talkerCap?: number;
  /** Closed minutes kept until drained (default 10 000; older ones are dropped and counted). */
  maxClosed?: number;
}

/** A talker pair's counters while its minute is open. */
interface PairCounters {
  bytes: number;
  packets: number;
  flows: number;
  /** Bytes of the pair's largest record so far; its protocol/port describe the pair. */
  top: number;
  protocol: number;
  dstPort: number;
}

/**
 * IPv4 src→dst pairs in an open-addressing table (parallel typed arrays, linear probing): no
 * allocation per record. Keys are stored as int32 (addresses ≥ 128.0.0.0 would otherwise be
 * compared as doubles). Records per slot double as the occupancy mark (0 = free). The table
 * starts small and doubles up to `2 × cap` slots at half load (memory follows the host's working
 * set; small tables stay in cache); past `cap` pairs it is pruned to the heaviest half.
 */
class V4PairTable {
  private flows = new Uint32Array(0);
  private src = new Int32Array(0);
  private dst = new Int32Array(0);
  private bytes = new Float64Array(0);
  private packets = new Float64Array(0);
  /** Own (unsampled) bytes of the pair's largest record; its protocol/port describe the pair. */
  private top = new Float64Array(0);
  /** protocol and dstPort of that record, -1 = not exported. */
  private proto = new Int16Array(0);
  private dport = new Int32Array(0);
  private mask = -1;
  size = 0;
  constructor(private readonly cap: number) {
    this.alloc(64);
  }

  private alloc(slots: number): void {
    this.flows = new Uint32Array(slots);
    this.src = new Int32Array(slots);
    this.dst = new Int32Array(slots);
    this.bytes = new Float64Array(slots);
    this.packets = new Float64Array(slots);
    this.top = new Float64Array(slots);
    this.proto = new Int16Array(slots);
    this.dport = new Int32Array(slots);
    this.mask = slots - 1;
    this.size = 0;
  }

  /**
   * Account one record: `s`/`d` the addresses as int32 (`x | 0`), `bytes`/`packets` with
   * sampling applied, `raw` the record's own bytes.
   */
  add(s: number, d: number, bytes: number, packets: number, raw: number, v: RecordView): void {
    const { flows, src, dst, mask } = this;
    let i = Math.imul(s ^ Math.imul(d, 0x85ebca6b), 0x9e3779b1) >>> 0;
    i = (i ^ (i >>> 16)) & mask;
    while (flows[i] !== 0) {
      if (src[i] === s && dst[i] === d) {
        flows[i] = (flows[i] as number) + 1;
        this.bytes[i] = (this.bytes[i] as number) + bytes;
        this.packets[i] = (this.packets[i] as number) + packets;
        if (raw > (this.top[i] as number)) this.describe(i, raw, v);
        return;
      }
      i = (i + 1) & mask;
    }
    this.insert(i, s, d, bytes, packets, raw, v);
  }

  /** A new pair in free slot `i` (kept out of {@link add} so the hit path stays small enough to inline). */
  private insert(
    i: number,
    s: number,
    d: number,
    bytes: number,
    packets: number,
    raw: number,
    v: RecordView,
  ): void {
    this.flows[i] = 1;
    this.src[i] = s;
    this.dst[i] = d;
    this.bytes[i] = bytes;
    this.packets[i] = packets;
    this.describe(i, raw, v);
    if (++this.size > this.cap) this.rebuild(this.cap >> 1);
    else if (this.size * 2 > this.mask + 1) this.rebuild(Number.POSITIVE_INFINITY);
  }

  private describe(i: number, raw: number, v: RecordView): void {
    this.top[i] = raw;
    this.proto[i] = v.protocol ?? -1;
    this.dport[i] = v.dstPort ?? -1;
  }

  /** Every pair (unordered). */
  entries(): TalkerPair[] {
    const out: TalkerPair[] = [];
    for (let i = 0; i <= this.mask; i++) {
      if (this.flows[i] === 0) continue;
      const p = this.proto[i] as number;
      const dp = this.dport[i] as number;
      out.push({
        src: v4text(this.src[i] as number),
        dst: v4text(this.dst[i] as number),
        bytes: this.bytes[i] as number,
        packets: this.packets[i] as number,
        flows: this.flows[i] as number,
        protocol: p < 0 ? null : p,
        dstPort: dp < 0 ? null : dp,
      });
    }
    return out;
  }

  /** Re-insert into a table sized for the survivors: all of them, or only the heaviest `keep`. */
  private rebuild(keep: number): void {
    const o = {
      flows: this.flows,
      src: this.src,
      dst: this.dst,
      bytes: this.bytes,
      packets: this.packets,
      top: this.top,
      proto: this.proto,
      dport: this.dport,
    };
    const slots: number[] = [];
    for (let i = 0; i < o.flows.length; i++) if (o.flows[i] !== 0) slots.push(i);
    if (keep < slots.length) slots.sort((a, b) => (o.bytes[b] as number) - (o.bytes[a] as number));
    const n = Math.min(keep, slots.length);
    let size = 64;
    while (size < n * 2 + 2 && size < this.cap * 2) size *= 2;
    this.alloc(size);
    for (let k = 0; k < n; k++) {
      const f = slots[k] as number;
      const s = o.src[f] as number;
      const d = o.dst[f] as number;
      let i = Math.imul(s ^ Math.imul(d, 0x85ebca6b), 0x9e3779b1) >>> 0;
      i = (i ^ (i >>> 16)) & this.mask;
      while (this.flows[i] !== 0) i = (i + 1) & this.mask;
      this.flows[i] = o.flows[f] as number;
      this.src[i] = s;
      this.dst[i] = d;
      this.bytes[i] = o.bytes[f] as number;
      this.packets[i] = o.packets[f] as number;
      this.top[i] = o.top[f] as number;
      this.proto[i] = o.proto[f] as number;
      this.dport[i] = o.dport[f] as number;
    }
    this.size = n;
  }

  /** Forget every pair; the table keeps its size (the host's working set). */
  clear(): void {
    this.flows.fill(0);
    this.size = 0;
  }
}

class HostMinute {
  minute = -1;
  flows = 0;
  bytes = 0;
  packets = 0;
  /** Interface counters by ifIndex: a dense array for small indexes, a Map for the rest. */
  ifArr: Array<InterfaceCounters | undefined> = [];
  readonly ifMap = new Map<number, InterfaceCounters>();
  readonly pairs4: V4PairTable;
  /** Non-IPv4 pairs by `src dst` text. */
  readonly pairs6 = new Map<string, PairCounters>();
  constructor(
    readonly host: string,
    talkerCap: number,
  ) {
    this.pairs4 = new V4PairTable(talkerCap);
  }
}

/** Interface indexes below this use the dense array. */
const IF_DENSE = 4096;

function v4text(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Per host / interface / minute rollups with top talkers. */
export class FlowRollup {
  private readonly hosts = new Map<string, HostMinute>();
  private lastDomain: unknown = null;
  private lastHost: HostMinute | null = null;
  private closed: RollupMinute[] = [];
  private readonly topN: number;
  private readonly talkerCap: number;
  private readonly maxClosed: number;
  /** Closed minutes dropped because nobody drained them. */
  droppedMinutes = 0;
  /** Records that arrived for an already closed minute of their host. */
  lateRecords = 0;
  /** Host-minutes closed so far. */
  closedTotal = 0;

  constructor(opts: RollupOptions = {}) {
    this.topN = opts.topN ?? 20;
    this.talkerCap = opts.talkerCap ?? 16_384;
    this.maxClosed = opts.maxClosed ?? 10_000;
  }

  /** Account one flow record (options records are ignored). */
  add(v: RecordView): void {
    if (v.tpl.kind !== "flow") return;
    let h = this.lastHost;
    if (v.d !== this.lastDomain || h === null) {
      const name = v.exporter;
      h = this.hosts.get(name) ?? null;
      if (h === null) {
        h = new HostMinute(name, this.talkerCap);
        this.hosts.set(name, h);
      }
      this.lastDomain = v.d;
      this.lastHost = h;
    }
    const minute = Math.floor(v.exportMs / 60_000);
    if (minute !== h.minute) {
      if (h.minute >= 0 && minute < h.minute) {
        // A record for an already closed minute: counted, not merged.
        this.lateRecords++;
        return;
      }
      this.close(h);
      h.minute = minute;
    }
    const rate = v.samplingRate ?? 1;
    const raw = v.bytes ?? 0;
    const bytes = raw * rate;
    const packets = (v.packets ?? 0) * rate;
    h.flows++;
    h.bytes += bytes;
    h.packets += packets;
    const iin = v.inputIf;
    if (iin !== null) {
      const c = (iin < IF_DENSE ? h.ifArr[iin] : h.ifMap.get(iin)) ?? this.newIf(h, iin);
      c.inBytes += bytes;
      c.inPackets += packets;
    }
    const iout = v.outputIf;
    if (iout !== null) {
      const c = (iout < IF_DENSE ? h.ifArr[iout] : h.ifMap.get(iout)) ?? this.newIf(h, iout);
      c.outBytes += bytes;
      c.outPackets += packets;
    }
    const s4 = v.srcV4();
    const d4 = v.dstV4();
    // 0.0.0.0 in both IPv4 fields of a dual-stack template means the record is IPv6.
    if (s4 >= 0 && d4 >= 0 && (s4 !== 0 || d4 !== 0 || v.tpl.iSrc6 < 0)) {
      h.pairs4.add(s4 | 0, d4 | 0, bytes, packets, raw, v);
    } else {
      this.add6(h, v, bytes, packets);
    }
  }

  private add6(h: HostMinute, v: RecordView, bytes: number, packets: number): void {
    const s = v.srcAddr();
    const d = v.dstAddr();
    if (s === null || d === null) return;
    const t = h.pairs6;
    const key = `${s} ${d}`;
    const raw = v.bytes ?? 0;
    let c = t.get(key);
    if (c === undefined) {
      c = { bytes: 0, packets: 0, flows: 0, top: -1, protocol: -1, dstPort: -1 };
      t.set(key, c);
      if (t.size > this.talkerCap) this.prune(t);
    }
    c.bytes += bytes;
    c.packets += packets;
    c.flows++;
    if (raw > c.top) {
      c.top = raw;
      c.protocol = v.protocol ?? -1;
      c.dstPort = v.dstPort ?? -1;
    }
  }

  private newIf(h: HostMinute, ifIndex: number): InterfaceCounters {
    // Counters start as doubles so the object shape never changes representation.
    const c = { ifIndex, inBytes: 0.5, inPackets: 0.5, outBytes: 0.5, outPackets: 0.5 };
    c.inBytes = c.inPackets = c.outBytes = c.outPackets = 0;
    if (ifIndex < IF_DENSE) h.ifArr[ifIndex] = c;
    else h.ifMap.set(ifIndex, c);
    return c;
  }

  private prune(t: Map<string, PairCounters>): void {
    const keep = [...t.entries()].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, this.talkerCap >> 1);
    t.clear();
    for (const [k, c] of keep) t.set(k, c);
  }

  private close(h: HostMinute): void {
    if (h.minute < 0 || h.flows === 0) return;
    const all = h.pairs4.entries();
    for (const [k, c] of h.pairs6) {
      const [src = "", dst = ""] = k.split(" ");
      all.push({
        src,
        dst,
        bytes: c.bytes,
        packets: c.packets,
        flows: c.flows,
        protocol: c.protocol < 0 ? null : c.protocol,
        dstPort: c.dstPort < 0 ? null : c.dstPort,
      });
    }
    const top = all.sort(byBytes).slice(0, this.topN);
    this.closed.push({
      host: h.host,
      minute: new Date(h.minute * 60_000).toISOString(),
      flows: h.flows,
      bytes: h.bytes,
      packets: h.packets,
      interfaces: [...h.ifArr.filter((c) => c !== undefined), ...h.ifMap.values()].sort(
        (a, b) => a.ifIndex - b.ifIndex,
      ),
      topTalkers: top,
    });
    this.closedTotal++;
    if (this.closed.length > this.maxClosed) {
      this.closed.shift();
      this.droppedMinutes++;
    }
    h.flows = 0;
    h.bytes = 0;
    h.packets = 0;
    h.ifArr = [];
    h.ifMap.clear();
    h.pairs4.clear();
    h.pairs6.clear();
  }

  /** Close the current minute of every host (e.g. at shutdown). */
  closeAll(): void {
    for (const h of this.hosts.values()) {
      this.close(h);
      h.minute = -1;
    }
  }

  /** Take the closed minutes (oldest first). */
  drain(): RollupMinute[] {
    const out = this.closed;
    this.closed = [];
    return out;
  }
}

/**
 * One host-minute from partial counts of the same host and minute (several workers, or a
 * collector restarted within the minute): totals and interfaces summed, talkers merged (the
 * heaviest `topN`; a pair outside every part's top list is not recovered).
 */
export function mergeMinutes(parts: readonly RollupMinute[], topN = 20): RollupMinute {
  const first = parts[0];
  if (first === undefined) throw new RangeError("mergeMinutes: no parts");
  if (parts.length === 1) return first;
  const ifs = new Map<number, InterfaceCounters>();
  const out: RollupMinute = {
    host: first.host,
    minute: first.minute,
    flows: 0,
    bytes: 0,
    packets: 0,
    interfaces: [],
    topTalkers: mergeTalkers(
      parts.map((p) => (Array.isArray(p.topTalkers) ? p.topTalkers : [])),
      topN,
    ),
  };
  for (const p of parts) {
    out.flows += p.flows;
    out.bytes += p.bytes;
    out.packets += p.packets;
    for (const i of p.interfaces ?? []) {
      const c = ifs.get(i.ifIndex) ?? {
        ifIndex: i.ifIndex,
        inBytes: 0,
        inPackets: 0,
        outBytes: 0,
        outPackets: 0,
      };
      c.inBytes += i.inBytes;
      c.inPackets += i.inPackets;
      c.outBytes += i.outBytes;
      c.outPackets += i.outPackets;
      ifs.set(i.ifIndex, c);
    }
  }
  out.interfaces = [...ifs.values()].sort((a, b) => a.ifIndex - b.ifIndex);
  return out;
}

/** Heaviest first; equal bytes by src, then dst (a stable order for tests and tables). */
function byBytes(a: TalkerPair, b: TalkerPair): number {
  return (
    b.bytes - a.bytes || (a.src < b.src ? -1 : a.src > b.src ? 1 : a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0)
  );
}

/**
 * Merge the top-talker lists of several host-minutes (e.g. a query window): pairs summed,
 * protocol/port of the pair taken from its heaviest contribution, the heaviest `n` returned.
 * Entries that are not pairs (minutes stored before pairs existed: `{addr, bytes}`) are skipped.
 */
export function mergeTalkers(lists: Iterable<readonly unknown[]>, n: number): TalkerPair[] {
  const sum = new Map<string, { p: TalkerPair; heaviest: number }>();
  for (const list of lists) {
    for (const x of list) {
      if (!isTalkerPair(x)) continue;
      const key = `${x.src} ${x.dst}`;
      const m = sum.get(key);
      if (m === undefined) {
        const p: TalkerPair = {
          src: x.src,
          dst: x.dst,
          bytes: x.bytes,
          packets: x.packets,
          flows: x.flows,
          protocol: x.protocol,
          dstPort: x.dstPort,
        };
        sum.set(key, { p, heaviest: x.bytes });
        continue;
      }
      m.p.bytes += x.bytes;
      m.p.packets += x.packets;
      m.p.flows += x.flows;
      if (x.bytes > m.heaviest) {
        m.heaviest = x.bytes;
        m.p.protocol = x.protocol;
        m.p.dstPort = x.dstPort;
      }
    }
  }
  return [...sum.values()]
    .map((m) => m.p)
    .sort(byBytes)
    .slice(0, n);
}

function isTalkerPair(x: unknown): x is TalkerPair {
  if (typeof x !== "object" || x === null) return false;
  const t = x as Record<string, unknown>;
  const numOrNull = (v: unknown) => v === null || typeof v === "number";
  return (
    typeof t.src === "string" &&
    typeof t.dst === "string" &&
    typeof t.bytes === "number" &&
    typeof t.packets === "number" &&
    typeof t.flows === "number" &&
    numOrNull(t.protocol) &&
    numOrNull(t.dstPort)
  );
}
