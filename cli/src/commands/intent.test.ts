import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "../io.js";
import { captureOutput } from "../testing.js";
import { registerIntent, runSchema, runValidate } from "./intent.js";

const EXAMPLES = fileURLToPath(new URL("../../../examples/kinds", import.meta.url));

const capture = captureOutput;

const overlay = (name: string, vni: number) =>
  `apiVersion: fleetnet/v1\nkind: VxlanOverlay\nmetadata: {name: ${name}}\nspec:\n  hosts: {matchLabels: {role: hypervisor}}\n  vni: ${vni}\n  device: vx-${name}\n  bridge: br-${name}\n`;

describe("fleetnet validate / schema (in-process)", () => {
  let dir = "";
  let bad = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "fleetnet-cli-intent-"));
    bad = join(dir, "x.yaml");
    writeFileSync(bad, `${overlay("red", 5001)}---\n${overlay("blue", 5001)}`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("needs at least one -f", () => {
    expect(() => runValidate({}, capture())).toThrow(UsageError);
    expect(() => runValidate({ file: [] }, capture())).toThrow(/-f/);
  });

  it("prints a short OK line and exits 0 for a valid input", () => {
    const o = capture();
    expect(runValidate({ file: [join(EXAMPLES, "vxlan-overlay")] }, o)).toBe(EXIT_OK);
    expect(o.out).toMatch(/^OK: 3 document\(s\) valid — 4 host\(s\), 2 intent\(s\)\n$/);
  });

  it("prints one line per error and exits 1 for an invalid input", () => {
    const o = capture();
    const inventory = join(EXAMPLES, "inventory", "inventory.yaml");
    expect(runValidate({ file: [inventory, bad] }, o)).toBe(EXIT_FAILED);
    const lines = o.out.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}#2 VxlanOverlay/blue spec\\.vni: VNI 5001 `),
    );
    expect(lines[0]).toContain("[VNI_CONFLICT]");
    expect(o.err).toContain("1 error(s)");
  });

  it("--json prints {valid, errors} in the INTENTS.md shape", () => {
    const o = capture();
    const code = runValidate({ file: [join(EXAMPLES, "inventory"), bad], json: true }, o);
    expect(code).toBe(EXIT_FAILED);
    const j = JSON.parse(o.out) as { valid: boolean; errors: Array<Record<string, unknown>> };
    expect(j.valid).toBe(false);
    expect(j.errors).toEqual([
      expect.objectContaining({
        file: bad,
        document: 2,
        kind: "VxlanOverlay",
        name: "blue",
        path: "spec.vni",
        code: "VNI_CONFLICT",
      }),
    ]);
    expect(String(j.errors[0]?.message)).toContain("5001");
  });

  it("--json on a valid input", () => {
    const o = capture();
    expect(runValidate({ file: [join(EXAMPLES, "keepalived-pair")], json: true }, o)).toBe(EXIT_OK);
    expect(JSON.parse(o.out)).toEqual({ valid: true, errors: [] });
  });

  it("exits 2 on a missing file", () => {
    const o = capture();
    expect(runValidate({ file: [join(dir, "nope.yaml")] }, o)).toBe(EXIT_USAGE);
    expect(o.err).toContain("nope.yaml: no such file or directory");
    const j = capture();
    expect(runValidate({ file: [join(dir, "nope.yaml")], json: true }, j)).toBe(EXIT_USAGE);
    expect(JSON.parse(j.out).errors[0]).toMatchObject({ code: "FILE_NOT_FOUND" });
  });

  it("schema prints the JSON Schema", () => {
    const o = capture();
    expect(runSchema(o)).toBe(EXIT_OK);
    const s = JSON.parse(o.out) as { oneOf: unknown[] };
    expect(s.oneOf).toHaveLength(9);
  });

  it("registers validate with a repeatable -f", async () => {
    const program = new Command("fleetnet").exitOverride();
    registerIntent(program);
    const writes: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    const before = process.exitCode;
    try {
      await program.parseAsync(
        [
          "validate",
          "-f",
          join(EXAMPLES, "bridge", "inventory.yaml"),
          "-f",
          join(EXAMPLES, "bridge", "bridge.yaml"),
          "--json",
        ],
        { from: "user" },
      );
      expect(process.exitCode).toBe(EXIT_OK);
    } finally {
      spy.mockRestore();
      process.exitCode = before;
    }
    expect(JSON.parse(writes.join(""))).toEqual({ valid: true, errors: [] });
  });
});
