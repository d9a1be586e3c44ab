/** The package's own softflowd captures (fixtures/): decoded completely, with sane times and options. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeCapture, readCaptureFile } from "./index.js";

const DIR = new URL("../fixtures/", import.meta.url).pathname;
const fixtures = JSON.parse(readFileSync(join(DIR, "fixtures.json"), "utf8")) as Array<{
  file: string;
  port: number;
  version: number;
  records: number;
}>;

describe("softflowd fixtures", () => {
  it.each(fixtures.map((f) => [f.file, f] as const))(
    "%s decodes every record, times near capture time",
    (_n, f) => {
      const cap = readCaptureFile(join(DIR, f.file));
      expect(cap.format).toBe("pcapng");
      const { records, stats } = decodeCapture(cap, { ports: [f.port] });
      expect(records).toHaveLength(f.records);
      expect(stats.errors).toEqual({});
      expect(stats.templateMisses).toBe(0);
      const capturedAt = cap.datagrams[0]?.tsMs ?? 0;
      for (const r of records.filter((x) => x.kind === "flow")) {
        expect(r.version).toBe(f.version);
        expect(r.srcAddr).toMatch(/^(10\.88\.0\.[12]|fd00:88::[12]|fe80::[0-9a-f:]+|ff02::[0-9a-f:]+)$/);
        // Uptime-relative (v5/v9/IPFIX via systemInitTimeMilliseconds) and absolute times all
        // resolve to wall-clock times within a minute before the export packet was captured.
        for (const t of [r.start, r.end]) {
          const ms = Date.parse(t ?? "");
          expect(capturedAt - ms).toBeGreaterThanOrEqual(-1000);
          expect(capturedAt - ms).toBeLessThan(60_000);
        }
      }
    },
  );

  it("sampling interval from a v9 options record applies to the flows", () => {
    const { records } = decodeCapture(readCaptureFile(join(DIR, "softflowd-v9-sampled.pcapng")));
    const flows = records.filter((r) => r.kind === "flow");
    expect(flows.length).toBeGreaterThan(0);
    expect(flows.every((r) => r.samplingRate === 4)).toBe(true);
  });

  it("IPFIX biflow carries reverse counters (PEN 29305)", () => {
    const { records } = decodeCapture(readCaptureFile(join(DIR, "softflowd-ipfix-biflow-ms.pcapng")));
    const tcp = records.filter((r) => r.protocol === 6);
    expect(tcp.length).toBeGreaterThan(0);
    expect(tcp.every((r) => typeof r.fields.reverseOctetDeltaCount === "number")).toBe(true);
  });
});
