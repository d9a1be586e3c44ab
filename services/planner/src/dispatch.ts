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
 * Gates from heartbeats. `hostsHealthy`: every host was heard from within `maxAgeMs`.
 * The other gates need telemetry that is not wired yet: they fail closed, saying so, so a
 * policy that asks for them never passes silently.
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
