import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadAndValidate, loadDocuments, parseDocuments, validateData } from "./index.js";

const INV = `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: lab}
spec:
  hosts:
    - name: h001
      underlay: {interface: veth0, address: 10.250.0.1/16}
      transport: {driver: netns, namespace: fn-h001}
`;
const BRIDGE = `apiVersion: fleetnet/v1
kind: Bridge
metadata: {name: b}
spec:
  hosts: {names: [h001]}
  name: br0
`;

describe("parseDocuments", () => {
  it("numbers documents from 1, keeps their lines, skips empty ones", () => {
    const text = `# comment\n---\n${INV}---\n---\n${BRIDGE}`;
    const r = parseDocuments(text, "x.yaml");
    expect(r.errors).toEqual([]);
    expect(r.documents.map((d) => [d.index, d.line])).toEqual([
      [1, 3],
      [3, 13],
    ]);
    expect(r.documents[1]?.lineOf(["spec", "name"])).toBe(18);
    expect(r.documents[0]?.lineOf(["spec", "hosts", 0, "transport", "namespace"])).toBe(10);
    // A path that does not exist resolves to its nearest existing parent.
    expect(r.documents[1]?.lineOf(["spec", "nope", 3])).toBe(16);
  });

  it("reports malformed YAML with its line and keeps the other documents", () => {
    const r = parseDocuments(`${INV}---\nkind: Bridge\nspec: {a: 1\n---\n${BRIDGE}`, "x.yaml");
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ file: "x.yaml", document: 2, code: "YAML_SYNTAX", path: "" });
    expect(r.errors[0]?.line).toBeGreaterThanOrEqual(10);
    expect(r.errors[0]?.message).toMatch(/line \d+/);
    expect(r.documents.map((d) => d.index)).toEqual([1, 3]);
    expect(r.errors[0]?.message).toMatch(/^malformed YAML at line \d+, column \d+: /);
  });

  it("treats duplicate keys as a syntax error", () => {
    const r = parseDocuments("kind: Bridge\nkind: Vlan\n", "x.yaml");
    expect(r.errors[0]).toMatchObject({ code: "YAML_SYNTAX", line: 2 });
  });

  it("refuses alias bombs instead of expanding them", () => {
    let text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (let i = 1; i < 12; i++) {
      text += `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(", ")}]\n`;
    }
    const r = parseDocuments(text, "bomb.yaml");
    expect(r.documents).toEqual([]);
    expect(r.errors[0]?.code).toBe("YAML_SYNTAX");
  });
});

describe("loadDocuments / loadAndValidate on files and directories", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "fleetnet-intent-"));
    mkdirSync(join(dir, "set"));
    writeFileSync(join(dir, "set", "b.yml"), BRIDGE);
    writeFileSync(join(dir, "set", "a.yaml"), INV);
    writeFileSync(join(dir, "set", "notes.txt"), "not yaml: [");
    mkdirSync(join(dir, "set", "sub"));
    writeFileSync(join(dir, "set", "sub", "c.yaml"), "not: [valid");
    mkdirSync(join(dir, "empty"));
    writeFileSync(join(dir, "bad.yaml"), `${INV}---\n${BRIDGE.replace("br0", "br/0")}`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a directory's *.yaml/*.yml sorted, not recursively", () => {
    const r = loadDocuments([join(dir, "set")]);
    expect(r.ioErrors).toEqual([]);
    expect(r.files).toEqual([join(dir, "set", "a.yaml"), join(dir, "set", "b.yml")]);
    expect(r.documents.map((d) => (d.data as { kind: string }).kind)).toEqual(["Inventory", "Bridge"]);
  });

  it("validates a directory as one input", () => {
    const r = loadAndValidate([join(dir, "set")]);
    expect(r.errors).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.intents.map((i) => i.kind)).toEqual(["Bridge"]);
    expect(r.inventory?.metadata.name).toBe("lab");
  });

  it("reads a file named twice once", () => {
    const f = join(dir, "set", "a.yaml");
    expect(loadDocuments([f, f]).documents).toHaveLength(1);
  });

  it("reports a missing file and an empty directory as I/O errors", () => {
    const r = loadAndValidate([join(dir, "nope.yaml"), join(dir, "empty"), join(dir, "set")]);
    expect(r.valid).toBe(false);
    expect(r.intents).toEqual([]);
    expect(r.ioErrors.map((e) => e.code)).toEqual(["FILE_NOT_FOUND", "NO_YAML_FILES"]);
    expect(r.ioErrors[0]?.message).toContain("nope.yaml");
  });

  it("points an error at file, document and line", () => {
    const f = join(dir, "bad.yaml");
    const r = loadAndValidate([f]);
    expect(r.valid).toBe(false);
    // Invalid input ⇒ nothing to plan from: no inventory, no intents, no documents.
    expect(r.inventory).toBeUndefined();
    expect(r.intents).toEqual([]);
    expect(r.documents).toEqual([]);
    expect(r.errors).toEqual([
      expect.objectContaining({
        file: f,
        document: 2,
        kind: "Bridge",
        name: "b",
        path: "spec.name",
        code: "BAD_IFNAME",
        line: 15,
      }),
    ]);
  });
});

describe("validateData", () => {
  it("validates documents that are already data, numbered from 1", () => {
    expect(validateData([parse(INV), parse(BRIDGE)], "api").valid).toBe(true);
    const r = validateData([parse(INV), { ...parse(BRIDGE), extra: 1 }], "api");
    expect(r.errors).toEqual([
      expect.objectContaining({ file: "api", document: 2, path: "extra", code: "UNKNOWN_FIELD" }),
    ]);
    expect(r.errors[0]?.line).toBeUndefined();
  });
});
