import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { flowsTop, formatFlowsTop, type RollupLine, readRollups } from "./demo-flows.js";

const minute = (host: string, m: string, bytes: number, talkers: [string, number][]): RollupLine => ({
  host,
  minute: m,
  flows: 2,
  bytes,
  packets: bytes / 100,
  topTalkers: talkers.map(([addr, b]) => ({ addr, bytes: b })),
});

describe("demo flows top", () => {
  it("sums each exporter's minutes, names it by underlay address, sorts by bytes, merges talkers", () => {
    const rows = flowsTop(
      [
        minute("10.249.0.1", "2026-01-01T00:00:00Z", 1000, [
          ["10.249.0.1", 700],
          ["10.249.0.6", 300],
        ]),
        minute("10.249.0.6", "2026-01-01T00:00:00Z", 5000, [["10.249.0.6", 5000]]),
        minute("10.249.0.1", "2026-01-01T00:01:00Z", 9000, [["10.249.0.6", 9000]]),
        minute("10.9.9.9", "2026-01-01T00:01:00Z", 100, []),
      ],
      new Map([
        ["10.249.0.1", "h001"],
        ["10.249.0.6", "h006"],
      ]),
    );
    expect(rows).toEqual([
      {
        host: "h001",
        exporter: "10.249.0.1",
        flows: 4,
        packets: 100,
        bytes: 10_000,
        topTalker: { addr: "10.249.0.6", bytes: 9300 },
      },
      {
        host: "h006",
        exporter: "10.249.0.6",
        flows: 2,
        packets: 50,
        bytes: 5000,
        topTalker: { addr: "10.249.0.6", bytes: 5000 },
      },
      { host: "10.9.9.9", exporter: "10.9.9.9", flows: 2, packets: 1, bytes: 100, topTalker: null },
    ]);
    const text = formatFlowsTop(rows);
    expect(text[0]).toMatch(/^host\s+exporter\s+flows\s+packets\s+bytes\s+top talker$/);
    expect(text[1]).toMatch(/^h001\s+10\.249\.0\.1\s+4\s+100\s+10000\s+10\.249\.0\.6 \(9300 B\)$/);
    expect(text[3]).toMatch(/ -$/);
  });

  it("reads a ROLLUP_OUT file, skipping a torn line; a missing file is no rollups", () => {
    const dir = mkdtempSync(join(tmpdir(), "fnd-flows-"));
    try {
      const f = join(dir, "flows.jsonl");
      writeFileSync(f, `${JSON.stringify(minute("10.249.0.1", "2026-01-01T00:00:00Z", 10, []))}\n{"host":`);
      expect(readRollups(f).map((r) => r.host)).toEqual(["10.249.0.1"]);
      expect(readRollups(join(dir, "none.jsonl"))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
