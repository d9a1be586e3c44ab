import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
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

/**
 * A small JSON Schema (draft-07 subset) checker, enough to prove that the exported schema
 * accepts what the validator accepts in the examples and rejects typical mistakes the way an
 * editor would. Unknown keywords fail the test so the subset cannot silently fall behind.
 */
const ANNOTATIONS = new Set(["title", "description", "default", "$schema", "$id", "definitions", "examples"]);

function check(schema: Obj, value: unknown, root: Obj, path = "$"): string[] {
  const errs: string[] = [];
  for (const key of Object.keys(schema)) {
    if (ANNOTATIONS.has(key)) continue;
    const s = schema[key];
    switch (key) {
      case "$ref": {
        const name = String(s).replace("#/definitions/", "");
        errs.push(...check((root.definitions as Obj)[name] as Obj, value, root, path));
        break;
      }
      case "type": {
        const types = Array.isArray(s) ? s : [s];
        const actual =
          value === null
            ? "null"
            : Array.isArray(value)
              ? "array"
              : typeof value === "number"
                ? Number.isInteger(value)
                  ? "integer"
                  : "number"
                : typeof value;
        const ok = types.some((t) => t === actual || (t === "number" && actual === "integer"));
        if (!ok) errs.push(`${path}: type ${actual} is not ${types.join("|")}`);
        break;
      }
      case "const":
        if (value !== s) errs.push(`${path}: not ${JSON.stringify(s)}`);
        break;
      case "enum":
        if (!(s as unknown[]).includes(value)) errs.push(`${path}: not in enum`);
        break;
      case "properties":
        if (value && typeof value === "object" && !Array.isArray(value)) {
          for (const [k, sub] of Object.entries(s as Obj)) {
            if (k in (value as Obj)) errs.push(...check(sub as Obj, (value as Obj)[k], root, `${path}.${k}`));
          }
        }
        break;
      case "required":
        if (value && typeof value === "object") {
          for (const k of s as string[]) if (!(k in (value as Obj))) errs.push(`${path}: missing ${k}`);
        }
        break;
      case "additionalProperties":
        if (value && typeof value === "object" && !Array.isArray(value)) {
          const known = Object.keys((schema.properties as Obj | undefined) ?? {});
          for (const [k, v] of Object.entries(value as Obj)) {
            if (known.includes(k)) continue;
            if (s === false) errs.push(`${path}: unknown ${k}`);
            else if (typeof s === "object") errs.push(...check(s as Obj, v, root, `${path}.${k}`));
          }
        }
        break;
      case "propertyNames":
        if (value && typeof value === "object") {
          for (const k of Object.keys(value as Obj))
            errs.push(...check(s as Obj, k, root, `${path}[key ${k}]`));
        }
        break;
      case "items":
        if (Array.isArray(value)) {
          for (const [i, v] of value.entries()) errs.push(...check(s as Obj, v, root, `${path}[${i}]`));
        }
        break;
      case "minItems":
        if (Array.isArray(value) && value.length < (s as number)) errs.push(`${path}: too few items`);
        break;
      case "maxItems":
        if (Array.isArray(value) && value.length > (s as number)) errs.push(`${path}: too many items`);
        break;
      case "minimum":
        if (typeof value === "number" && value < (s as number)) errs.push(`${path}: below minimum`);
        break;
      case "maximum":
        if (typeof value === "number" && value > (s as number)) errs.push(`${path}: above maximum`);
        break;
      case "exclusiveMinimum":
        if (typeof value === "number" && value <= (s as number)) errs.push(`${path}: not above minimum`);
        break;
      case "exclusiveMaximum":
        if (typeof value === "number" && value >= (s as number)) errs.push(`${path}: not below maximum`);
        break;
      case "minLength":
        if (typeof value === "string" && value.length < (s as number)) errs.push(`${path}: too short`);
        break;
      case "maxLength":
        if (typeof value === "string" && value.length > (s as number)) errs.push(`${path}: too long`);
        break;
      case "pattern":
        if (typeof value === "string" && !new RegExp(s as string, "u").test(value))
          errs.push(`${path}: pattern`);
        break;
      case "anyOf":
        if (!(s as Obj[]).some((alt) => check(alt, value, root, path).length === 0))
          errs.push(`${path}: no anyOf matches`);
        break;
      case "oneOf": {
        const n = (s as Obj[]).filter((alt) => check(alt, value, root, path).length === 0).length;
        if (n !== 1) errs.push(`${path}: ${n} oneOf alternatives match`);
        break;
      }
      case "allOf":
        for (const alt of s as Obj[]) errs.push(...check(alt, value, root, path));
        break;
      default:
        errs.push(`unsupported keyword ${key} at ${path}`);
    }
  }
  return errs;
}

describe("the JSON Schema agrees with the validator on examples and mistakes", () => {
  const schema = intentJsonSchema() as Obj;
  const root = fileURLToPath(new URL("../../../examples/kinds", import.meta.url));
  const documents = readdirSync(root, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(root, f), "utf8")).map((d) => [f, d.toJS()] as const),
    );

  it.each(documents)("accepts %s", (_file, doc) => {
    expect(check(schema, doc, schema)).toEqual([]);
  });

  it.each([
    ["unknown field", { spec: { colour: "red" } }],
    ["bad interface name", { spec: { name: "br/0" } }],
    ["wrong kind", { kind: "Router" }],
    ["bad metadata name", { metadata: { name: "Blue_1" } }],
    ["no selector", { spec: { hosts: {} } }],
    ["mtu out of range", { spec: { mtu: 10 } }],
  ])("rejects a bridge with %s", (_why, patch) => {
    const bridge: Obj = {
      apiVersion: "fleetnet/v1",
      kind: "Bridge",
      metadata: { name: "b" },
      spec: { hosts: { names: ["h001"] }, name: "br0" },
    };
    const doc = {
      ...bridge,
      ...patch,
      spec: { ...(bridge.spec as Obj), ...((patch as Obj).spec as Obj | undefined) },
    };
    expect(check(schema, bridge, schema)).toEqual([]);
    expect(check(schema, doc, schema).length).toBeGreaterThan(0);
  });
});
