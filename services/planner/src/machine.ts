/**
 * The rollout state machine: pure, events in → state out.
 *
 * Design: `reduce(state, event)` is the only way a rollout changes. After applying the
 * event it "advances" the rollout as far as it can without outside input (start the next
 * wave, dispatch the next batch, move a wave to its gates, begin a rollback). Work for the
 * outside world is never an output of `reduce`: it is a fact in the state — a host whose
 * `job` is set has an apply/confirm/revert job outstanding with that `attempt` — and
 * {@link outstanding} lists it. A runner therefore persists the state after every event
 * and (re)performs what `outstanding` says; after a crash it performs the same list again,
 * and because every job is keyed by rollout + host + attempt ({@link jobId}) a repeat is a
 * duplicate the transport drops, never a second apply.
 *
 * Wave lifecycle: pending → applying (batches of at most `maxInFlight`; the next batch
 * starts when the previous one has all its results) → gating (gates on the wave's hosts,
 * polled until they pass or the confirm deadline — hosts are confirmed only after their
 * wave's gates pass) → confirming → soaking (`soak`) → verifying (gates again after the
 * soak; skipped when soak is 0) → succeeded. Failures count across the rollout.
 * `failureThreshold` is the number of failed hosts the rollout tolerates (INTENTS.md: "stop
 * the rollout when exceeded", read as AWS SSM `MaxErrors` and Ansible `max_fail_percentage`
 * are): more failures than that, a gate that never passes, abort or an operator rollback stop
 * the rollout: no new job starts, in-flight apply/confirm jobs finish, then the rollback plan
 * runs (wave by wave, newest first) and the rollout ends failed / rolled_back / aborted. A
 * rollout that runs every wave with tolerated failures does not succeed either: it ends
 * `failed`, naming them; its failed hosts reverted themselves (their transaction failed, or
 * was never confirmed) and are not rolled back by the planner; confirmed hosts stay.
 */
import type { RolloutPolicySpec } from "@fleetnet/intent";
import { durationMs } from "@fleetnet/intent";
import type { PlannedWave } from "./waves.js";

/** Status of a rollout. */
export type RolloutStatus =
  | "pending"
  | "running"
  | "paused"
  | "succeeded"
  | "failed"
  | "rolled_back"
  | "aborted";
/** Status of one host within a rollout. */
export type HostStatus =
  | "pending"
  | "dispatched"
  | "applied"
  | "confirmed"
  | "unchanged"
  | "failed"
  | "reverted";
/** Status of one wave. */
export type WaveStatus =
  | "pending"
  | "applying"
  | "gating"
  | "confirming"
  | "soaking"
  | "verifying"
  | "succeeded"
  | "failed"
  | "aborted"
  | "reverting"
  | "reverted"
  | "skipped";
/** Kind of job the planner sends a host. */
export type JobKind = "apply" | "confirm" | "revert";
/** What a host reported for its current job. */
export type HostOutcome = "applied" | "unchanged" | "failed" | "confirmed" | "reverted";
/** Gates between waves (INTENTS.md `RolloutPolicy.gates`). */
export type GateName = RolloutPolicySpec["gates"][number];

/** Terminal rollout statuses: nothing happens after these (except an operator rollback). */
export const TERMINAL: readonly RolloutStatus[] = ["succeeded", "failed", "rolled_back", "aborted"];

/** An error as recorded on a host. */
export interface HostError {
  code: string;
  message: string;
}

/** One host's record within a rollout. */
export interface HostRecord {
  wave: number;
  status: HostStatus;
  /** Counts the jobs sent to this host in this rollout; the current job has this number. */
  attempt: number;
  /** The job outstanding (sent or to be sent) with `attempt`, if any. */
  job?: JobKind;
  /** Attempt number of the last apply job: confirms and reverts name that job. */
  applyAttempt?: number;
  /** When the outstanding job was issued (ms), for the result timeout. */
  since?: number;
  /** When the host reported `applied` (ms). */
  appliedAt?: number;
  /** Whether the host's state was changed and not reverted. */
  changed: boolean;
  /** Set when the host counts as a failure (apply failed, timed out, or not confirmed). */
  failure?: boolean;
  error?: HostError;
}

/** One wave's record. */
export interface WaveRecord {
  index: number;
  hosts: string[];
  batches: string[][];
  status: WaveStatus;
  /** Gates must pass before this time (ms) — the hosts' confirm deadline, less a margin. */
  gateDeadline?: number;
  /** Soak ends at this time (ms). */
  soakUntil?: number;
  /** Last gate verdict, for status and errors. */
  gateDetail?: string;
  reason?: string;
}

/** The settings the machine runs with, resolved from a RolloutPolicy. */
export interface MachineConfig {
  /** Failed hosts tolerated: the rollout stops when more than this many have failed (0: the first). */
  failureThreshold: number;
  autoRollback: "none" | "wave" | "rollout";
  soakMs: number;
  confirmTimeoutMs: number;
  gates: GateName[];
  /** A job without a result after this long counts as failed. */
  resultTimeoutMs: number;
}

/**
 * Why a rollout stopped early — or, kind `failure` on a rollout that ended `failed` after its
 * last wave, why a rollout that ran every wave did not succeed (failures within the threshold).
 */
export interface StopRecord {
  /** `lost`: the runner lost the hosts (locks); it stops without touching them. */
  kind: "failure" | "abort" | "rollback" | "lost";
  reason: string;
  by?: string;
  at: number;
}

/** The full state of a rollout — everything a runner persists. */
export interface RolloutState {
  id: string;
  status: RolloutStatus;
  config: MachineConfig;
  waves: WaveRecord[];
  hosts: Record<string, HostRecord>;
  /** Index of the wave in progress. */
  current: number;
  stop?: StopRecord;
  /** Waves still to revert, newest first, once a stop has drained in-flight jobs. */
  rollback?: { queue: { wave: number; hosts: string[]; asked: boolean }[]; final: RolloutStatus };
  createdAt: number;
  updatedAt: number;
}

/** Inputs of the machine. Every event carries its time (ms) so the machine stays pure. */
export type RolloutEvent =
  | { type: "start"; at: number }
  | { type: "tick"; at: number }
  | {
      type: "result";
      at: number;
      host: string;
      attempt: number;
      outcome: HostOutcome;
      error?: HostError;
    }
  | { type: "gates"; at: number; wave: number; passed: boolean; detail?: string }
  | { type: "pause" | "resume" | "abort" | "rollback"; at: number; by?: string }
  /** The runner cannot continue (e.g. lost its host locks): stop as a failure. */
  | {
      type: "fail";
      at: number;
      reason: string;
      /**
       * false when the hosts may no longer be ours (lost locks): nothing is reverted, hosts
       * with unconfirmed changes revert themselves when their confirm deadline passes.
       */
      revert?: boolean;
    };

/** Work the outside world must do for the current state. */
export type Action =
  | {
      kind: JobKind;
      host: string;
      wave: number;
      attempt: number;
      jobId: string;
      /** The apply job a confirm or revert refers to. */
      applyJobId?: string;
    }
  | { kind: "gates"; wave: number; hosts: string[]; gates: GateName[] };

/** Error codes the machine records on hosts. */
export const MachineErrorCodes = {
  RESULT_TIMEOUT: "RESULT_TIMEOUT",
  NOT_CONFIRMED: "NOT_CONFIRMED",
  REVERT_FAILED: "REVERT_FAILED",
} as const;

/**
 * The job id (and NATS `Nats-Msg-Id`) of a host's job: `<rolloutId>_<host>_<attempt>`.
 * Unambiguous: host names never contain `_`, and the attempt is the last part.
 */
export function jobId(rolloutId: string, host: string, attempt: number): string {
  return `${rolloutId}_${host}_${attempt}`;
}

/** Split a {@link jobId} into its parts, or `undefined` when it is not one. */
export function parseJobId(id: string): { rolloutId: string; host: string; attempt: number } | undefined {
  const m = /^(.+)_([a-z0-9-]+)_([0-9]+)$/.exec(id);
  return m ? { rolloutId: m[1] as string, host: m[2] as string, attempt: Number(m[3]) } : undefined;
}

/**
 * Failed hosts a `failureThreshold` tolerates among `total` hosts: `{hosts: N}` is N;
 * `{percent: P}` is the largest count that is at most P% of the hosts (rounded down, so that
 * "more than P% failed" stops the rollout: 10% of 50 hosts tolerates 5 and stops at the 6th).
 */
export function toleratedFailures(threshold: RolloutPolicySpec["failureThreshold"], total: number): number {
  if ("hosts" in threshold) return threshold.hosts;
  // the epsilon keeps float noise (e.g. 7 * 100 / 100 computed as 6.999…) from losing a host
  return Math.floor((threshold.percent * total) / 100 + 1e-9);
}

/** Resolve a RolloutPolicy into the machine's settings for `total` selected hosts. */
export function machineConfig(
  policy: Pick<RolloutPolicySpec, "failureThreshold" | "autoRollback" | "soak" | "confirmTimeout" | "gates">,
  total: number,
  resultTimeoutMs?: number,
): MachineConfig {
  const confirmTimeoutMs = durationMs(policy.confirmTimeout);
  return {
    failureThreshold: toleratedFailures(policy.failureThreshold, total),
    autoRollback: policy.autoRollback,
    soakMs: durationMs(policy.soak),
    confirmTimeoutMs,
    gates: [...policy.gates],
    resultTimeoutMs: resultTimeoutMs ?? confirmTimeoutMs + 60_000,
  };
}

/** A new rollout in `pending` over planned waves. */
export function newRollout(
  id: string,
  waves: readonly PlannedWave[],
  config: MachineConfig,
  at: number,
): RolloutState {
  const hosts: Record<string, HostRecord> = {};
  for (const w of waves)
    for (const h of w.hosts) hosts[h] = { wave: w.index, status: "pending", attempt: 0, changed: false };
  return {
    id,
    status: "pending",
    config,
    waves: waves.map((w) => ({
      index: w.index,
      hosts: [...w.hosts],
      batches: w.batches.map((b) => [...b]),
      status: "pending",
      ...(w.reason === undefined ? {} : { reason: w.reason }),
    })),
    hosts,
    current: 0,
    createdAt: at,
    updatedAt: at,
  };
}

/** Whether a rollout has ended. */
export function isTerminal(s: Pick<RolloutState, "status">): boolean {
  return TERMINAL.includes(s.status);
}

/**
 * Apply one event and advance. Never mutates `state`. Events that do not apply (a stale
 * or duplicate result, resume when not paused, …) leave the state as it was.
 */
export function reduce(state: RolloutState, ev: RolloutEvent): RolloutState {
  return reduceAll(state, [ev]);
}

/**
 * Apply a batch of events (in order), then advance once — the same outcome as reducing
 * them one by one (no event in a batch depends on work the advance between them would
 * start), at the cost of one copy and one comparison of the state instead of one per event.
 */
export function reduceAll(state: RolloutState, events: readonly RolloutEvent[]): RolloutState {
  const last = events.at(-1);
  if (!last) return state;
  const s = structuredClone(state);
  for (const ev of events) applyEvent(s, ev);
  advance(s, last.at);
  if (JSON.stringify(s) === JSON.stringify(state)) return state;
  s.updatedAt = last.at;
  return s;
}

function applyEvent(s: RolloutState, ev: RolloutEvent): void {
  switch (ev.type) {
    case "start":
      if (s.status === "pending") s.status = "running";
      break;
    case "pause":
      if (s.status === "running" && !s.stop) s.status = "paused";
      break;
    case "resume":
      if (s.status === "paused") s.status = "running";
      break;
    case "abort":
      if (!isTerminal(s) && !s.stop)
        stopRollout(s, { kind: "abort", reason: "aborted", at: ev.at, ...by(ev) });
      break;
    case "rollback":
      if (s.status !== "rolled_back" && s.stop?.kind !== "rollback") {
        if (isTerminal(s)) s.status = "running";
        delete s.rollback;
        stopRollout(s, { kind: "rollback", reason: "rollback requested", at: ev.at, ...by(ev) });
      }
      break;
    case "fail":
      if (!isTerminal(s) && !s.stop)
        stopRollout(s, { kind: ev.revert === false ? "lost" : "failure", reason: ev.reason, at: ev.at });
      break;
    case "result":
      onResult(s, ev);
      break;
    case "gates":
      onGates(s, ev);
      break;
    case "tick":
      onTick(s, ev.at);
      break;
  }
}

function by(ev: { by?: string }): { by?: string } {
  return ev.by === undefined ? {} : { by: ev.by };
}

function stopRollout(s: RolloutState, stop: StopRecord): void {
  s.stop = stop;
  if (s.status === "paused" || s.status === "pending") s.status = "running";
}

function failedHosts(s: RolloutState): string[] {
  return Object.entries(s.hosts)
    .filter(([, h]) => h.failure)
    .map(([n]) => n);
}

/** `h1, h2, h3` — at most `max` names, then `… (+N)`. */
function nameList(names: readonly string[], max = 10): string {
  return names.length <= max
    ? names.join(", ")
    : `${names.slice(0, max).join(", ")}, … (+${names.length - max})`;
}

function onResult(s: RolloutState, ev: Extract<RolloutEvent, { type: "result" }>): void {
  const h = s.hosts[ev.host];
  if (
    h &&
    ev.outcome === "reverted" &&
    ev.attempt === h.applyAttempt &&
    h.status === "applied" &&
    h.job !== "apply" &&
    h.job !== "revert"
  ) {
    // the host's own timer undid the apply before a confirm reached it
    h.status = "reverted";
    h.changed = false;
    h.failure = true;
    h.error = ev.error ?? {
      code: MachineErrorCodes.NOT_CONFIRMED,
      message: "reverted itself before a confirm",
    };
    return;
  }
  if (!h || h.job === undefined || ev.attempt !== h.attempt) return; // stale or duplicate
  const job = h.job;
  delete h.job;
  delete h.since;
  const fail = (status: HostStatus, code: string, message: string) => {
    h.status = status;
    h.failure = true;
    h.error = ev.error ?? { code, message };
  };
  if (job === "apply") {
    if (ev.outcome === "applied") {
      h.status = "applied";
      h.changed = true;
      h.appliedAt = ev.at;
    } else if (ev.outcome === "unchanged") h.status = "unchanged";
    else fail(ev.outcome === "reverted" ? "reverted" : "failed", "APPLY_FAILED", `apply ${ev.outcome}`);
  } else if (job === "confirm") {
    if (ev.outcome === "confirmed") h.status = "confirmed";
    else {
      h.changed = ev.outcome !== "reverted" && h.changed;
      fail(
        ev.outcome === "reverted" ? "reverted" : "failed",
        MachineErrorCodes.NOT_CONFIRMED,
        `confirm ${ev.outcome}`,
      );
    }
  } else if (ev.outcome === "reverted") {
    h.status = "reverted";
    h.changed = false;
  } else {
    h.status = "failed";
    h.error = ev.error ?? { code: MachineErrorCodes.REVERT_FAILED, message: `revert ${ev.outcome}` };
  }
}

function onGates(s: RolloutState, ev: Extract<RolloutEvent, { type: "gates" }>): void {
  const w = s.waves[ev.wave];
  if (!w || ev.wave !== s.current || s.stop || (w.status !== "gating" && w.status !== "verifying")) return;
  if (ev.detail !== undefined) w.gateDetail = ev.detail;
  if (!ev.passed) return;
  if (w.status === "verifying") {
    w.status = "succeeded";
    return;
  }
  const applied = w.hosts.filter((n) => s.hosts[n]?.status === "applied");
  for (const n of applied) issue(s, n, "confirm", ev.at);
  w.status = "confirming";
}

function onTick(s: RolloutState, at: number): void {
  for (const h of Object.values(s.hosts)) {
    if (h.job === undefined || h.since === undefined || at - h.since < s.config.resultTimeoutMs) continue;
    const job = h.job;
    delete h.job;
    delete h.since;
    const message = `no ${job} result within ${s.config.resultTimeoutMs} ms`;
    h.error = { code: MachineErrorCodes.RESULT_TIMEOUT, message };
    if (job === "revert") h.status = "failed";
    else {
      h.status = "failed";
      h.failure = true;
    }
  }
  const w = s.waves[s.current];
  if (
    w &&
    !s.stop &&
    (w.status === "gating" || w.status === "verifying") &&
    w.gateDeadline !== undefined &&
    at >= w.gateDeadline
  ) {
    w.status = "failed";
    s.stop = {
      kind: "failure",
      reason: `wave ${w.index}: gates ${s.config.gates.join(", ")} did not pass in time${w.gateDetail ? `: ${w.gateDetail}` : ""}`,
      at,
    };
  }
}

function issue(s: RolloutState, host: string, job: JobKind, at: number): void {
  const h = s.hosts[host] as HostRecord;
  h.attempt += 1;
  h.job = job;
  h.since = at;
  if (job === "apply") {
    h.status = "dispatched";
    h.applyAttempt = h.attempt;
  }
}

/** Advance as far as possible without outside input. */
function advance(s: RolloutState, at: number): void {
  let before = JSON.stringify(s);
  for (let guard = 0; guard < 10_000; guard++) {
    step(s, at);
    const after = JSON.stringify(s);
    if (after === before) return;
    before = after;
  }
  throw new Error(`rollout ${s.id}: state machine did not settle`);
}

function step(s: RolloutState, at: number): void {
  if (isTerminal(s) || s.status === "pending") return;
  if (s.rollback) {
    stepRollback(s, at);
    return;
  }
  if (s.stop) {
    drainThenRollback(s);
    return;
  }
  const w = s.waves[s.current];
  const failed = failedHosts(s);
  if (!w) {
    if (failed.length === 0) s.status = "succeeded";
    else {
      // every wave ran; the failures were tolerated, yet the fleet is not what was planned
      s.status = "failed";
      s.stop = {
        kind: "failure",
        reason: `completed with ${failed.length} failed host(s) within failureThreshold (tolerates ${s.config.failureThreshold}): ${nameList(failed)}`,
        at,
      };
    }
    return;
  }
  const hosts = w.hosts.map((n) => s.hosts[n] as HostRecord);
  if (failed.length > s.config.failureThreshold) {
    w.status = "failed";
    s.stop = {
      kind: "failure",
      reason: `failureThreshold exceeded: ${failed.length} host(s) failed, ${s.config.failureThreshold} tolerated: ${nameList(failed)}`,
      at,
    };
    return;
  }
  switch (w.status) {
    case "pending":
      if (s.status === "running") w.status = "applying";
      return;
    case "applying": {
      const batch = w.batches.find((b) => b.some((n) => s.hosts[n]?.status === "pending"));
      const busy = hosts.some((h) => h.job === "apply");
      if (batch && !busy && s.status === "running") for (const n of batch) issue(s, n, "apply", at);
      if (!batch && !busy) {
        w.status = "gating";
        const applied = hosts.filter((h) => h.status === "applied").map((h) => h.appliedAt ?? at);
        const start = applied.length > 0 ? Math.min(...applied) : at;
        const margin = Math.min(5_000, Math.floor(s.config.confirmTimeoutMs / 5));
        w.gateDeadline = start + s.config.confirmTimeoutMs - margin;
        if (s.config.gates.length === 0) onGates(s, { type: "gates", at, wave: w.index, passed: true });
      }
      return;
    }
    case "confirming":
      if (!hosts.some((h) => h.job === "confirm")) {
        w.status = "soaking";
        w.soakUntil = at + s.config.soakMs;
      }
      return;
    case "soaking":
      if (at < (w.soakUntil ?? 0)) return;
      if (s.config.soakMs > 0 && s.config.gates.length > 0) {
        w.status = "verifying";
        w.gateDeadline = at + s.config.confirmTimeoutMs;
      } else w.status = "succeeded";
      return;
    case "succeeded":
      s.current += 1;
      return;
    default:
      return;
  }
}

/** Once no apply/confirm job is in flight, plan the rollback the stop calls for. */
function drainThenRollback(s: RolloutState): void {
  const stop = s.stop as StopRecord;
  if (Object.values(s.hosts).some((h) => h.job === "apply" || h.job === "confirm")) return;
  const changedIn = (w: WaveRecord, unconfirmedOnly: boolean) =>
    w.hosts.filter((n) => {
      const h = s.hosts[n] as HostRecord;
      return h.changed && (h.status === "applied" || (!unconfirmedOnly && h.status === "confirmed"));
    });
  const cur = s.waves[s.current];
  const queue: { wave: number; hosts: string[]; asked: boolean }[] = [];
  let final: RolloutStatus;
  if (stop.kind === "rollback" || (stop.kind === "failure" && s.config.autoRollback === "rollout")) {
    for (const w of [...s.waves].reverse())
      queue.push({ wave: w.index, hosts: changedIn(w, false), asked: false });
    final = "rolled_back";
  } else if (stop.kind === "failure" && s.config.autoRollback === "wave" && cur) {
    queue.push({ wave: cur.index, hosts: changedIn(cur, false), asked: false });
    final = "rolled_back";
  } else if (stop.kind === "lost") {
    final = "failed";
  } else {
    // none / abort: confirmed hosts stay; applied-but-unconfirmed ones are never confirmed now,
    // so their uncommitted change is reverted (commit-confirmed) rather than left to time out.
    if (cur) queue.push({ wave: cur.index, hosts: changedIn(cur, true), asked: false });
    final = stop.kind === "abort" ? "aborted" : "failed";
  }
  if (cur && stop.kind !== "rollback") {
    if (stop.kind === "abort" && cur.status !== "succeeded") cur.status = "aborted";
    else if (stop.kind === "failure" || stop.kind === "lost") cur.status = "failed";
  }
  for (const w of s.waves) if (w.status === "pending") w.status = "skipped";
  s.rollback = { queue: queue.filter((q) => q.hosts.length > 0), final };
}

function stepRollback(s: RolloutState, at: number): void {
  const rb = s.rollback as NonNullable<RolloutState["rollback"]>;
  const head = rb.queue[0];
  if (!head) {
    const revertFailed = Object.values(s.hosts).some(
      (h) => h.error?.code === MachineErrorCodes.REVERT_FAILED,
    );
    s.status = revertFailed ? "failed" : rb.final;
    return;
  }
  const w = s.waves[head.wave] as WaveRecord;
  if (!head.asked) {
    for (const n of head.hosts) issue(s, n, "revert", at);
    head.asked = true;
    w.status = "reverting";
    return;
  }
  if (head.hosts.some((n) => s.hosts[n]?.job === "revert")) return;
  w.status = head.hosts.every((n) => s.hosts[n]?.status === "reverted") ? "reverted" : "failed";
  rb.queue.shift();
}

/**
 * The work the current state asks for: every outstanding host job (apply, confirm,
 * revert — in wave order) and, while a wave waits at its gates, a gate check.
 * Performing the same list twice is safe: jobs are keyed by {@link jobId}.
 */
export function outstanding(s: RolloutState): Action[] {
  const out: Action[] = [];
  for (const w of s.waves)
    for (const n of w.hosts) {
      const h = s.hosts[n] as HostRecord;
      if (!h.job) continue;
      const a: Action = {
        kind: h.job,
        host: n,
        wave: w.index,
        attempt: h.attempt,
        jobId: jobId(s.id, n, h.attempt),
      };
      if (h.job !== "apply" && h.applyAttempt !== undefined) a.applyJobId = jobId(s.id, n, h.applyAttempt);
      out.push(a);
    }
  const w = s.waves[s.current];
  if (w && !s.stop && !isTerminal(s) && (w.status === "gating" || w.status === "verifying")) {
    const hosts = w.hosts.filter((n) =>
      ["applied", "confirmed", "unchanged"].includes(s.hosts[n]?.status ?? ""),
    );
    out.push({ kind: "gates", wave: w.index, hosts, gates: [...s.config.gates] });
  }
  return out;
}

/** One observable change between two states (for the audit log). */
export interface Transition {
  scope: "rollout" | "wave" | "host";
  /** Rollout id, wave index or host name. */
  id: string;
  /**
   * Dotted audit action: `rollout.<status>`, `wave.<status>`, `host.<status>`, or for a job
   * sent to a host `host.dispatched` (apply), `host.confirm-sent`, `host.revert-sent`.
   */
  action: string;
  from: string;
  to: string;
  detail?: string;
}

const token = (status: string) => status.replace(/_/g, "-");

/**
 * The changes from `prev` to `next`, in causal order: the rollout starting (or pausing), what
 * hosts reported, the waves moving, the jobs that sends to hosts, and the rollout's end last.
 */
export function transitions(prev: RolloutState, next: RolloutState): Transition[] {
  const head: Transition[] = [];
  const outcomes: Transition[] = [];
  const waves: Transition[] = [];
  const sent: Transition[] = [];
  const tail: Transition[] = [];
  if (prev.status !== next.status) {
    const t: Transition = {
      scope: "rollout",
      id: next.id,
      action: `rollout.${token(next.status)}`,
      from: prev.status,
      to: next.status,
    };
    if (next.stop) t.detail = next.stop.reason;
    (isTerminal(next) ? tail : head).push(t);
  }
  next.waves.forEach((w, i) => {
    const p = prev.waves[i];
    if (p && p.status !== w.status)
      waves.push({ scope: "wave", id: String(i), action: `wave.${w.status}`, from: p.status, to: w.status });
  });
  for (const [n, h] of Object.entries(next.hosts)) {
    const p = prev.hosts[n];
    if (!p) continue;
    const issued = h.job !== undefined && (p.job !== h.job || p.attempt !== h.attempt);
    if (p.status !== h.status && !(issued && h.job === "apply")) {
      const t: Transition = {
        scope: "host",
        id: n,
        action: `host.${h.status}`,
        from: p.status,
        to: h.status,
      };
      if (h.error && JSON.stringify(h.error) !== JSON.stringify(p.error))
        t.detail = `${h.error.code}: ${h.error.message}`;
      outcomes.push(t);
    }
    if (issued) {
      const job = h.job as JobKind;
      sent.push({
        scope: "host",
        id: n,
        action: job === "apply" ? "host.dispatched" : `host.${job}-sent`,
        from: p.status,
        to: `${h.status}+${job}#${h.attempt}`,
      });
    }
  }
  return [...head, ...outcomes, ...waves, ...sent, ...tail];
}

/** A rollout as the CLI shows it (`fleetnet apply --json`, `fleetnet rollout status --json`). */
export interface RolloutSummary {
  rolloutId: string;
  status: RolloutStatus;
  waves: { index: number; hosts: string[]; status: WaveStatus; reason?: string }[];
  hosts: Record<string, { status: HostStatus; changed: boolean; error: HostError | null }>;
  stop?: StopRecord;
}

/** The summary of a rollout state (what status replies and the CLI print). */
export function summarize(s: RolloutState): RolloutSummary {
  const out: RolloutSummary = {
    rolloutId: s.id,
    status: s.status,
    waves: s.waves.map((w) => ({
      index: w.index,
      hosts: [...w.hosts],
      status: w.status,
      ...(w.reason ? { reason: w.reason } : {}),
    })),
    hosts: Object.fromEntries(
      Object.entries(s.hosts).map(([n, h]) => [
        n,
        { status: h.status, changed: h.changed, error: h.error ?? null },
      ]),
    ),
  };
  if (s.stop) out.stop = s.stop;
  return out;
}
