/**
 * Flow rollups: per exporting host, per minute — totals, per-interface in/out counters, and the
 * top talkers (source addresses by bytes). Sampling is applied here (counters × 1-in-N rate), the
 * records themselves stay as exported.
 *
 * Hot path (`add`, once per record) touches only numbers, the interface Map (small integer keys)
 * and a typed-array hash table for IPv4 talkers. The talker tables are bounded: past `talkerCap`
 * entries they are pruned to the heaviest half (the top talkers of a minute are heavy hitters,
 * which survive pruning; light ones may be under-counted).
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
  topTalkers: Array<{ addr: string; bytes: number }>;
}

/** Tunables of {@link FlowRollup}. */
export interface RollupOptions {
  /** Talkers kept per host-minute in the result (default 10). */
  topN?: number;
  /** Talker table size that triggers pruning (default 16 384). */
  talkerCap?: number;
  /** Closed minutes kept until drained (default 10 000; older ones are dropped and counted). */
  maxClosed?: number;
}

/**
 * Byte counts per IPv4 address in an open-addressing table (typed arrays, linear probing):
 * no allocation per record, unlike a Map whose keys above 2^30 are heap numbers.
 */
class V4Counter {
  private keys: Uint32Array;
  private vals: Float64Array;
  private used: Uint8Array;
  private mask: number;
  size = 0;
  constructor(private readonly cap: number) {
    let slots = 16;
    while (slots < cap * 2) slots *= 2;
    this.keys = new Uint32Array(slots);
    this.vals = new Float64Array(slots);
    this.used = new Uint8Array(slots);
    this.mask = slots - 1;
  }
  add(k: number, v: number): void {
    const { keys, used, mask } = this;
    let i = Math.imul(k, 0x9e3779b1) >>> 0;
    i = (i ^ (i >>> 16)) & mask;
    while (used[i] === 1) {
      if (keys[i] === k) {
        this.vals[i] = (this.vals[i] as number) + v;
        return;
      }
      i = (i + 1) & mask;
    }
    used[i] = 1;
    keys[i] = k;
    this.vals[i] = v;
    if (++this.size > this.cap) this.prune();
  }
  entries(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i <= this.mask; i++)
      if (this.used[i] === 1) out.push([this.keys[i] as number, this.vals[i] as number]);
    return out;
  }
  private prune(): void {
    // Keep the heaviest half; the heavy hitters of a minute survive.
    const keep = this.entries()
      .sort((a, b) => b[1] - a[1])
      .slice(0, this.cap >> 1);
    this.clear();
    for (const [k, v] of keep) this.add(k, v);
  }
  clear(): void {
    this.used.fill(0);
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
  readonly talkers4: V4Counter;
  readonly talkers6 = new Map<string, number>();
  constructor(
    readonly host: string,
    talkerCap: number,
  ) {
    this.talkers4 = new V4Counter(talkerCap);
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
    this.topN = opts.topN ?? 10;
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
    const bytes = (v.bytes ?? 0) * rate;
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
    const v4 = v.srcV4();
    if (v4 >= 0) {
      h.talkers4.add(v4, bytes);
    } else {
      const a = v.srcAddr();
      if (a !== null) {
        const t = h.talkers6;
        t.set(a, (t.get(a) ?? 0) + bytes);
        if (t.size > this.talkerCap) this.prune(t);
      }
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

  private prune(t: Map<string, number>): void {
    const keep = [...t.entries()].sort((a, b) => b[1] - a[1]).slice(0, this.talkerCap >> 1);
    t.clear();
    for (const [k, b] of keep) t.set(k, b);
  }

  private close(h: HostMinute): void {
    if (h.minute < 0 || h.flows === 0) return;
    const all: Array<[string, number]> = h.talkers4.entries().map(([k, b]) => [v4text(k), b]);
    for (const e of h.talkers6) all.push(e);
    const top = all
      .sort((a, b) => b[1] - a[1])
      .slice(0, this.topN)
      .map(([addr, bytes]) => ({ addr, bytes }));
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
    h.talkers4.clear();
    h.talkers6.clear();
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
