/**
 * `fleetnet apply -f PATH... [--yes] [--json]` and
 * `fleetnet rollout status|pause|resume|abort|rollback|events ID [--json]`.
 *
 * Design: the CLI is a thin client of the planner API (rollout-api.ts). `apply` sends the
 * intent files as they are: the planner validates them (the same code and errors as `fleetnet
 * validate`: an invalid set is refused with `INTENTS_INVALID` and every error, and nothing is
 * planned or applied) — validating them here first as well cost a 200-host fleet's rollout
 * ~0.2 s of YAML parsing before anything started. When the planner cannot be reached, the files
 * are validated here so that their errors, not the connection's, are what the operator sees.
 * It asks the planner for the live plan, prints its summary, asks for confirmation on a TTY
 * unless `--yes` (without a TTY `--yes` is required), submits, then follows the rollout: it
 * subscribes to every rollout's audit events BEFORE submitting (the rollout's id is only
 * known from the reply, and the first events may come before it) and keeps those of its
 * rollout, and it polls `status` once a second, which decides when the rollout is over (an
 * event lost on core NATS never hangs the CLI). Progress goes to stdout as plain lines, or as
 * one progress bar per wave on a TTY; with `--json` nothing but the final summary is printed
 * on stdout (progress goes to stderr as plain lines).
 *
 * Exit status: 0 the rollout succeeded (or, for the control verbs, the planner took the
 * command), 1 it did not (or the planner refused: invalid intents, a locked host, unknown
 * rollout), 2 usage error or the planner/NATS unreachable.
 */
import { createInterface } from "node:readline/promises";
import { formatError, loadAndValidate } from "@fleetnet/intent";
import { type AuditEvent, AuditEventSchema, FleetnetError, parseMessage, subjects } from "@fleetnet/protocol";
import type { Command } from "commander";
import { colour, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "../io.js";
import {
  type ApplyReply,
  describeEvent,
  operatorId,
  PlannerClient,
  type RolloutSummary,
  readIntentFiles,
  TERMINAL_STATUSES,
} from "./rollout-api.js";

/** Exit status for an error from the planner or the connection. */
function exitFor(err: unknown): number {
  if (err instanceof FleetnetError)
    return ["PLANNER_UNAVAILABLE", "NATS_UNAVAILABLE", "CONFIG_INVALID", "BAD_REPLY"].includes(err.code)
      ? EXIT_USAGE
      : EXIT_FAILED;
  throw err;
}

function printError(err: unknown): void {
  const e = err as FleetnetError;
  process.stderr.write(`fleetnet: ${e.code ? `${e.code}: ` : ""}${e.message}\n`);
  const details = e.details as { errors?: Parameters<typeof formatError>[0][] } | undefined;
  for (const v of details?.errors ?? []) process.stderr.write(`  ${formatError(v)}\n`);
}

/** The `--json` result of `apply` / `rollout status`: exactly the issue's shape. */
export function resultJson(s: RolloutSummary): object {
  return {
    rolloutId: s.rolloutId,
    status: s.status,
    waves: s.waves.map((w) => ({ index: w.index, hosts: w.hosts, status: w.status })),
    hosts: Object.fromEntries(
      Object.entries(s.hosts).map(([n, h]) => [n, { status: h.status, changed: h.changed, error: h.error }]),
    ),
  };
}

const DONE = new Set(["applied", "confirmed", "unchanged", "failed", "reverted"]);

function bar(done: number, total: number, width = 20): string {
  const n = total === 0 ? width : Math.round((done / total) * width);
  return `[${"#".repeat(n)}${"-".repeat(width - n)}]`;
}

/** Human lines for a summary (status command and the end of apply). */
export function formatSummary(s: RolloutSummary): string {
  const paint =
    s.status === "succeeded"
      ? colour.green
      : s.status === "running" || s.status === "paused"
        ? colour.yellow
        : colour.red;
  const lines = [
    `rollout ${s.rolloutId}: ${paint(s.status)}${s.stop ? ` (${s.stop.kind}: ${s.stop.reason})` : ""}`,
  ];
  for (const w of s.waves) {
    const done = w.hosts.filter((h) => DONE.has(s.hosts[h]?.status ?? "")).length;
    lines.push(
      `  wave ${w.index + 1} ${bar(done, w.hosts.length, 10)} ${w.status.padEnd(10)} ${w.hosts.join(", ")}`,
    );
  }
  for (const [h, r] of Object.entries(s.hosts))
    if (r.error) lines.push(`  ${colour.red("✗")} ${h}: ${r.status}: ${r.error.code}: ${r.error.message}`);
  return `${lines.join("\n")}\n`;
}

/** Options of `fleetnet apply`. */
interface ApplyOptions {
  file?: string[];
  yes?: boolean;
  json?: boolean;
}

/** Follow a rollout until it ends; returns the final summary. */
async function follow(
  client: PlannerClient,
  first: RolloutSummary,
  buffered: AuditEvent[],
  onEvent: (listener: (e: AuditEvent) => void) => void,
  out: (text: string) => void,
  tty: boolean,
): Promise<RolloutSummary> {
  const id = first.rolloutId;
  let drawn = 0;
  const draw = (s: RolloutSummary) => {
    if (!tty) return;
    const lines = s.waves.map((w) => {
      const done = w.hosts.filter((h) => DONE.has(s.hosts[h]?.status ?? "")).length;
      const failed = w.hosts.filter((h) => s.hosts[h]?.status === "failed").length;
      return `wave ${w.index + 1} ${bar(done, w.hosts.length)} ${done}/${w.hosts.length} ${w.status}${failed ? colour.red(` ${failed} failed`) : ""}`;
    });
    out(`${drawn > 0 ? `\u001b[${drawn}A` : ""}${lines.map((l) => `\u001b[2K${l}`).join("\n")}\n`);
    drawn = lines.length;
  };
  const seen = new Set<string>();
  // the rollout's own terminal event (`rollout.succeeded`, …) ends the wait for the next poll
  const terminal = new Set(TERMINAL_STATUSES.map((t) => `rollout.${t.replace(/_/g, "-")}`));
  let ended = false;
  let wake: (() => void) | undefined;
  const show = (e: AuditEvent) => {
    if (e.target.rolloutId !== id || seen.has(e.id)) return;
    seen.add(e.id);
    if (terminal.has(e.action)) {
      ended = true;
      wake?.();
    }
    if (tty) {
      // bars carry the progress; failures are worth a line of their own
      if (e.result === "failed") {
        out(`${drawn > 0 ? `\u001b[${drawn}A\u001b[0J` : ""}${colour.red(describeEvent(e))}\n`);
        drawn = 0;
      }
    } else out(`${describeEvent(e)}\n`);
  };
  for (const e of buffered) show(e);
  onEvent(show);
  let s = first;
  draw(s);
  while (!TERMINAL_STATUSES.includes(s.status)) {
    await new Promise<void>((r) => {
      // after the terminal event the status is about to say so: ask again soon
      const t = setTimeout(r, ended ? 50 : 500);
      wake = () => {
        clearTimeout(t);
        r();
      };
    });
    wake = undefined;
    try {
      s = await client.status(id);
    } catch (err) {
      if (err instanceof FleetnetError && err.retryable) continue; // planner restarting: keep following
      throw err;
    }
    draw(s);
  }
  // the last events trail the final status (unless the terminal one, the last, was seen)
  if (!ended) await new Promise((r) => setTimeout(r, 300));
  return s;
}

/** `fleetnet apply`: returns the exit status. */
async function runApply(opts: ApplyOptions): Promise<number> {
  const paths = opts.file ?? [];
  const files = readIntentFiles(paths);
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
  if (!opts.yes && !interactive)
    throw new UsageError("apply needs --yes when stdin/stdout is not a terminal (nothing applied)");
  const info = (t: string) => (opts.json ? process.stderr.write(t) : process.stdout.write(t));
  let client: PlannerClient;
  try {
    client = await PlannerClient.connect();
  } catch (err) {
    const invalid = invalidLocally(paths);
    if (invalid !== undefined) return invalid;
    printError(err);
    return exitFor(err);
  }
  const showPlan = (p: Pick<ApplyReply, "planHash" | "summary" | "hostOps" | "unobserved">) => {
    const sum = p.summary;
    info(
      `plan ${p.planHash.slice(0, 19)}: ${sum.hosts} host(s), ${sum.changedHosts} to change, ${sum.ops} op(s)\n`,
    );
    for (const h of p.hostOps ?? []) if (h.ops > 0) info(`  ${h.host}: ${h.ops} op(s)\n`);
    if (p.unobserved.length > 0)
      info(colour.yellow(`  not yet reported (planned from empty): ${p.unobserved.join(", ")}\n`));
  };
  try {
    const by = operatorId();
    if (!opts.yes) {
      // shown for the question; the planner plans again when the rollout is submitted (with
      // --yes that plan is the only one: its summary comes with the submission's reply)
      showPlan(await client.plan(files, by, { summaryOnly: true }));
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      const answer = await rl.question("Apply this plan? [y/N] ");
      rl.close();
      if (!/^y(es)?$/i.test(answer.trim())) {
        process.stdout.write("nothing applied\n");
        return EXIT_FAILED;
      }
    }
    // subscribe before submitting: the first events may precede the reply
    const buffered: AuditEvent[] = [];
    let listener: ((e: AuditEvent) => void) | undefined;
    const sub = client.nc.subscribe(subjects.rolloutEvents());
    void (async () => {
      for await (const m of sub) {
        const ev = parseMessage(AuditEventSchema, m.data);
        if (!ev.ok) continue;
        if (listener) listener(ev.value);
        else buffered.push(ev.value);
      }
    })();
    await client.nc.flush();
    const reply = await client.call<ApplyReply>("apply", { files, by });
    if (opts.yes) showPlan(reply);
    info(`rollout ${reply.rolloutId} submitted: ${reply.waves.length} wave(s)\n`);
    for (const w of reply.waves)
      info(`  wave ${w.index + 1}: ${w.hosts.join(", ")}${w.reason ? ` (${w.reason})` : ""}\n`);
    const tty = !opts.json && process.stdout.isTTY === true;
    const final = await follow(
      client,
      reply,
      buffered,
      (l) => {
        listener = l;
      },
      info,
      tty,
    );
    sub.unsubscribe();
    if (opts.json) process.stdout.write(`${JSON.stringify(resultJson(final))}\n`);
    else process.stdout.write(formatSummary(final));
    return final.status === "succeeded" ? EXIT_OK : EXIT_FAILED;
  } catch (err) {
    if (err instanceof FleetnetError && err.code === "PLANNER_UNAVAILABLE") {
      const invalid = invalidLocally(paths);
      if (invalid !== undefined) return invalid;
    }
    printError(err);
    return exitFor(err);
  } finally {
    await client.close();
  }
}

/**
 * When the planner (which validates what `apply` sends) cannot be reached: validate the files
 * here and print their errors as `fleetnet validate` does. EXIT_FAILED when they are invalid,
 * `undefined` when they are valid (the connection's error is then the one to show).
 */
function invalidLocally(paths: readonly string[]): number | undefined {
  const local = loadAndValidate(paths);
  if (local.valid) return undefined;
  for (const e of local.errors) process.stderr.write(`${formatError(e)}\n`);
  process.stderr.write(`${colour.red("invalid")}: ${local.errors.length} error(s); nothing applied\n`);
  return EXIT_FAILED;
}

type Verb = "status" | "pause" | "resume" | "abort" | "rollback" | "events";

/** `fleetnet rollout VERB ID`: returns the exit status. */
async function runRolloutVerb(verb: Verb, id: string, opts: { json?: boolean }): Promise<number> {
  const client = await PlannerClient.connect();
  try {
    if (verb === "status") {
      const s = await client.status(id);
      process.stdout.write(opts.json ? `${JSON.stringify(resultJson(s))}\n` : formatSummary(s));
      return EXIT_OK;
    }
    if (verb === "events") {
      const events = await client.events(id);
      if (opts.json) process.stdout.write(`${JSON.stringify({ rolloutId: id, events })}\n`);
      else for (const e of events) process.stdout.write(`${describeEvent(e)}\n`);
      return EXIT_OK;
    }
    const r = await client.call<{ rolloutId: string; queued: string }>(verb, {
      rolloutId: id,
      by: operatorId(),
    });
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else process.stdout.write(`rollout ${id}: ${verb} queued\n`);
    return EXIT_OK;
  } catch (err) {
    printError(err);
    return exitFor(err);
  } finally {
    await client.close();
  }
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Registers `apply` and the `rollout` group. */
export function registerRolloutCommands(program: Command): void {
  program
    .command("apply")
    .description("Plan against the fleet's live state, confirm, and roll the change out in waves.")
    .option("-f, --file <path>", "intent file or directory (repeatable)", collect, [])
    .option("-y, --yes", "do not ask for confirmation (required without a terminal)")
    .option("--json", "print only the final result as JSON")
    .action(async (opts: ApplyOptions) => {
      process.exitCode = await runApply(opts);
    });
  const rollout = program.command("rollout").description("Inspect and steer rollouts.");
  const verbs: [Verb, string][] = [
    ["status", "Show a rollout's waves and hosts."],
    ["pause", "Pause a rollout after the jobs in flight."],
    ["resume", "Resume a paused rollout."],
    ["abort", "Stop a rollout (no new jobs; unconfirmed hosts revert)."],
    ["rollback", "Revert every host the rollout changed, newest wave first."],
    ["events", "Print the rollout's audit events."],
  ];
  for (const [verb, description] of verbs) {
    rollout
      .command(verb)
      .description(description)
      .argument("<id>", "rollout id")
      .option("--json", "print JSON")
      .action(async (id: string, opts: { json?: boolean }) => {
        process.exitCode = await runRolloutVerb(verb, id, opts);
      });
  }
}
