/**
 * Fuzz: random mutations of the examples (deterministic seed) must never crash the
 * validator, its verdict must agree with its errors, and an invalid input must never hand
 * out intents (no plan from an invalid file). Structural mutations whose outcome is known
 * (an unknown field added) must be reported as such.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { ERROR_CODES, type ValidationResult, validateText } from "./index.js";

const ROOT = fileURLToPath(new URL("../../../examples/kinds", import.meta.url));
const SEEDS: string[] = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) =>
    readdirSync(join(ROOT, d.name))
      .filter((f) => f.endsWith(".yaml"))
      .sort()
      .map((f) => readFileSync(join(ROOT, d.name, f), "utf8"))
      .join("---\n"),
  );

/** mulberry32: small deterministic PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NASTY = [
  ":",
  "-",
  "[",
  "]",
  "{",
  "}",
  '"',
  "'",
  "\t",
  "\n",
  "&",
  "*",
  "!",
  "#",
  "|",
  ">",
  "%",
  "@",
  "`",
  " ",
  "\0",
  "é",
  "0",
  "9",
  "/",
];
const VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  65536,
  2 ** 53,
  "",
  "x",
  "br/0;rm -rf /",
  "a".repeat(300),
  "10.0.0.0/33",
  "::",
  [],
  [1, "two"],
  {},
  { fromEnv: "X" },
  { names: [] },
  "fleetnet/v2",
];

type Json = unknown;

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

/** All containers (object/array) in a value, with the path to each. */
function containers(
  v: Json,
  path: PropertyKey[] = [],
  out: Array<{ node: object; path: PropertyKey[] }> = [],
) {
  if (v !== null && typeof v === "object") {
    out.push({ node: v as object, path });
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        containers(x, [...path, i], out);
      });
    } else for (const [k, x] of Object.entries(v)) containers(x, [...path, k], out);
  }
  return out;
}

function mutateText(text: string, r: () => number): string {
  const n = 1 + Math.floor(r() * 3);
  let t = text;
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * (t.length + 1));
    switch (Math.floor(r() * 5)) {
      case 0: // replace a character
        t = t.slice(0, at) + pick(r, NASTY) + t.slice(at + 1);
        break;
      case 1: // delete a range
        t = t.slice(0, at) + t.slice(at + Math.floor(r() * 20));
        break;
      case 2: // insert
        t = t.slice(0, at) + pick(r, NASTY) + t.slice(at);
        break;
      case 3: {
        // duplicate a line
        const lines = t.split("\n");
        const li = Math.floor(r() * lines.length);
        lines.splice(li, 0, lines[li] ?? "");
        t = lines.join("\n");
        break;
      }
      default: {
        // swap two lines
        const lines = t.split("\n");
        const a = Math.floor(r() * lines.length);
        const b = Math.floor(r() * lines.length);
        [lines[a], lines[b]] = [lines[b] ?? "", lines[a] ?? ""];
        t = lines.join("\n");
      }
    }
  }
  return t;
}

/** Structural mutation; returns the text and whether the result must be invalid with a code. */
/** Seeds as data, parsed once (tree mutations work on clones). */
const SEED_DATA = new Map(SEEDS.map((t) => [t, parseAllDocuments(t).map((d) => d.toJS() as Json)]));

function mutateTree(text: string, r: () => number): { text: string; mustFail?: string } {
  const docs = structuredClone(SEED_DATA.get(text) ?? []);
  const di = Math.floor(r() * docs.length);
  const all = containers(docs[di]);
  const target = pick(r, all);
  let mustFail: string | undefined;
  const op = Math.floor(r() * 6);
  if (Array.isArray(target.node)) {
    const arr = target.node as unknown[];
    if (op < 2 && arr.length > 0) arr.splice(Math.floor(r() * arr.length), 1);
    else if (op < 4 && arr.length > 0) arr.push(structuredClone(arr[Math.floor(r() * arr.length)]));
    else arr[Math.floor(r() * (arr.length + 1))] = pick(r, VALUES);
  } else {
    const obj = target.node as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (op === 0 && keys.length > 0) delete obj[pick(r, keys)];
    else if (op === 1 && keys.length > 0) obj[pick(r, keys)] = pick(r, VALUES);
    else if (op === 2 && keys.length > 0) {
      // retype: number <-> string, scalar -> list
      const k = pick(r, keys);
      const v = obj[k];
      obj[k] =
        typeof v === "number"
          ? String(v)
          : typeof v === "string"
            ? Number.isNaN(Number(v))
              ? [v]
              : Number(v)
            : v;
    } else if (op === 3 && keys.length > 0) {
      // garble a string value
      const k = pick(r, keys);
      const v = obj[k];
      if (typeof v === "string" && v.length > 0) {
        const at = Math.floor(r() * v.length);
        obj[k] = v.slice(0, at) + pick(r, NASTY) + v.slice(at + 1);
      }
    } else if (target.path.length <= 1 && (target.path.length === 0 || target.path[0] === "spec")) {
      // An unknown field in the document or its spec is always an error.
      obj.zzUnknown = pick(r, VALUES);
      mustFail = "UNKNOWN_FIELD";
    } else {
      obj[`k${Math.floor(r() * 1000)}`] = pick(r, VALUES);
    }
  }
  return { text: docs.map((d) => stringify(d)).join("---\n"), ...(mustFail ? { mustFail } : {}) };
}

const CODES = new Set([...Object.keys(ERROR_CODES)]);

/** Throws (with the input) when an invariant does not hold; cheap enough for thousands of runs. */
function checkInvariants(res: ValidationResult, input: string): void {
  const fail = (why: string) => {
    throw new Error(`${why}\ninput:\n${input}\nerrors: ${JSON.stringify(res.errors, null, 1)}`);
  };
  if (res.valid !== (res.errors.length === 0)) fail("valid disagrees with errors");
  if (!res.valid) {
    if (res.intents.length > 0 || res.inventory || res.rolloutPolicy || res.documents.length > 0) {
      fail("an invalid input handed out intents");
    }
  } else if (!res.inventory) fail("valid without an inventory");
  for (const e of res.errors) {
    if (!CODES.has(e.code)) fail(`unknown code ${e.code}`);
    if (typeof e.message !== "string" || e.message.length === 0) fail("empty message");
    if (typeof e.path !== "string") fail("path is not a string");
    if (e.file !== undefined && (e.file !== "fuzz.yaml" || !(Number(e.document) >= 1)))
      fail("bad document reference");
  }
}

describe("fuzzed examples", () => {
  const N = 3000;
  it(`${N} text and tree mutations never crash and never yield intents when invalid`, () => {
    const r = rng(0xf1ee7);
    let invalid = 0;
    let knownFail = 0;
    for (let i = 0; i < N; i++) {
      const seed = pick(r, SEEDS);
      let input: string;
      let mustFail: string | undefined;
      if (i % 2 === 0) input = mutateText(seed, r);
      else {
        const m = mutateTree(seed, r);
        input = m.text;
        mustFail = m.mustFail;
      }
      let result: ValidationResult;
      try {
        result = validateText(input, "fuzz.yaml");
      } catch (err) {
        throw new Error(`validator threw ${String(err)} on input:\n${input}`);
      }
      checkInvariants(result, input);
      if (!result.valid) invalid++;
      if (mustFail) {
        knownFail++;
        if (result.valid || !result.errors.some((e) => e.code === mustFail)) {
          throw new Error(
            `expected ${mustFail} for input:\n${input}\nerrors: ${JSON.stringify(result.errors)}`,
          );
        }
      }
    }
    // The mutations must actually exercise the error paths (and not all of them).
    expect(invalid).toBeGreaterThan(N / 3);
    expect(invalid).toBeLessThan(N);
    expect(knownFail).toBeGreaterThan(10);
  }, 300_000);
});
