/**
 * Multi-document YAML loading with source positions.
 *
 * A path is a file (any name) or a directory (its `*.yaml`/`*.yml`, not recursive, sorted by
 * name). Each non-empty YAML document becomes a {@link SourceDocument} that remembers its
 * file, 1-based index in the file and line, and can map a field path back to a source line
 * so that errors point at the offending node. Malformed YAML becomes `YAML_SYNTAX` errors
 * with the line; the other documents of the file are still loaded so that all errors are
 * reported at once. Reading files is the only I/O in this package.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
} from "yaml";
import type { DocumentRef, LoadIoError, ValidationError } from "./errors.js";

/** One YAML document of the input. */
export interface SourceDocument extends DocumentRef {
  /** The document as plain JS data (what the schemas see). */
  readonly data: unknown;
  /** Best source line for a field path (the node, else its nearest existing parent). */
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

/** Result of loading: documents, content errors (`YAML_SYNTAX`) and I/O errors. */
export interface LoadResult {
  /** The files that were read, in order. */
  files: string[];
  documents: SourceDocument[];
  errors: ValidationError[];
  ioErrors: LoadIoError[];
}

/** Upper bound on alias expansion, against "billion laughs" documents. */
const MAX_ALIAS_COUNT = 1000;

function lineAt(lc: LineCounter, offset: number | undefined): number | undefined {
  if (offset === undefined) return undefined;
  return lc.linePos(offset).line;
}

function makeLineOf(doc: Document, lc: LineCounter): (path: readonly PropertyKey[]) => number | undefined {
  return (path) => {
    let node: unknown = doc.contents;
    let best = lineAt(lc, (doc.contents as Node | null)?.range?.[0]);
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find(
          (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
        );
        if (!pair) break;
        const keyLine = lineAt(lc, (pair.key as Node).range?.[0]);
        if (keyLine !== undefined) best = keyLine;
        node = pair.value;
        const valueLine = lineAt(lc, (pair.value as Node | null)?.range?.[0]);
        if (valueLine !== undefined && !isMap(pair.value) && !isSeq(pair.value)) best = valueLine;
      } else if (isSeq(node) && typeof seg === "number") {
        const item = node.items[seg] as Node | undefined;
        if (!item) break;
        const l = lineAt(lc, item.range?.[0]);
        if (l !== undefined) best = l;
        node = item;
      } else break;
    }
    return best;
  };
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

/**
 * Parse the YAML text of one file into documents. Never throws: syntax problems are
 * returned as `YAML_SYNTAX` errors carrying the line.
 */
export function parseDocuments(
  text: string,
  file: string,
): { documents: SourceDocument[]; errors: ValidationError[] } {
  const documents: SourceDocument[] = [];
  const errors: ValidationError[] = [];
  const lc = new LineCounter();
  let docs: Document[];
  try {
    docs = parseAllDocuments(text, {
      lineCounter: lc,
      prettyErrors: false,
      uniqueKeys: true,
    }) as unknown as Document[];
    if (!Array.isArray(docs)) docs = [];
  } catch (err) {
    errors.push({
      file,
      path: "",
      code: "YAML_SYNTAX",
      message: `cannot parse YAML: ${String(err)}`,
      retryable: false,
    });
    return { documents, errors };
  }
  docs.forEach((doc, i) => {
    const index = i + 1;
    const startLine =
      lineAt(lc, (doc.contents as Node | null)?.range?.[0]) ?? lineAt(lc, doc.range?.[0]) ?? 1;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = e.pos?.[0] !== undefined ? lc.linePos(e.pos[0]) : undefined;
        const line = pos?.line ?? startLine;
        const col = pos?.col;
        errors.push({
          file,
          document: index,
          path: "",
          code: "YAML_SYNTAX",
          message: `malformed YAML at line ${line}${col !== undefined ? `, column ${col}` : ""}: ${firstLine(e.message)}`,
          line,
          retryable: false,
        });
      }
      return;
    }
    if (doc.contents === null) return; // empty document (e.g. a trailing `---`)
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      errors.push({
        file,
        document: index,
        path: "",
        code: "YAML_SYNTAX",
        message: `malformed YAML at line ${startLine}: ${firstLine(err instanceof Error ? err.message : String(err))}`,
        line: startLine,
        retryable: false,
      });
      return;
    }
    if (data === null || data === undefined) return;
    documents.push({ file, index, line: startLine, data, lineOf: makeLineOf(doc, lc) });
  });
  return { documents, errors };
}

function isYamlName(name: string): boolean {
  return name.endsWith(".yaml") || name.endsWith(".yml");
}

/**
 * Expand paths into files: a directory yields its `*.yaml`/`*.yml` entries (sorted); a file
 * is taken as is. The same file named twice is read once.
 */
export function expandPaths(paths: readonly string[]): { files: string[]; ioErrors: LoadIoError[] } {
  const files: string[] = [];
  const ioErrors: LoadIoError[] = [];
  const seen = new Set<string>();
  const add = (f: string) => {
    const key = resolve(f);
    if (!seen.has(key)) {
      seen.add(key);
      files.push(f);
    }
  };
  for (const p of paths) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      ioErrors.push(
        code === "ENOENT"
          ? { code: "FILE_NOT_FOUND", path: p, message: `${p}: no such file or directory`, retryable: true }
          : { code: "IO_ERROR", path: p, message: `${p}: ${(err as Error).message}`, retryable: true },
      );
      continue;
    }
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = readdirSync(p).filter(isYamlName).sort();
      } catch (err) {
        ioErrors.push({
          code: "IO_ERROR",
          path: p,
          message: `${p}: ${(err as Error).message}`,
          retryable: true,
        });
        continue;
      }
      const yamlFiles = names
        .map((n) => join(p, n))
        .filter((f) => {
          try {
            return statSync(f).isFile();
          } catch {
            return false;
          }
        });
      if (yamlFiles.length === 0) {
        ioErrors.push({
          code: "NO_YAML_FILES",
          path: p,
          message: `${p}: directory has no *.yaml or *.yml files`,
          retryable: false,
        });
      }
      yamlFiles.forEach(add);
    } else {
      add(p);
    }
  }
  return { files, ioErrors };
}

/** Load every document from files and directories (see module header). */
export function loadDocuments(paths: readonly string[]): LoadResult {
  const { files, ioErrors } = expandPaths(paths);
  const documents: SourceDocument[] = [];
  const errors: ValidationError[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch (err) {
      ioErrors.push({
        code: "IO_ERROR",
        path: f,
        message: `${f}: ${(err as Error).message}`,
        retryable: true,
      });
      continue;
    }
    const r = parseDocuments(text, f);
    documents.push(...r.documents);
    errors.push(...r.errors);
  }
  return { files, documents, errors, ioErrors };
}
