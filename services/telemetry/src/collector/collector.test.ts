/**
 * The collector on real UDP (loopback): softflowd fixture packets in, records and rollups out;
 * the standalone binary's SIGTERM report, with one process and with two workers sharing a socket.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeCapture, readCaptureFile } from "@fleetnet/netflow";
import { describe, expect, it } from "vitest";
import { collectorConfigFromEnv, FlowCollector } from "./collector.js";
import { FlowRollup, mergeMinutes, mergeTalkers } from "./rollup.js";
import { rcvbufWarning } from "./standalone.js";
import { freeUdpPort, runCollectBin, sendUdp } from "./testing.js";

const FIXTURES = fileURLToPath(new URL("../../../../libs/netflow/fixtures/", import.meta.url));
const BIN = fileURLToPath(new URL("../../dist/bin.js", import.meta.url));
const payloads = (f: string) => readCaptureFile(join(FIXTURES, f)).datagrams.map((d) => d.payload);
const expected = (f: string) => decodeCapture(readCaptureFile(join(FIXTURES, f))).records;

/** A v9 export packet with sequence `seq`: 2 records of template 260 (src, dst, bytes, packets). */
function v9Packet(seq: number, withTemplate: boolean): Uint8Array {
  const u16 = (n: number) => [(n >> 8) & 255, n & 255];
  const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const tpl = [...u16(0), ...u16(24), ...u16(260), ...u16(4), ...[8, 4, 12, 4, 1, 4, 2, 4].flatMap(u16)];
  const rec = (a: number) => [10, 0, 0, a, 10, 0, 1, a, ...u32(1000), ...u32(2)];
  const data = [...u16(260), ...u16(4 + 32), ...rec(1), ...rec(2)];
  const secs = Math.floor(Date.now() / 1000);
  const sets = withTemplate ? [...tpl, ...data] : data;
  return Uint8Array.from([...u16(9), ...u16(2), ...u32(1000), ...u32(secs), ...u32(seq), ...u32(0), ...sets]);
}

async function freeTcpPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
  const p = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  return p;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("collector configuration from the environment", () => {
  it("defaults and valid values", () => {
    expect(collectorConfigFromEnv({})).toEqual({ port: 2055, bind: "0.0.0.0", rcvbuf: 0, workers: 1 });
    expect(collectorConfigFromEnv({ PORT: "9995", BIND: "::1", RCVBUF: "16777216", WORKERS: "2" })).toEqual({
      port: 9995,
      bind: "::1",
      rcvbuf: 16777216,
      workers: 2,
    });
  });
  it.each([
    [{ PORT: "70000" }, /PORT="70000": not a UDP port/],
    [{ PORT: "20x" }, /PORT="20x"/],
    [{ RCVBUF: "-1" }, /RCVBUF="-1"/],
    [{ BIND: "localhost" }, /BIND="localhost": not an IPv4\/IPv6 address/],
    [{ WORKERS: "0" }, /WORKERS="0"/],
  ])("rejects %o with CONFIG_INVALID naming the variable", (env, msg) => {
    expect(() => collectorConfigFromEnv(env)).toThrow(msg);
    try {
      collectorConfigFromEnv(env);
    } catch (e) {
      expect(e).toMatchObject({ code: "CONFIG_INVALID", retryable: false });
    }
  });
});

describe("FlowCollector", () => {
  it("decodes softflowd v9 and IPFIX packets received on UDP into records and host-minute rollups", async () => {
    const c = new FlowCollector();
    const { port } = await c.listen(0, "127.0.0.1", 0);
    try {
      const files = ["softflowd-v9.pcapng", "softflowd-ipfix.pcapng"];
      await sendUdp(port, files.flatMap(payloads));
      await until(() => c.packets === 2);
      const want = files.flatMap(expected);
      const counts = c.counts(true);
      expect(counts).toMatchObject({ packets: 2, records: want.length, decodeErrors: 0, templateMisses: 0 });
      const minutes = c.drainRollups();
      expect(minutes.every((m) => m.host === "127.0.0.1")).toBe(true);
      const flows = want.filter((r) => r.kind === "flow");
      expect(minutes.reduce((a, m) => a + m.flows, 0)).toBe(flows.length);
      expect(minutes.reduce((a, m) => a + m.bytes, 0)).toBe(flows.reduce((a, r) => a + (r.bytes ?? 0), 0));
      // Top talkers are src→dst pairs: the iperf3 client 10.88.0.1 → server 10.88.0.2 (TCP and
      // UDP to 5201, ICMP) over both captures; protocol/port are those of its largest record.
      const merged = mergeTalkers(
        minutes.map((m) => m.topTalkers),
        10,
      );
      const pair = (src: string, dst: string) => flows.filter((r) => r.srcAddr === src && r.dstAddr === dst);
      const sum = (rs: typeof flows, k: "bytes" | "packets") => rs.reduce((a, r) => a + (r[k] ?? 0), 0);
      const c2s = pair("10.88.0.1", "10.88.0.2");
      expect(merged[0]).toEqual({
        src: "10.88.0.1",
        dst: "10.88.0.2",
        bytes: sum(c2s, "bytes"),
        packets: sum(c2s, "packets"),
        flows: c2s.length,
        protocol: 6,
        dstPort: 5201,
      });
      // IPv6 pairs too, and the replies (to many ephemeral ports) stay one pair
      const v6 = merged.find((t) => t.src === "fd00:88::1" && t.dst === "fd00:88::2");
      expect(v6).toMatchObject({
        bytes: sum(pair("fd00:88::1", "fd00:88::2"), "bytes"),
        protocol: 6,
        dstPort: 5201,
      });
      const replies = merged.filter((t) => t.src === "10.88.0.2" && t.dst === "10.88.0.1");
      expect(replies).toHaveLength(1);
      expect(replies[0]?.flows).toBe(pair("10.88.0.2", "10.88.0.1").length);
    } finally {
      await c.close();
    }
  });

  it("rollups apply sampling (1:4 from the options record) to bytes and packets", () => {
    const recs = expected("softflowd-v9-sampled.pcapng").filter((r) => r.kind === "flow");
    const c = new FlowCollector();
    for (const p of payloads("softflowd-v9-sampled.pcapng")) c.handle(p, "192.0.2.7", 9000);
    c.counts(true);
    const [m] = c.drainRollups();
    expect(m?.host).toBe("192.0.2.7");
    expect(m?.bytes).toBe(4 * recs.reduce((a, r) => a + (r.bytes ?? 0), 0));
    expect(m?.packets).toBe(4 * recs.reduce((a, r) => a + (r.packets ?? 0), 0));
    expect(m?.interfaces.map((i) => i.ifIndex)).toEqual([0]);
  });

  it("pairs: bounded per host-minute (prune to the heaviest half), heavy hitters exact, topN kept", () => {
    const roll = new FlowRollup({ talkerCap: 64, topN: 3 });
    const c = new FlowCollector();
    // Reuse the decoder's view: a hand-built v9 packet, template 256: src(8) 4, dst(12) 4,
    // bytes(1) 4, packets(2) 4, proto(4) 1, dport(11) 2
    const hdr = [0, 9, 0, 1, 0, 0, 0, 1, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 1, 0, 0, 0, 0];
    const tpl = [
      0, 0, 0, 32, 1, 0, 0, 6, 0, 8, 0, 4, 0, 12, 0, 4, 0, 1, 0, 4, 0, 2, 0, 4, 0, 4, 0, 1, 0, 11, 0, 2,
    ];
    const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
    const rec = (src: number, dst: number, bytes: number, proto: number, dport: number) => [
      ...u32(src),
      ...u32(dst),
      ...u32(bytes),
      ...u32(1),
      proto,
      (dport >> 8) & 255,
      dport & 255,
    ];
    const A = 0x0a000001;
    const B = 0x0a000002;
    const recs: number[] = [];
    // 2000 light pairs (32x the cap) interleaved with two heavy pairs in both directions
    for (let i = 0; i < 2000; i++) {
      recs.push(...rec(0x0b000000 + i, B, 10, 17, 53));
      if (i % 100 === 0) recs.push(...rec(A, B, 5000 + i, 6, 443), ...rec(B, A, 3000, 6, 40000 + i));
    }
    const pkt = Uint8Array.from([
      ...hdr,
      ...tpl,
      1,
      0,
      (4 + recs.length) >> 8,
      (4 + recs.length) & 255,
      ...recs,
    ]);
    c.decoder.decode(pkt, "192.0.2.8", 1, (v) => roll.add(v));
    roll.closeAll();
    const [m] = roll.drain();
    expect(m?.flows).toBe(2040);
    expect(m?.topTalkers).toHaveLength(3);
    const ab = Array.from({ length: 20 }, (_, k) => 5000 + k * 100);
    expect(m?.topTalkers[0]).toEqual({
      src: "10.0.0.1",
      dst: "10.0.0.2",
      bytes: ab.reduce((a, b) => a + b, 0),
      packets: 20,
      flows: 20,
      protocol: 6,
      dstPort: 443 /* of the largest record */,
    });
    expect(m?.topTalkers[1]).toMatchObject({
      src: "10.0.0.2",
      dst: "10.0.0.1",
      bytes: 60000,
      flows: 20,
      protocol: 6,
    });
    expect(m?.topTalkers[2]).toMatchObject({ dst: "10.0.0.2", bytes: 10, protocol: 17, dstPort: 53 });
  });

  it("mergeTalkers sums pairs over minutes, keeps the heaviest contribution's protocol/port, skips old entries", () => {
    const p = (src: string, dst: string, bytes: number, dstPort: number) => ({
      src,
      dst,
      bytes,
      packets: 1,
      flows: 1,
      protocol: 6,
      dstPort,
    });
    const merged = mergeTalkers(
      [
        [p("a", "b", 100, 80), p("c", "d", 50, 22), { addr: "a", bytes: 999 }],
        [p("a", "b", 300, 443), p("e", "f", 120, 25)],
        [{ addr: "z", bytes: 10_000 }],
      ],
      2,
    );
    expect(merged).toEqual([
      { src: "a", dst: "b", bytes: 400, packets: 2, flows: 2, protocol: 6, dstPort: 443 },
      { src: "e", dst: "f", bytes: 120, packets: 1, flows: 1, protocol: 6, dstPort: 25 },
    ]);
  });
});

describe("mergeMinutes", () => {
  it("sums the parts of one host-minute: totals, interfaces by index, talker pairs", () => {
    const part = (bytes: number, ifIndex: number, src: string) => ({
      host: "192.0.2.1",
      minute: "2026-11-30T01:00:00.000Z",
      flows: 2,
      bytes,
      packets: 3,
      interfaces: [{ ifIndex, inBytes: bytes, inPackets: 3, outBytes: 0, outPackets: 0 }],
      topTalkers: [{ src, dst: "10.0.0.9", bytes, packets: 3, flows: 2, protocol: 6, dstPort: 22 }],
    });
    const m = mergeMinutes([part(100, 1, "10.0.0.1"), part(50, 2, "10.0.0.1"), part(70, 1, "10.0.0.2")]);
    expect(m).toMatchObject({ host: "192.0.2.1", flows: 6, bytes: 220, packets: 9 });
    expect(m.interfaces).toEqual([
      { ifIndex: 1, inBytes: 170, inPackets: 6, outBytes: 0, outPackets: 0 },
      { ifIndex: 2, inBytes: 50, inPackets: 3, outBytes: 0, outPackets: 0 },
    ]);
    expect(m.topTalkers.map((t) => [t.src, t.bytes, t.flows])).toEqual([
      ["10.0.0.1", 150, 4],
      ["10.0.0.2", 70, 2],
    ]);
  });
});

const built = existsSync(BIN);
describe.skipIf(!built)("fleetnet-telemetry collect (needs `tsc -b services/telemetry`)", () => {
  async function runBin(
    env: Record<string, string>,
    pkts: Uint8Array[],
    during?: () => Promise<void>,
    opts: { burst?: number } = {},
  ): Promise<Record<string, unknown>> {
    const r = await runCollectBin(BIN, env, pkts, { ...opts, ...(during ? { during } : {}) });
    expect(r.code).toBe(0);
    return r.report;
  }

  const v9 = payloads("softflowd-v9.pcapng");
  const ipfix = payloads("softflowd-ipfix.pcapng");
  const nV9 = expected("softflowd-v9.pcapng").length;
  const nIpfix = expected("softflowd-ipfix.pcapng").length;

  it("prints {records, packets, drops} on SIGTERM (one process)", async () => {
    const r = await runBin({ PORT: String(await freeUdpPort()), RCVBUF: "0" }, [...v9, ...ipfix]);
    expect(r).toMatchObject({ records: nV9 + nIpfix, packets: 2, drops: 0, workers: 1 });
  }, 30_000);

  it("METRICS_PORT: records, packets, drops, sequence loss, template misses, decode errors on /metrics", async () => {
    const mport = await freeTcpPort();
    let body = "";
    // the fixtures, then one garbage datagram (a decode error)
    const pkts = [...v9, ...ipfix, Uint8Array.from([0, 10, 0, 3])];
    const r = await runBin(
      { PORT: String(await freeUdpPort()), METRICS_PORT: String(mport) },
      pkts,
      async () => {
        body = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
      },
    );
    const val = (name: string) => Number(body.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, "m"))?.[1]);
    expect(val("fleetnet_flow_records_total")).toBe(r.records);
    expect(val("fleetnet_flow_packets_total")).toBe(pkts.length);
    expect(val("fleetnet_flow_template_misses_total")).toBe(r.templateMisses);
    expect(val("fleetnet_flow_records_total")).toBe(nV9 + nIpfix);
    expect(val("fleetnet_flow_decode_errors_total")).toBeGreaterThan(0);
    expect(val("fleetnet_flow_sequence_lost_total")).toBe(r.sequenceLost);
    expect(val("fleetnet_flow_kernel_drops_total")).toBe(0);
  }, 30_000);

  it("two workers on one socket share templates: every record counted once", async () => {
    const port = await freeUdpPort();
    // One template-bearing packet, then the same packet many times: whichever worker gets a copy
    // must decode it (the first copy's templates reach the other worker through the primary).
    const pkts = [...v9, ...Array.from({ length: 40 }, () => v9[0] as Uint8Array)];
    const r = await runBin({ PORT: String(port), WORKERS: "2" }, pkts);
    // 40 duplicates of one sequence number are not loss
    expect(r).toMatchObject({ records: nV9 * 41, packets: 41, drops: 0, workers: 2, sequenceLost: 0 });
  }, 30_000);

  it("WORKERS=2: counters and sequence loss summed by the primary — final line and /metrics agree", async () => {
    const port = await freeUdpPort();
    const mport = await freeTcpPort();
    // One exporter's v9 stream, sequence 1..3000 in bursts, with 7 sequence numbers never sent
    // (2 gaps); both workers get a share of every stretch, so per-worker tracking would see
    // hundreds of gaps.
    const missing = new Set([500, 501, 502, 503, 504, 2222, 2223]);
    const seqs = Array.from({ length: 3000 }, (_, i) => i + 1).filter((s) => !missing.has(s));
    const pkts = seqs.map((s) => v9Packet(s, s === 1));
    let body = "";
    const r = await runBin(
      { PORT: String(port), WORKERS: "2", METRICS_PORT: String(mport) },
      pkts,
      async () => {
        // past the primary's 2 s grace: the gaps are settled, the metrics final
        await new Promise((res) => setTimeout(res, 2600));
        body = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
      },
      { burst: 40 },
    );
    const recs = seqs.length * 2;
    expect(r).toMatchObject({
      packets: seqs.length,
      records: recs,
      sequenceLost: 7,
      templateMisses: 0,
      workers: 2,
    });
    const spread = r.workerPackets as number[];
    expect(spread).toHaveLength(2);
    expect(Math.min(...spread)).toBeGreaterThan(0);
    const val = (name: string) => Number(body.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, "m"))?.[1]);
    expect(val("fleetnet_flow_packets_total")).toBe(seqs.length);
    expect(val("fleetnet_flow_records_total")).toBe(recs);
    expect(val("fleetnet_flow_sequence_lost_total")).toBe(7);
    expect(val("fleetnet_flow_template_misses_total")).toBe(0);
    expect(val("fleetnet_flow_kernel_drops_total")).toBe(0);
  }, 60_000);

  it("bad environment: exit 2 naming the variable", async () => {
    const child = spawn(process.execPath, [BIN, "collect"], { env: { ...process.env, PORT: "nope" } });
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
    });
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(code).toBe(2);
    expect(err).toMatch(/PORT="nope": not a UDP port .*CONFIG_INVALID/);
  }, 30_000);
});

describe("rcvbufWarning", () => {
  it("warns when net.core.rmem_max capped the receive buffer RCVBUF asked for, naming the fix", () => {
    expect(rcvbufWarning(16777216, 425984, 212992)).toBe(
      "fleetnet-telemetry: warning: RCVBUF=16777216 asked, the kernel granted 425984 (net.core.rmem_max is 212992); raise it: sysctl -w net.core.rmem_max=33554432\n",
    );
  });
  it("is quiet for the kernel default (0) and when the kernel granted the request (Linux reports twice)", () => {
    expect(rcvbufWarning(0, 212992, 212992)).toBeUndefined();
    expect(rcvbufWarning(16777216, 33554432, 33554432)).toBeUndefined();
  });
});
