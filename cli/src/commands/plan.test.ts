import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "../io.js";
import { captureOutput } from "../testing.js";
import { runPlan } from "./plan.js";

const capture = captureOutput;

const INVENTORY = `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: lab}
spec:
  hosts:
    - {name: h001, labels: {role: hv}, underlay: {interface: veth0, address: 10.250.0.1/16}, transport: {driver: local}}
    - {name: h002, labels: {role: hv}, underlay: {interface: veth0, address: 10.250.0.2/16}, transport: {driver: local}}
`;
const OVERLAY = `apiVersion: fleetnet/v1
kind: VxlanOverlay
metadata: {name: blue}
spec:
  hosts: {matchLabels: {role: hv}}
  vni: 5001
---
apiVersion: fleetnet/v1
kind: KeepalivedPair
metadata: {name: gw}
spec:
  primary: h001
  backup: h002
  interface: veth0
  vrid: 51
  vips: [10.250.0.100/16]
  version: 2
  authPassword: {fromEnv: FNP_TEST_VRRP}
`;

describe("fleetnet plan (in-process)", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "fnp-cli-plan-"));
    writeFileSync(join(dir, "inventory.yaml"), INVENTORY);
    writeFileSync(join(dir, "overlay.yaml"), OVERLAY);
    writeFileSync(join(dir, "bad.yml.txt"), `${OVERLAY.replace("vni: 5001", "vni: 0")}`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("needs -f; runPlan is the offline mode (--assume-empty)", () => {
    expect(() => runPlan({ assumeEmpty: true }, capture())).toThrow(UsageError);
    expect(() => runPlan({ file: [dir] }, capture())).toThrow(/offline only/);
  });

  it("prints a human plan with a summary line (exit 0); the secret never appears", () => {
    process.env.FNP_TEST_VRRP = "hunter22";
    try {
      const o = capture();
      expect(runPlan({ file: [dir], assumeEmpty: true }, o)).toBe(EXIT_OK);
      expect(o.out).toContain("host h001: ");
      expect(o.out).toContain("  + link vx5001 (vxlan id 5001");
      expect(o.out).toMatch(
        /Plan: \d+ to add, 0 to change, 0 to remove on 2 of 2 host\(s\)\. \(sha256:[0-9a-f]{64}\)/,
      );
      expect(o.out).not.toContain("hunter22");
    } finally {
      delete process.env.FNP_TEST_VRRP;
    }
  });

  it("--json prints the plan per INTENTS.md and --out writes the same JSON", () => {
    const o = capture();
    const file = join(dir, "plan.json");
    expect(runPlan({ file: [dir], assumeEmpty: true, json: true, out: file, planId: "fixed" }, o)).toBe(
      EXIT_OK,
    );
    const plan = JSON.parse(o.out);
    expect(plan.planId).toBe("fixed");
    expect(plan.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(plan.summary.hosts).toBe(2);
    expect(plan.summary.changedHosts).toBe(2);
    expect(plan.hosts[0].host).toBe("h001");
    expect(plan.hosts[0].ops).toContainEqual({
      op: "fdb.append",
      dev: "vx5001",
      mac: "00:00:00:00:00:00",
      dst: "10.250.0.2",
    });
    expect(plan.summary.ops).toBe(plan.hosts[0].ops.length + plan.hosts[1].ops.length);
    expect(readFileSync(file, "utf8")).toBe(o.out);
  });

  it("the same intents give the same hash", () => {
    const a = capture();
    const b = capture();
    runPlan({ file: [dir], assumeEmpty: true, json: true }, a);
    runPlan(
      { file: [join(dir, "overlay.yaml"), join(dir, "inventory.yaml")], assumeEmpty: true, json: true },
      b,
    );
    expect(JSON.parse(a.out).hash).toBe(JSON.parse(b.out).hash);
  });

  it("--previous keeps the addresses of an earlier plan when a host joins", () => {
    const pool = join(dir, "pool");
    mkdirSync(pool, { recursive: true });
    const withPool = OVERLAY.replace("vni: 5001", "vni: 5001\n  addresses: {pool: 172.16.9.0/24}");
    writeFileSync(join(pool, "inventory.yaml"), INVENTORY);
    writeFileSync(join(pool, "overlay.yaml"), withPool);
    const first = join(dir, "first.json");
    expect(runPlan({ file: [pool], assumeEmpty: true, out: first }, capture())).toBe(EXIT_OK);
    // h000 joins and sorts first: offline it would take .1; with --previous nobody moves.
    writeFileSync(
      join(pool, "inventory.yaml"),
      INVENTORY.replace(
        "  hosts:\n",
        "  hosts:\n    - {name: h000, labels: {role: hv}, underlay: {interface: veth0, address: 10.250.0.9/16}, transport: {driver: local}}\n",
      ),
    );
    const addrOf = (out: string, host: string) =>
      (JSON.parse(out).hosts as { host: string; ops: { op: string; address?: string }[] }[])
        .find((h) => h.host === host)
        ?.ops.find((o) => o.op === "addr.add")?.address;
    const offline = capture();
    runPlan({ file: [pool], assumeEmpty: true, json: true }, offline);
    expect(addrOf(offline.out, "h000")).toBe("172.16.9.1/24");
    const sticky = capture();
    expect(runPlan({ file: [pool], assumeEmpty: true, json: true, previous: first }, sticky)).toBe(EXIT_OK);
    expect(addrOf(sticky.out, "h001")).toBe("172.16.9.1/24");
    expect(addrOf(sticky.out, "h002")).toBe("172.16.9.2/24");
    expect(addrOf(sticky.out, "h000")).toBe("172.16.9.3/24");
    expect(() =>
      runPlan({ file: [pool], assumeEmpty: true, previous: join(dir, "inventory.yaml") }, capture()),
    ).toThrow(UsageError);
  });

  it("invalid intents print validation errors, exit 1, plan nothing", () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, OVERLAY.replace("vni: 5001", "vni: 0"));
    const out = join(dir, "never.json");
    const o = capture();
    expect(runPlan({ file: [join(dir, "inventory.yaml"), bad], assumeEmpty: true, out }, o)).toBe(
      EXIT_FAILED,
    );
    expect(o.out).toMatch(/bad\.yaml#1 VxlanOverlay\/blue spec\.vni: .*\[OUT_OF_RANGE\]/);
    expect(o.out).not.toContain("Plan:");
    expect(() => readFileSync(out)).toThrow();
    const j = capture();
    expect(runPlan({ file: [join(dir, "inventory.yaml"), bad], assumeEmpty: true, json: true }, j)).toBe(
      EXIT_FAILED,
    );
    expect(JSON.parse(j.out)).toMatchObject({
      valid: false,
      errors: [{ code: "OUT_OF_RANGE", path: "spec.vni" }],
    });
    rmSync(bad);
  });

  it("a missing file is an I/O error (exit 2)", () => {
    const o = capture();
    expect(runPlan({ file: [join(dir, "nope.yaml")], assumeEmpty: true }, o)).toBe(EXIT_USAGE);
    expect(o.err).toContain("nope.yaml");
  });
});
