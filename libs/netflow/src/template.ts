/**
 * Compiled templates. A template is compiled once when it arrives: field ids/lengths go into
 * typed arrays, fixed offsets are precomputed (until the first variable-length field), and the
 * index of each field the flow summary needs (addresses, ports, counters, interfaces, times,
 * sampling) is resolved up front, so decoding a record is a handful of reads at known offsets.
 */

/** Length value announcing a variable-length field (RFC 7011 §7; some v9 vendors use it too). */
export const VARLEN = 0xffff;

/**
 * Pseudo enterprise number for NetFlow v9 options *scope* fields, whose type numbers
 * (1 System, 2 Interface, 3 Line card, 4 Cache, 5 Template) collide with information elements.
 */
export const V9_SCOPE_PEN = 0xffffffff;

/** One field of a template: information element id, enterprise number (0 = IANA), length. */
export interface TemplateField {
  readonly id: number;
  readonly pen: number;
  /** Bytes; {@link VARLEN} for variable length. */
  readonly len: number;
}

/** A template as persisted/restored (JSON-safe). */
export interface TemplateSnapshot {
  /** Domain key (exporter + version + source id / observation domain). */
  readonly key: string;
  readonly id: number;
  readonly scopeCount: number;
  readonly fields: ReadonlyArray<readonly [id: number, pen: number, len: number]>;
}

function find(ids: Uint16Array, pens: Uint32Array, from: number, to: number, ...want: number[]): number {
  for (const w of want) {
    for (let i = from; i < to; i++) if (ids[i] === w && pens[i] === 0) return i;
  }
  return -1;
}

/** A compiled (options) template. Immutable once built; redefinition replaces the object. */
export class Template {
  readonly n: number;
  readonly ids: Uint16Array;
  readonly pens: Uint32Array;
  /** Declared lengths ({@link VARLEN} for variable); Int32Array so the view reads one array type. */
  readonly lens: Int32Array;
  /** Record length when every field is fixed, else -1. */
  readonly fixedLen: number;
  /** Smallest possible record (a variable-length field counts 1 byte). 0 = template can't frame records. */
  readonly minLen: number;
  /** Offsets of fields inside a record (valid for all fields when fixedLen >= 0). */
  readonly offs: Int32Array;
  readonly kind: "flow" | "options";
  // Indexes of the fields the summary uses (-1 = absent).
  readonly iSrc: number;
  readonly iDst: number;
  /** IPv6 source/destination when the template has both families (iSrc/iDst are then IPv4). */
  readonly iSrc6: number;
  readonly iDst6: number;
  readonly iSport: number;
  readonly iDport: number;
  readonly iProto: number;
  readonly iBytes: number;
  readonly iPkts: number;
  readonly iIn: number;
  readonly iOut: number;
  readonly iFirstUp: number;
  readonly iLastUp: number;
  readonly iStartAbs: number;
  readonly iEndAbs: number;
  readonly iStartDelta: number;
  readonly iEndDelta: number;
  readonly iDurMs: number;
  readonly iSysInit: number;
  readonly iSampler: number;
  readonly iInterval: number;
  readonly iSpace: number;
  readonly iPopulation: number;
  readonly iSize: number;

  constructor(
    readonly id: number,
    readonly scopeCount: number,
    readonly fields: readonly TemplateField[],
  ) {
    const n = fields.length;
    this.n = n;
    this.kind = scopeCount > 0 ? "options" : "flow";
    this.ids = new Uint16Array(n);
    this.pens = new Uint32Array(n);
    this.lens = new Int32Array(n);
    this.offs = new Int32Array(n);
    let off = 0;
    let min = 0;
    let varlen = false;
    for (let i = 0; i < n; i++) {
      const f = fields[i] as TemplateField;
      this.ids[i] = f.id;
      this.pens[i] = f.pen;
      this.lens[i] = f.len;
      this.offs[i] = varlen ? -1 : off;
      if (f.len === VARLEN) {
        varlen = true;
        min += 1;
      } else {
        off += f.len;
        min += f.len;
      }
    }
    this.fixedLen = varlen ? -1 : off;
    this.minLen = min;
    const { ids, pens } = this;
    // Scope fields are never the flow's own values; search only the non-scope part.
    const s = scopeCount;
    this.iSrc = find(ids, pens, s, n, 8, 27);
    this.iDst = find(ids, pens, s, n, 12, 28);
    this.iSrc6 = this.iSrc >= 0 && ids[this.iSrc] === 8 ? find(ids, pens, s, n, 27) : -1;
    this.iDst6 = this.iDst >= 0 && ids[this.iDst] === 12 ? find(ids, pens, s, n, 28) : -1;
    this.iSport = find(ids, pens, s, n, 7, 180, 182);
    this.iDport = find(ids, pens, s, n, 11, 181, 183);
    this.iProto = find(ids, pens, s, n, 4);
    this.iBytes = find(ids, pens, s, n, 1, 85);
    this.iPkts = find(ids, pens, s, n, 2, 86);
    this.iIn = find(ids, pens, s, n, 10, 252);
    this.iOut = find(ids, pens, s, n, 14, 253);
    this.iFirstUp = find(ids, pens, s, n, 22);
    this.iLastUp = find(ids, pens, s, n, 21);
    this.iStartAbs = find(ids, pens, s, n, 152, 150, 154, 156);
    this.iEndAbs = find(ids, pens, s, n, 153, 151, 155, 157);
    this.iStartDelta = find(ids, pens, s, n, 158);
    this.iEndDelta = find(ids, pens, s, n, 159);
    this.iDurMs = find(ids, pens, s, n, 161);
    this.iSysInit = find(ids, pens, 0, n, 160);
    // A sampler id may be a scope field of an options record (the sampler table key).
    this.iSampler = find(ids, pens, 0, n, 48, 302);
    this.iInterval = find(ids, pens, 0, n, 34, 50, 305);
    this.iSpace = find(ids, pens, 0, n, 306);
    this.iPopulation = find(ids, pens, 0, n, 310);
    this.iSize = find(ids, pens, 0, n, 309);
  }

  /** Same field list and scope? (a resend is not a redefinition) */
  sameAs(o: Template): boolean {
    if (o.n !== this.n || o.scopeCount !== this.scopeCount) return false;
    for (let i = 0; i < this.n; i++) {
      if (o.ids[i] !== this.ids[i] || o.pens[i] !== this.pens[i] || o.lens[i] !== this.lens[i]) return false;
    }
    return true;
  }
}
