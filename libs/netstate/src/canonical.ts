/**
 * Canonical JSON: object keys sorted by code unit, no whitespace, `undefined` members
 * dropped (as `JSON.stringify` does). Two equal values always give the same text, so a
 * sha256 of it identifies a desired state across machines and runs.
 */
import { createHash } from "node:crypto";

/** Canonical JSON text of a JSON-compatible value. */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts);
  return parts.join("");
}

function write(v: unknown, out: string[]): void {
  if (v === null || typeof v !== "object") {
    out.push(v === undefined ? "null" : JSON.stringify(v));
    return;
  }
  if (Array.isArray(v)) {
    out.push("[");
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(",");
      const x = v[i];
      write(x === undefined ? null : x, out);
    }
    out.push("]");
    return;
  }
  const keys = Object.keys(v).sort();
  out.push("{");
  let first = true;
  for (const k of keys) {
    const x = (v as Record<string, unknown>)[k];
    if (x === undefined) continue;
    if (!first) out.push(",");
    first = false;
    out.push(JSON.stringify(k), ":");
    write(x, out);
  }
  out.push("}");
}

/** `sha256:<hex>` of a string. */
export function sha256Text(text: string): string {
  return `sha256:${createHash("sha256").update(text).digest("hex")}`;
}
