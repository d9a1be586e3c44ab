/**
 * Table tests on hand-built export packets: each tricky case the decoder must survive, on real bytes.
 */
import { describe, expect, it } from "vitest";
import type { FlowRecord } from "./index.js";
import { NetflowDecoder } from "./index.js";

// ---- packet builders ------------------------------------------------------------------------
const u16 = (n: number) => [(n >> 8) & 255, n & 255];
const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const u64 = (n: number) => [...u32(Math.floor(n / 2 ** 32)), ...u32(n >>> 0)];
const ip = (a: string) => a.split(".").map(Number);
const set = (id: number, body: number[]) => [...u16(id), ...u16(4 + body.length), ...body];
/** Template record: [ie, len] or [ie, len, pen]. */
const tpl = (id: number, fields: Array<[number, number, number?]>) => [
  ...u16(id),
  ...u16(fields.length),
  ...fields.flatMap(([ie, len, pen]) =>
    pen === undefined ? [...u16(ie), ...u16(len)] : [...u16(ie | 0x8000), ...u16(len), ...u32(pen)],
  ),
];
const ipfixOptTpl = (id: number, scope: number, fields: Array<[number, number]>) => [
  ...u16(id),
  ...u16(fields.length),
  ...u16(scope),
  ...fields.flatMap(([ie, len]) => [...u16(ie), ...u16(len)]),
];
const v9OptTpl = (id: number, scope: Array<[number, number]>, opts: Array<[number, number]>) => [
  ...u16(id),
  ...u16(scope.length * 4),
  ...u16(opts.length * 4),
  ...scope.flatMap(([t, l]) => [...u16(t), ...u16(l)]),
  ...opts.flatMap(([t, l]) => [...u16(t), ...u16(l)]),
];
const V9_SECS = 1_700_000_000;
function v9(seq: number, srcId: number, sets: number[][], uptime = 100_000): Uint8Array {
  return Uint8Array.from([
    ...u16(9),
    ...u16(sets.length),
    ...u32(uptime),
    ...u32(V9_SECS),
    ...u32(seq),
    ...u32(srcId),
    ...sets.flat(),
  ]);
}
function ipfix(seq: number, dom: number, sets: number[][], exportSecs = V9_SECS): Uint8Array {
  const body = sets.flat();
  return Uint8Array.from([
    ...u16(10),
    ...u16(16 + body.length),
    ...u32(exportSecs),
    ...u32(seq),
    ...u32(dom),
    ...body,
  ]);
}
/** A common flow template: src, dst, sport, dport, proto, bytes, packets, in, out. */
const FLOW: Array<[number, number]> = [
  [8, 4],
  [12, 4],
  [7, 2],
  [11, 2],
  [4, 1],
  [1, 4],
  [2, 4],
  [10, 2],
  [14, 2],
];
const flow = (src: string, dst: string, sp: number, dp: number, bytes: number, pkts: number) => [
  ...ip(src),
  ...ip(dst),
  ...u16(sp),
  ...u16(dp),
  6,
  ...u32(bytes),
  ...u32(pkts),
  ...u16(3),
  ...u16(4),
];

function run(
  dec: NetflowDecoder,
  pkt: Uint8Array,
  exporter = "192.0.2.1",
  port = 40000,
  now = 1000,
): FlowRecord[] {
  const out: FlowRecord[] = [];
  dec.decode(pkt, exporter, port, (r) => out.push(r.toRecord()), now);
  return out;
}

// ---- tests ----------------------------------------------------------------------------------
describe("NetFlow v5", () => {
  it("decodes records, header sampling and uptime-relative times", () => {
    const rec = [
      ...ip("10.0.0.1"),
      ...ip("10.0.0.2"),
      ...ip("10.0.0.254"),
      ...u16(1),
      ...u16(2),
      ...u32(5),
      ...u32(500),
      ...u32(90_000),
      ...u32(99_000),
      ...u16(1234),
      ...u16(80),
      0,
      0x18,
      6,
      0,
      ...u16(65001),
      ...u16(65002),
      24,
      24,
      0,
      0,
    ];
    const pkt = Uint8Array.from([
      ...u16(5),
      ...u16(2),
      ...u32(100_000),
      ...u32(V9_SECS),
      ...u32(0),
      ...u32(77),
      0,
      1,
      ...u16(0x4000 | 1000),
      ...rec,
      ...rec,
    ]);
    const dec = new NetflowDecoder();
    const r = run(dec, pkt);
    expect(r).toHaveLength(2);
    expect(r[0]).toMatchObject({
      version: 5,
      domain: 1,
      templateId: 0,
      kind: "flow",
      srcAddr: "10.0.0.1",
      dstAddr: "10.0.0.2",
      srcPort: 1234,
      dstPort: 80,
      protocol: 6,
      bytes: 500,
      packets: 5,
      inputIf: 1,
      outputIf: 2,
      samplingRate: 1000,
      start: new Date(V9_SECS * 1000 - 10_000).toISOString(),
      end: new Date(V9_SECS * 1000 - 1000).toISOString(),
    });
    expect(r[0]?.fields.bgpSourceAsNumber).toBe(65001);
    // A header count larger than the packet: decode what is there, count the error.
    const lying = Uint8Array.from(pkt);
    lying.set(u16(30), 2);
    expect(run(dec, lying)).toHaveLength(2);
    expect(dec.stats.errors.V5_COUNT_MISMATCH).toBe(1);
  });
});

describe("templates", () => {
  it("v9 template + data, uptime-relative timestamps", () => {
    const dec = new NetflowDecoder();
    const t = tpl(256, [...FLOW, [22, 4], [21, 4]]);
    const d = [...flow("10.1.1.1", "10.2.2.2", 5000, 443, 1500, 3), ...u32(95_000), ...u32(99_500)];
    const r = run(dec, v9(1, 7, [set(0, t), set(256, d)]));
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({
      exporter: "192.0.2.1",
      version: 9,
      domain: 7,
      templateId: 256,
      srcAddr: "10.1.1.1",
      dstAddr: "10.2.2.2",
      srcPort: 5000,
      dstPort: 443,
      protocol: 6,
      bytes: 1500,
      packets: 3,
      inputIf: 3,
      outputIf: 4,
      samplingRate: null,
      start: new Date(V9_SECS * 1000 - 5000).toISOString(),
      end: new Date(V9_SECS * 1000 - 500).toISOString(),
    });
  });

  it("keys templates per exporter and source id; IPFIX also per transport session (source port)", () => {
    const dec = new NetflowDecoder();
    const small = tpl(300, [
      [8, 4],
      [1, 2],
    ]);
    const big = tpl(300, [
      [8, 4],
      [1, 4],
    ]);
    run(dec, v9(1, 1, [set(0, small)]), "192.0.2.1");
    run(dec, v9(1, 2, [set(0, big)]), "192.0.2.1");
    run(dec, v9(1, 1, [set(0, big)]), "192.0.2.9");
    expect(run(dec, v9(2, 1, [set(300, [...ip("1.1.1.1"), ...u16(7)])]), "192.0.2.1")[0]?.bytes).toBe(7);
    expect(run(dec, v9(2, 2, [set(300, [...ip("1.1.1.1"), ...u32(70000)])]), "192.0.2.1")[0]?.bytes).toBe(
      70000,
    );
    expect(run(dec, v9(2, 1, [set(300, [...ip("1.1.1.1"), ...u32(9)])]), "192.0.2.9")[0]?.bytes).toBe(9);
    // IPFIX: the same exporter from another source port is another session: template unknown there.
    run(dec, ipfix(0, 5, [set(2, big)]), "192.0.2.1", 1111);
    expect(run(dec, ipfix(0, 5, [set(300, [...ip("1.1.1.1"), ...u32(5)])]), "192.0.2.1", 2222)).toHaveLength(
      0,
    );
    expect(run(dec, ipfix(0, 5, [set(300, [...ip("1.1.1.1"), ...u32(5)])]), "192.0.2.1", 1111)).toHaveLength(
      1,
    );
  });

  it("redefinition replaces the layout; a resend is not a redefinition", () => {
    const dec = new NetflowDecoder();
    run(
      dec,
      v9(1, 0, [
        set(
          0,
          tpl(256, [
            [8, 4],
            [1, 4],
          ]),
        ),
      ]),
    );
    run(
      dec,
      v9(2, 0, [
        set(
          0,
          tpl(256, [
            [8, 4],
            [1, 4],
          ]),
        ),
      ]),
    );
    expect(dec.stats.templatesRedefined).toBe(0);
    run(
      dec,
      v9(3, 0, [
        set(
          0,
          tpl(256, [
            [1, 4],
            [8, 4],
          ]),
        ),
      ]),
    );
    expect(dec.stats.templatesRedefined).toBe(1);
    const r = run(dec, v9(4, 0, [set(256, [...u32(42), ...ip("9.9.9.9")])]));
    expect(r[0]).toMatchObject({ bytes: 42, srcAddr: "9.9.9.9" });
  });

  it("IPFIX withdrawal of one template and of all templates", () => {
    const dec = new NetflowDecoder();
    run(dec, ipfix(0, 1, [set(2, [...tpl(256, [[8, 4]]), ...tpl(257, [[12, 4]])])]));
    expect(run(dec, ipfix(0, 1, [set(256, ip("1.2.3.4"))]))).toHaveLength(1);
    run(dec, ipfix(1, 1, [set(2, [...u16(256), ...u16(0)])]));
    expect(dec.stats.templatesWithdrawn).toBe(1);
    expect(run(dec, ipfix(1, 1, [set(256, ip("1.2.3.4"))]))).toHaveLength(0);
    expect(run(dec, ipfix(1, 1, [set(257, ip("1.2.3.4"))]))).toHaveLength(1);
    run(dec, ipfix(2, 1, [set(2, [...u16(2), ...u16(0)])])); // all data templates
    expect(dec.stats.templatesWithdrawn).toBe(2);
    expect(run(dec, ipfix(2, 1, [set(257, ip("1.2.3.4"))]))).toHaveLength(0);
  });

  it("buffers data that arrives before its template (other packet, same packet) and expires it", () => {
    const dec = new NetflowDecoder({ pendingMaxAgeMs: 5000 });
    const data = set(256, flow("10.0.0.1", "10.0.0.2", 1, 2, 100, 1));
    expect(run(dec, v9(1, 0, [data]), undefined, undefined, 1000)).toHaveLength(0);
    expect(dec.stats.pendingSets).toBe(1);
    const r = run(dec, v9(2, 0, [set(0, tpl(256, FLOW))]), undefined, undefined, 2000);
    expect(r.map((x) => x.bytes)).toEqual([100]);
    // Same packet, data set first.
    const dec2 = new NetflowDecoder();
    const r2 = run(
      dec2,
      v9(1, 0, [set(257, flow("10.0.0.3", "10.0.0.4", 1, 2, 7, 1)), set(0, tpl(257, FLOW))]),
    );
    expect(r2.map((x) => x.srcAddr)).toEqual(["10.0.0.3"]);
    // Too old: dropped and counted as a template miss.
    run(dec, v9(3, 0, [set(258, [1, 2, 3, 4])]), undefined, undefined, 10_000);
    run(dec, v9(4, 0, [set(0, tpl(300, [[1, 4]]))]), undefined, undefined, 20_000);
    expect(dec.stats.templateMisses).toBe(1);
    expect(run(dec, v9(5, 0, [set(0, tpl(258, [[1, 4]]))]), undefined, undefined, 20_001)).toHaveLength(0);
  });

  it("persists templates: export, import into a fresh decoder, decode at once", () => {
    const a = new NetflowDecoder();
    run(a, ipfix(0, 3, [set(2, tpl(256, FLOW))]), "192.0.2.5", 4739);
    run(a, v9(0, 4, [set(0, tpl(260, FLOW))]), "192.0.2.6");
    const snap = JSON.parse(JSON.stringify(a.exportTemplates()));
    const b = new NetflowDecoder();
    b.importTemplates(snap);
    expect(
      run(b, ipfix(0, 3, [set(256, flow("1.1.1.1", "2.2.2.2", 1, 2, 3, 4))]), "192.0.2.5", 4739),
    ).toHaveLength(1);
    expect(run(b, v9(0, 4, [set(260, flow("1.1.1.1", "2.2.2.2", 1, 2, 3, 4))]), "192.0.2.6")).toHaveLength(1);
    expect(() => b.importTemplates([{ key: "nonsense", id: 1, scopeCount: 0, fields: [] }])).toThrow(
      /snapshot #0/,
    );
  });
});

describe("sharing state between decoders (workers on one socket)", () => {
  it("learn(): templates and sampler options from a sibling's packet; buffered data replayed, nothing double-counted", () => {
    const a = new NetflowDecoder({ trackSequence: false });
    const b = new NetflowDecoder({ trackSequence: false });
    const rec = flow("10.0.0.1", "10.0.0.2", 1, 2, 100, 1);
    // Worker A got data before any template.
    expect(run(a, v9(5, 0, [set(256, rec)]))).toHaveLength(0);
    // Worker B got the packet with the templates, a sampler option record and data.
    const opt = v9OptTpl(300, [[1, 4]], [[34, 4]]);
    const pkt = v9(4, 0, [
      set(1, opt),
      set(300, [...u32(0), ...u32(10)]),
      set(0, tpl(256, FLOW)),
      set(256, rec),
    ]);
    expect(run(b, pkt).filter((r) => r.kind === "flow")).toHaveLength(1);
    // B forwards it to A: A learns, replays its own buffered record (with the sampler rate), emits none of B's.
    const got: FlowRecord[] = [];
    const n = a.learn(pkt, "192.0.2.1", 40000, (r) => got.push(r.toRecord()), 1500);
    expect(n).toBe(1);
    expect(got.map((r) => [r.kind, r.bytes, r.samplingRate])).toEqual([["flow", 100, 10]]);
    expect(a.stats).toMatchObject({ packets: 1, records: 1, optionRecords: 0, sequenceLost: 0 });
  });
});

describe("field encodings", () => {
  it("variable-length fields in IPFIX (1- and 3-byte length) and in v9 (vendor extension)", () => {
    const dec = new NetflowDecoder();
    const long = "x".repeat(300);
    const rec = (s: string) => {
      const b = [...Buffer.from(s)];
      return [
        ...ip("10.0.0.1"),
        ...(b.length < 255 ? [b.length] : [255, ...u16(b.length)]),
        ...b,
        ...u16(53),
      ];
    };
    const t = tpl(400, [
      [8, 4],
      [96, 0xffff],
      [7, 2],
    ]);
    const r = run(dec, ipfix(0, 0, [set(2, t), set(400, [...rec("dns"), ...rec(long), ...rec("")])]));
    expect(r.map((x) => x.fields.applicationName)).toEqual(["dns", long, null]);
    expect(r.map((x) => x.srcPort)).toEqual([53, 53, 53]);
    const r9 = run(dec, v9(0, 0, [set(0, t), set(400, rec("h3c"))]));
    expect(r9[0]?.fields.applicationName).toBe("h3c");
    // A length running past the set: counted, not looped, not thrown.
    run(dec, ipfix(1, 0, [set(400, [...ip("10.0.0.1"), 200, 1, 2])]));
    expect(dec.stats.errors.TRUNCATED_RECORD).toBe(1);
  });

  it("enterprise fields: reverse (PEN 29305) named, other PENs and unknown IEs kept by number", () => {
    const dec = new NetflowDecoder();
    const t = tpl(500, [
      [1, 4],
      [1, 4, 29305],
      [5, 2, 9999],
      [400, 3],
    ]);
    const r = run(dec, ipfix(0, 0, [set(2, t), set(500, [...u32(10), ...u32(20), 0xab, 0xcd, 1, 2, 3])]));
    expect(r[0]?.bytes).toBe(10);
    expect(r[0]?.fields).toEqual({
      octetDeltaCount: 10,
      reverseOctetDeltaCount: 20,
      "9999.5": "abcd",
      "400": "010203",
    });
  });

  it("zero-length and reduced-size fields; an all-zero-length template is refused (no endless loop)", () => {
    const dec = new NetflowDecoder();
    const t = tpl(600, [
      [8, 4],
      [1, 3],
      [2, 0],
      [12, 0],
      [152, 8],
    ]);
    const when = 1_700_000_123_456;
    const r = run(dec, v9(0, 0, [set(0, t), set(600, [...ip("1.1.1.1"), 1, 0, 0, ...u64(when)])]));
    expect(r[0]).toMatchObject({
      bytes: 65536,
      packets: null,
      dstAddr: null,
      start: new Date(when).toISOString(),
    });
    expect(r[0]?.fields.packetDeltaCount).toBeNull();
    run(
      dec,
      v9(1, 0, [
        set(
          0,
          tpl(601, [
            [1, 0],
            [2, 0],
          ]),
        ),
        set(601, [0, 0, 0, 0]),
      ]),
    );
    expect(dec.stats.errors.ZERO_LENGTH_TEMPLATE).toBe(1);
    expect(dec.stats.records).toBe(1);
  });

  it("timestamps: IPFIX seconds, NTP, uptime with systemInitTimeMilliseconds, delta microseconds", () => {
    const dec = new NetflowDecoder();
    const ntpSecs = V9_SECS + 2208988800;
    const t = tpl(700, [
      [150, 4],
      [157, 8],
    ]);
    const r = run(
      dec,
      ipfix(0, 0, [set(2, t), set(700, [...u32(V9_SECS), ...u32(ntpSecs), ...u32(2 ** 31)])]),
    );
    expect(r[0]).toMatchObject({
      start: new Date(V9_SECS * 1000).toISOString(),
      end: new Date(V9_SECS * 1000 + 500).toISOString(),
    });
    // Uptime-relative IPFIX needs the exporter's init time (options record, IE 160).
    const init = 1_690_000_000_000;
    const opt = ipfixOptTpl(701, 1, [
      [144, 4],
      [160, 8],
    ]);
    const up = tpl(702, [
      [22, 4],
      [21, 4],
    ]);
    const r2 = run(
      dec,
      ipfix(1, 0, [
        set(3, opt),
        set(701, [...u32(1), ...u64(init)]),
        set(2, up),
        set(702, [...u32(1000), ...u32(2000)]),
      ]),
    );
    expect(r2[1]).toMatchObject({
      start: new Date(init + 1000).toISOString(),
      end: new Date(init + 2000).toISOString(),
    });
    const r3 = run(
      dec,
      ipfix(3, 0, [
        set(
          2,
          tpl(703, [
            [158, 4],
            [159, 4],
          ]),
        ),
        set(703, [...u32(3_000_000), ...u32(1_000_000)]),
      ]),
    );
    expect(r3[0]).toMatchObject({
      start: new Date(V9_SECS * 1000 - 3000).toISOString(),
      end: new Date(V9_SECS * 1000 - 1000).toISOString(),
    });
  });
});

describe("sampling from options", () => {
  it("v9: SAMPLING_INTERVAL for the system, FLOW_SAMPLER_ID tables", () => {
    const dec = new NetflowDecoder();
    const sys = v9OptTpl(800, [[1, 4]], [[34, 4]]);
    const sampler = v9OptTpl(
      801,
      [[1, 4]],
      [
        [48, 1],
        [50, 4],
      ],
    );
    const t = tpl(802, [
      [8, 4],
      [48, 1],
    ]);
    const r = run(
      dec,
      v9(0, 0, [
        set(1, [...sys, ...sampler]),
        set(800, [...u32(0), ...u32(100)]),
        set(801, [...u32(0), 1, ...u32(2000), ...u32(0), 2, ...u32(4000), 0, 0]), // 2 records + padding
        set(0, t),
        set(802, [...ip("1.1.1.1"), 2, ...ip("1.1.1.2"), 1, ...ip("1.1.1.3"), 9]),
      ]),
    );
    expect(r.filter((x) => x.kind === "options")).toHaveLength(3);
    expect(r.filter((x) => x.kind === "options")[0]?.fields).toEqual({
      scopeSystem: 0,
      samplingInterval: 100,
    });
    expect(r.filter((x) => x.kind === "flow").map((x) => x.samplingRate)).toEqual([4000, 2000, 100]);
  });

  it("IPFIX: selectorId + samplingPacketInterval/Space", () => {
    const dec = new NetflowDecoder();
    const opt = ipfixOptTpl(900, 1, [
      [302, 4],
      [305, 4],
      [306, 4],
    ]);
    const r = run(
      dec,
      ipfix(0, 0, [
        set(3, opt),
        set(900, [...u32(5), ...u32(1), ...u32(99)]),
        set(
          2,
          tpl(901, [
            [8, 4],
            [302, 4],
          ]),
        ),
        set(901, [...ip("1.1.1.1"), ...u32(5)]),
      ]),
    );
    expect(r[1]?.samplingRate).toBe(100);
  });
});

describe("padding, sequences, garbage", () => {
  it("padding after records and zero-filled packet tails are not errors", () => {
    const dec = new NetflowDecoder();
    const rec = flow("10.0.0.1", "10.0.0.2", 1, 2, 3, 4);
    const p = v9(0, 0, [set(0, [...tpl(256, FLOW), 0, 0, 0, 0]), set(256, [...rec, ...rec, 0, 0, 0])]);
    const zeroFilled = new Uint8Array(1400);
    zeroFilled.set(p);
    expect(run(dec, zeroFilled)).toHaveLength(2);
    expect(dec.stats.errors).toEqual({});
    // IPFIX: a set padded with zeros shorter than a record.
    const ipfixPadded = ipfix(0, 0, [set(2, tpl(257, [[8, 4]])), set(257, [...ip("10.9.9.9"), 0, 0, 0])]);
    expect(run(dec, ipfixPadded).map((x) => x.srcAddr)).toEqual(["10.9.9.9"]);
    expect(dec.stats.errors).toEqual({});
  });

  it("v9 sequence: gaps counted as loss, late packets as reordering (net of the gap)", () => {
    const dec = new NetflowDecoder();
    const t = set(0, tpl(256, FLOW));
    for (const s of [10, 11, 13, 14]) run(dec, v9(s, 0, [t]));
    expect(dec.stats.sequenceLost).toBe(1);
    run(dec, v9(12, 0, [t]));
    expect(dec.stats).toMatchObject({ sequenceLost: 0, sequenceReordered: 1 });
    // Another source id has its own counter.
    run(dec, v9(500, 1, [t]));
    run(dec, v9(501, 1, [t]));
    expect(dec.stats.sequenceLost).toBe(0);
  });

  it("IPFIX sequence counts data records", () => {
    const dec = new NetflowDecoder();
    const rec = flow("10.0.0.1", "10.0.0.2", 1, 2, 3, 4);
    run(dec, ipfix(0, 0, [set(2, tpl(256, FLOW)), set(256, [...rec, ...rec])]));
    run(dec, ipfix(2, 0, [set(256, rec)]));
    expect(dec.stats.sequenceLost).toBe(0);
    run(dec, ipfix(8, 0, [set(256, rec)]));
    expect(dec.stats.sequenceLost).toBe(5);
  });

  it("onSequence reports (domain, seq, advance) per received packet/message, not for learn()", () => {
    const notes: Array<[string, number, number]> = [];
    const dec = new NetflowDecoder({ trackSequence: false, onSequence: (k, s, a) => notes.push([k, s, a]) });
    const rec = flow("10.0.0.1", "10.0.0.2", 1, 2, 3, 4);
    run(dec, v9(7, 3, [set(0, tpl(256, FLOW))]));
    run(dec, ipfix(40, 9, [set(2, tpl(256, FLOW)), set(256, [...rec, ...rec])]));
    // a data set without its template: advance unknown
    run(dec, ipfix(42, 9, [set(300, rec)]));
    new NetflowDecoder().learn(v9(8, 3, [set(0, tpl(256, FLOW))]), "192.0.2.1", 2055, () => {});
    dec.learn(v9(8, 3, [set(0, tpl(256, FLOW))]), "192.0.2.1", 2055, () => {});
    expect(notes.map(([k, s, a]) => [k.replace(/^[^|]*/, "X"), s, a])).toEqual([
      ["X|9|3", 7, 1],
      ["X|10|9", 40, 2],
      ["X|10|9", 42, -1],
    ]);
    expect(dec.stats.sequenceLost).toBe(0);
  });

  it("never throws on garbage; counts a coded error", () => {
    const dec = new NetflowDecoder();
    const good = v9(0, 0, [set(0, tpl(256, FLOW)), set(256, flow("10.0.0.1", "10.0.0.2", 1, 2, 3, 4))]);
    for (let n = 0; n < good.length; n++) run(dec, good.subarray(0, n));
    expect(run(dec, Uint8Array.from([0, 7, 1, 2, 3]))).toHaveLength(0);
    expect(dec.stats.errors.UNKNOWN_VERSION).toBe(1);
    run(dec, Uint8Array.from([...good.subarray(0, 20), ...u16(256), ...u16(2), 9, 9, 9, 9]));
    run(dec, Uint8Array.from([...good.subarray(0, 20), ...u16(256), ...u16(900), 9, 9]));
    expect(dec.stats.errors.BAD_SET_LENGTH).toBeGreaterThanOrEqual(2);
    run(dec, Uint8Array.from([...u16(10), ...u16(8), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    expect(dec.stats.errors.BAD_MESSAGE_LENGTH).toBe(1);
    // Seeded random bytes after valid headers.
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed & 255;
    };
    for (let k = 0; k < 2000; k++) {
      const len = 4 + ((rnd() * 7) % 300);
      const b = Uint8Array.from({ length: len }, rnd);
      b.set(u16([5, 9, 10][k % 3] as number), 0);
      dec.decode(b, "198.51.100.1", 1, () => {}); // must not throw
    }
    expect(dec.stats.packets).toBeGreaterThan(2000);
    expect(dec.stats.errors.INTERNAL ?? 0).toBe(0);
    expect(Object.values(dec.stats.errors).reduce((a, b) => a + (b ?? 0), 0)).toBeGreaterThan(1000);
  });
});
