/**
 * `PlannerClient.plan` + `fullPlan` against a PRIVATE nats-server with default settings
 * (max_payload 1 MiB). The planner is played by a NATS responder with replies of the
 * planner's shape (the CLI may not import a service; the planner's own int test
 * `plan-pages.int.test.ts` covers the real pages): a 200-host VXLAN full-mesh plan (> 1 MiB)
 * served page by page assembles to exactly netstate's `buildPlan` plan.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAndValidate } from "@fleetnet/intent";
import { buildPlan, type Plan } from "@fleetnet/netstate";
import { subjects } from "@fleetnet/protocol";
import { connectNats, createLogger, loadConfig, type NatsConnection } from "@fleetnet/runtime";
import { meshOverlayYaml, type PrivateServer, startNatsServer } from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlannerClient } from "./rollout-api.js";

const N = 200;
const hosts = Array.from({ length: N }, (_, i) => `h${String(i).padStart(3, "0")}`);
const files = [
  {
    name: "inventory.yaml",
    text: `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: big}
spec:
  hosts:
${hosts.map((h, i) => `    - name: ${h}\n      underlay: {interface: veth0, address: 10.251.${Math.floor(i / 250)}.${(i % 250) + 1}/16}\n      transport: {driver: netns, namespace: fnpa-${i}}`).join("\n")}
`,
  },
  {
    name: "intents.yaml",
    text: meshOverlayYaml("big", hosts),
  },
];

let server: PrivateServer;
let planner: NatsConnection;
let client: PlannerClient;
let plan: Plan;
let inline = false;
const replySizes: number[] = [];
const requests: Record<string, unknown>[] = [];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "fnpa-"));
  try {
    for (const f of files) writeFileSync(join(dir, f.name), f.text);
    const v = loadAndValidate(files.map((f) => join(dir, f.name)));
    if (!v.valid || !v.inventory) throw new Error("test intents invalid");
    plan = buildPlan(v.inventory, v.intents, "assume-empty", { planId: "p-big" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  server = await startNatsServer();
  const config = loadConfig({ NATS_URL: server.url }, { serviceName: "planner-standin" });
  planner = await connectNats(config, {
    logger: createLogger({ serviceName: "planner-standin", level: "error" }),
    name: "planner-standin",
  });
  const sub = planner.subscribe(subjects.api("plan"));
  void (async () => {
    for await (const m of sub) {
      const req = JSON.parse(new TextDecoder().decode(m.data));
      requests.push(req);
      const { hosts: all, allocations, ...head } = plan;
      let out: object;
      if (req.files) {
        out = {
          planHash: plan.hash.replace("sha256:", "sha256-"),
          planId: plan.planId,
          summary: plan.summary,
          hostOps: all.map((h) => ({ host: h.host, ops: h.ops.length })),
          unobserved: hosts,
          ...(req.summaryOnly
            ? {}
            : inline
              ? { plan: { ...plan, hosts: all.slice(0, 2) } }
              : { paged: true }),
        };
      } else {
        const offset = req.hosts.offset as number;
        const end = Math.min(all.length, offset + 37);
        out = {
          ...head,
          ...(offset === 0 ? { allocations } : {}),
          total: all.length,
          offset,
          next: end < all.length ? end : null,
          hosts: all.slice(offset, end),
        };
      }
      const text = JSON.stringify({ ok: true, ...out });
      replySizes.push(text.length);
      m.respond(text);
    }
  })();
  client = await PlannerClient.connect({ NATS_URL: server.url });
}, 30_000);

afterAll(async () => {
  await client?.close();
  await planner?.close().catch(() => {});
  await server?.stop();
});

describe("PlannerClient: a plan bigger than NATS's max_payload", () => {
  it("plan() gives the summary; fullPlan() assembles the pages into buildPlan's plan", async () => {
    expect(JSON.stringify(plan).length).toBeGreaterThan(1024 * 1024);
    const reply = await client.plan(files, "alice");
    expect(reply.summary).toEqual(plan.summary);
    expect(reply.hostOps).toHaveLength(N);
    const full = await client.fullPlan(reply);
    expect(full).toEqual(plan); // same id, hash, summary, allocations, every host's ops in order
    expect(Math.max(...replySizes)).toBeLessThan(1024 * 1024);
  });

  it("plan(…, {summaryOnly: true}) (apply's question) asks for the summary alone", async () => {
    const reply = await client.plan(files, "bob", { summaryOnly: true });
    expect(requests.at(-1)).toMatchObject({ by: "bob", summaryOnly: true });
    expect(reply.summary).toEqual(plan.summary);
    expect(reply.plan).toBeUndefined();
    expect(reply.paged).toBeUndefined();
    await client.plan(files);
    expect(requests.at(-1)).not.toHaveProperty("summaryOnly"); // `fleetnet plan` pages as before
  });

  it("a small plan travels inline (no page requests)", async () => {
    inline = true;
    try {
      const before = replySizes.length;
      const reply = await client.plan(files.slice(0, 2));
      expect(reply.plan).toBeDefined();
      expect(await client.fullPlan(reply)).toBe(reply.plan);
      expect(replySizes.length).toBe(before + 1);
    } finally {
      inline = false;
    }
  });
});
