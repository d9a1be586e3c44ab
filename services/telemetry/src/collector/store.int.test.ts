/**
 * Collector persistence against the real Redis (127.0.0.1:6379) and NATS (127.0.0.1:4222):
 * a restarted collector decodes data at once from saved templates; host-minutes are stored with
 * a TTL, indexed per host, merged into top talkers, and published on NATS.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { connectNats, createLogger, loadConfig, type NatsConnection } from "@fleetnet/runtime";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FlowCollector } from "./collector.js";
import { FLOWS_SUBJECT, FlowPersistence, FlowStore } from "./store.js";
import { freeUdpPort, runCollectBin } from "./testing.js";

const u16 = (n: number) => [(n >> 8) & 255, n & 255];
const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const SECS = Math.floor(Date.now() / 1000);
const v9 = (seq: number, sets: number[][]) =>
  Uint8Array.from([...u16(9), ...u16(1), ...u32(1000), ...u32(SECS), ...u32(seq), ...u32(0), ...sets.flat()]);
const set = (id: number, body: number[]) => [...u16(id), ...u16(4 + body.length), ...body];
// Template 300: src addr, dst addr, bytes, packets, input/output ifIndex.
const TPL = set(0, [...u16(300), ...u16(6), ...[8, 4, 12, 4, 1, 4, 2, 4, 10, 2, 14, 2].flatMap(u16)]);
const rec = (a: number, bytes: number) => [
  10,
  1,
  0,
  a,
  10,
  2,
  0,
  9,
  ...u32(bytes),
  ...u32(1),
  ...u16(3),
  ...u16(7),
];
const DATA = set(300, [...rec(1, 5000), ...rec(2, 300), ...rec(1, 700)]);

describe("collector persistence (Redis + NATS)", () => {
  const prefix = `fnf-test:${process.pid}:${Date.now()}`;
  let redis: Redis;
  let nc: NatsConnection;
  beforeAll(async () => {
    redis = new Redis("redis://127.0.0.1:6379", { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const cfg = loadConfig({ NATS_URL: "nats://127.0.0.1:4222", OTEL_SERVICE_NAME: "fnf-test" });
    nc = await connectNats(cfg, { logger: createLogger({ level: "silent", serviceName: "fnf-test" }) });
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await nc?.close();
  });

  it("a restarted collector loses no template: data decodes before any template resend", async () => {
    const store = new FlowStore(redis, { prefix });
    const first = new FlowCollector();
    const p1 = new FlowPersistence(first, store);
    first.handle(v9(1, [TPL]), "192.0.2.50", 2055);
    await p1.flush();
    // "Restart": a new process state, templates loaded from Redis before listening.
    const second = new FlowCollector();
    const p2 = new FlowPersistence(second, store);
    expect(await p2.restore()).toBe(1);
    second.handle(v9(2, [DATA]), "192.0.2.50", 2055);
    expect(second.counts()).toMatchObject({ records: 3, templateMisses: 0 });
    // Without the restore the same packet waits for a template.
    const cold = new FlowCollector();
    cold.handle(v9(2, [DATA]), "192.0.2.50", 2055);
    expect(cold.counts().records).toBe(0);
  });

  it("host-minutes are stored with the retention TTL, indexed per host, published on NATS", async () => {
    const store = new FlowStore(redis, { prefix, retentionS: 120 });
    const c = new FlowCollector();
    const p = new FlowPersistence(c, store, nc);
    const sub = nc.subscribe(FLOWS_SUBJECT, { max: 1 });
    const got = (async () => {
      for await (const m of sub) return JSON.parse(m.string()) as Record<string, unknown>;
      return null;
    })();
    c.handle(v9(1, [TPL, DATA]), "192.0.2.51", 2055);
    expect(await p.flush(true)).toBe(1);
    const msg = await got;
    expect(msg).toMatchObject({ host: "192.0.2.51", flows: 3, bytes: 6000, packets: 3 });
    const minutes = await store.minutes("192.0.2.51", 0);
    expect(minutes).toHaveLength(1);
    expect(minutes[0]?.interfaces).toEqual([
      { ifIndex: 3, inBytes: 6000, inPackets: 3, outBytes: 0, outPackets: 0 },
      { ifIndex: 7, inBytes: 0, inPackets: 0, outBytes: 6000, outPackets: 3 },
    ]);
    const ttl = await redis.ttl(`${prefix}:min:192.0.2.51:${minutes[0]?.minute}`);
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
    // top talkers: src→dst pairs (this template has no protocol/ports)
    expect(await store.topTalkers("192.0.2.51", 0)).toEqual([
      { src: "10.1.0.1", dst: "10.2.0.9", bytes: 5700, packets: 2, flows: 2, protocol: null, dstPort: null },
      { src: "10.1.0.2", dst: "10.2.0.9", bytes: 300, packets: 1, flows: 1, protocol: null, dstPort: null },
    ]);
    expect(await redis.sismember(`${prefix}:hosts`, "192.0.2.51")).toBe(1);
  });

  const BIN = fileURLToPath(new URL("../../dist/bin.js", import.meta.url));
  it.skipIf(!existsSync(BIN))(
    "`collect` with REDIS_URL: a restart decodes data at once (needs tsc -b)",
    async () => {
      const port = await freeUdpPort();
      const env = {
        PORT: String(port),
        REDIS_URL: "redis://127.0.0.1:6379",
        FLOWS_REDIS_PREFIX: `${prefix}:bin`,
      };
      const run = async (pkt: Uint8Array) => (await runCollectBin(BIN, env, [pkt])).report;
      expect(await run(v9(1, [TPL]))).toMatchObject({ packets: 1, records: 0 });
      expect(await run(v9(2, [DATA]))).toMatchObject({ packets: 1, records: 3, templateMisses: 0 });
    },
    60_000,
  );

  it.skipIf(!existsSync(BIN))(
    "`collect` WORKERS=2 with REDIS_URL: both workers' parts of a host-minute merged in Redis; a restart decodes at once",
    async () => {
      const port = await freeUdpPort();
      const px = `${prefix}:w2`;
      const env = {
        PORT: String(port),
        WORKERS: "2",
        REDIS_URL: "redis://127.0.0.1:6379",
        FLOWS_REDIS_PREFIX: px,
      };
      const run = async (pkts: Uint8Array[]) => {
        const r = await runCollectBin(BIN, env, pkts, { burst: 20 });
        expect(r.stderr).toContain("2 workers, one shared socket, Redis");
        return r.report;
      };
      const stored = async () => {
        const names = await redis.zrange(`${px}:idx:127.0.0.1`, "0", "-1");
        const docs = await redis.mget(...names.map((n) => `${px}:min:127.0.0.1:${n}`));
        return { names, docs: docs.filter((d): d is string => d !== null).map((d) => JSON.parse(d)) };
      };
      // 1. a template, then 299 data packets spread over both workers
      const first = await run([
        v9(1, [TPL, DATA]),
        ...Array.from({ length: 299 }, (_, i) => v9(i + 2, [DATA])),
      ]);
      expect(first).toMatchObject({ packets: 300, records: 900, templateMisses: 0, sequenceLost: 0 });
      expect(Math.min(...(first.workerPackets as number[]))).toBeGreaterThan(0);
      let r = await stored();
      // one document per host-minute holding both workers' parts
      expect(new Set(r.names).size).toBe(r.names.length);
      expect(r.docs.reduce((a, m) => a + m.flows, 0)).toBe(900);
      expect(r.docs.reduce((a, m) => a + m.bytes, 0)).toBe(300 * 6000);
      expect(await redis.hlen(`${px}:templates`)).toBe(1);
      // 2. restarted: data only, decoded at once by whichever worker gets it; merged into the minutes
      const second = await run(Array.from({ length: 100 }, (_, i) => v9(i + 301, [DATA])));
      expect(second).toMatchObject({ packets: 100, records: 300, templateMisses: 0, pendingSets: 0 });
      r = await stored();
      expect(r.docs.reduce((a, m) => a + m.flows, 0)).toBe(1200);
      const pairs = r.docs.flatMap((m) => m.topTalkers);
      expect(pairs.filter((t) => t.src === "10.1.0.1").reduce((a, t) => a + t.bytes, 0)).toBe(400 * 5700);
    },
    60_000,
  );
});
