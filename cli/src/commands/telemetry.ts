/**
 * `fleetnet drift [--json]`, `fleetnet health [--json]`, `fleetnet baseline capture [--out FILE]`,
 * `fleetnet baseline diff A B [--json]`: thin clients of the telemetry service's request/reply
 * API (`fleet.v1.telemetry.<verb>`), configured by the runtime environment (NATS_URL, …).
 *
 * Exit status: 0 good; 1 the service answered with an error, or the fleet is unhealthy
 * (`health`), or something drifted (`drift`), or the snapshots differ (`baseline diff`, as
 * diff(1)); 2 usage/I-O problems (a missing or malformed snapshot file names the file).
 * No telemetry service answering is `TELEMETRY_UNAVAILABLE` (retryable), exit 1.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { FleetnetError, isFleetnetError, subjects } from "@fleetnet/protocol";
import { connectNats, createLogger, loadConfig } from "@fleetnet/runtime";
import type { Command } from "commander";
import { colour, EXIT_FAILED, EXIT_OK, EXIT_USAGE, printJson, UsageError } from "../io.js";

/** Calls one telemetry API verb and resolves with the `ok` reply body. */
export type TelemetryCall = (
  verb: "health" | "drift" | "baseline" | "flows",
  body: object,
) => Promise<Record<string, unknown>>;

/** Where the handlers write (tests capture it). */
export interface TelemetryOutput {
  out(line: string): void;
  err(line: string): void;
  json(value: unknown): void;
}

const processOutput: TelemetryOutput = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  json: printJson,
};

/* Turn a `{ok, error}` reply body into its value or a FleetnetError with the service's code. */
function unwrapReply(data: Uint8Array): Record<string, unknown> {
  let v: { ok?: boolean; error?: { code?: string; message?: string; retryable?: boolean } };
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch {
    throw new FleetnetError("BAD_REPLY", "the telemetry service's reply is not JSON");
  }
  if (v.ok !== true) {
    const e = v.error ?? {};
    throw new FleetnetError(e.code ?? "TELEMETRY_ERROR", e.message ?? "request failed", {
      retryable: e.retryable === true,
    });
  }
  return v as Record<string, unknown>;
}

/**
 * Run `f` with a call function over one short-lived NATS connection (environment config).
 * @throws FleetnetError `TELEMETRY_UNAVAILABLE` (retryable) when nobody answers.
 */
export async function withTelemetry<T>(
  f: (call: TelemetryCall) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 10_000,
): Promise<T> {
  const config = loadConfig(env, { serviceName: "fleetnet-cli" });
  const logger = createLogger({ serviceName: "fleetnet-cli", level: "error", destination: process.stderr });
  const nc = await connectNats(config, { logger, name: "fleetnet-cli" });
  try {
    return await f(async (verb, body) => {
      let data: Uint8Array;
      try {
        data = (await nc.request(subjects.telemetryApi(verb), JSON.stringify(body), { timeout: timeoutMs }))
          .data;
      } catch (err) {
        throw new FleetnetError(
          "TELEMETRY_UNAVAILABLE",
          `the telemetry service did not answer ${subjects.telemetryApi(verb)} (${(err as Error).message}); is it running? (fleetnet-telemetry run)`,
          { retryable: true, cause: err },
        );
      }
      return unwrapReply(data);
    });
  } finally {
    await nc.close().catch(() => {});
  }
}

interface Finding {
  severity: string;
  code: string;
  host?: string;
  message: string;
}

/** `fleetnet health`: prints the verdict; 1 when unhealthy. */
export async function runHealth(
  call: TelemetryCall,
  opts: { json?: boolean },
  o = processOutput,
): Promise<number> {
  const r = await call("health", {});
  const healthy = r.healthy === true;
  if (opts.json) {
    const { ok: _ok, ...body } = r;
    o.json(body);
  } else {
    const hosts = (r.hosts ?? {}) as Record<
      string,
      { healthy: boolean; heartbeatAgeS: number | null; drift: number }
    >;
    o.out(healthy ? colour.green("fleet healthy") : colour.red("fleet UNHEALTHY"));
    for (const [h, s] of Object.entries(hosts)) {
      const age = s.heartbeatAgeS === null ? "never" : `${s.heartbeatAgeS.toFixed(1)}s`;
      o.out(
        `  ${s.healthy ? colour.green("ok  ") : colour.red("FAIL")} ${h}  heartbeat ${age}  drift ${s.drift}`,
      );
    }
    for (const f of (r.findings ?? []) as Finding[]) {
      const sev =
        f.severity === "critical" ? colour.red : f.severity === "warning" ? colour.yellow : colour.dim;
      o.out(`${sev(f.severity.padEnd(8))} ${f.code.padEnd(20)} ${f.message}`);
    }
  }
  return healthy ? EXIT_OK : EXIT_FAILED;
}

interface DriftRow {
  host: string;
  key: string;
  expected: string;
  actual: string;
  since: string;
  source: string;
  action: string;
  /** `first-rollout`: a heal that waits until a fleetnet rollout has set the key on the host. */
  healWaits?: string;
}

/** `fleetnet drift`: prints drift findings (and unavailable keys); 1 when anything drifted. */
export async function runDrift(
  call: TelemetryCall,
  opts: { json?: boolean },
  o = processOutput,
): Promise<number> {
  const r = await call("drift", {});
  const findings = (r.findings ?? []) as DriftRow[];
  if (opts.json) {
    o.json({ findings, unavailable: r.unavailable ?? [], learned: r.learned ?? {} });
  } else if (findings.length === 0) {
    o.out(colour.green("no drift"));
  } else {
    for (const f of findings)
      o.out(
        `${f.host}  ${f.key}  expected ${JSON.stringify(f.expected)}  actual ${colour.red(JSON.stringify(f.actual))}  since ${f.since}  (${f.source}, ${f.action}${f.healWaits === "first-rollout" ? ": waits for a first rollout to set it" : ""})`,
      );
  }
  if (!opts.json) {
    for (const u of (r.unavailable ?? []) as { host: string; key: string; status: string }[])
      o.out(colour.dim(`${u.host}  ${u.key}  ${u.status} (not compared)`));
  }
  return findings.length === 0 ? EXIT_OK : EXIT_FAILED;
}

/** `fleetnet baseline capture`: writes the snapshot to `out` (or stdout). */
export async function runCapture(
  call: TelemetryCall,
  opts: { out?: string },
  o = processOutput,
): Promise<number> {
  const r = await call("baseline", { op: "capture" });
  const text = `${JSON.stringify(r.baseline, null, 2)}\n`;
  if (opts.out === undefined) {
    o.out(text.trimEnd());
    return EXIT_OK;
  }
  try {
    writeFileSync(opts.out, text);
  } catch (err) {
    throw new UsageError(`cannot write ${opts.out}: ${(err as Error).message}`);
  }
  const hosts = Object.keys((r.baseline as { hosts?: object } | undefined)?.hosts ?? {}).length;
  o.err(`baseline of ${hosts} host(s) written to ${opts.out}`);
  return EXIT_OK;
}

function readSnapshot(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not a baseline snapshot (not JSON: ${(err as Error).message})`);
  }
}

/** `fleetnet baseline diff A B`: prints the changes; 1 when the snapshots differ. */
export async function runDiff(
  call: TelemetryCall,
  a: string,
  b: string,
  opts: { json?: boolean },
  o = processOutput,
): Promise<number> {
  const snapA = readSnapshot(a);
  const snapB = readSnapshot(b);
  let r: Record<string, unknown>;
  try {
    r = await call("baseline", { op: "diff", a: snapA, b: snapB });
  } catch (err) {
    // The service names the document as "a"/"b"; name the file instead.
    if (isFleetnetError(err, "BASELINE_INVALID"))
      throw new UsageError(err.message.replace(/^a:/, `${a}:`).replace(/^b:/, `${b}:`));
    throw err;
  }
  const changes = (r.changes ?? []) as {
    host: string;
    change: string;
    item: string;
    before?: string;
    after?: string;
  }[];
  if (opts.json) o.json(changes);
  else if (changes.length === 0) o.out("no differences");
  else
    for (const c of changes) {
      if (c.change === "host-added") o.out(colour.green(`+ host ${c.host}`));
      else if (c.change === "host-removed") o.out(colour.red(`- host ${c.host}`));
      else if (c.change === "added") o.out(colour.green(`+ ${c.host}  ${c.item} = ${c.after}`));
      else if (c.change === "removed") o.out(colour.red(`- ${c.host}  ${c.item} = ${c.before}`));
      else o.out(colour.yellow(`~ ${c.host}  ${c.item}: ${c.before} → ${c.after}`));
    }
  return changes.length === 0 ? EXIT_OK : EXIT_FAILED;
}

async function run(
  f: (call: TelemetryCall) => Promise<number>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  try {
    process.exitCode = await withTelemetry(f, env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = EXIT_USAGE;
    } else {
      const code = isFleetnetError(err) ? `${err.code}: ` : "";
      process.stderr.write(`${code}${(err as Error).message}\n`);
      process.exitCode = EXIT_FAILED;
    }
  }
}

/** Registers `drift`, `health` and `baseline capture|diff`. */
export function registerTelemetry(program: Command): void {
  program
    .command("drift")
    .description(
      "sysctl drift against SysctlBaseline intents and the learned per-role baseline (exit 1 on drift)",
    )
    .option("--json", "JSON output")
    .action((opts: { json?: boolean }) => run((call) => runDrift(call, opts)));
  program
    .command("health")
    .description(
      "fleet health: heartbeats, drift, BGP, VRRP, overlay, duplicate MACs (exit 1 when unhealthy)",
    )
    .option("--json", "JSON output")
    .action((opts: { json?: boolean }) => run((call) => runHealth(call, opts)));
  const baseline = program
    .command("baseline")
    .description("snapshot and compare the fleet's network settings");
  baseline
    .command("capture")
    .description("snapshot every host's sysctls and network settings from the latest state reports")
    .option("--out <file>", "write the snapshot here (default stdout)")
    .action((opts: { out?: string }) => run((call) => runCapture(call, opts)));
  baseline
    .command("diff")
    .description("compare two snapshots (exit 1 when they differ)")
    .argument("<a>", "older snapshot file")
    .argument("<b>", "newer snapshot file")
    .option("--json", "JSON output")
    .action((a: string, b: string, opts: { json?: boolean }) => {
      try {
        // Usage problems (a missing or non-JSON file) before any connection.
        readSnapshot(a);
        readSnapshot(b);
      } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      return run((call) => runDiff(call, a, b, opts));
    });
}
