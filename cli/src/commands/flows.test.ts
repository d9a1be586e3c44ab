import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT_OK, UsageError } from "../io.js";
import { captureOutput } from "../testing.js";
import { registerFlows, runDecode } from "./flows.js";

const FIXTURES = fileURLToPath(new URL("../../../libs/netflow/fixtures/", import.meta.url));
const KEYS = [
  "exporter",
  "version",
  "domain",
  "templateId",
  "kind",
  "srcAddr",
  "dstAddr",
  "srcPort",
  "dstPort",
  "protocol",
  "bytes",
  "packets",
  "start",
  "end",
  "samplingRate",
  "inputIf",
  "outputIf",
  "fields",
];

const capture = captureOutput;

describe("fleetnet flows decode", () => {
  const dir = mkdtempSync(join(tmpdir(), "fnf-cli-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("--json prints one object per record with exactly the documented keys, unscaled counters", () => {
    const o = capture();
    expect(runDecode(join(FIXTURES, "softflowd-v9-sampled.pcapng"), { json: true }, o)).toBe(EXIT_OK);
    const lines = o.out
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(14);
    for (const l of lines) expect(Object.keys(l)).toEqual(KEYS);
    const udp = lines.find((l) => l.protocol === 17 && l.kind === "flow");
    // Sampled 1:4 by softflowd: the rate is reported, the counters are the exported ones.
    expect(udp).toMatchObject({ version: 9, samplingRate: 4, srcAddr: "10.88.0.1", dstPort: 5201 });
    expect(udp?.bytes).toBe((udp?.fields as Record<string, unknown> | undefined)?.octetDeltaCount);
    expect(udp?.bytes).toBe(32472);
  });

  it("prints a table and a summary without --json", () => {
    const o = capture();
    runDecode(join(FIXTURES, "softflowd-v5.pcapng"), {}, o);
    const rows = o.out.trimEnd().split("\n");
    expect(rows[0]).toMatch(/VER\s+EXPORTER\s+DOMAIN/);
    expect(rows).toHaveLength(11);
    expect(rows[1]).toMatch(/^5\s+127\.0\.0\.1\s+/);
    expect(o.err).toBe("10 records from 1 datagrams\n");
  });

  it("a missing file or a non-capture is a usage error naming the file", () => {
    expect(() => runDecode(join(dir, "nope.pcap"), {}, capture())).toThrow(
      /cannot read capture .*nope\.pcap.*PCAP_UNREADABLE/,
    );
    const junk = join(dir, "junk.pcap");
    writeFileSync(junk, "this is not a capture file");
    expect(() => runDecode(junk, { json: true }, capture())).toThrow(UsageError);
    expect(() => runDecode(junk, { json: true }, capture())).toThrow(/junk\.pcap: not a pcap\/pcapng file/);
    expect(() => runDecode(junk, { port: ["70000"] }, capture())).toThrow(/--port 70000/);
  });

  it("is registered as `flows decode <pcap>`", () => {
    const program = new Command("fleetnet");
    registerFlows(program);
    const flows = program.commands.find((c) => c.name() === "flows");
    const decode = flows?.commands.find((c) => c.name() === "decode");
    expect(decode?.registeredArguments.map((a) => a.name())).toEqual(["pcap"]);
    expect(decode?.options.map((o) => o.long)).toEqual(["--json", "--port"]);
  });
});
