import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadAndValidate, validateText } from "@fleetnet/intent";
import { describe, expect, it } from "vitest";
import {
  applyOps,
  buildPlan,
  canonicalJson,
  compile,
  desiredStateHash,
  emptyHostState,
  formatPlan,
  type HostState,
  OpSchema,
  planFromDesired,
  planJson,
  sha256Text,
} from "./index.js";
import { KEEPALIVED_GW } from "./testlib/fixtures.testlib.js";

const YAML = `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: lab}
spec:
  hosts:
    - {name: h001, labels: {role: hv}, underlay: {interface: veth0, address: 10.250.0.1/16}, transport: {driver: local}}
    - {name: h002, labels: {role: hv}, underlay: {interface: veth0, address: 10.250.0.2/16}, transport: {driver: local}}
    - {name: h003, labels: {role: other}, underlay: {interface: veth0, address: 10.250.0.3/16}, transport: {driver: local}}
---
apiVersion: fleetnet/v1
kind: VxlanOverlay
metadata: {name: blue}
spec:
  hosts: {matchLabels: {role: hv}}
  vni: 5001
${KEEPALIVED_GW}`;

function load() {
  const r = validateText(YAML);
  if (!r.valid || !r.inventory) throw new Error(JSON.stringify(r.errors));
  return r as typeof r & { inventory: NonNullable<typeof r.inventory> };
}

describe("buildPlan", () => {
  const r = load();
  const plan = buildPlan(r.inventory, r.intents, "assume-empty", { planId: "p1" });

  it("has planId, hash, summary and every host (unchanged hosts with ops: [])", () => {
    expect(plan.planId).toBe("p1");
    expect(plan.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(plan.hosts.map((h) => h.host)).toEqual(["h001", "h002", "h003"]);
    expect(plan.hosts[2]?.ops).toEqual([]);
    const ops = plan.hosts.reduce((n, h) => n + h.ops.length, 0);
    expect(plan.summary).toEqual({ hosts: 3, changedHosts: 2, ops });
    for (const h of plan.hosts) for (const op of h.ops) expect(OpSchema.safeParse(op).success).toBe(true);
    expect(plan.hosts[0]?.ops.find((o) => o.op === "fdb.append")).toEqual({
      op: "fdb.append",
      dev: "vx5001",
      mac: "00:00:00:00:00:00",
      dst: "10.250.0.2",
    });
  });

  it("hash = sha256 of the canonical JSON of the desired state; independent of the observed state", () => {
    const { hosts } = compile(r.inventory, r.intents);
    const want = sha256Text(canonicalJson({ hosts: Object.fromEntries(hosts) }));
    expect(desiredStateHash(hosts)).toBe(want);
    expect(plan.hash).toBe(want);
    // Converged hosts: same hash, no ops.
    const observed = new Map<string, HostState>();
    for (const h of plan.hosts) observed.set(h.host, applyOps(emptyHostState(), h.ops));
    const again = planFromDesired(hosts, observed);
    expect(again.hash).toBe(plan.hash);
    expect(again.summary).toEqual({ hosts: 3, changedHosts: 0, ops: 0 });
    expect(formatPlan(again)).toContain("No changes.");
  });

  it("names the host when its observed state conflicts (a foreign link holds a wanted name)", () => {
    const { hosts } = compile(r.inventory, r.intents);
    const [name, want] = [...hosts].find(([, st]) => st.links.some((l) => l.kind === "vxlan")) as [
      string,
      HostState,
    ];
    const vx = want.links.find((l) => l.kind === "vxlan")?.name as string;
    const observed = new Map<string, HostState>();
    for (const h of hosts.keys()) observed.set(h, emptyHostState());
    observed.set(name, { ...emptyHostState(), links: [{ kind: "veth", name: vx, up: false, peer: "x" }] });
    let err: unknown;
    try {
      planFromDesired(hosts, observed);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: "FOREIGN_LINK_CONFLICT",
      retryable: false,
      details: { host: name, link: vx },
    });
    expect((err as Error).message).toMatch(new RegExp(`^${name}: link ${vx} exists as a veth`));
  });

  it("needs an observed state for every host in live mode", () => {
    expect(() => buildPlan(r.inventory, r.intents, { h001: emptyHostState() })).toThrow(
      /no observed state for host h002/,
    );
  });

  it("JSON form is valid JSON equal to the plan, and never holds a secret", () => {
    process.env.FLEETNET_VRRP_GW = "topsecret";
    try {
      const p = buildPlan(r.inventory, r.intents, "assume-empty", { planId: "p1" });
      const text = planJson(p);
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(p)));
      expect(text).not.toContain("topsecret");
      expect(text).toContain("@@fleetnet-secret:vrrp-gw@@");
      expect(formatPlan(p)).not.toContain("topsecret");
    } finally {
      delete process.env.FLEETNET_VRRP_GW;
    }
  });
});

describe("formatPlan", () => {
  const r = load();
  const plan = buildPlan(r.inventory, r.intents, "assume-empty", { planId: "p1" });
  const text = formatPlan(plan);

  it("shows a per-host diff with + lines and a summary line", () => {
    expect(text).toContain("host h001: ");
    expect(text).toContain("  + link br5001 (bridge mtu 1450)\n");
    expect(text).toContain(
      "  + link vx5001 (vxlan id 5001 local 10.250.0.1 dstport 4789 dev veth0 nolearning master br5001 mtu 1450)\n",
    );
    expect(text).toContain("  + fdb 00:00:00:00:00:00 dev vx5001 dst 10.250.0.2\n");
    expect(text).toContain("  + file /etc/keepalived/keepalived.conf (");
    expect(text).toContain("  + service keepalived start\n");
    expect(text).toContain("no changes on 1 host(s): h003");
    expect(text).toMatch(/Plan: \d+ to add, 0 to change, 0 to remove on 2 of 3 host\(s\)\./);
  });

  it("shows removals with - and changes with ~ (removing the pair, changing a sysctl)", () => {
    const observed = new Map<string, HostState>();
    for (const h of plan.hosts) observed.set(h.host, applyOps(emptyHostState(), h.ops));
    const noPair = r.intents.filter((i) => i.kind !== "KeepalivedPair");
    const p2 = buildPlan(r.inventory, noPair, observed, { planId: "p2" });
    const t2 = formatPlan(p2);
    expect(t2).toContain("  - service keepalived stop\n");
    expect(t2).toContain("  - file /etc/keepalived/keepalived.conf\n");
    expect(t2).toMatch(/Plan: 0 to add, 0 to change, 4 to remove on 2 of 3 host\(s\)\./);
    const obs3 = new Map(observed);
    const h1 = structuredClone(observed.get("h001") as HostState);
    h1.links = h1.links.map((l) => (l.name === "br5001" ? { ...l, mtu: 1400 } : l));
    obs3.set("h001", h1);
    expect(formatPlan(buildPlan(r.inventory, r.intents, obs3))).toContain(
      "  ~ link br5001: mtu 1400 → 1450\n",
    );
  });

  it("folds long FDB runs into one line", () => {
    const big = validateText(
      YAML.replace(
        "  hosts:\n",
        `  hosts:\n${Array.from({ length: 20 }, (_, i) => `    - {name: x${i + 10}, labels: {role: hv}, underlay: {interface: veth0, address: 10.250.1.${i + 10}/16}, transport: {driver: local}}\n`).join("")}`,
      ),
    );
    if (!big.valid || !big.inventory) throw new Error(JSON.stringify(big.errors));
    const t = formatPlan(buildPlan(big.inventory, big.intents, "assume-empty"));
    expect(t).toContain("  + fdb dev vx5001: 21 entries 00:00:00:00:00:00 dst 10.250.0.1 … 10.250.1.29\n");
  });
});

describe("every example under examples/kinds plans and converges", () => {
  const root = fileURLToPath(new URL("../../../examples/kinds", import.meta.url));
  const dirs = existsSync(root)
    ? readdirSync(root, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort()
    : [];

  it("has examples to check", () => {
    expect(dirs.length).toBeGreaterThan(5);
  });

  for (const dir of dirs) {
    it(`${dir}: valid → plan → apply in the model → no ops left`, () => {
      const r = loadAndValidate([join(root, dir)]);
      expect(r.errors).toEqual([]);
      if (!r.inventory) throw new Error("no inventory");
      const plan = buildPlan(r.inventory, r.intents, "assume-empty");
      const observed = new Map<string, HostState>();
      for (const h of plan.hosts) {
        for (const op of h.ops) expect(OpSchema.safeParse(op).success).toBe(true);
        observed.set(h.host, applyOps(emptyHostState(), h.ops));
      }
      const again = buildPlan(
        r.inventory,
        r.intents,
        observed,
        plan.allocations ? { allocations: plan.allocations } : {},
      );
      expect(again.summary.ops).toBe(0);
      expect(again.hash).toBe(plan.hash);
    });
  }
});
