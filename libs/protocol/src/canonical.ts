/**
 * Strict canonical JSON: the deterministic bytes that job signatures cover.
 *
 * The encoding itself is `@fleetnet/netstate`'s `canonicalJson` (keys sorted by UTF-16
 * code unit, no whitespace, `undefined` members dropped). That encoder is lenient — it
 * writes NaN as `null`, a Date as `{}`, loops on a cycle — which is fine for hashing
 * plans but not for signatures: a signature must cover exactly what the verifier will
 * parse. So {@link assertPlainJson} first refuses anything JSON cannot represent
 * faithfully (NaN, ±Infinity, bigint, functions, symbols, class instances such as Date or
 * Map, cycles, `undefined` in arrays) with `NOT_CANONICAL_JSON` naming the path.
 */
import { canonicalJson } from "@fleetnet/netstate";
import { FleetnetError, ProtocolErrorCodes } from "./errors.js";

function refuse(path: string, why: string): never {
  throw new FleetnetError(
    ProtocolErrorCodes.NOT_CANONICAL_JSON,
    `cannot encode ${path || "value"} as canonical JSON: ${why}`,
    { details: { path } },
  );
}

function check(value: unknown, path: string, seen: Set<object>): void {
  if (value === null) return;
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) refuse(path, `${value} is not a finite number`);
      return;
    case "object":
      break;
    default:
      refuse(path, `${typeof value} is not a JSON value`);
  }
  const obj = value as object;
  if (seen.has(obj)) refuse(path, "cyclic reference");
  seen.add(obj);
  if (Array.isArray(obj)) {
    obj.forEach((item, i) => {
      if (item === undefined) refuse(`${path}[${i}]`, "undefined in an array");
      check(item, `${path}[${i}]`, seen);
    });
  } else {
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      refuse(path, `${proto?.constructor?.name ?? "object"} instance is not plain JSON`);
    }
    for (const [k, v] of Object.entries(obj)) {
      if (v !== undefined) check(v, path ? `${path}.${k}` : k, seen);
    }
  }
  seen.delete(obj);
}

/** Throw `NOT_CANONICAL_JSON` (naming the path) unless `value` is plain, acyclic JSON. */
export function assertPlainJson(value: unknown): void {
  check(value, "", new Set());
}

/** The canonical JSON text of `value`, after {@link assertPlainJson}. */
export function canonicalJsonStrict(value: unknown): string {
  assertPlainJson(value);
  return canonicalJson(value);
}

/** The strict canonical JSON of `value` as UTF-8 bytes. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJsonStrict(value));
}
