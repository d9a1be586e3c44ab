/**
 * Validation: schema phase (per document, zod) then semantic phase (across documents).
 *
 * Design: every document is checked on its own first — envelope (mapping, apiVersion,
 * kind), then its kind's strict schema. zod issues are translated into
 * {@link ValidationError}s with a stable code, a dotted path and a sentence that names the
 * value (union failures are narrowed to the branch the author evidently meant, so that
 * `hosts: {names: [1]}` reports `spec.hosts.names[0]` rather than "invalid input"). The
 * documents that pass go to the semantic rules in `semantic.ts`, which need the whole set
 * (host references, collisions, pools). All errors are collected; nothing stops at the first.
 * When anything is wrong the result carries no inventory and no intents, so a caller
 * cannot plan from an invalid input by accident.
 */
import type { z } from "zod";
import {
  type DocumentRef,
  type ErrorCode,
  formatPath,
  type LoadIoError,
  type ValidationError,
} from "./errors.js";
import { allowedFields, closestField } from "./fields.js";
import { loadDocuments, parseDocuments, type SourceDocument } from "./load.js";
import {
  API_VERSION,
  type Intent,
  type IntentDocument,
  type Inventory,
  type InventoryHost,
  InventoryHostSchema,
  KIND_SCHEMAS,
  KINDS,
  type Kind,
  type RolloutPolicy,
} from "./schema.js";
import { type InventorySalvage, semanticProblems } from "./semantic.js";

/** A document that passed its schema, with defaults applied, and where it came from. */
export interface ParsedDocument {
  readonly ref: DocumentRef;
  readonly document: IntentDocument;
  /** Best source line for a field path of this document. */
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

/** Outcome of validation. When `valid` is false, `inventory`/`rolloutPolicy` are absent and `intents` is empty. */
export interface ValidationResult {
  valid: boolean;
  errors: ValidationError[];
  inventory?: Inventory;
  /** Network intents in input order (no Inventory/RolloutPolicy). */
  intents: Intent[];
  rolloutPolicy?: RolloutPolicy;
  /** Every parsed document with its source reference (empty when invalid). */
  documents: ParsedDocument[];
}

/** {@link ValidationResult} plus problems reading the input (which also make it invalid). */
export interface LoadValidationResult extends ValidationResult {
  ioErrors: LoadIoError[];
}

type Issue = z.core.$ZodIssue;
interface Problem {
  path: PropertyKey[];
  code: ErrorCode;
  message: string;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/** Short, safe rendering of a value for messages. */
function show(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  if (typeof v === "bigint") return String(v);
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof Date) return `the date ${v.toISOString().slice(0, 10)}`;
  if (v instanceof Uint8Array) return "binary data";
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    return keys.length === 0
      ? "{}"
      : `a mapping {${keys.slice(0, 4).join(", ")}${keys.length > 4 ? ", ..." : ""}}`;
  }
  return typeof v;
}

const TYPE_WORDS: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  array: "a list",
  object: "a mapping",
  record: "a mapping",
};

/** What a union at this path accepts, and the code to use when nothing fits. */
function unionForm(path: readonly PropertyKey[], input: unknown): { code: ErrorCode; expected: string } {
  const last = path[path.length - 1];
  const parent = path[path.length - 2];
  if (last === "hosts" || parent === "hosts") {
    return {
      code: "BAD_SELECTOR",
      expected: "exactly one of {names: [...]}, {matchLabels: {...}} or {matchExpressions: [...]}",
    };
  }
  if (last === "authPassword") {
    return typeof input === "string" || typeof input === "number"
      ? {
          code: "SECRET_INLINE",
          expected: "{fromEnv: VAR} or {fromFile: /path} (secrets are never written inline)",
        }
      : { code: "BAD_SECRET_REF", expected: "{fromEnv: VAR} or {fromFile: /path}" };
  }
  if (last === "asn") return { code: "WRONG_TYPE", expected: 'an ASN number or {pool: "first-last"}' };
  if (parent === "peers")
    return { code: "WRONG_TYPE", expected: "{address, remoteAs} or {hosts: <selector>}" };
  if (last === "routerId") return { code: "BAD_VALUE", expected: '"underlay" or an IPv4 address' };
  if (last === "table") return { code: "BAD_VALUE", expected: '"main" or a routing table number' };
  if (last === "maxUnavailable")
    return { code: "BAD_PERCENT", expected: 'a host count or a percentage like "25%"' };
  if (last === "failureThreshold" || parent === "waves") {
    return { code: "WRONG_TYPE", expected: "{hosts: N} or {percent: P}" };
  }
  if (parent === "settings") return { code: "WRONG_TYPE", expected: "a string or a number" };
  return { code: "WRONG_TYPE", expected: "one of the allowed forms" };
}

/**
 * How badly a union branch misses a mapping input: missing required keys and foreign keys
 * count; a wrong shape is infinite. The unique best branch is the one the author meant.
 */
function branchScore(issues: readonly Issue[]): number {
  let score = 0;
  for (const i of issues) {
    if (i.path.length === 0 && (i.code === "invalid_type" || i.code === "invalid_union"))
      return Number.POSITIVE_INFINITY;
    if (i.path.length === 0 && i.code === "unrecognized_keys") score += i.keys.length;
    else if (i.path.length === 1 && i.input === undefined)
      score += 1; // a required key is missing
    else if (i.path.length === 1 && i.code === "invalid_value") score += 1;
  }
  return score;
}

function rangeMessage(i: Issue & { code: "too_small" | "too_big" }): string {
  const small = i.code === "too_small";
  const bound = small
    ? (i as { minimum: number | bigint }).minimum
    : (i as { maximum: number | bigint }).maximum;
  const inclusive = (i as { inclusive?: boolean }).inclusive !== false;
  const input = i.input;
  if (i.origin === "array" || Array.isArray(input)) {
    const n = Array.isArray(input) ? input.length : "?";
    const field = String(i.path[i.path.length - 1] ?? "the list");
    return small
      ? `${field} needs at least ${bound} item(s), got ${n}`
      : `${field} allows at most ${bound} item(s), got ${n}`;
  }
  if (i.origin === "string") return small ? "must not be empty" : `must be at most ${bound} characters`;
  const op = small ? (inclusive ? ">=" : ">") : inclusive ? "<=" : "<";
  return `must be ${op} ${bound}, got ${show(input)}`;
}

/** Codes that a rule owns even though zod found the problem (range checks with a name). */
function overrideCode(kind: string | undefined, path: string, zodCode: string): ErrorCode | undefined {
  if (kind === "EcmpRoute" && path === "spec.nexthops" && zodCode === "too_small")
    return "ECMP_TOO_FEW_NEXTHOPS";
  if (
    kind === "BgpMultipath" &&
    path === "spec.maximumPaths" &&
    (zodCode === "too_small" || zodCode === "too_big")
  ) {
    return "MAX_PATHS_RANGE";
  }
  return undefined;
}

/** Translate one zod issue (path relative to the document) into problems. */
function translate(
  issue: Issue,
  base: readonly PropertyKey[],
  kind: string | undefined,
  out: Problem[],
  root?: unknown,
): void {
  const path = [...base, ...issue.path];
  const p = formatPath(path);
  switch (issue.code) {
    case "unrecognized_keys":
      for (const key of issue.keys) {
        const allowed =
          kind !== undefined && kind in KIND_SCHEMAS
            ? allowedFields(KIND_SCHEMAS[kind as Kind], path, root)
            : [];
        if (allowed.includes(key)) {
          // Allowed in another form of a union (e.g. `remoteAs` next to a `{hosts}` peer).
          out.push({
            path: [...path, key],
            code: "UNKNOWN_FIELD",
            message: `field ${JSON.stringify(key)} does not belong to this form of ${p === "" ? "the document" : p} (it has: ${
              Object.keys(isPlainObject(issue.input) ? issue.input : {})
                .filter((k) => !issue.keys.includes(k))
                .join(", ") || "nothing else"
            })`,
          });
          continue;
        }
        const guess = closestField(key, allowed);
        const hint =
          (guess !== undefined ? ` — did you mean ${JSON.stringify(guess)}?` : "") +
          (allowed.length > 0 ? ` (allowed: ${allowed.join(", ")})` : "");
        out.push({
          path: [...path, key],
          code: "UNKNOWN_FIELD",
          message: `unknown field ${JSON.stringify(key)}${p === "" ? "" : ` in ${p}`}${hint}`,
        });
      }
      return;
    case "invalid_type": {
      if (issue.input === undefined) {
        out.push({ path, code: "MISSING_FIELD", message: `required field ${p} is missing` });
        return;
      }
      const want = TYPE_WORDS[issue.expected] ?? issue.expected;
      out.push({ path, code: "WRONG_TYPE", message: `expected ${want}, got ${show(issue.input)}` });
      return;
    }
    case "too_small":
    case "too_big": {
      const special = overrideCode(kind, p, issue.code);
      if (special === "ECMP_TOO_FEW_NEXTHOPS") {
        const n = Array.isArray(issue.input) ? issue.input.length : 0;
        out.push({ path, code: special, message: `an ECMP route needs at least 2 nexthops, got ${n}` });
        return;
      }
      if (special === "MAX_PATHS_RANGE") {
        out.push({
          path,
          code: special,
          message: `maximumPaths must be between 1 and 64, got ${show(issue.input)}`,
        });
        return;
      }
      out.push({
        path,
        code: overrideCode(kind, p, issue.code) ?? "OUT_OF_RANGE",
        message: rangeMessage({ ...issue, path } as typeof issue),
      });
      return;
    }
    case "invalid_value": {
      const allowed = issue.values.map((v) => JSON.stringify(v)).join(", ");
      if (p === "apiVersion") {
        out.push({
          path,
          code: "BAD_API_VERSION",
          message: `apiVersion must be "${API_VERSION}", got ${show(issue.input)}`,
        });
        return;
      }
      out.push({ path, code: "BAD_VALUE", message: `must be one of ${allowed}, got ${show(issue.input)}` });
      return;
    }
    case "invalid_key":
      for (const sub of issue.issues) translate({ ...sub, path: [] } as Issue, path, kind, out, root);
      return;
    case "invalid_element":
      for (const sub of issue.issues) translate({ ...sub, path: [] } as Issue, path, kind, out, root);
      return;
    case "invalid_union": {
      const input = issue.input;
      if (input === undefined) {
        out.push({ path, code: "MISSING_FIELD", message: `required field ${p} is missing` });
        return;
      }
      const disc = (issue as { discriminator?: string }).discriminator;
      if (issue.errors.length === 0 || disc !== undefined) {
        // A discriminated union whose discriminator value matches no option.
        const parentValue = isPlainObject(input) && disc !== undefined ? input[disc] : input;
        const options = ((issue as { options?: unknown[] }).options ?? [])
          .map((o) => JSON.stringify(o))
          .join(", ");
        if (parentValue === undefined) {
          out.push({
            path,
            code: "MISSING_FIELD",
            message: `required field ${p} is missing (one of ${options})`,
          });
        } else {
          out.push({
            path,
            code: "BAD_VALUE",
            message: `must be one of ${options}, got ${show(parentValue)}`,
          });
        }
        return;
      }
      if (isPlainObject(input)) {
        let best: readonly Issue[] | undefined;
        let bestScore = Number.POSITIVE_INFINITY;
        let ties = 0;
        for (const branch of issue.errors) {
          const s = branchScore(branch);
          if (s < bestScore) {
            bestScore = s;
            best = branch;
            ties = 1;
          } else if (s === bestScore) ties++;
        }
        if (best && ties === 1 && bestScore < Number.POSITIVE_INFINITY) {
          for (const sub of best) translate(sub, path, kind, out, root);
          return;
        }
      }
      const form = unionForm(path, input);
      const got = isPlainObject(input) ? `{${Object.keys(input).join(", ")}}` : show(input);
      let hint = "";
      if (isPlainObject(input) && kind !== undefined && kind in KIND_SCHEMAS) {
        const allowed = allowedFields(KIND_SCHEMAS[kind as Kind], path, root);
        const guesses = Object.keys(input)
          .filter((k) => !allowed.includes(k))
          .map((k) => [k, closestField(k, allowed)] as const)
          .filter(([, g]) => g !== undefined);
        if (guesses.length > 0)
          hint = ` — did you mean ${guesses.map(([k, g]) => `${JSON.stringify(g)} for ${JSON.stringify(k)}`).join(", ")}?`;
      }
      // Never echo a secret: an inline password is reported without its value.
      const shown = form.code === "SECRET_INLINE" ? "an inline value (not shown)" : got;
      out.push({ path, code: form.code, message: `must be ${form.expected}, got ${shown}${hint}` });
      return;
    }
    case "custom": {
      const code = (issue.params as { code?: ErrorCode } | undefined)?.code ?? "BAD_VALUE";
      out.push({ path, code, message: issue.message });
      return;
    }
    case "invalid_format":
      out.push({ path, code: "BAD_VALUE", message: `${show(issue.input)} is not a valid ${issue.format}` });
      return;
    case "not_multiple_of":
      out.push({
        path,
        code: "BAD_VALUE",
        message: `must be a multiple of ${issue.divisor}, got ${show(issue.input)}`,
      });
      return;
    default:
      out.push({ path, code: "BAD_VALUE", message: (issue as { message: string }).message });
  }
}

interface DocContext {
  source: SourceDocument;
  kind?: string;
  name?: string;
}

function toError(ctx: DocContext, pr: Problem): ValidationError {
  const e: ValidationError = {
    file: ctx.source.file,
    document: ctx.source.index,
    path: formatPath(pr.path),
    code: pr.code,
    message: pr.message,
    retryable: false,
  };
  if (ctx.kind !== undefined) e.kind = ctx.kind;
  if (ctx.name !== undefined) e.name = ctx.name;
  const line = ctx.source.lineOf(pr.path);
  if (line !== undefined) e.line = line;
  return e;
}

/** Schema phase for one document: the parsed document, or the problems. */
function checkDocument(source: SourceDocument): {
  ctx: DocContext;
  document?: IntentDocument;
  problems: Problem[];
} {
  const data = source.data;
  const ctx: DocContext = { source };
  const problems: Problem[] = [];
  if (!isPlainObject(data)) {
    problems.push({
      path: [],
      code: "NOT_A_MAPPING",
      message: `a document must be a mapping, got ${show(data)}`,
    });
    return { ctx, problems };
  }
  const meta = data.metadata;
  if (isPlainObject(meta) && typeof meta.name === "string") ctx.name = meta.name;
  const kind = data.kind;
  if (typeof kind === "string") ctx.kind = kind;
  if (kind === undefined) {
    problems.push({
      path: ["kind"],
      code: "MISSING_FIELD",
      message: `required field kind is missing (one of ${KINDS.join(", ")})`,
    });
    return { ctx, problems };
  }
  if (typeof kind !== "string" || !(KINDS as string[]).includes(kind)) {
    problems.push({
      path: ["kind"],
      code: "UNKNOWN_KIND",
      message: `kind ${show(kind)} is not one of ${KINDS.join(", ")}`,
    });
    return { ctx, problems };
  }
  const schema = KIND_SCHEMAS[kind as Kind];
  let parsed: ReturnType<typeof schema.safeParse>;
  try {
    parsed = schema.safeParse(data, { reportInput: true });
  } catch (err) {
    // Defensive: a schema must never throw on data, but if it does the input is still invalid.
    problems.push({ path: [], code: "BAD_VALUE", message: `cannot validate document: ${String(err)}` });
    return { ctx, problems };
  }
  if (!parsed.success) {
    for (const issue of parsed.error.issues) translate(issue, [], kind, problems, data);
    return { ctx, problems };
  }
  return { ctx, document: parsed.data as IntentDocument, problems };
}

/** The host entries of the one (schema-invalid) Inventory that still parse; see {@link InventorySalvage}. */
function salvageInventory(documents: readonly SourceDocument[]): InventorySalvage | undefined {
  const source = documents.find((d) => isPlainObject(d.data) && d.data.kind === "Inventory");
  if (!source || !isPlainObject(source.data)) return undefined;
  const spec = source.data.spec;
  const entries = isPlainObject(spec) && Array.isArray(spec.hosts) ? (spec.hosts as unknown[]) : [];
  const hosts: Array<InventoryHost | undefined> = [];
  const brokenNames = new Set<string>();
  for (const entry of entries) {
    const r = InventoryHostSchema.safeParse(entry);
    hosts.push(r.success ? r.data : undefined);
    if (!r.success && isPlainObject(entry) && typeof entry.name === "string") brokenNames.add(entry.name);
  }
  const meta = source.data.metadata;
  const name = isPlainObject(meta) && typeof meta.name === "string" ? meta.name : "?";
  const document = {
    apiVersion: API_VERSION,
    kind: "Inventory",
    metadata: { name },
    spec: { hosts: hosts.filter((h): h is InventoryHost => h !== undefined) },
  } as Inventory;
  return {
    doc: {
      ref: { file: source.file, index: source.index, line: source.line },
      document,
      lineOf: source.lineOf,
    },
    hosts,
    brokenNames,
  };
}

/**
 * Validate loaded documents: schema per document, then the semantic rules across them.
 * Pure (no I/O). Reports all errors.
 */
export function validateDocuments(documents: readonly SourceDocument[]): ValidationResult {
  const errors: ValidationError[] = [];
  const parsed: ParsedDocument[] = [];
  const kindsSeen = new Map<string, number>();
  for (const source of documents) {
    const r = checkDocument(source);
    if (r.ctx.kind !== undefined) kindsSeen.set(r.ctx.kind, (kindsSeen.get(r.ctx.kind) ?? 0) + 1);
    for (const pr of r.problems) errors.push(toError(r.ctx, pr));
    if (r.document) {
      parsed.push({
        ref: { file: source.file, index: source.index, line: source.line },
        document: r.document,
        lineOf: source.lineOf,
      });
    }
  }
  const files = [...new Set(documents.map((d) => d.file))];
  const inventoryDocuments = kindsSeen.get("Inventory") ?? 0;
  const salvage =
    inventoryDocuments === 1 && !parsed.some((d) => d.document.kind === "Inventory")
      ? salvageInventory(documents)
      : undefined;
  const semantic = semanticProblems(
    parsed,
    salvage ? { inventoryDocuments, salvage } : { inventoryDocuments },
  );
  for (const s of semantic) {
    if (s.doc) {
      const source: SourceDocument = { ...s.doc.ref, data: undefined, lineOf: s.doc.lineOf };
      errors.push(toError({ source, kind: s.doc.document.kind, name: s.doc.document.metadata.name }, s));
    } else {
      errors.push({ path: formatPath(s.path), code: s.code, message: s.message, retryable: false });
    }
  }
  if (errors.length > 0)
    return { valid: false, errors: sortErrors(errors, files), intents: [], documents: [] };
  const inventory = parsed.find((d) => d.document.kind === "Inventory")?.document as Inventory | undefined;
  const rolloutPolicy = parsed.find((d) => d.document.kind === "RolloutPolicy")?.document as
    | RolloutPolicy
    | undefined;
  const intents = parsed
    .map((d) => d.document)
    .filter((d): d is Intent => d.kind !== "Inventory" && d.kind !== "RolloutPolicy");
  const result: ValidationResult = { valid: true, errors, intents, documents: parsed };
  if (inventory) result.inventory = inventory;
  if (rolloutPolicy) result.rolloutPolicy = rolloutPolicy;
  return result;
}

/**
 * Validate documents that are already data (e.g. JSON received over NATS): each element is
 * one document, numbered from 1 as `file#N`; there are no source lines.
 */
export function validateData(documents: readonly unknown[], file = "<input>"): ValidationResult {
  return validateDocuments(
    documents.map((data, i) => ({ file, index: i + 1, line: 1, data, lineOf: () => undefined })),
  );
}

/** Parse and validate YAML text held in memory (one "file"). */
export function validateText(text: string, file = "<input>"): ValidationResult {
  const r = parseDocuments(text, file);
  return mergeSyntax(validateDocuments(r.documents), r.errors, [file]);
}

/**
 * Add YAML syntax errors in front. When a file did not parse, "no Inventory" is most likely a
 * consequence (the inventory was in the broken document), so that error is dropped.
 */
function mergeSyntax(
  result: ValidationResult,
  syntax: ValidationError[],
  files: readonly string[],
): ValidationResult {
  if (syntax.length === 0) return result;
  const rest = result.errors.filter((e) => e.code !== "INVENTORY_MISSING");
  return { valid: false, errors: sortErrors([...syntax, ...rest], files), intents: [], documents: [] };
}

/** Order errors by file (input order), document, line; errors without a file come first. */
function sortErrors(errors: ValidationError[], files: readonly string[]): ValidationError[] {
  const fileRank = new Map(files.map((f, i) => [f, i]));
  const rank = (e: ValidationError) => (e.file === undefined ? -1 : (fileRank.get(e.file) ?? files.length));
  return errors
    .map((e, i) => ({ e, i }))
    .sort(
      (a, b) =>
        rank(a.e) - rank(b.e) ||
        (a.e.document ?? 0) - (b.e.document ?? 0) ||
        (a.e.line ?? 0) - (b.e.line ?? 0) ||
        a.i - b.i,
    )
    .map((x) => x.e);
}

/**
 * Load files/directories and validate them: the one call for the CLI and other packages.
 * I/O problems (missing file) are returned in `ioErrors` and make the result invalid.
 */
export function loadAndValidate(paths: readonly string[]): LoadValidationResult {
  const loaded = loadDocuments(paths);
  const result = mergeSyntax(validateDocuments(loaded.documents), loaded.errors, loaded.files);
  if (loaded.ioErrors.length > 0) {
    // Content errors of what could be read are still shown; "no Inventory" is likely just the missing file.
    const errors = result.errors.filter((e) => e.code !== "INVENTORY_MISSING");
    return { valid: false, errors, intents: [], documents: [], ioErrors: loaded.ioErrors };
  }
  return { ...result, ioErrors: [] };
}
