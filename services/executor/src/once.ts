/**
 * One-shot mode (`fleetnet-executor once …`, spawned by `fleetnet host …`): like
 * `nmstatectl apply`, no NATS. Loads the Inventory (+ intents) from files, compiles the
 * host's desired state (or takes it from `--desired FILE.json`), and runs observe / the
 * apply transaction / confirm against the host's transport.
 *
 * Output: human lines, or with `--json` exactly one JSON object on stdout:
 * `{"host","result","changed","ops","error":{"code","message","retryable"}}`.
 * Exit status: 0 applied/unchanged/observed/confirmed, 1 reverted/failed/invalid input,
 * 2 usage error.
 */

import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { loadAndValidate } from "@fleetnet/intent";
import { compile, type HostState, HostStateSchema, type Op } from "@fleetnet/netstate";
import { ExecutorError } from "./errors.js";
import { EXIT } from "./exit.js";
import { observe, observeDaemons } from "./observe.js";
import { confirmPlan, planStatus, REVERT_DIR, type RevertPlan } from "./revert.js";
import { serviceManager } from "./services.js";
import { targetFor } from "./target.js";
import { applyHost, confirmHost, type HostTarget, type TxResult } from "./transaction.js";

/** Exit statuses. */
export { EXIT };

/** A usage problem (exit 2). */
export class UsageProblem extends Error {}

/** Parsed `once` arguments. */
export interface OnceArgs {
  action: "observe" | "apply" | "confirm";
  host: string;
  files: string[];
  json: boolean;
  /** `--try`: seconds to wait for confirm; the timer stays armed meanwhile. */
  trySeconds?: number;
  /** Deadline of the on-host timer without --try (default 60 s). */
  confirmTimeoutS?: number;
  desiredFile?: string;
  stateDir?: string;
  serviceMode?: "direct" | "systemd";
  fsRoot?: string;
}

/** Parse "30s", "2m", "1500ms", "1h" or plain seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageProblem(`"${text}" is not a duration (e.g. 30s, 2m, 1500ms)`);
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  const s = unit === "ms" ? n / 1000 : unit === "m" ? n * 60 : unit === "h" ? n * 3600 : n;
  if (s < 1 || s > 86400) throw new UsageProblem(`duration ${text} must be between 1s and 24h`);
  return s;
}

/** Parse `once ACTION [options]`. */
export function parseOnceArgs(argv: readonly string[]): OnceArgs {
  const [action, ...rest] = argv;
  if (action !== "observe" && action !== "apply" && action !== "confirm") {
    throw new UsageProblem(
      `once needs an action: observe | apply | confirm (got ${JSON.stringify(action ?? "")})`,
    );
  }
  const a: OnceArgs = { action, host: "", files: [], json: false };
  for (let i = 0; i < rest.length; i++) {
    const k = rest[i] as string;
    const val = () => {
      const v = rest[++i];
      if (v === undefined) throw new UsageProblem(`${k} needs a value`);
      return v;
    };
    if (k === "--host") a.host = val();
    else if (k === "-f" || k === "--file") {
      a.files.push(val());
      while (rest[i + 1] !== undefined && !(rest[i + 1] as string).startsWith("-"))
        a.files.push(rest[++i] as string);
    } else if (k === "--json") a.json = true;
    else if (k === "--try") a.trySeconds = parseDuration(val());
    else if (k === "--confirm-timeout") a.confirmTimeoutS = parseDuration(val());
    else if (k === "--desired") a.desiredFile = val();
    else if (k === "--state-dir") a.stateDir = val();
    else if (k === "--fs-root") a.fsRoot = val();
    else if (k === "--services") {
      const v = val();
      if (v !== "direct" && v !== "systemd") throw new UsageProblem("--services must be direct or systemd");
      a.serviceMode = v;
    } else throw new UsageProblem(`unknown option ${k}`);
  }
  if (!a.host) throw new UsageProblem("--host NAME is required");
  if (a.files.length === 0) throw new UsageProblem("-f PATH (the Inventory, and intents) is required");
  if (a.trySeconds !== undefined && a.action !== "apply") throw new UsageProblem("--try is only for apply");
  return a;
}

interface Loaded {
  target: HostTarget;
  desired: HostState;
}

function load(a: OnceArgs): Loaded {
  const v = loadAndValidate(a.files);
  if (!v.valid || !v.inventory) {
    const first = [
      ...v.ioErrors.map((e) => e.message),
      ...v.errors.map(
        (e) =>
          `${e.file ?? ""}${e.line ? `:${e.line}` : ""} ${e.kind ?? ""}/${e.name ?? ""} ${e.path}: ${e.message}`,
      ),
    ];
    throw new ExecutorError(
      "INVALID_INPUT",
      `invalid input:\n  ${first.join("\n  ") || "no Inventory document"}`,
    );
  }
  const host = v.inventory.spec.hosts.find((h) => h.name === a.host);
  if (!host) {
    throw new ExecutorError(
      "INVALID_INPUT",
      `host "${a.host}" is not in the inventory (${v.inventory.spec.hosts.map((h) => h.name).join(", ")})`,
    );
  }
  let desired: HostState | undefined;
  if (a.desiredFile) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(a.desiredFile, "utf8"));
    } catch (e) {
      throw new ExecutorError("INVALID_INPUT", `--desired ${a.desiredFile}: ${(e as Error).message}`);
    }
    const p = HostStateSchema.safeParse(raw);
    if (!p.success) {
      const i = p.error.issues[0];
      throw new ExecutorError(
        "INVALID_INPUT",
        `--desired ${a.desiredFile}: ${i?.path.join(".")}: ${i?.message}`,
      );
    }
    desired = p.data;
  } else {
    try {
      desired = compile(v.inventory, v.intents).hosts.get(a.host);
    } catch (e) {
      throw new ExecutorError("INVALID_INPUT", `compile: ${(e as Error).message}`);
    }
  }
  if (!desired) throw new ExecutorError("INVALID_INPUT", `no desired state for host ${a.host}`);
  const opts = {
    ...(a.stateDir ? { stateDir: a.stateDir } : {}),
    ...(a.serviceMode ? { serviceMode: a.serviceMode } : {}),
    ...(a.fsRoot ? { fsRoot: a.fsRoot } : {}),
  };
  return { target: targetFor(host, opts), desired };
}

/** The `--json` shape of a transaction result. */
function jsonResult(r: TxResult): object {
  return {
    host: r.host,
    result: r.result,
    changed: r.changed,
    ops: r.ops,
    ...(r.error ? { error: r.error } : {}),
    ...(r.txId ? { txId: r.txId } : {}),
    ...(r.timings ? { timings: r.timings } : {}),
  };
}

function opLine(op: Op): string {
  const o = op as Record<string, unknown>;
  const what =
    o.name ??
    o.destination ??
    o.key ??
    o.path ??
    o.service ??
    (o.dev ? `${o.dev} ${o.address ?? o.dst ?? ""}` : "");
  return `  ${op.op.padEnd(14)} ${String(what)}`;
}

/**
 * Wait for the confirm of a `--try` apply: Enter on stdin (when it is a terminal or a
 * pipe that sends a line), another process confirming (`fleetnet host confirm`), or the
 * deadline (the host reverts itself).
 */
async function awaitConfirm(target: HostTarget, r: TxResult, out: (s: string) => void): Promise<TxResult> {
  const plan: RevertPlan = { id: r.txId as string, dir: `${REVERT_DIR}/${r.txId}` };
  const until = r.pendingUntil ?? Date.now();
  out(
    `applied ${r.changed} op(s) on ${r.host}; press Enter or run "fleetnet host confirm --host ${r.host}" within ${Math.round((until - Date.now()) / 1000)}s, or the host reverts itself`,
  );
  let entered = false;
  const rl = process.stdin.readable ? createInterface({ input: process.stdin }) : undefined;
  rl?.once("line", () => {
    entered = true;
  });
  try {
    for (;;) {
      const d = await target.connect();
      try {
        if (entered) {
          if (await confirmPlan(d, plan)) {
            await d.run(["rm", "-rf", "--", d.hostPath(plan.dir)]);
            return { ...r, pendingUntil: undefined } as TxResult;
          }
        }
        const st = await planStatus(d, plan, 0);
        if (st === "confirmed") return { ...r, pendingUntil: undefined } as TxResult;
        if (st === "reverted" || (st === "failed" && Date.now() > until + 1000)) {
          const ok = st === "reverted";
          return {
            host: r.host,
            result: ok ? "reverted" : "failed",
            changed: 0,
            ops: r.ops,
            ...(r.txId ? { txId: r.txId } : {}),
            error: {
              code: "CONFIRM_TIMEOUT",
              message: ok
                ? `no confirm within the deadline: ${r.host} reverted itself`
                : `no confirm within the deadline and the host's revert did not finish cleanly`,
              retryable: true,
            },
          };
        }
      } finally {
        await d.close();
      }
      await new Promise((res) => setTimeout(res, 300));
    }
  } finally {
    rl?.close();
  }
}

/** Run `once`; returns the exit status. */
export async function runOnce(
  argv: readonly string[],
  out = (s: string) => process.stdout.write(`${s}\n`),
): Promise<number> {
  let a: OnceArgs;
  try {
    a = parseOnceArgs(argv);
  } catch (e) {
    process.stderr.write(`fleetnet-executor: ${(e as Error).message}\n`);
    return EXIT.usage;
  }
  const fail = (e: ExecutorError): number => {
    if (a.json)
      out(JSON.stringify({ host: a.host, result: "failed", changed: 0, ops: [], error: e.toJSON() }));
    else process.stderr.write(`fleetnet-executor: ${e.code}: ${e.message}\n`);
    return EXIT.failed;
  };
  let l: Loaded;
  try {
    l = load(a);
  } catch (e) {
    return fail(e instanceof ExecutorError ? e : new ExecutorError("INVALID_INPUT", (e as Error).message));
  }
  if (a.action === "observe") {
    try {
      const d = await l.target.connect();
      try {
        const services = serviceManager(d, l.target.serviceMode);
        const o = await observe(d, services, { desired: l.desired });
        const daemons = await observeDaemons(d, services, o.state);
        if (a.json) out(JSON.stringify({ host: a.host, state: o.state, daemons }));
        else {
          const s = o.state;
          out(
            `${a.host}: ${s.links.length} links, ${s.addresses.length} addresses, ${s.routes.length} routes, ${s.fdb.length} fdb entries, ${s.sysctls.length} sysctls, ${s.files.length} files, ${s.services.length} services`,
          );
          for (const lk of s.links)
            out(`  link ${lk.name} ${lk.kind}${lk.alias ? ` (${lk.alias})` : ""}${lk.up ? " up" : ""}`);
        }
        return EXIT.ok;
      } finally {
        await d.close();
      }
    } catch (e) {
      return fail(e instanceof ExecutorError ? e : new ExecutorError("COMMAND_FAILED", (e as Error).message));
    }
  }
  if (a.action === "confirm") {
    try {
      const ids = await confirmHost(l.target);
      if (a.json) out(JSON.stringify({ host: a.host, confirmed: ids }));
      else
        out(ids.length > 0 ? `confirmed ${ids.join(", ")} on ${a.host}` : `nothing to confirm on ${a.host}`);
      return ids.length > 0 ? EXIT.ok : EXIT.failed;
    } catch (e) {
      return fail(e instanceof ExecutorError ? e : new ExecutorError("COMMAND_FAILED", (e as Error).message));
    }
  }
  let r = await applyHost(l.target, l.desired, {
    confirmTimeoutS: a.trySeconds ?? a.confirmTimeoutS ?? 60,
    confirm: a.trySeconds !== undefined ? "manual" : "auto",
  });
  if (r.result === "applied" && r.pendingUntil !== undefined) {
    r = await awaitConfirm(l.target, r, a.json ? (s) => process.stderr.write(`${s}\n`) : out);
  }
  if (a.json) out(JSON.stringify(jsonResult(r)));
  else {
    out(`${r.host}: ${r.result}${r.changed ? ` (${r.changed} ops)` : ""}`);
    for (const op of r.ops) out(opLine(op));
    if (r.error) out(`error ${r.error.code}: ${r.error.message}`);
  }
  return r.result === "applied" || r.result === "unchanged" ? EXIT.ok : EXIT.failed;
}
