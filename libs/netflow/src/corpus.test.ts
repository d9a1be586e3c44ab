/**
 * Behaviour on real exporters' captures (../shared/testdata/netflow): sampling, enterprise and
 * reverse fields, data before template, and a robustness sweep (every datagram truncated and
 * bit-flipped) that must never throw.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { FlowRecord } from "./index.js";
import { decodeCapture, NetflowDecoder, readCaptureFile } from "./index.js";
import { SHARED_CORPUS } from "./testdata.js";

const SHARED = SHARED_CORPUS;
const hasShared = existsSync(join(SHARED, "manifest.json"));
const decode = (f: string): FlowRecord[] => decodeCapture(readCaptureFile(join(SHARED, f))).records;
const flows = (f: string) => decode(f).filter((r) => r.kind === "flow");

describe.skipIf(!hasShared)("real captures (needs ../shared/testdata/netflow)", () => {
  it("v5 header sampling interval (Juniper MX80, 1:1000)", () => {
    const r = flows("logstash-codec-netflow/pcap/v5-juniper-mx80.pcap");
    expect(r).toHaveLength(29);
    expect(new Set(r.map((x) => x.samplingRate))).toEqual(new Set([1000]));
  });

  it("v9 FLOW_SAMPLER_ID table: two samplers 1:2000 and 1:4000 (Cisco NCS55)", () => {
    const r = flows("akvorado/merged/v9-multiplesamplingrates.pcap");
    expect(new Set(r.map((x) => x.samplingRate))).toEqual(new Set([2000, 4000]));
  });

  it("v9 SAMPLING_INTERVAL inside the data template", () => {
    const r = flows("akvorado/merged/v9-samplingrate.pcap");
    expect(r.length).toBe(6);
    expect(r.every((x) => x.samplingRate === 2048)).toBe(true);
  });

  it("IPFIX selectorId + samplingPacketInterval options (Cisco ASR9k)", () => {
    const r = flows("pmacct-test-automation/104-traffic-00.pcap");
    expect(r.length).toBeGreaterThan(0);
    expect(r.every((x) => x.samplingRate === 256)).toBe(true);
  });

  it("RFC 5103 reverse fields (PEN 29305) and vendor PENs kept by number", () => {
    const probe = flows("akvorado/merged/ipfix-ipfixprobe-biflow.pcap");
    expect(probe.every((x) => typeof x.fields.reverseOctetDeltaCount === "number")).toBe(true);
    const yaf = decode("logstash-codec-netflow/pcap/ipfix-yaf.pcap");
    expect(yaf.some((x) => "reverseOctetTotalCount" in x.fields)).toBe(true);
    expect(yaf.some((x) => Object.keys(x.fields).some((k) => k.startsWith("6871.")))).toBe(true);
    const ns = decode("logstash-codec-netflow/pcap/ipfix-netscaler.pcap");
    expect(ns.some((x) => Object.keys(x.fields).some((k) => k.startsWith("5951.")))).toBe(true);
  });

  it("a data set before its template in the same packet is decoded (tshark shows 11 of 22)", () => {
    expect(decode("akvorado/data+templates.pcap")).toHaveLength(22);
  });

  it("zero-filled tail and zero-length fields decode without errors", () => {
    for (const f of [
      "logstash-codec-netflow/pcap/v9-paloalto81-zerofilled.pcap",
      "logstash-codec-netflow/pcap/v9-0length-fields.pcap",
    ]) {
      const d = decodeCapture(readCaptureFile(join(SHARED, f)));
      expect(d.stats.errors, f).toEqual({});
    }
  });

  it("never throws on any corpus datagram truncated or bit-flipped", () => {
    const m = JSON.parse(readFileSync(join(SHARED, "manifest.json"), "utf8")) as Array<{ file: string }>;
    const dec = new NetflowDecoder();
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let n = 0;
    for (const e of m) {
      const payloads = e.file.endsWith(".pcap")
        ? readCaptureFile(join(SHARED, e.file)).datagrams.map((d) => d.payload)
        : [readFileSync(join(SHARED, e.file))];
      for (const p of payloads) {
        // Learn templates from the intact packet first so later mutations reach the data path.
        dec.decode(p, "198.51.100.7", 9, () => {});
        for (let k = 0; k < 8; k++) {
          const b = Uint8Array.from(p.subarray(0, rnd(p.length + 1)));
          if (b.length > 0) b[rnd(b.length)] = rnd(256);
          if (b.length > 4) {
            const at = 2 + rnd(b.length - 2);
            b[at] = (b[at] ?? 0) ^ 0xff;
          }
          dec.decode(b, "198.51.100.7", 9, () => {});
          n++;
        }
      }
    }
    expect(n).toBeGreaterThan(500);
    // Every bad length was caught by a check, not by the last-resort RangeError guard.
    expect(dec.stats.errors.INTERNAL ?? 0).toBe(0);
    expect(Object.keys(dec.stats.errors).length).toBeGreaterThan(3);
  });
});
