import { describe, expect, it } from "vitest";
import { canonicalJsonStrict, FleetnetError } from "./index.js";

describe("canonicalJsonStrict", () => {
  it("sorts keys at every depth and drops whitespace", () => {
    const a = { b: 1, a: { z: [3, { y: true, x: null }], c: "s" } };
    const b = { a: { c: "s", z: [3, { x: null, y: true }] }, b: 1 };
    expect(canonicalJsonStrict(a)).toBe('{"a":{"c":"s","z":[3,{"x":null,"y":true}]},"b":1}');
    expect(canonicalJsonStrict(b)).toBe(canonicalJsonStrict(a));
  });

  it("keeps array order, escapes strings like JSON, drops undefined members", () => {
    expect(canonicalJsonStrict([2, 1])).toBe("[2,1]");
    expect(canonicalJsonStrict({ s: 'q"\n\u00e9', u: undefined })).toBe('{"s":"q\\"\\n\u00e9"}');
    expect(canonicalJsonStrict(1e21)).toBe("1e+21");
    expect(canonicalJsonStrict(-0.5)).toBe("-0.5");
  });

  it.each([
    ["NaN", { a: Number.NaN }, "a"],
    ["Infinity", { a: [1, Number.POSITIVE_INFINITY] }, "a[1]"],
    ["bigint", { a: { b: 1n } }, "a.b"],
    ["function", { f: () => 1 }, "f"],
    ["Date", { d: new Date(0) }, "d"],
    ["Map", { m: new Map() }, "m"],
    ["undefined in array", { a: [undefined] }, "a[0]"],
  ])("refuses %s, naming the path", (_why, value, path) => {
    try {
      canonicalJsonStrict(value);
      expect.unreachable("should have thrown");
    } catch (err) {
      expect(err).toBeInstanceOf(FleetnetError);
      expect((err as FleetnetError).code).toBe("NOT_CANONICAL_JSON");
      expect((err as FleetnetError).details?.path).toBe(path);
    }
  });

  it("refuses cycles but accepts shared (acyclic) references", () => {
    const shared = { x: 1 };
    expect(canonicalJsonStrict({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(() => canonicalJsonStrict(cyc)).toThrow(/cyclic/);
  });
});
