/**
 * `examples/demo/` validates against the inventory the demo's lab writes (same planner and
 * writer as `fleetnet lab up --hosts N --racks 3 --spines 2 --prefix fnd- --subnet
 * 10.249.0.0/24`), for every --hosts the demo accepts, and names the hosts and addresses the
 * proofs check.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadAndValidate } from "@fleetnet/intent";
import { planFromCount, renderInventory } from "@fleetnet/lab";
import { describe, expect, it } from "vitest";

const EXAMPLE = resolve(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..", "examples", "demo");

function validateWith(hosts: number) {
  const dir = mkdtempSync(join(tmpdir(), "fnd-ex-"));
  try {
    const inv = join(dir, "inventory.yaml");
    const t = planFromCount({ hosts, racks: 3, spines: 2, prefix: "fnd-", subnet: "10.249.0.0/24" });
    writeFileSync(inv, renderInventory(t));
    return { t, v: loadAndValidate([inv, EXAMPLE]) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("examples/demo", () => {
  it.each([4, 6, 20])("validates against the demo lab's inventory with --hosts %i", (n) => {
    const { t, v } = validateWith(n);
    expect(v.errors, JSON.stringify(v.errors)).toEqual([]);
    expect(v.valid).toBe(true);
    expect(t.mgmt.addresses).toEqual(["10.249.0.254/24"]);
    const kinds = v.intents.map((i) => i.kind).sort();
    expect(kinds).toEqual([
      "BgpMultipath",
      "BgpMultipath",
      "EcmpRoute",
      "KeepalivedPair",
      "SysctlBaseline",
      "VxlanOverlay",
    ]);
  });

  it("holds the constants the demo's proofs check", () => {
    const text = (f: string) => readFileSync(join(EXAMPLE, f), "utf8");
    const demo = readFileSync(resolve(fileURLToPath(new URL(".", import.meta.url)), "demo.ts"), "utf8");
    expect(text("overlay.yaml")).toContain("vni: 5200");
    expect(demo).toContain("const VNI = 5200;");
    expect(text("bgp.yaml")).toContain("advertise: [10.99.0.0/24]");
    expect(demo).toContain('const BGP_PREFIX = "10.99.0.0/24";');
    expect(text("keepalived.yaml")).toMatch(/primary: h001\n\s+backup: h003/);
    expect(text("keepalived.yaml")).toContain("vips: [10.249.0.100/24]");
    expect(demo).toContain('const VIP = "10.249.0.100";');
    expect(text("ecmp.yaml")).toContain("hosts: { names: [h004] }");
    expect(text("sysctl.yaml")).toContain('net.ipv4.ip_forward: "1"');
    expect(text("policy.yaml")).toContain("spreadBy: rack");
  });
});
