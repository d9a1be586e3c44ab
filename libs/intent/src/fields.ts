/**
 * Field names a schema allows at a path — for "unknown field" messages that list the
 * allowed fields and suggest the one the author probably meant.
 */
import type { z } from "zod";

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
  innerType?: z.ZodType;
  valueType?: z.ZodType;
  discriminator?: string;
  values?: unknown[];
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Strip wrappers (optional, default, pipe/transform input side) down to structural schemas;
 * a discriminated union is narrowed to the option that matches the input's discriminator.
 */
function unwrap(s: z.ZodType, input: unknown): z.ZodType[] {
  const d = defOf(s);
  if (d.innerType) return unwrap(d.innerType, input);
  if (d.type === "pipe" && d.in) return unwrap(d.in, input);
  if (d.type === "union" && d.options) {
    let options = d.options;
    const disc = d.discriminator;
    if (disc !== undefined && isObj(input)) {
      const matching = options.filter((o) => {
        const lit = defOf(o).shape?.[disc];
        return lit !== undefined && (defOf(lit).values ?? []).includes(input[disc]);
      });
      if (matching.length > 0) options = matching;
    }
    return options.flatMap((o) => unwrap(o, input));
  }
  return [s];
}

function child(s: z.ZodType, seg: PropertyKey, input: unknown): z.ZodType[] {
  const d = defOf(s);
  if (d.type === "object" && d.shape && typeof seg === "string" && Object.hasOwn(d.shape, seg)) {
    return unwrap(d.shape[seg] as z.ZodType, input);
  }
  if (d.type === "array" && d.element && typeof seg === "number") return unwrap(d.element, input);
  if (d.type === "record" && d.valueType) return unwrap(d.valueType, input);
  return [];
}

/** The field names allowed for the mapping at `path` of `data`, a document of this schema. */
export function allowedFields(schema: z.ZodType, path: readonly PropertyKey[], data?: unknown): string[] {
  let value: unknown = data;
  let current = unwrap(schema, value);
  for (const seg of path) {
    value =
      isObj(value) || Array.isArray(value)
        ? (value as Record<PropertyKey, unknown>)[seg as never]
        : undefined;
    current = current.flatMap((s) => child(s, seg, value));
  }
  const keys = new Set<string>();
  for (const s of current) {
    const d = defOf(s);
    if (d.type === "object" && d.shape) for (const k of Object.keys(d.shape)) keys.add(k);
  }
  return [...keys];
}

function distance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[n] ?? Math.max(m, n);
}

/**
 * The allowed field closest to `key`: case-insensitive, at most 2 edits away, else one that
 * starts with it (`knownhosts` → `knownHostsFile`).
 */
export function closestField(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const a of allowed) {
    const d = distance(key.toLowerCase(), a.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = a;
    }
  }
  if (best !== undefined) return best;
  const k = key.toLowerCase();
  return k.length >= 3
    ? allowed.find((a) => a.toLowerCase().startsWith(k) || k.startsWith(a.toLowerCase()))
    : undefined;
}
