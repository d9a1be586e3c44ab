/**
 * RecordView: a cursor over one decoded record, reused for every record of a decode() call.
 * Summary getters (addresses, ports, counters, times, sampling) read straight from the packet
 * at precompiled offsets; `toRecord()` materialises the JSON object with every field.
 */

import { ipv4, ipv6 } from "./addr.js";
import type { DomainState } from "./decoder.js";
import type { IeKind } from "./ie.js";
import { fieldKey, ieInfo } from "./ie.js";
import type { Template } from "./template.js";
import { V9_SCOPE_PEN, VARLEN } from "./template.js";

/** One decoded record as JSON (the `fleetnet flows decode --json` line format). */
export interface FlowRecord {
  /** Exporter address (UDP source of the export packet). */
  exporter: string;
  version: 5 | 9 | 10;
  /** v9 source id / IPFIX observation domain / v5 engine (type << 8 | id). */
  domain: number;
  /** Template id (v5: 0). */
  templateId: number;
  kind: "flow" | "options";
  srcAddr: string | null;
  dstAddr: string | null;
  srcPort: number | null;
  dstPort: number | null;
  protocol: number | null;
  /** As exported: not scaled by the sampling rate. */
  bytes: number | null;
  /** As exported: not scaled by the sampling rate. */
  packets: number | null;
  /** ISO 8601 flow start/end, or null if the record has no usable time. */
  start: string | null;
  end: string | null;
  /** 1-in-N sampling that applies to this record, or null if the exporter announced none. */
  samplingRate: number | null;
  inputIf: number | null;
  outputIf: number | null;
  /** Every field: IANA name when known, else the number (`"400"`) or `"<pen>.<id>"`. */
  fields: Record<string, unknown>;
}

const NTP_UNIX_OFFSET_S = 2208988800;
const V9_SCOPE_NAMES = [
  "scope0",
  "scopeSystem",
  "scopeInterface",
  "scopeLineCard",
  "scopeCache",
  "scopeTemplate",
];

const UTF8 = new TextDecoder("utf-8", { fatal: false });

/** Per-template JSON keys (null = skipped padding) and renderings, computed once per template. */
const META = new WeakMap<Template, { keys: Array<string | null>; kinds: Array<IeKind | null> }>();
function fieldMeta(t: Template): { keys: Array<string | null>; kinds: Array<IeKind | null> } {
  let m = META.get(t);
  if (m === undefined) {
    m = { keys: [], kinds: [] };
    for (let i = 0; i < t.n; i++) {
      const pen = t.pens[i] as number;
      const id = t.ids[i] as number;
      if (pen === V9_SCOPE_PEN) {
        m.keys.push(V9_SCOPE_NAMES[id] ?? `scope${id}`);
        m.kinds.push("uint");
      } else {
        m.keys.push(id === 210 && pen === 0 ? null : fieldKey(id, pen));
        m.kinds.push(ieInfo(id, pen)?.kind ?? null);
      }
    }
    META.set(t, m);
  }
  return m;
}

/** Sampling rate a record announces (1-in-N), or null. Used for options (sampler) records. */
export function rateOf(v: RecordView): number | null {
  const t = v.tpl;
  if (t.iPopulation >= 0 && t.iSize >= 0) {
    const size = v.uintAt(t.iSize);
    if (size > 0) return v.uintAt(t.iPopulation) / size;
  }
  if (t.iInterval >= 0) {
    const iv = v.uintAt(t.iInterval);
    if (iv > 0 && t.ids[t.iInterval] === 305 && t.iSpace >= 0) return (iv + v.uintAt(t.iSpace)) / iv;
    if (iv > 0) return iv;
  }
  return null;
}

function hex(dv: DataView, off: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++)
    s += dv
      .getUint8(off + i)
      .toString(16)
      .padStart(2, "0");
  return s;
}

function iso(ms: number | null): string | null {
  if (ms === null || !Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return null;
  return new Date(ms).toISOString();
}

/** A cursor over one record. Valid only inside the sink call; copy what you keep. */
export class RecordView {
  dv: DataView = new DataView(new ArrayBuffer(0));
  d!: DomainState;
  tpl!: Template;
  /** Export time of the packet (ms since epoch). */
  exportMs = 0;
  /** v5/v9 header sysUptime (ms). */
  sysUptime = 0;
  private base = 0;
  private offs: Int32Array = new Int32Array(0);
  private lens: Int32Array = new Int32Array(0);
  private scratchOffs = new Int32Array(64);
  private scratchLens = new Int32Array(64);

  /** @internal Point at a template/packet. */
  bind(dv: DataView, d: DomainState, t: Template, exportMs: number, sysUptime: number): void {
    this.dv = dv;
    this.d = d;
    this.tpl = t;
    this.exportMs = exportMs;
    this.sysUptime = sysUptime;
    this.offs = t.offs;
    this.lens = t.lens;
    if (t.n > this.scratchOffs.length) {
      this.scratchOffs = new Int32Array(t.n);
      this.scratchLens = new Int32Array(t.n);
    }
  }

  /** @internal Fixed-length record at `off`. */
  at(off: number): void {
    this.base = off;
  }

  /** @internal Variable-length record at `off`: frames it, returns the next offset or -1 if it overruns `end`. */
  atVar(off: number, end: number): number {
    const t = this.tpl;
    const dv = this.dv;
    const so = this.scratchOffs;
    const sl = this.scratchLens;
    for (let i = 0; i < t.n; i++) {
      let l = t.lens[i] as number;
      if (l === VARLEN) {
        if (off + 1 > end) return -1;
        l = dv.getUint8(off++);
        if (l === 255) {
          if (off + 2 > end) return -1;
          l = dv.getUint16(off);
          off += 2;
        }
      }
      if (off + l > end) return -1;
      so[i] = off;
      sl[i] = l;
      off += l;
    }
    this.base = 0;
    this.offs = so;
    this.lens = sl;
    return off;
  }

  get exporter(): string {
    return this.d.exporter;
  }
  get version(): number {
    return this.d.version;
  }
  get domain(): number {
    return this.d.domain;
  }

  /** Byte offset of field `i` in the packet. */
  offsetOf(i: number): number {
    return this.base + (this.offs[i] as number);
  }
  /** Length of field `i` in this record. */
  lengthOf(i: number): number {
    return this.lens[i] as number;
  }

  /** Field `i` as an unsigned integer (any length 0..8; 0 for empty; longer fields read their last 8 bytes). */
  uintAt(i: number): number {
    const dv = this.dv;
    let o = this.base + (this.offs[i] as number);
    let l = this.lens[i] as number;
    switch (l) {
      case 1:
        return dv.getUint8(o);
      case 2:
        return dv.getUint16(o);
      case 4:
        return dv.getUint32(o);
      case 8:
        return dv.getUint32(o) * 4294967296 + dv.getUint32(o + 4);
      case 0:
        return 0;
    }
    if (l > 8) {
      o += l - 8;
      l = 8;
    }
    let v = 0;
    for (let k = 0; k < l; k++) v = v * 256 + dv.getUint8(o + k);
    return v;
  }

  private num(i: number): number | null {
    return i < 0 || this.lens[i] === 0 ? null : this.uintAt(i);
  }
  /** Address field `i`; with `alt` (the IPv6 twin of an IPv4 field), the one that is not zero. */
  private addr(i: number, alt = -1): string | null {
    if (i < 0) return null;
    if (alt >= 0 && this.lens[alt] === 16 && (this.lens[i] !== 4 || this.uintAt(i) === 0)) {
      const o = this.offsetOf(alt);
      if (
        this.dv.getUint32(o) |
        this.dv.getUint32(o + 4) |
        this.dv.getUint32(o + 8) |
        this.dv.getUint32(o + 12)
      )
        i = alt;
    }
    const l = this.lens[i];
    if (l === 4) return ipv4(this.dv, this.offsetOf(i));
    if (l === 16) return ipv6(this.dv, this.offsetOf(i));
    return null;
  }

  get kind(): "flow" | "options" {
    return this.tpl.kind;
  }
  get bytes(): number | null {
    return this.num(this.tpl.iBytes);
  }
  get packets(): number | null {
    return this.num(this.tpl.iPkts);
  }
  get srcPort(): number | null {
    return this.num(this.tpl.iSport);
  }
  get dstPort(): number | null {
    return this.num(this.tpl.iDport);
  }
  get protocol(): number | null {
    return this.num(this.tpl.iProto);
  }
  get inputIf(): number | null {
    return this.num(this.tpl.iIn);
  }
  get outputIf(): number | null {
    return this.num(this.tpl.iOut);
  }
  srcAddr(): string | null {
    return this.addr(this.tpl.iSrc, this.tpl.iSrc6);
  }
  dstAddr(): string | null {
    return this.addr(this.tpl.iDst, this.tpl.iDst6);
  }
  /** IPv4 source as a 32-bit number (cheap key), or -1 when the source is not IPv4. */
  srcV4(): number {
    const i = this.tpl.iSrc;
    return i >= 0 && this.lens[i] === 4 ? this.uintAt(i) : -1;
  }
  /** IPv4 destination as a 32-bit number, or -1. */
  dstV4(): number {
    const i = this.tpl.iDst;
    return i >= 0 && this.lens[i] === 4 ? this.uintAt(i) : -1;
  }

  /** 1-in-N sampling for this record: its own fields, its sampler's table entry, or the domain default. */
  get samplingRate(): number | null {
    const t = this.tpl;
    if (t.iInterval >= 0 || t.iPopulation >= 0) {
      const r = rateOf(this);
      if (r !== null) return r;
    }
    if (t.iSampler >= 0 && t.kind === "flow") {
      const r = this.d.samplers.get(this.uintAt(t.iSampler));
      if (r !== undefined) return r;
    }
    return this.d.defaultRate;
  }

  private absTime(i: number): number | null {
    if (i < 0) return null;
    const l = this.lens[i];
    const o = this.offsetOf(i);
    const id = this.tpl.ids[i] as number;
    if (id === 150 || id === 151) return l === 4 ? this.dv.getUint32(o) * 1000 : null;
    if (id === 152 || id === 153) return l === 8 ? this.uintAt(i) : null;
    if (l !== 8) return null;
    const sec = this.dv.getUint32(o);
    const frac = this.dv.getUint32(o + 4);
    return (sec - NTP_UNIX_OFFSET_S) * 1000 + Math.floor((frac / 4294967296) * 1000);
  }

  private upTime(i: number): number | null {
    if (i < 0 || this.lens[i] === 0) return null;
    const v = this.uintAt(i);
    if (this.d.version !== 10) return this.exportMs - this.sysUptime + v;
    const init = this.tpl.iSysInit >= 0 ? this.uintAt(this.tpl.iSysInit) : this.d.sysInitMs;
    return init === null ? null : init + v;
  }

  /** Flow start, ms since the epoch (absolute, NTP, uptime-relative or delta fields), or null. */
  startMs(): number | null {
    const t = this.tpl;
    if (t.iStartAbs >= 0) return this.absTime(t.iStartAbs);
    if (t.iFirstUp >= 0) return this.upTime(t.iFirstUp);
    if (t.iStartDelta >= 0) return this.exportMs - Math.floor(this.uintAt(t.iStartDelta) / 1000);
    return null;
  }

  /** Flow end, ms since the epoch, or null. */
  endMs(): number | null {
    const t = this.tpl;
    if (t.iEndAbs >= 0) return this.absTime(t.iEndAbs);
    if (t.iLastUp >= 0) return this.upTime(t.iLastUp);
    if (t.iEndDelta >= 0) return this.exportMs - Math.floor(this.uintAt(t.iEndDelta) / 1000);
    if (t.iDurMs >= 0) {
      const s = this.startMs();
      return s === null ? null : s + this.uintAt(t.iDurMs);
    }
    return null;
  }

  /** Field `i` rendered for JSON. */
  valueAt(i: number): unknown {
    const t = this.tpl;
    const l = this.lens[i] as number;
    const o = this.offsetOf(i);
    const dv = this.dv;
    if (l === 0) return null;
    const kind: IeKind | null = fieldMeta(t).kinds[i] ?? null;
    switch (kind) {
      case "uint":
        if (l > 8) return hex(dv, o, l);
        if (l === 8 && dv.getUint32(o) >= 0x200000) {
          return (BigInt(dv.getUint32(o)) * 4294967296n + BigInt(dv.getUint32(o + 4))).toString();
        }
        return this.uintAt(i);
      case "ipv4":
        return l === 4 ? ipv4(dv, o) : hex(dv, o, l);
      case "ipv6":
        return l === 16 ? ipv6(dv, o) : hex(dv, o, l);
      case "mac":
        return l === 6 ? hex(dv, o, 6).replace(/(..)(?!$)/g, "$1:") : hex(dv, o, l);
      case "string": {
        const bytes = new Uint8Array(dv.buffer, dv.byteOffset + o, l);
        return UTF8.decode(bytes).replace(/\0+$/, "");
      }
      case "dtSec":
      case "dtMs":
      case "dtNtp":
        return iso(this.absTime(i)) ?? hex(dv, o, l);
      case "float":
        return l === 8 ? dv.getFloat64(o) : l === 4 ? dv.getFloat32(o) : hex(dv, o, l);
      default:
        return hex(dv, o, l);
    }
  }

  /** Materialise the whole record (every field) as a {@link FlowRecord}. */
  toRecord(): FlowRecord {
    const t = this.tpl;
    const fields: Record<string, unknown> = {};
    const meta = fieldMeta(t);
    for (let i = 0; i < t.n; i++) {
      const key = meta.keys[i];
      if (key === null || key === undefined) continue; // paddingOctets
      const v = this.valueAt(i);
      const prev = fields[key];
      if (prev === undefined) fields[key] = v;
      else if (Array.isArray(prev)) prev.push(v);
      else fields[key] = [prev, v];
    }
    return {
      exporter: this.d.exporter,
      version: this.d.version as 5 | 9 | 10,
      domain: this.d.domain,
      templateId: t.id,
      kind: t.kind,
      srcAddr: this.srcAddr(),
      dstAddr: this.dstAddr(),
      srcPort: this.srcPort,
      dstPort: this.dstPort,
      protocol: this.protocol,
      bytes: this.bytes,
      packets: this.packets,
      start: iso(this.startMs()),
      end: iso(this.endMs()),
      samplingRate: this.samplingRate,
      inputIf: this.inputIf,
      outputIf: this.outputIf,
      fields,
    };
  }
}
