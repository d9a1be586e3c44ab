/**
 * `fleetnet validate` and `fleetnet schema`: check intent files and print the JSON Schema.
 *
 * The handlers are exported and take their output streams so that tests run them in-process.
 * Exit status (INTENTS.md): 0 valid, 1 invalid, 2 usage or I/O error (e.g. a missing file).
 */
import {
  formatError,
  intentJsonSchema,
  type LoadIoError,
  loadAndValidate,
  type ValidationError,
} from "@fleetnet/intent";
import type { Command } from "commander";
import { colour, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "../io.js";

/** Where a handler writes; defaults to the process streams. */
export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processOutput: Output = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Options of `fleetnet validate`. */
export interface ValidateOptions {
  /** Files and directories (`-f`, repeatable). At least one is required. */
  file?: string[];
  json?: boolean;
}

function ioAsError(e: LoadIoError): Record<string, unknown> {
  return { file: e.path, path: "", code: e.code, message: e.message, retryable: e.retryable };
}

function humanLine(e: ValidationError): string {
  const line = formatError(e);
  const at = e.line !== undefined ? colour.dim(` (line ${e.line})`) : "";
  return `${line}${at}\n`;
}

/**
 * Validate the given files/directories and print the result. Returns the exit status.
 * @throws UsageError when no `-f` is given (nothing is assumed, not even `.`).
 */
export function runValidate(opts: ValidateOptions, out: Output = processOutput): number {
  const paths = opts.file ?? [];
  if (paths.length === 0) throw new UsageError("validate needs at least one -f FILE|DIR");
  const r = loadAndValidate(paths);
  if (opts.json) {
    const errors: Array<Record<string, unknown>> = [
      ...r.ioErrors.map(ioAsError),
      ...r.errors.map((e) => ({ ...e })),
    ];
    out.stdout(`${JSON.stringify({ valid: r.valid, errors }, null, 2)}\n`);
  } else {
    for (const e of r.ioErrors) out.stderr(`fleetnet: ${e.message}\n`);
    for (const e of r.errors) out.stdout(humanLine(e));
    if (r.valid) {
      const hosts = r.inventory?.spec.hosts.length ?? 0;
      out.stdout(
        `${colour.green("OK")}: ${r.documents.length} document(s) valid — ${hosts} host(s), ${r.intents.length} intent(s)${r.rolloutPolicy ? ", 1 rollout policy" : ""}\n`,
      );
    } else if (r.errors.length > 0) {
      out.stderr(`${colour.red("invalid")}: ${r.errors.length} error(s)\n`);
    }
  }
  if (r.ioErrors.length > 0) return EXIT_USAGE;
  return r.valid ? EXIT_OK : EXIT_FAILED;
}

/** Print the JSON Schema of the document format. Returns the exit status. */
export function runSchema(out: Output = processOutput): number {
  out.stdout(`${JSON.stringify(intentJsonSchema(), null, 2)}\n`);
  return EXIT_OK;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Registers `validate` and `schema`. */
export function registerIntent(program: Command): void {
  program
    .command("validate")
    .description(
      "Check intent files (schema and cross-document rules); exit 0 valid, 1 invalid, 2 usage/I/O error.",
    )
    .option("-f, --file <path>", "intent file or directory of *.yaml/*.yml (repeatable)", collect, [])
    .option("--json", "print {valid, errors} as JSON")
    .action((opts: ValidateOptions) => {
      process.exitCode = runValidate(opts);
    });
  program
    .command("schema")
    .description("Print the JSON Schema of fleetnet intent documents (for editors).")
    .action(() => {
      process.exitCode = runSchema();
    });
}
