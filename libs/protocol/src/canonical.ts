/**
 * Canonical JSON: the deterministic byte encoding that job signatures cover.
 *
 * Rules (a subset of RFC 8785 that is exact for the values fleetnet sends): object keys
 * sorted by UTF-16 code units, no whitespace, strings and finite numbers as
 * `JSON.stringify` writes them, `undefined` object members dropped. Anything JSON cannot
 * represent faithfully (NaN, ±Infinity, bigint, functions, symbols, class instances such as
 * Date or Map, cycles, `undefined` in arrays) is refused with `NOT_CANONICAL_JSON` rather
 * than silently changed — a signature must cover exactly what the verifier will parse.
 */
import { FleetnetError, ProtocolErrorCodes } from "./errors.js";

function refuse(path: string, why: string): never {
  throw new FleetnetError(
    ProtocolErrorCodes.NOT_CANONICAL_JSON,
    `cannot encode ${path || "value"} as canonical JSON: ${why}`,
    { details: { path } },
  );
}

function encode(value: unknown, path: string, seen: Set<object>): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) refuse(path, `${value} is not a finite number`);
      return JSON.stringify(value);
    case "object":
      break;
    default:
      refuse(path, `${typeof value} is not a JSON value`);
  }
  const obj = value as object;
  if (seen.has(obj)) refuse(path, "cyclic reference");
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      const parts = obj.map((item, i) => {
        if (item === undefined) refuse(`${path}[${i}]`, "undefined in an array");
        return encode(item, `${path}[${i}]`, seen);
      });
      return `[${parts.join(",")}]`;
    }
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      refuse(path, `${proto?.constructor?.name ?? "object"} instance is not plain JSON`);
    }
    const record = obj as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort();
    const parts = keys.map(
      (k) => `${JSON.stringify(k)}:${encode(record[k], path ? `${path}.${k}` : k, seen)}`,
    );
    return `{${parts.join(",")}}`;
  } finally {
    seen.delete(obj);
  }
}

/** The canonical JSON text of `value`. Throws `NOT_CANONICAL_JSON` naming the bad path. */
export function canonicalJson(value: unknown): string {
  return encode(value, "", new Set());
}

/** The canonical JSON of `value` as UTF-8 bytes. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}
