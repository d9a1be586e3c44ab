/**
 * The apply transaction — commit-confirmed for a whole Linux host (DESIGN.md "Executor
 * apply transaction"):
 *
 *   validate → observe → diff (empty: `unchanged`) → preflight (argv values, kernel
 *   features, sysctl keys, secrets, daemon config checks: any failure = nothing changed)
 *   → probes before → snapshot + revert plan → ARM the timer on the host → apply (error:
 *   revert at once) → verify (observe again: diff must be empty) → probes that passed
 *   before → confirm (disarm) → `applied`.
 *
 * With `confirm: "manual"` (`--try`), the transaction stops after the probes with the
 * timer still armed; {@link confirmHost} disarms it, and without it the host reverts
 * itself at the deadline — even if the executor was killed or the session cut. When the
 * connection drops mid-transaction, the executor waits for the deadline, reconnects and
 * reports what the host did (`reverted`, with the reason).
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import {
  canonicalJson,
  diff,
  type HostState,
  HostStateSchema,
  normalizeHostState,
  type Op,
  ownedView,
  resolveSecrets,
  secretIds,
} from "@fleetnet/netstate";
import { applyAndVerify, networkOnly, observeStaged, runOps, type StagedTx } from "./apply.js";
import { checkKernel } from "./capabilities.js";
import type { HostDriver } from "./driver.js";
import { asExecutorError, ExecutorError } from "./errors.js";
import { LEDGER_PATH, updateLedger } from "./ledger.js";
import { kernelSysctlKeys, type ObserveResult, observe, sysctlKeysOf } from "./observe.js";
import {
  type PingLog,
  type PingPrefetch,
  type Probe,
  type ProbeOptions,
  pingResults,
  probesFor,
  recheckProbes,
  runProbes,
} from "./probes.js";
import { checkOps } from "./render.js";
import {
  armRevertTimer,
  confirmPlan,
  type FileSnapshot,
  markArmed,
  newTxId,
  planStatus,
  REVERT_DIR,
  type RevertPlan,
  revertNow,
  SCRATCH,
  writeRevertPlan,
} from "./revert.js";
import { CONFIG_PATHS, type ServiceManager, type ServiceMode, serviceManager } from "./services.js";

/** How to reach a host (a factory, so the transaction can reconnect after a cut session). */
export interface HostTarget {
  host: string;
  connect(): Promise<HostDriver>;
  serviceMode: ServiceMode;
}

/** Outcome of a transaction. */
export type TxOutcome = "applied" | "unchanged" | "reverted" | "failed";

/** The result of {@link applyHost}. */
export interface TxResult {
  host: string;
  result: TxOutcome;
  /** Number of ops applied (0 when unchanged, reverted or failed). */
  changed: number;
  ops: Op[];
  error?: { code: string; message: string; retryable: boolean };
  /** Transaction id (revert plan name on the host). */
  txId?: string;
  /** `manual` confirm: the timer is armed until this time (ms since epoch). */
  pendingUntil?: number;
  /** Milliseconds spent per phase (observe, preflight, plan, apply, verify, probes, confirm). */
  timings?: Record<string, number>;
  /**
   * `applied` only: the verify observation (the host as the change left it). A caller that
   * reports the host's state right after the transaction uses it instead of observing again.
   */
  observed?: ObserveResult;
  /** `applied` only: the ping probes' results after the change (peers re-pinged then). */
  pings?: PingLog;
}

/** Options of {@link applyHost}. */
export interface ApplyOptions {
  /** Seconds the host waits for confirm before reverting itself (default 60). */
  confirmTimeoutS?: number;
  /** `auto` (default): confirm once verify and probes pass. `manual`: leave armed (try mode). */
  confirm?: "auto" | "manual";
  probes?: ProbeOptions;
  /** How long probes may take to pass again after the change (default 20 s). */
  probeWindowMs?: number;
  /**
   * After the probes pass again, wait this long and check them once more (a VRRP backup
   * takes over only after its master-down interval, ~3 adverts, once it hears a lower
   * priority). Default when the ops (re)start or reload keepalived: 4 × the config's
   * largest `advert_int` + 1 s; else 0.
   */
  soakMs?: number;
  /** Test hook: called right after the ops were applied (before verify). */
  afterApply?: () => Promise<void> | void;
}

/** Resolve secret placeholders of file ops on the host (files) or from the executor's env. */
async function resolveFileSecrets(d: HostDriver, ops: readonly Op[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const op of ops) {
    if (op.op !== "file.write") continue;
    const ids = secretIds(op.content);
    if (ids.length === 0) continue;
    const values: Record<string, string> = {};
    for (const id of ids) {
      const ref = op.secrets?.[id] as { fromFile?: string; fromEnv?: string } | undefined;
      let v: string | undefined;
      if (ref?.fromFile !== undefined) v = (await d.readFile(ref.fromFile))?.replace(/\r?\n$/, "");
      else if (ref?.fromEnv !== undefined) v = process.env[ref.fromEnv];
      if (v === undefined) {
        throw new ExecutorError(
          "INVALID_INPUT",
          `secret "${id}" of ${op.path} is not available on ${d.host}`,
        );
      }
      values[id] = v;
    }
    try {
      out.set(op.path, resolveSecrets(op.content, values));
    } catch (e) {
      throw new ExecutorError("INVALID_INPUT", `${op.path}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Which service a config file belongs to. */
function serviceOfPath(path: string, ops: readonly Op[]): "frr" | "keepalived" | undefined {
  if (path === CONFIG_PATHS.frr) return "frr";
  if (path === CONFIG_PATHS.keepalived) return "keepalived";
  for (const op of ops) {
    if ((op.op === "service.start" || op.op === "service.reload") && op.configPaths.includes(path))
      return op.service;
  }
  return undefined;
}

/** Check new daemon configs with the daemons' own checkers, inside the host. */
async function checkConfigs(
  d: HostDriver,
  services: ServiceManager,
  ops: readonly Op[],
  contents: ReadonlyMap<string, string>,
  txId: string,
): Promise<void> {
  for (const op of ops) {
    if (op.op !== "file.write") continue;
    const svc = serviceOfPath(op.path, ops);
    if (!svc) continue;
    const candidate = `/run/fleetnet/check/${txId}/${svc}.conf`;
    await d.writeFileAtomic(candidate, contents.get(op.path) ?? op.content, 0o644);
    try {
      const r = await d.run(services.checkConfig(svc, d.hostPath(candidate)), { timeoutMs: 30_000 });
      if (r.code !== 0) {
        const msg = `${r.stderr}\n${r.stdout}`.trim().split(d.hostPath(candidate)).join(op.path);
        throw new ExecutorError(
          "CONFIG_CHECK_FAILED",
          `${svc} rejects the new ${op.path} (nothing changed): ${msg}`,
        );
      }
    } finally {
      await d.removeFile(candidate).catch(() => {});
    }
  }
}

/** Throw INVALID_INPUT for sysctl keys that do not exist / cannot be written on the host (per observe). */
function checkSysctls(
  d: HostDriver,
  ops: readonly Op[],
  missing: readonly string[],
  readOnly: readonly string[],
): void {
  const keys = ops.flatMap((o) => (o.op === "sysctl.set" && o.ownership !== "release" ? [o.key] : []));
  const absent = keys.filter((k) => missing.includes(k));
  if (absent.length > 0) {
    throw new ExecutorError(
      "INVALID_INPUT",
      `sysctl ${absent.join(", ")} does not exist on ${d.host} (absent in this kernel or namespace)`,
    );
  }
  const ro = keys.filter((k) => readOnly.includes(k));
  if (ro.length > 0) {
    throw new ExecutorError("INVALID_INPUT", `sysctl ${ro.join(", ")} is read-only on ${d.host}`);
  }
}

function errorOf(e: ExecutorError): TxResult["error"] {
  return e.toJSON();
}

/** See {@link ApplyOptions.soakMs}. */
function defaultSoakMs(desired: HostState, ops: readonly Op[]): number {
  const touchesVrrp = ops.some(
    (o) => (o.op === "service.reload" || o.op === "service.start") && o.service === "keepalived",
  );
  if (!touchesVrrp) return 0;
  const adverts = desired.files.flatMap((f) =>
    [...f.content.matchAll(/^\s*advert_int\s+([\d.]+)/gm)].map((m) => Number(m[1])),
  );
  const advert = Math.min(10, Math.max(1, ...adverts.filter((n) => Number.isFinite(n))));
  return (4 * advert + 1) * 1000;
}

/** The ops still needed to reach `want` from `now` (a diff that cannot be computed counts as one). */
function residual(want: HostState, now: HostState): Op[] {
  try {
    return diff(want, now);
  } catch {
    return [{ op: "link.del", kind: "bridge", name: "?", up: false } as Op];
  }
}

/**
 * What a revert must restore, for comparing snapshot and result: fleetnet's own objects
 * (netstate `ownedView`), plus every link and address the ops named (adopted or foreign
 * ones too) and every sysctl value observed. Addresses that daemons manage on foreign
 * links (VRRP VIPs) are not compared: they move on their own.
 */
function revertView(s: HostState, ops: readonly Op[]): HostState {
  const own = ownedView(s, "observed");
  const named = new Set(
    ops.flatMap((o) => {
      const x = o as { name?: string; dev?: string };
      return [x.name, o.op === "addr.add" || o.op === "addr.del" ? x.dev : undefined].filter(
        (v): v is string => !!v,
      );
    }),
  );
  const ownedLinks = new Set(own.links.map((l) => l.name));
  return {
    ...own,
    links: s.links.filter((l) => ownedLinks.has(l.name) || named.has(l.name)),
    addresses: s.addresses.filter(
      (a) => ownedLinks.has(a.dev) || (named.has(a.dev) && !/^fe[89ab][0-9a-f]:/i.test(a.address)),
    ),
    sysctls: s.sysctls.map((x) => ({ key: x.key, value: x.value, persist: false })),
  };
}

/** The collections in which the revert views of two observed states differ (empty: restored). */
function differences(a: HostState, b: HostState, ops: readonly Op[]): string[] {
  const va = revertView(a, ops);
  const vb = revertView(b, ops);
  return (Object.keys(va) as (keyof HostState)[]).filter(
    (k) => canonicalJson(va[k]) !== canonicalJson(vb[k]),
  );
}

/**
 * Apply `desired` to one host as a commit-confirmed transaction. Never throws for host
 * failures: the outcome is in the result.
 */
export async function applyHost(
  target: HostTarget,
  desiredIn: HostState,
  opts: ApplyOptions = {},
): Promise<TxResult> {
  const parsed = HostStateSchema.safeParse(desiredIn);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      host: target.host,
      result: "failed",
      changed: 0,
      ops: [],
      error: {
        code: "INVALID_INPUT",
        message: `desired state: ${issue?.path.join(".")}: ${issue?.message}`,
        retryable: false,
      },
    };
  }
  const desired = normalizeHostState(parsed.data);
  let d: HostDriver;
  try {
    d = await target.connect();
  } catch (e) {
    const err = asExecutorError(e, "CONNECT_FAILED");
    return { host: target.host, result: "failed", changed: 0, ops: [], error: errorOf(err) };
  }
  const services = serviceManager(d, target.serviceMode);
  let ops: Op[] = [];
  let plan: RevertPlan | undefined;
  let armedUntil = 0;
  let before: HostState | undefined;
  const txId = newTxId();
  const timings: Record<string, number> = {};
  let mark = performance.now();
  const lap = (phase: string) => {
    const now = performance.now();
    timings[phase] = Math.round((timings[phase] ?? 0) + now - mark);
    mark = now;
  };
  let locked = false;
  // the host process that observed the host and waits to apply (a network-only change) or
  // to be ended (anything else): finished on every way out of this function
  let staged: StagedTx | undefined;
  try {
    await acquireHostLock(d, txId, ((opts.confirmTimeoutS ?? 60) + 180) * 1000);
    locked = true;
    const pending = await busyPlans(d);
    if (pending.length > 0) {
      throw new ExecutorError(
        "HOST_BUSY",
        `${d.host} has a change awaiting confirm (plan ${pending.map((p) => p.id).join(", ")}): confirm it (fleetnet host confirm) or let it revert first`,
        true,
      );
    }
    // ---- observe (+ the ping round before the change, same host process), diff, preflight:
    // nothing changes on the host until the timer is armed
    const pings: PingLog = new Map();
    const prefetch: PingPrefetch = new Map();
    const probes: Probe[] = probesFor(d, services, desired, opts.probes, pings, prefetch);
    const pingAddrs = probes.flatMap((p) => (p.pingAddr ? [p.pingAddr] : []));
    staged = await observeStaged(d, kernelSysctlKeys(desired), pingAddrs);
    const obs = await observe(d, services, { desired, ping: pingAddrs, kernel: staged.kernel });
    const answered = (addrs: readonly string[], got: ReadonlyMap<string, number | undefined>) => {
      for (const [addr, r] of pingResults(addrs, got)) prefetch.set(addr, r);
    };
    answered(pingAddrs, obs.pings);
    before = obs.state;
    try {
      ops = diff(desired, obs.state);
    } catch (e) {
      const err = e as { code?: string; message?: string };
      throw new ExecutorError("INVALID_INPUT", `${err.code ?? "DIFF_FAILED"}: ${err.message ?? String(e)}`);
    }
    if (ops.length === 0 || !networkOnly(ops)) {
      await staged.run.finish("");
      staged = undefined;
    }
    lap("observe");
    if (ops.length === 0) return { host: target.host, result: "unchanged", changed: 0, ops: [], timings };
    checkOps(ops);
    await checkKernel(d, ops);
    checkSysctls(d, ops, obs.missingSysctls, obs.readOnlySysctls);
    const contents = await resolveFileSecrets(d, ops);
    await checkConfigs(d, services, ops, contents, txId);
    lap("preflight");
    const passedBefore = await runProbes(probes);
    pings.clear(); // keep only what the rounds after the change see
    lap("probes");

    // ---- snapshot + revert plan + timer
    const touched = [
      ...new Set([
        ...ops.flatMap((o) => (o.op === "file.write" || o.op === "file.remove" ? [o.path] : [])),
        LEDGER_PATH,
      ]),
    ];
    const modes = new Map(obs.state.files.map((f) => [f.path, f.mode]));
    const snaps: FileSnapshot[] = [];
    for (const path of touched)
      snaps.push({ path, content: await d.readFile(path), mode: modes.get(path) ?? 0o644 });
    await prunePlans(d);
    plan = await writeRevertPlan(d, services, txId, ops, snaps);
    const timeout = opts.confirmTimeoutS ?? 60;
    armedUntil = Date.now() + timeout * 1000;
    const touches = (prefix: string) => ops.some((o) => o.op.startsWith(prefix));
    const ledger = updateLedger(obs.ledger, ops, contents);
    const writeLedger = () => d.writeFileAtomic(LEDGER_PATH, `${JSON.stringify(ledger, null, 1)}\n`, 0o600);
    let after: ObserveResult;
    if (staged) {
      // still held exactly when the change is network-only (ended above otherwise)
      // ---- timer + apply + first probe round + verify read: one host process (apply.ts)
      const delay = await markArmed(d, plan, timeout);
      lap("plan");
      const again = [...passedBefore].flatMap((p) => (p.pingAddr ? [p.pingAddr] : []));
      const sysctlKeys = touches("sysctl.") ? sysctlKeysOf(desired, ledger) : [];
      let done: Awaited<ReturnType<typeof applyAndVerify>>;
      try {
        done = await applyAndVerify(d, plan, delay, ops, sysctlKeys, again, staged.run);
        if (done.ok) await writeLedger();
      } catch (e) {
        const err = asExecutorError(e, "APPLY_FAILED");
        if (err.code === "CONNECTION_LOST") throw err;
        return await revertAndReport(target, d, plan, before, desired, ops, txId, err);
      }
      if (!done.ok) return await revertAndReport(target, d, plan, before, desired, ops, txId, done.error);
      lap("apply");
      await opts.afterApply?.();
      answered(again, done.pings);
      after = await observe(d, services, {
        desired,
        ledger,
        kernel: done.kernel,
        reuse: { from: obs, sysctls: !touches("sysctl."), files: true, services: true },
      });
    } else {
      await armRevertTimer(d, plan, timeout);
      lap("plan");

      // ---- apply
      try {
        await runOps(d, services, ops, { contents });
        await writeLedger();
      } catch (e) {
        const err = asExecutorError(e, "APPLY_FAILED");
        if (err.code === "CONNECTION_LOST") throw err;
        return await revertAndReport(target, d, plan, before, desired, ops, txId, err);
      }
      lap("apply");
      await opts.afterApply?.();

      // ---- verify (the kernel tables always; sysctls, files, services only when ops touched them)
      after = await observe(d, services, {
        desired,
        reuse: {
          from: obs,
          sysctls: !touches("sysctl."),
          files: !touches("file."),
          services: !touches("service.") && !touches("file."),
        },
      });
    }
    const left = residual(desired, after.state);
    if (left.length > 0) {
      const err = new ExecutorError(
        "VERIFY_FAILED",
        `after applying, ${left.length} op(s) still differ on ${d.host} (first: ${JSON.stringify(left[0])})`,
      );
      return await revertAndReport(target, d, plan, before, desired, ops, txId, err);
    }
    lap("verify");
    let broken = await recheckProbes(passedBefore, opts.probeWindowMs ?? 20_000);
    const soak = opts.soakMs ?? defaultSoakMs(desired, ops);
    if (!broken && soak > 0) {
      await new Promise((r) => setTimeout(r, soak));
      broken = await recheckProbes(passedBefore, 0);
    }
    lap("probes");
    if (broken) {
      const err = new ExecutorError(
        "PROBE_FAILED",
        `probe "${broken.name}" passed before the change and fails after it`,
      );
      return await revertAndReport(target, d, plan, before, desired, ops, txId, err);
    }

    // ---- confirm
    const applied: TxResult = {
      host: target.host,
      result: "applied",
      changed: ops.length,
      ops,
      txId,
      observed: after,
      pings,
    };
    if (opts.confirm === "manual") {
      // from here the armed plan guards the host (pendingPlans): free the lock for confirm
      await releaseHostLock(d, txId);
      locked = false;
      return { ...applied, pendingUntil: armedUntil, timings };
    }
    if (!(await confirmPlan(d, plan))) {
      const err = new ExecutorError(
        "CONFIRM_TIMEOUT",
        `the confirm deadline passed before verify and probes finished: ${d.host} reverted itself`,
        true,
      );
      return { host: target.host, result: "reverted", changed: 0, ops, txId, error: errorOf(err) };
    }
    await d.run(["rm", "-rf", "--", d.hostPath(`${REVERT_DIR}/${txId}`)]).catch(() => {});
    lap("confirm");
    return { ...applied, timings };
  } catch (e) {
    const err = asExecutorError(e);
    if (err.code === "CONNECTION_LOST" && plan) {
      locked = false; // released by awaitSelfRevert over a new connection
      return await awaitSelfRevert(target, plan, armedUntil, ops, txId, err);
    }
    return { host: target.host, result: "failed", changed: 0, ops, txId, error: errorOf(err) };
  } finally {
    await staged?.run.finish("").catch(() => {});
    if (locked) await releaseHostLock(d, txId).catch(() => {});
    await d.close().catch(() => {});
  }
}

/**
 * Host path of the per-host transaction lock (a directory: mkdir is atomic). Under /run: a
 * reboot ends every transaction, so it ends their locks too.
 */
export const LOCK_DIR = "/run/fleetnet/lock";

/**
 * Take the host's transaction lock: `mkdir` (atomic) with the owner and an expiry inside.
 * A lock whose expiry passed, or whose executor ran on this machine and is gone, is taken
 * over. Throws `HOST_BUSY` (retryable).
 */
async function acquireHostLock(d: HostDriver, txId: string, ttlMs: number): Promise<void> {
  const dir = d.hostPath(LOCK_DIR);
  await d.run(["mkdir", "-p", "--", d.hostPath("/run/fleetnet")]);
  for (let attempt = 0; attempt < 2; attempt++) {
    if ((await d.run(["mkdir", "--", dir])).code === 0) {
      await d.writeFileAtomic(
        `${LOCK_DIR}/owner`,
        `${JSON.stringify({ txId, until: Date.now() + ttlMs })}\n`,
        0o644,
        SCRATCH,
      );
      return;
    }
    const owner = await d.readFile(`${LOCK_DIR}/owner`);
    let until = 0;
    try {
      const o = JSON.parse(owner ?? "{}") as { until?: number; executor?: string; pid?: number };
      until = o.until ?? 0;
      // an executor on this machine that died (crash, SIGKILL) left it: take it over now
      if (o.executor === hostname() && typeof o.pid === "number" && !alive(o.pid)) until = 0;
    } catch {
      until = 0;
    }
    if (owner !== undefined && until > Date.now()) {
      throw new ExecutorError(
        "HOST_BUSY",
        `another transaction holds ${d.host}'s lock until ${new Date(until).toISOString()} (${owner.trim()})`,
        true,
      );
    }
    if (owner === undefined && attempt === 0) {
      // just created by another executor that has not written its owner yet
      await new Promise((r) => setTimeout(r, 200));
      if ((await d.readFile(`${LOCK_DIR}/owner`)) !== undefined) continue;
    }
    await d.run(["rm", "-rf", "--", dir]); // expired: its executor died
  }
  throw new ExecutorError("HOST_BUSY", `could not take ${d.host}'s transaction lock`, true);
}

/** Whether process `pid` of this machine still runs (a zombie does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z /s.test(stat);
  } catch {
    return false;
  }
}

async function releaseHostLock(d: HostDriver, txId: string): Promise<void> {
  const owner = await d.readFile(`${LOCK_DIR}/owner`);
  if (owner?.includes(`"txId":"${txId}"`)) await d.run(["rm", "-rf", "--", d.hostPath(LOCK_DIR)]);
}

/** Revert at once after a failure, then check the host equals the snapshot. */
async function revertAndReport(
  target: HostTarget,
  d: HostDriver,
  plan: RevertPlan,
  before: HostState,
  desired: HostState,
  ops: Op[],
  txId: string,
  cause: ExecutorError,
): Promise<TxResult> {
  const services = serviceManager(d, target.serviceMode);
  const outcome = await revertNow(d, plan);
  let now = (await observe(d, services, { desired })).state;
  let left = differences(before, now, ops);
  if (left.length > 0) {
    // second pass: undo what is still different among fleetnet's own objects, skipping failing lines
    await runOps(d, services, residual(ownedView(before, "observed"), now), { force: true });
    now = (await observe(d, services, { desired })).state;
    left = differences(before, now, ops);
  }
  if (outcome === "confirmed" || left.length > 0) {
    const err = new ExecutorError(
      "REVERT_FAILED",
      `${cause.message}; the revert did not restore ${d.host}: ${left.join(", ")} still differ from the snapshot`,
    );
    return { host: target.host, result: "failed", changed: 0, ops, txId, error: errorOf(err) };
  }
  return { host: target.host, result: "reverted", changed: 0, ops, txId, error: errorOf(cause) };
}

/**
 * The session dropped after the timer was armed: the host reverts itself at the deadline.
 * Wait for it, reconnect, and report what the host did.
 */
async function awaitSelfRevert(
  target: HostTarget,
  plan: RevertPlan,
  armedUntil: number,
  ops: Op[],
  txId: string,
  cause: ExecutorError,
): Promise<TxResult> {
  const deadline = armedUntil + 30_000;
  await new Promise((r) => setTimeout(r, Math.max(0, armedUntil - Date.now() + 500)));
  while (Date.now() < deadline) {
    let d: HostDriver | undefined;
    try {
      d = await target.connect();
      const st = await planStatus(d, plan, 10_000);
      if (st !== "failed") await releaseHostLock(d, txId);
      if (st === "reverted" || st === "already-reverted") {
        const err = new ExecutorError(
          "CONNECTION_LOST",
          `${cause.message} after applying; ${target.host} reverted itself at the confirm deadline and is reachable again`,
          true,
        );
        return { host: target.host, result: "reverted", changed: 0, ops, txId, error: errorOf(err) };
      }
      if (st === "confirmed") return { host: target.host, result: "applied", changed: ops.length, ops, txId };
    } catch {
      /* not reachable yet */
    } finally {
      await d?.close().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const err = new ExecutorError(
    "CONNECTION_LOST",
    `${cause.message}; ${target.host} is still unreachable after the confirm deadline`,
    true,
  );
  return { host: target.host, result: "failed", changed: 0, ops, txId, error: errorOf(err) };
}

async function listPlans(d: HostDriver): Promise<RevertPlan[]> {
  const r = await d.run(["ls", "-1", "--", d.hostPath(REVERT_DIR)]);
  if (r.code !== 0) return [];
  return r.stdout
    .split("\n")
    .filter((x) => /^[0-9A-Za-z-]+$/.test(x))
    .map((id) => ({ id, dir: `${REVERT_DIR}/${id}` }));
}

/** Plans still armed on a host (try mode, awaiting confirm). */
export async function pendingPlans(d: HostDriver): Promise<RevertPlan[]> {
  const out: RevertPlan[] = [];
  for (const plan of await listPlans(d)) {
    if ((await d.readFile(`${plan.dir}/armed`)) !== undefined) out.push(plan);
  }
  return out;
}

/** Plans armed or being reverted right now. */
async function busyPlans(d: HostDriver): Promise<RevertPlan[]> {
  const out: RevertPlan[] = [];
  for (const plan of await listPlans(d)) {
    if (
      (await d.readFile(`${plan.dir}/armed`)) !== undefined ||
      (await d.readFile(`${plan.dir}/firing`)) !== undefined
    ) {
      out.push(plan);
    }
  }
  return out;
}

/** Remove finished plans (confirmed or reverted) of earlier transactions. */
async function prunePlans(d: HostDriver): Promise<void> {
  for (const plan of await listPlans(d)) {
    const st = await planStatus(d, plan, 0);
    if (st === "confirmed" || st === "reverted") await d.run(["rm", "-rf", "--", d.hostPath(plan.dir)]);
  }
}

/**
 * Confirm every armed plan of a host (`fleetnet host confirm`): disarm and keep the
 * change. Returns the confirmed plan ids; a plan whose timer already fired is not among them.
 */
export async function confirmHost(target: HostTarget): Promise<string[]> {
  const d = await target.connect();
  try {
    const done: string[] = [];
    for (const plan of await pendingPlans(d)) {
      // the plan dir stays (marker `confirmed`) so a waiting `--try` sees it; pruned later
      if (await confirmPlan(d, plan)) done.push(plan.id);
    }
    return done;
  } finally {
    await d.close();
  }
}
