import { describe, expect, it } from "vitest";
import { intentJsonSchema, JSON_SCHEMA_ID, KINDS } from "./index.js";

interface Obj {
  [k: string]: unknown;
}

describe("intentJsonSchema", () => {
  const schema = intentJsonSchema() as Obj & { oneOf: Obj[]; definitions: Obj };

  it("is plain JSON (draft-07) with an id", () => {
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
    expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    expect(schema.$id).toBe(JSON_SCHEMA_ID);
  });

  it("has one strict alternative per kind", () => {
    const kinds = schema.oneOf.map((alt) => ((alt.properties as Obj).kind as Obj).const);
    expect(kinds.sort()).toEqual([...KINDS].sort());
    for (const alt of schema.oneOf) {
      expect(alt.title).toBe(((alt.properties as Obj).kind as Obj).const);
      expect(String(alt.description).length).toBeGreaterThan(20);
      expect(alt.additionalProperties).toBe(false);
      expect(alt.required).toEqual(["apiVersion", "kind", "metadata", "spec"]);
      expect(((alt.properties as Obj).spec as Obj).additionalProperties).toBe(false);
    }
  });

  it("describes input form: defaults are not required, field rules are patterns", () => {
    const overlay = schema.oneOf.find(
      (a) => ((a.properties as Obj).kind as Obj).const === "VxlanOverlay",
    ) as Obj;
    const spec = (overlay.properties as Obj).spec as Obj & { properties: Obj; required: string[] };
    expect(spec.required.sort()).toEqual(["hosts", "vni"]);
    expect((spec.properties.port as Obj).default).toBe(4789);
    expect((spec.properties.device as Obj).pattern).toBe("^[A-Za-z0-9_.-]{1,15}$");
    expect(spec.properties.hosts).toEqual({ $ref: "#/definitions/HostSelector" });
    expect(schema.definitions.HostSelector).toBeDefined();
  });
});
