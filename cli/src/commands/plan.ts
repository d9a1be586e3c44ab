/**
 * `fleetnet plan [-f PATH]... [--assume-empty] [--json] [--out FILE]`: what fleetnet would
 * change on every host, terraform-style, before anything is touched.
 *
 * Two modes. `--assume-empty` plans offline against hosts that have nothing of fleetnet's on
 * them. Without it the plan is live: the intents are validated here, then the planner
 * (`fleet.v1.api.plan`, the running stack) compiles them and diffs against the state each
 * executor last reported; hosts that never reported are planned as empty and named.
 * Invalid intents print their errors as `fleetnet validate` does and exit 1; nothing is
 * planned. The handler is exported and takes its output streams so tests run it in-process.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { formatError, type Intent, type Inventory, loadAndValidate } from "@fleetnet/intent";
import {
  type Allocations,
  buildPlan,
  formatPlan,
  NetstateError,
  type Plan,
  planJson,
} from "@fleetnet/netstate";
import type { Command } from "commander";
import { colour, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "../io.js";
import type { Output } from "./intent.js";
import { operatorId, PlannerClient, readIntentFiles } from "./rollout-api.js";

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
 * Plan the given intent files against live state (the planner) and print the plan.
 * Returns the exit status; invalid intents never reach the planner.
 * @throws UsageError without `-f`; FleetnetError `PLANNER_UNAVAILABLE` when the stack is not up.
 */
async function runLivePlan(opts: PlanCommandOptions, out: Output = processOutput): Promise<number> {
  const checked = validateOrReport(opts, out);
  if (typeof checked === "number") return checked;
  const client = await PlannerClient.connect();
  try {
    const reply = await client.plan(readIntentFiles(opts.file ?? []), operatorId());
    if (!opts.json && reply.unobserved.length > 0) {
      out.stderr(
        colour.yellow(
          `note: ${reply.unobserved.length} host(s) never reported their state and are planned as empty: ${reply.unobserved.join(", ")}\n`,
        ),
      );
    }
    return printPlan(await client.fullPlan(reply), opts, out);
  } finally {
    await client.close();
  }
}

/**
 * Plan the given intent files and print the plan. Returns the exit status.
 * @throws UsageError without `-f`, or without `--assume-empty` (live planning is {@link runLivePlan}).
 */
export function runPlan(opts: PlanCommandOptions, out: Output = processOutput): number {
  if (!opts.assumeEmpty) throw new UsageError("runPlan plans offline only: pass --assume-empty");
  const r = validateOrReport(opts, out);
  if (typeof r === "number") return r;
  const allocations = opts.previous ? readAllocations(opts.previous) : undefined;
  let plan: Plan;
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
  return printPlan(plan, opts, out);
}

/**
 * Validate locally. Invalid: print the errors as `validate` does and return the exit status;
 * valid: the inventory and intents.
 */
function validateOrReport(
  opts: PlanCommandOptions,
  out: Output,
): number | { inventory: Inventory; intents: Intent[] } {
  const paths = opts.file ?? [];
  if (paths.length === 0) throw new UsageError("plan needs at least one -f FILE|DIR");
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
  return { inventory: r.inventory, intents: r.intents };
}

/** Print a plan (human or JSON) and write `--out`. */
function printPlan(plan: Plan, opts: PlanCommandOptions, out: Output): number {
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
      "Show what fleetnet would change on every host (+ add, - remove, ~ change): live from the running stack, or offline with --assume-empty.",
    )
    .option("-f, --file <path>", "intent file or directory of *.yaml/*.yml (repeatable)", collect, [])
    .option(
      "--assume-empty",
      "plan against hosts with nothing of fleetnet's on them (no running stack needed)",
    )
    .option("--json", "print the plan as JSON (INTENTS.md 'Plan output')")
    .option("--out <file>", "also write the JSON plan to FILE")
    .option("--previous <plan.json>", "keep the IPAM allocations (addresses, ASNs) of an earlier plan")
    .action(async (opts: PlanCommandOptions) => {
      if (opts.previous && !opts.assumeEmpty)
        throw new UsageError("--previous is for --assume-empty; live plans keep the planner's allocations");
      process.exitCode = opts.assumeEmpty ? runPlan(opts) : await runLivePlan(opts);
    });
}
