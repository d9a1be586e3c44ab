/**
 * `fleetnet plan [-f PATH]... [--assume-empty] [--json] [--out FILE]`: what fleetnet would
 * change on every host, terraform-style, before anything is touched.
 *
 * Only the offline mode exists for now: `--assume-empty` plans against hosts that have
 * nothing of fleetnet's on them. Live planning asks the executors for their observed state
 * and comes with the rollout stack; without `--assume-empty` the command says so (exit 2).
 * Invalid intents print their errors as `fleetnet validate` does and exit 1; nothing is
 * planned. The handler is exported and takes its output streams so tests run it in-process.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { formatError, loadAndValidate } from "@fleetnet/intent";
import { type Allocations, buildPlan, formatPlan, NetstateError, planJson } from "@fleetnet/netstate";
import type { Command } from "commander";
import { colour, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "../io.js";
import type { Output } from "./intent.js";

const processOutput: Output = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Options of `fleetnet plan`. */
export interface PlanCommandOptions {
  /** Files and directories (`-f`, repeatable). At least one is required. */
  file?: string[];
  assumeEmpty?: boolean;
  json?: boolean;
  /** Also write the JSON plan to this file. */
  out?: string;
  /** A plan JSON written earlier (`--out`): its IPAM allocations are kept. */
  previous?: string;
  /** Plan id (tests); default a random UUID. */
  planId?: string;
}

/**
 * Plan the given intent files and print the plan. Returns the exit status.
 * @throws UsageError without `-f`, or without `--assume-empty` (live mode needs the stack).
 */
export function runPlan(opts: PlanCommandOptions, out: Output = processOutput): number {
  const paths = opts.file ?? [];
  if (paths.length === 0) throw new UsageError("plan needs at least one -f FILE|DIR");
  if (!opts.assumeEmpty) {
    throw new UsageError(
      "live planning needs the running stack (planner and executors report each host's state; it comes with rollouts); use --assume-empty to plan against hosts with nothing of fleetnet's on them",
    );
  }
  const r = loadAndValidate(paths);
  if (r.ioErrors.length > 0 || !r.valid || !r.inventory) {
    if (opts.json) {
      const errors = [
        ...r.ioErrors.map((e) => ({
          file: e.path,
          path: "",
          code: e.code,
          message: e.message,
          retryable: e.retryable,
        })),
        ...r.errors,
      ];
      out.stdout(`${JSON.stringify({ valid: false, errors }, null, 2)}\n`);
    } else {
      for (const e of r.ioErrors) out.stderr(`fleetnet: ${e.message}\n`);
      for (const e of r.errors) {
        out.stdout(`${formatError(e)}${e.line !== undefined ? colour.dim(` (line ${e.line})`) : ""}\n`);
      }
      if (r.errors.length > 0)
        out.stderr(`${colour.red("invalid")}: ${r.errors.length} error(s); nothing planned\n`);
    }
    return r.ioErrors.length > 0 ? EXIT_USAGE : EXIT_FAILED;
  }
  const allocations = opts.previous ? readAllocations(opts.previous) : undefined;
  let plan: ReturnType<typeof buildPlan>;
  try {
    plan = buildPlan(r.inventory, r.intents, "assume-empty", {
      ...(opts.planId ? { planId: opts.planId } : {}),
      ...(allocations ? { allocations } : {}),
    });
  } catch (err) {
    if (err instanceof NetstateError) {
      out.stderr(`fleetnet: cannot plan: ${err.message} [${err.code}]\n`);
      return EXIT_FAILED;
    }
    throw err;
  }
  const json = opts.json || opts.out ? planJson(plan) : "";
  if (opts.out) {
    try {
      writeFileSync(opts.out, json);
    } catch (err) {
      throw new UsageError(`cannot write ${opts.out}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (opts.json) out.stdout(json);
  else {
    out.stdout(formatPlan(plan, colour));
    if (opts.out) out.stdout(colour.dim(`plan ${plan.planId} written to ${opts.out}\n`));
  }
  return EXIT_OK;
}

/** The `allocations` of a plan JSON file, so addresses and ASNs stay where they were. */
function readAllocations(file: string): Allocations {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new UsageError(`cannot read plan ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const a = (parsed as { allocations?: unknown } | null)?.allocations as Partial<Allocations> | undefined;
  const isMap = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!a || !isMap(a.addresses) || !isMap(a.asns)) {
    throw new UsageError(`${file} is not a plan with "allocations" (write one with --out)`);
  }
  return { addresses: a.addresses as Allocations["addresses"], asns: a.asns as Allocations["asns"] };
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Registers `plan`. */
export function registerPlan(program: Command): void {
  program
    .command("plan")
    .description(
      "Show what fleetnet would change on every host (+ add, - remove, ~ change). Offline with --assume-empty.",
    )
    .option("-f, --file <path>", "intent file or directory of *.yaml/*.yml (repeatable)", collect, [])
    .option(
      "--assume-empty",
      "plan against hosts with nothing of fleetnet's on them (no running stack needed)",
    )
    .option("--json", "print the plan as JSON (INTENTS.md 'Plan output')")
    .option("--out <file>", "also write the JSON plan to FILE")
    .option("--previous <plan.json>", "keep the IPAM allocations (addresses, ASNs) of an earlier plan")
    .action((opts: PlanCommandOptions) => {
      process.exitCode = runPlan(opts);
    });
}
