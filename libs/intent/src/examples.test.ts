/** Every example under examples/kinds validates on its own, and together they cover every kind. */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { KINDS, loadAndValidate } from "./index.js";

const ROOT = fileURLToPath(new URL("../../../examples/kinds", import.meta.url));
const dirs = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

describe("examples/kinds", () => {
  it.each(dirs)("%s is valid", (name) => {
    const r = loadAndValidate([join(ROOT, name)]);
    expect(r.errors).toEqual([]);
    expect(r.ioErrors).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.inventory).toBeDefined();
  });

  it("covers every kind", () => {
    const kinds = new Set<string>();
    for (const name of dirs)
      for (const d of loadAndValidate([join(ROOT, name)]).documents) kinds.add(d.document.kind);
    expect([...kinds].sort()).toEqual([...KINDS].sort());
  });
});
