/**
 * How the rollout runner reaches hosts and checks health: two small interfaces, so the
 * runner does not care whether jobs travel over NATS JetStream (production) or anything
 * else, and whether health comes from heartbeats or telemetry.
 */
import type { HostState } from "@fleetnet/netstate";
import type { Heartbeat } from "@fleetnet/protocol";
import type { GateName, HostError, JobKind } from "./machine.js";

/** One job for one host. `jobId` is unique per rollout + host + attempt and de-duplicates. */
export interface DispatchRequest {
  kind: JobKind;
  rolloutId: string;
  planHash: string;
  host: string;
  wave: number;
  jobId: string;
  /** apply: the host's whole desired state. */
  desired?: HostState;
  /** apply: the host reverts itself unless confirmed within this many ms. */
  confirmTimeoutMs?: number;
  /** confirm/revert: the apply job it refers to. */
  applyJobId?: string;
  /** revert: why. */
  reason?: string;
}

/** What a host reported for one job. */
export interface DispatchResult {
  rolloutId: string;
  host: string;
  jobId: string;
  status: "applied" | "unchanged" | "reverted" | "failed" | "confirmed";
  error?: HostError;
}

/** A live subscription to results. */
export interface ResultSubscription {
  close(): Promise<void>;
}

/**
 * Sends jobs to hosts and streams their results back.
 *
 * Contract: `dispatch` may be called again with the same `jobId` (a planner resumed after a
 * crash); the host must then act at most once. `results` delivers every result of the
 * rollout from `sinceMs` on — also those produced while no planner was listening — in any
 * order, possibly more than once; the state machine ignores stale and duplicate ones.
 */
export interface HostDispatcher {
  dispatch(request: DispatchRequest): Promise<void>;
  results(
    rolloutId: string,
    sinceMs: number,
    onResult: (result: DispatchResult) => void,
  ): Promise<ResultSubscription>;
}

/** Verdict of the gates for a set of hosts. */
export interface GateVerdict {
  passed: boolean;
  /** Why not (or a summary), shown in status and in the rollout's stop reason. */
  detail?: string;
}

/** Evaluates rollout gates (`hostsHealthy`, …) over hosts. */
export interface GateChecker {
  check(gates: readonly GateName[], hosts: readonly string[], now: number): Promise<GateVerdict>;
}

/** When each host was last heard from (ms since the epoch). */
export interface HeartbeatSource {
  lastSeen(host: string): number | undefined;
}

/** In-memory heartbeat book: feed it every heartbeat received. */
export class HeartbeatBook implements HeartbeatSource {
  private readonly seen = new Map<string, number>();

  /** Record a heartbeat (an older one than already known is ignored). */
  record(hb: Pick<Heartbeat, "host" | "at">): void {
    const at = Date.parse(hb.at);
    if (Number.isNaN(at)) return;
    if (at > (this.seen.get(hb.host) ?? 0)) this.seen.set(hb.host, at);
  }

  lastSeen(host: string): number | undefined {
    return this.seen.get(host);
  }
}

/**
 * Gates from heartbeats only. `hostsHealthy`: every host was heard from within `maxAgeMs`.
 * The other gates need telemetry ({@link TelemetryGates}): here they fail closed, saying
 * so, so a policy that asks for them never passes silently.
 */
export class HeartbeatGates implements GateChecker {
  constructor(
    private readonly source: HeartbeatSource,
    private readonly maxAgeMs = 15_000,
  ) {}

  async check(gates: readonly GateName[], hosts: readonly string[], now: number): Promise<GateVerdict> {
    const problems: string[] = [];
    for (const gate of gates) {
      if (gate !== "hostsHealthy") {
        problems.push(`gate ${gate} is not available (no telemetry source for it)`);
        continue;
      }
      for (const h of hosts) {
        const seen = this.source.lastSeen(h);
        if (seen === undefined) problems.push(`${h}: no heartbeat`);
        else if (now - seen > this.maxAgeMs)
          problems.push(`${h}: last heartbeat ${Math.round((now - seen) / 1000)}s ago`);
      }
    }
    return problems.length === 0
      ? { passed: true, detail: `${gates.join(", ") || "no gates"} passed for ${hosts.length} host(s)` }
      : { passed: false, detail: problems.slice(0, 5).join("; ") + (problems.length > 5 ? "; …" : "") };
  }
}

/** The one NATS call {@link TelemetryGates} needs (a `NatsConnection` is one). */
export interface GateRequester {
  request(subject: string, payload: string, opts: { timeout: number }): Promise<{ data: Uint8Array }>;
}

/** Gates telemetry judges (`fleet.v1.telemetry.gate`). */
export const TELEMETRY_GATES = ["bgpEstablished", "vrrpSingleMaster", "overlayReachable"] as const;

/** Options of {@link TelemetryGates}. */
export interface TelemetryGatesOptions {
  nc: GateRequester;
  /** Subject of telemetry's gate API (`subjects.telemetryApi("gate")`). */
  subject: string;
  /** Heartbeats for `hostsHealthy`. */
  heartbeats: HeartbeatSource;
  /** `hostsHealthy`: longest heartbeat age (default 15 s). */
  maxAgeMs?: number;
  /** Per-request timeout (default 5 s). */
  timeoutMs?: number;
  /**
   * Evidence must be newer than the first check of a wave minus this margin (default 1 s):
   * a report from before the change proves nothing about it.
   */
  marginMs?: number;
}

interface TelemetryGateAnswer {
  ok: boolean;
  pass?: boolean;
  reason?: string;
  findings?: { message?: string }[];
  error?: { code?: string; message?: string };
}

/**
 * Gates for real: `hostsHealthy` from heartbeats, `bgpEstablished`, `vrrpSingleMaster` and
 * `overlayReachable` asked of the telemetry service over NATS request/reply
 * (`{gate, hosts, since}` → `{ok, pass, reason?, findings}`), all in parallel.
 *
 * Fails closed, always with a reason: telemetry not answering within `timeoutMs`, no
 * responder, an error answer, or `pass: false` (its reason or first findings) → the
 * verdict does not pass. `since` is when this planner first checked the wave's gates
 * (minus `marginMs`), so telemetry waits for state reports made after the change instead of
 * judging older ones; a planner restarted mid-wave starts that clock anew (stricter, never
 * looser). A wave not checked for 30 s starts anew too (a later rollout of the same hosts).
 */
export class TelemetryGates implements GateChecker {
  readonly #o: Required<TelemetryGatesOptions>;
  readonly #heartbeat: HeartbeatGates;
  readonly #first = new Map<string, { first: number; last: number }>();

  constructor(o: TelemetryGatesOptions) {
    this.#o = { maxAgeMs: 15_000, timeoutMs: 5_000, marginMs: 1_000, ...o };
    this.#heartbeat = new HeartbeatGates(o.heartbeats, this.#o.maxAgeMs);
  }

  async check(gates: readonly GateName[], hosts: readonly string[], now: number): Promise<GateVerdict> {
    const key = [...hosts].sort().join(",");
    for (const [k, v] of this.#first) if (now - v.last > 30_000) this.#first.delete(k);
    const seen = this.#first.get(key) ?? { first: now, last: now };
    seen.last = now;
    this.#first.set(key, seen);
    const since = new Date(seen.first - this.#o.marginMs).toISOString();
    const remote = gates.filter((g) => (TELEMETRY_GATES as readonly string[]).includes(g));
    const [local, ...answers] = await Promise.all([
      gates.includes("hostsHealthy")
        ? this.#heartbeat.check(["hostsHealthy"], hosts, now)
        : Promise.resolve<GateVerdict>({ passed: true }),
      ...remote.map((g) => this.#ask(g, hosts, since)),
    ]);
    const problems = [
      ...(local.passed ? [] : [local.detail ?? "hostsHealthy failed"]),
      ...answers.filter((a): a is string => a !== undefined),
    ];
    const unknown = gates.filter((g) => g !== "hostsHealthy" && !remote.includes(g));
    for (const g of unknown) problems.push(`gate ${g} is not available (no source for it)`);
    return problems.length === 0
      ? { passed: true, detail: `${gates.join(", ") || "no gates"} passed for ${hosts.length} host(s)` }
      : { passed: false, detail: problems.join("; ").slice(0, 1000) };
  }

  /** `undefined` when the gate passed, else why not. */
  async #ask(gate: string, hosts: readonly string[], since: string): Promise<string | undefined> {
    let a: TelemetryGateAnswer;
    try {
      const m = await this.#o.nc.request(this.#o.subject, JSON.stringify({ gate, hosts, since }), {
        timeout: this.#o.timeoutMs,
      });
      a = JSON.parse(new TextDecoder().decode(m.data)) as TelemetryGateAnswer;
    } catch (err) {
      const e = err as { code?: string; message?: string; name?: string };
      const why = /no responders/i.test(`${e.message} ${e.name} ${e.code}`)
        ? "no telemetry service is listening"
        : /timeout/i.test(`${e.message} ${e.name} ${e.code}`)
          ? `telemetry did not answer within ${this.#o.timeoutMs} ms`
          : `telemetry request failed: ${e.message ?? String(err)}`;
      return `gate ${gate}: ${why}`;
    }
    if (!a || typeof a !== "object" || !a.ok)
      return `gate ${gate}: telemetry refused: ${a?.error?.code ?? "UNKNOWN"} ${a?.error?.message ?? ""}`.trim();
    if (a.pass === true) return undefined;
    const shown = (a.findings ?? [])
      .slice(0, 3)
      .map((f) => f.message)
      .filter(Boolean);
    return `gate ${gate}: ${a.reason ?? (shown.join(", ") || "did not pass")}${
      a.reason && shown.length > 0 ? ` (${shown.join(", ")})` : ""
    }${(a.findings?.length ?? 0) > 3 ? ", …" : ""}`;
  }
}
