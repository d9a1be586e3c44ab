/**
 * Differential test against tshark: every capture of the shared corpus
 * (../shared/testdata/netflow, manifest.json) and every fixture of this package is decoded by
 * us and by tshark; per record, the addresses, ports, bytes and packets tshark shows must equal
 * ours. Files tshark decodes cleanly (no malformed/no-template mark) must match record for
 * record, in order; for the others, each record tshark did decode must be among ours.
 *
 * To keep CI time low tshark runs once: the datagrams of all files are written into one pcap,
 * each file's exporter rewritten to its own address (10.77.x.y) so template state stays per file.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { FlowRecord, UdpDatagram } from "./index.js";
import { decodeCapture, encodePcap, readCaptureFile } from "./index.js";
import { SHARED_CORPUS } from "./testdata.js";

const SHARED = SHARED_CORPUS;
const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
/** tshark binary (TSHARK overrides). */
const TSHARK = process.env.TSHARK ?? "tshark";
const hasTshark = spawnSync(TSHARK, ["--version"], { stdio: "ignore" }).status === 0;
const hasShared = existsSync(join(SHARED, "manifest.json"));

interface Source {
  name: string;
  path: string;
  ports: number[];
}

function sources(): Source[] {
  const out: Source[] = [];
  const fx = JSON.parse(readFileSync(join(FIXTURES, "fixtures.json"), "utf8")) as Array<{
    file: string;
    port: number;
  }>;
  for (const f of fx) out.push({ name: `fixtures/${f.file}`, path: join(FIXTURES, f.file), ports: [f.port] });
  if (hasShared) {
    const m = JSON.parse(readFileSync(join(SHARED, "manifest.json"), "utf8")) as Array<{
      file: string;
      ports?: string[];
    }>;
    for (const e of m) {
      if (!e.file.endsWith(".pcap") || e.ports === undefined) continue;
      out.push({ name: e.file, path: join(SHARED, e.file), ports: e.ports.map(Number) });
    }
  }
  return out;
}

type Tk = Record<string, string>;
const first = (v: unknown): string | null => {
  const x = Array.isArray(v) ? v[0] : v;
  return x === undefined || x === null ? null : String(x);
};
const KEYS: Array<[string[], (r: FlowRecord) => string | null]> = [
  [["cflow.srcaddr"], (r) => first(r.fields.sourceIPv4Address)],
  [["cflow.srcaddrv6"], (r) => first(r.fields.sourceIPv6Address)],
  [["cflow.dstaddr"], (r) => first(r.fields.destinationIPv4Address)],
  [["cflow.dstaddrv6"], (r) => first(r.fields.destinationIPv6Address)],
  [["cflow.srcport"], (r) => (r.srcPort === null ? null : String(r.srcPort))],
  [["cflow.dstport"], (r) => (r.dstPort === null ? null : String(r.dstPort))],
  [["cflow.octets"], (r) => (r.bytes === null ? null : String(r.bytes))],
  [["cflow.packets"], (r) => (r.packets === null ? null : String(r.packets))],
];

/** Does our record agree with every value tshark shows for the record? */
function agrees(ours: FlowRecord, tk: Tk): string | null {
  for (const [names, get] of KEYS) {
    for (const n of names) {
      const want = tk[n];
      if (want === undefined) continue;
      const got = get(ours);
      if (got !== want) return `${n}: tshark ${want}, ours ${got}`;
    }
  }
  // The summary address is one of the record's addresses tshark shows.
  for (const [sum, names] of [
    [ours.srcAddr, ["cflow.srcaddr", "cflow.srcaddrv6"]],
    [ours.dstAddr, ["cflow.dstaddr", "cflow.dstaddrv6"]],
  ] as const) {
    const shown = names.map((n) => tk[n]).filter((x) => x !== undefined);
    if (shown.length > 0 && !shown.includes(sum ?? ""))
      return `summary address ${sum} not in ${shown.join(",")}`;
  }
  return null;
}

/** Records of one tshark frame (cflow subtree), flattened to the compared keys. */
function tsharkFrameRecords(node: unknown, out: Tk[]): boolean {
  let malformed = false;
  if (node === null || typeof node !== "object") return false;
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (k === "_ws.malformed") malformed = true;
    if (/^(Flow \d+|pdu \d+\/\d+)$/.test(k) && v !== null && typeof v === "object") {
      const rec: Tk = {};
      for (const [fk, fv] of Object.entries(v as Record<string, unknown>)) {
        const val = Array.isArray(fv) ? fv[0] : fv;
        if (typeof val === "string") rec[fk] = val;
      }
      out.push(rec);
      if (JSON.stringify(v).includes("_ws.malformed")) malformed = true;
    } else if (tsharkFrameRecords(v, out)) {
      malformed = true;
    }
  }
  return malformed;
}

describe.skipIf(!hasTshark)("differential vs tshark (needs tshark)", () => {
  const dir = mkdtempSync(join(tmpdir(), "fnf-diff-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const srcs = sources();
  const frames: Array<{ file: number }> = [];
  const combined: UdpDatagram[] = [];
  srcs.forEach((s, i) => {
    const cap = readCaptureFile(s.path);
    for (const d of cap.datagrams) {
      if (!s.ports.includes(d.dstPort)) continue;
      combined.push({ ...d, src: `10.77.${i >> 8}.${i & 255}`, dst: "10.77.255.254", dstPort: 2055 });
      frames.push({ file: i });
    }
  });
  const pcap = join(dir, "all.pcap");
  writeFileSync(pcap, encodePcap(combined));
  const tk = spawnSync(
    "tshark",
    ["-r", pcap, "-T", "json", "--no-duplicate-keys", "-d", "udp.port==2055,cflow"],
    {
      encoding: "utf8",
      maxBuffer: 1 << 30,
    },
  );
  const perFile = srcs.map(() => ({ records: [] as Tk[], malformed: false }));
  const pkts = JSON.parse(tk.stdout || "[]") as Array<{ _source: { layers: Record<string, unknown> } }>;
  pkts.forEach((p, n) => {
    const f = frames[n];
    if (f === undefined) return;
    const slot = perFile[f.file];
    if (slot === undefined) return;
    const layers = p._source.layers;
    if (
      tsharkFrameRecords(
        { cflow: layers.cflow, ws: layers["_ws.malformed"] ? { "_ws.malformed": 1 } : {} },
        slot.records,
      )
    ) {
      slot.malformed = true;
    }
  });

  it("tshark decoded the combined capture", () => {
    expect(tk.status).toBe(0);
    expect(pkts.length).toBe(combined.length);
  });

  it.each(srcs.map((s, i) => [s.name, i] as const))("%s matches tshark", (_name, i) => {
    const s = srcs[i] as Source;
    const tsh = perFile[i] as { records: Tk[]; malformed: boolean };
    const ours = decodeCapture(readCaptureFile(s.path), { ports: s.ports }).records;
    if (!tsh.malformed) {
      // Clean in tshark: same records, same order, same values.
      expect(ours.length).toBe(tsh.records.length);
      tsh.records.forEach((t, k) => {
        expect(agrees(ours[k] as FlowRecord, t), `record ${k}`).toBeNull();
      });
    } else {
      // tshark stopped somewhere (no template / malformed): all it decoded must be ours too.
      const used = new Set<number>();
      for (const [k, t] of tsh.records.entries()) {
        const j = ours.findIndex((o, idx) => !used.has(idx) && agrees(o, t) === null);
        expect(j, `tshark record ${k} ${JSON.stringify(t)} not among ours`).toBeGreaterThanOrEqual(0);
        used.add(j);
      }
      expect(ours.length).toBeGreaterThanOrEqual(tsh.records.length);
    }
  });

  it("reports which files tshark did not decode cleanly", () => {
    const unclean = srcs.filter((_, i) => perFile[i]?.malformed).map((s) => s.name);
    // Printed for the report: compared as "tshark's records ⊆ ours", not skipped.
    console.log(
      `tshark marked ${unclean.length}/${srcs.length} files malformed/no-template:\n  ${unclean.join("\n  ")}`,
    );
    if (!hasShared)
      console.log("../shared/testdata/netflow missing: only the package fixtures were compared");
    expect(srcs.length).toBeGreaterThan(0);
  });
});
