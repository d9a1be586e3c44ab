/**
 * `fleetnet host observe|apply|confirm` — one-shot host operations without NATS (like
 * `nmstatectl apply` / `netplan try`).
 *
 * The CLI imports no service: the engine lives in @fleetnet/executor and this module spawns
 * its entry point, `node <repo>/services/executor/dist/bin.js once …` (path resolved from
 * this file's own location; `FLEETNET_EXECUTOR_BIN` overrides it), with stdin/stdout/stderr
 * passed through (Enter confirms a `--try`) and its exit status returned:
 * 0 applied/unchanged, 1 reverted/failed/invalid input, 2 usage or I/O error.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { EXIT_USAGE, UsageError } from "../io.js";

/** Path of the executor's entry point. */
function executorBin(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.FLEETNET_EXECUTOR_BIN ||
    fileURLToPath(new URL("../../../services/executor/dist/bin.js", import.meta.url))
  );
}

interface HostOptions {
  host: string;
  file: string[];
  json?: boolean;
  try?: string;
  confirmTimeout?: string;
  stateDir?: string;
  services?: string;
  desired?: string;
}

/** Build the `fleetnet-executor once` argv for an action. */
function onceArgv(action: "observe" | "apply" | "confirm", o: HostOptions): string[] {
  const argv = ["once", action, "--host", o.host];
  for (const f of o.file) argv.push("-f", f);
  if (o.json) argv.push("--json");
  if (o.try !== undefined) argv.push("--try", o.try);
  if (o.confirmTimeout !== undefined) argv.push("--confirm-timeout", o.confirmTimeout);
  if (o.stateDir !== undefined) argv.push("--state-dir", o.stateDir);
  if (o.services !== undefined) argv.push("--services", o.services);
  if (o.desired !== undefined) argv.push("--desired", o.desired);
  return argv;
}

/** Spawn the executor with inherited stdio; resolves its exit status. */
function runExecutor(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const bin = executorBin(env);
  if (!existsSync(bin)) {
    throw new UsageError(
      `executor entry point ${bin} not found: build it (pnpm run build) or set FLEETNET_EXECUTOR_BIN`,
    );
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...argv], { stdio: "inherit", env });
    // forward Ctrl-C/TERM to the executor (it owns the transaction); exit with its status
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
    const onInt = forward("SIGINT");
    const onTerm = forward("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    child.on("error", (e) => {
      process.stderr.write(`fleetnet: cannot start the executor: ${e.message}\n`);
      resolve(EXIT_USAGE);
    });
    child.on("close", (code, signal) => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve(code ?? (signal ? 1 : EXIT_USAGE));
    });
  });
}

function common(cmd: Command): Command {
  return cmd
    .requiredOption("--host <name>", "inventory name of the host")
    .requiredOption("-f, --file <paths...>", "Inventory and intent files or directories")
    .option("--state-dir <dir>", "lab state dir (netns hosts keep their files under <dir>/hosts/<host>)")
    .option("--services <mode>", "how daemons are managed: systemd | direct")
    .option("--desired <file>", "desired HostState JSON instead of compiling the intents");
}

/** Registers `fleetnet host observe|apply|confirm`. */
export function registerHost(program: Command): void {
  const host = program
    .command("host")
    .description("Observe, apply and confirm one host's network state (no NATS).");
  common(host.command("observe").description("Show the host's live state as fleetnet sees it."))
    .option("--json", "print JSON")
    .action(async (o: HostOptions) => {
      process.exitCode = await runExecutor(onceArgv("observe", o));
    });
  common(
    host
      .command("apply")
      .description(
        "Apply the host's desired state as one commit-confirmed transaction (revert timer armed on the host).",
      ),
  )
    .option("--json", 'print {"host","result","changed","ops","error"}')
    .option(
      "--try <duration>",
      "leave the revert timer armed; confirm with Enter or `fleetnet host confirm` (e.g. 30s)",
    )
    .option(
      "--confirm-timeout <duration>",
      "deadline of the on-host revert timer without --try (default 60s)",
    )
    .action(async (o: HostOptions) => {
      process.exitCode = await runExecutor(onceArgv("apply", o));
    });
  common(
    host
      .command("confirm")
      .description("Confirm a pending `host apply --try`: disarm the host's revert timer."),
  )
    .option("--json", "print JSON")
    .action(async (o: HostOptions) => {
      process.exitCode = await runExecutor(onceArgv("confirm", o));
    });
}
