/**
 * `plan` for a fleet whose plan is far over NATS's default max_payload (1 MiB): the reply
 * carries the summary + per-host op counts, the plan travels page by page. Real planner API,
 * a PRIVATE nats-server with default settings, the shared Redis.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAndValidate, RolloutPolicySpecSchema } from "@fleetnet/intent";
import { buildPlan, type Plan } from "@fleetnet/netstate";
import { type AuditEvent, publishAuditEvent, streamConfigs, subjects } from "@fleetnet/protocol";
import {
  connectJetStream,
  connectNats,
  createLogger,
  ensureStream,
  loadConfig,
  type NatsConnection,
} from "@fleetnet/runtime";
import { meshOverlayYaml, type PrivateServer, startNatsServer } from "@fleetnet/testkit";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENTS_PAGE_MAX, PLAN_PAGE_MAX, type PlannerApi, planPagesKey, startPlannerApi } from "./api.js";
import { machineConfig, newRollout } from "./machine.js";
import type { RolloutRunner } from "./runner.js";
import { RolloutStore } from "./store.js";
import { planWaves } from "./waves.js";

const N = 200;
const tag = randomBytes(3).toString("hex");
const hosts = Array.from({ length: N }, (_, i) => `pg${tag}-${String(i).padStart(3, "0")}`);
const inventory = `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: big}
spec:
  hosts:
${hosts
  .map(
    (h, i) => `    - name: ${h}
      labels: {role: hypervisor}
      underlay: {interface: veth0, address: 10.251.${Math.floor(i / 250)}.${(i % 250) + 1}/16}
      transport: {driver: netns, namespace: fnpg-${i}}`,
  )
  .join("\n")}
`;
const intents = meshOverlayYaml("big", hosts);
const files = [
  { name: "inventory.yaml", text: inventory },
  { name: "intents.yaml", text: intents },
];

let server: PrivateServer;
let nc: NatsConnection;
let redis: Redis;
let api: PlannerApi;
let store: RolloutStore;
const rolloutId = `r-pg-${tag}`;
let js: Awaited<ReturnType<typeof connectJetStream>>["js"];
const sizes: number[] = [];
const planIds: string[] = [];

async function call(body: unknown) {
  const m = await nc.request(subjects.api("plan"), JSON.stringify(body), { timeout: 60_000 });
  sizes.push(m.data.length);
  // biome-ignore lint/suspicious/noExplicitAny: replies are JSON, checked field by field below
  return JSON.parse(new TextDecoder().decode(m.data)) as Record<string, any>;
}

beforeAll(async () => {
  server = await startNatsServer(); // defaults: max_payload 1 MiB
  const config = loadConfig({ NATS_URL: server.url }, { serviceName: "plan-pages-test" });
  nc = await connectNats(config, {
    logger: createLogger({ serviceName: "plan-pages-test", level: "error" }),
    name: "plan-pages-test",
  });
  redis = new Redis("redis://127.0.0.1:6379", { lazyConnect: true });
  await redis.connect();
  const conn = await connectJetStream(nc);
  js = conn.js;
  for (const cfg of streamConfigs) await ensureStream(conn.jsm, cfg as never);
  store = new RolloutStore(redis);
  // `plan` never touches the runner; `events` only reads its store (the real Redis one)
  api = await startPlannerApi({ nc, js, redis, runner: { store } as unknown as RolloutRunner });
}, 30_000);

afterAll(async () => {
  await api?.stop();
  await store?.remove(rolloutId).catch(() => {});
  for (const id of planIds) await redis?.del(planPagesKey(id));
  await nc?.close().catch(() => {});
  redis?.disconnect();
  await server?.stop();
});

describe(`plan of ${N} hosts in one VXLAN full mesh under the default max_payload`, () => {
  it("replies with the summary and op counts, then pages ≤ 512 KiB that assemble to buildPlan's plan", async () => {
    expect(nc.info?.max_payload).toBe(1024 * 1024);
    const head = await call({ files });
    expect(head.ok).toBe(true);
    planIds.push(head.planId);
    expect(head.paged).toBe(true);
    expect(head.plan).toBeUndefined();
    expect(head.unobserved).toHaveLength(N);

    const dir = mkdtempSync(join(tmpdir(), "fnpg-"));
    let want: Plan;
    try {
      for (const f of files) writeFileSync(join(dir, f.name), f.text);
      const v = loadAndValidate(files.map((f) => join(dir, f.name)));
      expect(v.valid).toBe(true);
      want = buildPlan(v.inventory as never, v.intents, "assume-empty");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const wantJson = JSON.stringify(want).length;
    expect(wantJson).toBeGreaterThan(1024 * 1024); // the point: one reply could not carry it
    expect(head.summary).toEqual(want.summary);
    expect(head.planHash).toBe(want.hash.replace(/^sha256:/, "sha256-"));
    expect(head.hostOps).toEqual(want.hosts.map((h) => ({ host: h.host, ops: h.ops.length })));

    const got: Plan["hosts"] = [];
    let allocations: unknown;
    let pages = 0;
    for (let offset: number | null = 0; offset !== null; pages++) {
      const page = await call({ planId: head.planId, hosts: { offset } });
      expect(page.ok).toBe(true);
      expect(page.offset).toBe(offset);
      expect(sizes.at(-1)).toBeLessThanOrEqual(PLAN_PAGE_MAX + 1024);
      if (offset === 0) allocations = page.allocations;
      expect(page.hash).toBe(want.hash);
      got.push(...page.hosts);
      offset = page.next;
    }
    expect(pages).toBeGreaterThan(1);
    expect(got.map((h) => h.host)).toEqual(want.hosts.map((h) => h.host));
    expect(got).toEqual(want.hosts); // same ops, same order
    expect(allocations).toEqual(want.allocations);
    console.log(
      `plan ${N} hosts: full plan ${wantJson} B; head reply ${sizes[0]} B; ${pages} page(s), largest ${Math.max(...sizes.slice(1))} B`,
    );

    // limit and unknown plan
    const one = await call({ planId: head.planId, hosts: { offset: 5, limit: 1 } });
    expect(one.hosts.map((h: { host: string }) => h.host)).toEqual([hosts[5]]);
    expect(one.next).toBe(6);
    expect(await call({ planId: "no-such-plan" })).toMatchObject({
      ok: false,
      error: { code: "PLAN_NOT_FOUND" },
    });
    expect(await call({ planId: head.planId, hosts: { offset: -1 } })).toMatchObject({
      ok: false,
      error: { code: "BAD_REQUEST" },
    });
  }, 120_000);
});

describe("summary-only plan (what `fleetnet apply` asks before submitting)", () => {
  it("replies with the summary and op counts alone and stores no plan view", async () => {
    const head = await call({ files, summaryOnly: true, by: "alice" });
    expect(head.ok).toBe(true);
    planIds.push(head.planId);
    expect(Object.keys(head).sort()).toEqual(
      ["hostOps", "ok", "planHash", "planId", "summary", "unobserved"].sort(),
    );
    expect(head.hostOps).toHaveLength(N);
    expect(head.summary).toMatchObject({ hosts: N, changedHosts: N });
    expect(sizes.at(-1)).toBeLessThan(64 * 1024);
    expect(await redis.exists(planPagesKey(head.planId))).toBe(0);
    expect(await call({ planId: head.planId })).toMatchObject({
      ok: false,
      error: { code: "PLAN_NOT_FOUND" },
    });
    // the same request without summaryOnly stores its view for paging (the contrast)
    const paged = await call({ files, summaryOnly: false });
    planIds.push(paged.planId);
    expect(paged).toMatchObject({ ok: true, paged: true, planHash: head.planHash });
    expect(await redis.exists(planPagesKey(paged.planId))).toBe(1);
    expect(await call({ files, summaryOnly: "yes" })).toMatchObject({
      ok: false,
      error: { code: "BAD_REQUEST", message: expect.stringContaining("summaryOnly") },
    });
  }, 120_000);
});

describe("events of a rollout larger than one reply", () => {
  it("replies ≤ ~512 KiB with `next`; following `next` gives every event exactly once", async () => {
    const policy = RolloutPolicySpecSchema.parse({});
    const s0 = newRollout(
      rolloutId,
      planWaves([{ name: "a1", labels: {} }], policy).waves,
      machineConfig(policy, 1),
      0,
    );
    await store.create(s0, "plan-pg");
    const n = 3_000;
    const detail = "x".repeat(400);
    const sent: AuditEvent[] = [];
    for (let i = 0; i < n; i++) {
      const ev: AuditEvent = {
        v: 1,
        id: `ev-${tag}-${i}`,
        at: new Date(1_700_000_000_000 + i).toISOString(),
        actor: { kind: "planner", id: "planner-pg" },
        action: "host.applied",
        target: { rolloutId, host: hosts[i % N] as string },
        result: "ok",
        details: { detail },
      } as AuditEvent;
      sent.push(ev);
    }
    await Promise.all(
      sent.map((ev) => publishAuditEvent(js as never, subjects.rolloutEvents(rolloutId), ev)),
    );
    const got: AuditEvent[] = [];
    let pages = 0;
    for (let after: number | null | undefined; after !== null; pages++) {
      const m = await nc.request(
        subjects.api("events"),
        JSON.stringify({ rolloutId, ...(after === undefined ? {} : { after }) }),
        { timeout: 60_000 },
      );
      expect(m.data.length).toBeLessThanOrEqual(EVENTS_PAGE_MAX + 4096);
      const r = JSON.parse(new TextDecoder().decode(m.data));
      expect(r.ok).toBe(true);
      got.push(...r.events);
      after = r.next;
    }
    expect(pages).toBeGreaterThan(1);
    expect(got.map((e) => e.id).sort()).toEqual(sent.map((e) => e.id).sort());
    expect(new Set(got.map((e) => e.id)).size).toBe(n);
  }, 120_000);
});
