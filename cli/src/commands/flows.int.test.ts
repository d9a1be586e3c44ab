/**
 * `fleetnet flows top` end to end in-process, on a private nats-server and redis-server: real
 * softflowd export packets (libs/netflow fixtures) go through the collector (`FlowCollector` +
 * `FlowPersistence` → Redis), the real telemetry service answers `flows` from Redis, and the CLI
 * handler prints what it answered. The service is imported only by this test (vitest alias); the
 * CLI itself talks to it over NATS only.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeCapture, readCaptureFile } from "@fleetnet/netflow";
import { subjects } from "@fleetnet/protocol";
import { createLogger } from "@fleetnet/runtime";
import { FlowCollector, FlowPersistence, FlowStore, TelemetryService } from "@fleetnet/telemetry";
import {
  attachNats,
  attachRedis,
  type NatsAttachment,
  type PrivateServer,
  type RedisAttachment,
  startNatsServer,
  startRedisServer,
} from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../io.js";
import { runTop } from "./flows.js";
import { withTelemetry } from "./telemetry.js";

const FIXTURES = fileURLToPath(new URL("../../../libs/netflow/fixtures/", import.meta.url));
const PREFIX = "fnft-test:flows";
/** Exporter name per fixture: the rollup's host. */
const FEEDS = [
  { file: "softflowd-v9-sampled.pcapng", host: "192.0.2.9" },
  { file: "softflowd-v5.pcapng", host: "192.0.2.5" },
];

const intents = `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: lab}
spec:
  hosts:
    - name: fnft-a
      labels: {role: web}
      underlay: {interface: veth0, address: 192.0.2.9/24}
      transport: {driver: netns, namespace: fnfta}
`;

interface Expect {
  host: string;
  bytes: number;
  packets: number;
  flows: number;
  /** src→dst pairs: bytes/packets sampled, records, the protocols and dst ports seen. */
  talkers: Map<string, Pair>;
  lastMs: number;
}

interface Pair {
  src: string;
  dst: string;
  bytes: number;
  packets: number;
  flows: number;
  protocols: Set<number | null>;
  ports: Set<number | null>;
}

/** The heaviest expected pair (ties by src, dst as the rollup orders them). */
function topPair(e: Expect): Pair {
  const all = [...e.talkers.values()].sort(
    (x, y) => y.bytes - x.bytes || x.src.localeCompare(y.src) || x.dst.localeCompare(y.dst),
  );
  return all[0] as Pair;
}

/** What the rollups must add up to: the offline decode, sampling applied, by src→dst pair. */
function expected(file: string, host: string): Expect {
  const e: Expect = { host, bytes: 0, packets: 0, flows: 0, talkers: new Map(), lastMs: 0 };
  for (const r of decodeCapture(readCaptureFile(join(FIXTURES, file))).records) {
    if (r.kind !== "flow") continue;
    const rate = r.samplingRate ?? 1;
    e.flows++;
    e.bytes += (r.bytes ?? 0) * rate;
    e.packets += (r.packets ?? 0) * rate;
    if (r.srcAddr === null || r.dstAddr === null) continue;
    const key = `${r.srcAddr} ${r.dstAddr}`;
    const p = e.talkers.get(key) ?? {
      src: r.srcAddr,
      dst: r.dstAddr,
      bytes: 0,
      packets: 0,
      flows: 0,
      protocols: new Set(),
      ports: new Set(),
    };
    p.bytes += (r.bytes ?? 0) * rate;
    p.packets += (r.packets ?? 0) * rate;
    p.flows++;
    p.protocols.add(r.protocol);
    p.ports.add(r.dstPort);
    e.talkers.set(key, p);
  }
  return e;
}

function capture() {
  const lines: string[] = [];
  return { lines, out: { stdout: (t: string) => lines.push(t), stderr: (t: string) => lines.push(t) } };
}

let nats: PrivateServer;
let redisServer: PrivateServer;
let red: RedisAttachment;
let att: NatsAttachment;
let svc: TelemetryService | undefined;
let nowMs = Date.now();
const exp: Expect[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  redisServer = await startRedisServer();
  red = await attachRedis(redisServer.url);
  att = await attachNats(nats.url);
  const collector = new FlowCollector();
  // Fixtures were recorded days ago: a long retention keeps their minutes in the index.
  const persist = new FlowPersistence(
    collector,
    new FlowStore(red.redis, { prefix: PREFIX, retentionS: 10 * 365 * 86_400 }),
  );
  for (const f of FEEDS) {
    for (const d of readCaptureFile(join(FIXTURES, f.file)).datagrams)
      collector.handle(d.payload, f.host, 2055);
    exp.push(expected(f.file, f.host));
  }
  await persist.flush(true);
  const ms = (await red.redis.zrange(`${PREFIX}:idx:192.0.2.9`, "0", "-1")).map((m) => Date.parse(m));
  nowMs = Math.max(...ms) + 30_000;
  svc = await TelemetryService.start({
    nc: att.nc,
    redis: red.redis,
    logger: createLogger({ level: "silent", serviceName: "fnft" }),
    intentFiles: [{ name: "inv.yaml", text: intents }],
    flowsPrefix: PREFIX,
    now: () => nowMs,
  });
}, 30_000);

afterAll(async () => {
  await svc?.stop();
  await att?.[Symbol.asyncDispose]();
  await red?.[Symbol.asyncDispose]();
  await redisServer?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
});

const env = () => ({ NATS_URL: nats.url });

describe("flows top", () => {
  it("the service answers per-host totals and top talkers of the collector's rollups (sampling applied)", async () => {
    const sampled = exp[0] as Expect;
    expect(sampled.flows).toBeGreaterThan(0);
    const a = await svc?.flows({ minutes: 1440, host: sampled.host });
    expect(a?.hosts).toHaveLength(1);
    const h = a?.hosts[0];
    expect(h).toMatchObject({
      host: sampled.host,
      name: "fnft-a",
      bytes: sampled.bytes,
      packets: sampled.packets,
      flows: sampled.flows,
    });
    // top talkers are src→dst pairs with bytes, packets and records summed over the window
    const top = topPair(sampled);
    const got = h?.topTalkers[0];
    expect(got).toMatchObject({
      src: top.src,
      dst: top.dst,
      bytes: top.bytes,
      packets: top.packets,
      flows: top.flows,
    });
    expect(top.protocols).toContain(got?.protocol);
    expect(top.ports).toContain(got?.dstPort);
    expect(h?.topTalkers.length).toBe(Math.min(10, sampled.talkers.size));
    for (const t of h?.topTalkers ?? []) {
      expect(t.bytes).toBe(sampled.talkers.get(`${t.src} ${t.dst}`)?.bytes);
    }
    // sampling 1:4 applied: the totals are 4x the exported bytes
    const raw = decodeCapture(readCaptureFile(join(FIXTURES, FEEDS[0]?.file as string)))
      .records.filter((r) => r.kind === "flow")
      .reduce((s, r) => s + (r.bytes ?? 0), 0);
    expect(h?.bytes).toBe(raw * 4);
    // the inventory name selects the host's exporter address too
    expect((await svc?.flows({ minutes: 1440, host: "fnft-a" }))?.hosts).toEqual(a?.hosts);
  });

  it("the CLI prints the hosts' table and top talkers over NATS; --json is the answer", async () => {
    const sampled = exp[0] as Expect;
    const c = capture();
    expect(
      await withTelemetry((call) => runTop(call, { minutes: "1440", host: sampled.host }, c.out), env()),
    ).toBe(0);
    const text = c.lines.join("");
    expect(text).toMatch(
      new RegExp(
        `^fnft-a\\s+${sampled.host.replace(/\./g, "\\.")}\\s+${sampled.bytes}\\s+${sampled.packets}\\s+${sampled.flows}\\s`,
        "m",
      ),
    );
    expect(text).toContain(`top talkers of fnft-a (${sampled.host})`);
    const top = topPair(sampled);
    const esc = (a: string) => a.replace(/\./g, "\\.");
    expect(text).toMatch(/^ {2}SOURCE\s+DESTINATION\s+PROTO\/PORT\s+BYTES\s+PACKETS$/m);
    expect(text).toMatch(
      new RegExp(
        `^  ${esc(top.src)}\\s+→\\s+${esc(top.dst)}\\s+\\S+\\s+${top.bytes}\\s+${top.packets}$`,
        "m",
      ),
    );
    const j = capture();
    expect(await withTelemetry((call) => runTop(call, { minutes: 1440, json: true }, j.out), env())).toBe(0);
    const body = JSON.parse(j.lines.join("")) as {
      minutes: number;
      hosts: Array<{ host: string; bytes: number; topTalkers: Array<Record<string, unknown>> }>;
    };
    expect(body.minutes).toBe(1440);
    // the documented JSON shape of a talker pair
    const pair = body.hosts.find((h) => h.host === sampled.host)?.topTalkers[0];
    expect(Object.keys(pair ?? {}).sort()).toEqual(
      ["bytes", "dst", "dstPort", "flows", "packets", "protocol", "src"].sort(),
    );
    // both exporters whose minutes fall in the window, none other
    const inWindow = exp.filter((e) => e.flows > 0).map((e) => e.host);
    for (const h of body.hosts) expect(inWindow).toContain(h.host);
    expect(body.hosts.map((h) => h.host)).toContain(sampled.host);
  });

  it("an empty window and an unknown host print 'no flow rollups'; bad --minutes is a usage error", async () => {
    const c = capture();
    expect(await withTelemetry((call) => runTop(call, { host: "203.0.113.1" }, c.out), env())).toBe(0);
    expect(c.lines.join("")).toContain("no flow rollups in the last 5 min for 203.0.113.1");
    await expect(
      withTelemetry((call) => runTop(call, { minutes: "0" }, capture().out), env()),
    ).rejects.toThrow(UsageError);
    await expect(svc?.flows({ minutes: "x" })).rejects.toThrow(/field minutes/);
    // over NATS: the error envelope with its code
    const m = await att.nc.request(subjects.telemetryApi("flows"), JSON.stringify({ host: 7 }), {
      timeout: 5000,
    });
    expect(JSON.parse(new TextDecoder().decode(m.data))).toMatchObject({
      ok: false,
      error: { code: "BAD_REQUEST", message: expect.stringMatching(/field host/) },
    });
  });

  it("no service answering is TELEMETRY_UNAVAILABLE", async () => {
    const other = await startNatsServer();
    try {
      await expect(
        withTelemetry((call) => runTop(call, {}, capture().out), { NATS_URL: other.url }, 500),
      ).rejects.toMatchObject({ code: "TELEMETRY_UNAVAILABLE", retryable: true });
    } finally {
      await other[Symbol.asyncDispose]();
    }
  });
});
