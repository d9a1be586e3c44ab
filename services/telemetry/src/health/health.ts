/**
 * Fleet health (pure): joins heartbeat ages, sysctl drift, BGP sessions, VRRP masters,
 * overlay probes, duplicate MACs on managed links and flow-rate changes into one verdict.
 *
 * Design:
 * - Every signal is optional except heartbeats: a category nobody reports (no executor's
 *   state report carries BGP/VRRP/probe/MAC observations, e.g. no FRR anywhere) yields one
 *   `info` finding `not-reported`, never a silent pass — an operator sees what was NOT checked.
 * - `healthy` is false when any finding is `critical` or `warning`; `info` never fails.
 * - The three rollout gates ({@link bgpEstablished}, {@link vrrpSingleMaster},
 *   {@link overlayReachable}) are the same functions health uses, so the planner's gate and
 *   `fleetnet health` can never disagree. Each returns `{pass, findings}`; a gate with no
 *   observations at all does not pass (`reason: "no observations"`): a gate must see
 *   evidence before a wave goes on.
 */
import type { DriftFinding, UnavailableKey } from "../drift/drift.js";

/** Severity of a finding: `critical`/`warning` make the fleet unhealthy, `info` does not. */
export type Severity = "critical" | "warning" | "info";

/** One health finding. `code` is stable (lower-case, dash-separated). */
export interface HealthFinding {
  severity: Severity;
  code:
    | "heartbeat-missing"
    | "heartbeat-stale"
    | "drift"
    | "sysctl-unavailable"
    | "bgp-down"
    | "split-brain"
    | "no-master"
    | "overlay-unreachable"
    | "duplicate-mac"
    | "flow-rate-change"
    | "not-reported";
  host?: string;
  message: string;
}

/** A BGP session as seen by one host. */
export interface BgpSessionObservation {
  host: string;
  peer: string;
  /** FRR's state name, e.g. `Established`, `Active`, `Idle`. */
  state: string;
}

/** One VRRP instance on one host. */
export interface VrrpObservation {
  host: string;
  /** The L2 segment (e.g. the KeepalivedPair name or interface) the VRID lives on. */
  segment: string;
  vrid: number;
  /** keepalived state: `MASTER`, `BACKUP`, `FAULT`, `INIT`… */
  state: string;
}

/** One overlay probe a host ran against a peer. */
export interface OverlayProbe {
  host: string;
  overlay: string;
  peer: string;
  reachable: boolean;
  rttMs?: number;
}

/** The MAC of one link of a host. */
export interface LinkMac {
  host: string;
  link: string;
  mac: string;
  /** Whether fleetnet manages the link (only managed links are compared). */
  managed: boolean;
}

/** Flow rate of one host now vs its baseline (bytes/s). */
export interface FlowRate {
  host: string;
  bytesPerS: number;
  baselineBytesPerS: number;
}

/** Outcome of a rollout gate. */
export interface GateResult {
  pass: boolean;
  /** Why it did not pass, when there was nothing to judge. */
  reason?: string;
  findings: HealthFinding[];
}

/** Input of {@link evaluateHealth}. */
export interface HealthInput {
  /** Now (ms since epoch). */
  now: number;
  /** The hosts that should report (inventory). */
  hosts: readonly string[];
  /** Last heartbeat time (RFC 3339) per host. */
  heartbeats: ReadonlyMap<string, string>;
  /** Executors' heartbeat interval (ms). */
  heartbeatIntervalMs: number;
  /** A heartbeat older than this many intervals is stale (default 3). */
  staleAfterIntervals?: number;
  drift?: readonly DriftFinding[];
  unavailable?: readonly UnavailableKey[];
  bgp?: readonly BgpSessionObservation[];
  vrrp?: readonly VrrpObservation[];
  overlay?: readonly OverlayProbe[];
  macs?: readonly LinkMac[];
  flows?: readonly FlowRate[];
  /** Relative change of the flow rate that is reported (default 0.5 = ±50 %). */
  flowChangeRatio?: number;
}

/** Per-host summary. */
export interface HostHealth {
  healthy: boolean;
  /** Seconds since the last heartbeat (`null`: never seen). */
  heartbeatAgeS: number | null;
  drift: number;
  findings: number;
}

/** Output of {@link evaluateHealth}. */
export interface HealthReport {
  healthy: boolean;
  hosts: Record<string, HostHealth>;
  findings: HealthFinding[];
}

const ESTABLISHED = "established";

/**
 * Gate `bgpEstablished`: every observed session is Established. `hosts` limits the check
 * (e.g. a wave's hosts); every listed host must have at least one observed session.
 */
export function bgpEstablished(
  sessions: readonly BgpSessionObservation[],
  hosts?: readonly string[],
): GateResult {
  const scoped = hosts ? sessions.filter((s) => hosts.includes(s.host)) : sessions;
  const findings: HealthFinding[] = [];
  for (const s of scoped) {
    if (s.state.toLowerCase() !== ESTABLISHED)
      findings.push({
        severity: "critical",
        code: "bgp-down",
        host: s.host,
        message: `BGP session ${s.host} → ${s.peer} is ${s.state}, not Established`,
      });
  }
  for (const h of hosts ?? []) {
    if (!scoped.some((s) => s.host === h))
      findings.push({
        severity: "critical",
        code: "bgp-down",
        host: h,
        message: `no BGP session observed on ${h}`,
      });
  }
  if (scoped.length === 0 && findings.length === 0)
    return { pass: false, reason: "no observations", findings };
  return { pass: findings.length === 0, findings };
}

/**
 * Gate `vrrpSingleMaster`: for each (segment, VRID) exactly one host is MASTER. Two or
 * more → `split-brain` (critical); none → `no-master` (critical).
 */
export function vrrpSingleMaster(instances: readonly VrrpObservation[]): GateResult {
  const groups = new Map<string, VrrpObservation[]>();
  for (const i of instances) {
    const k = `${i.segment}\u0000${i.vrid}`;
    const g = groups.get(k);
    if (g) g.push(i);
    else groups.set(k, [i]);
  }
  const findings: HealthFinding[] = [];
  const keyOf = (g: VrrpObservation[]) => g[0] as VrrpObservation;
  const sorted = [...groups.values()].sort((a, b) => {
    const x = keyOf(a);
    const y = keyOf(b);
    return x.segment < y.segment ? -1 : x.segment > y.segment ? 1 : x.vrid - y.vrid;
  });
  for (const g of sorted) {
    const first = g[0] as VrrpObservation;
    const masters = g
      .filter((i) => i.state.toUpperCase() === "MASTER")
      .map((i) => i.host)
      .sort();
    const where = `VRID ${first.vrid} on segment ${first.segment}`;
    if (masters.length > 1)
      findings.push({
        severity: "critical",
        code: "split-brain",
        message: `${where} has ${masters.length} masters: ${masters.join(", ")}`,
      });
    else if (masters.length === 0)
      findings.push({
        severity: "critical",
        code: "no-master",
        message: `${where} has no master (${g
          .map((i) => `${i.host}=${i.state}`)
          .sort()
          .join(", ")})`,
      });
  }
  if (instances.length === 0) return { pass: false, reason: "no observations", findings };
  return { pass: findings.length === 0, findings };
}

/** Gate `overlayReachable`: every probed overlay peer answered. */
export function overlayReachable(probes: readonly OverlayProbe[]): GateResult {
  const findings: HealthFinding[] = probes
    .filter((p) => !p.reachable)
    .map((p) => ({
      severity: "critical" as const,
      code: "overlay-unreachable" as const,
      host: p.host,
      message: `overlay ${p.overlay}: ${p.host} cannot reach ${p.peer}`,
    }));
  if (probes.length === 0) return { pass: false, reason: "no observations", findings };
  return { pass: findings.length === 0, findings };
}

/** The same MAC on managed links of two (or more) hosts. */
export function duplicateMacs(macs: readonly LinkMac[]): HealthFinding[] {
  const byMac = new Map<string, LinkMac[]>();
  for (const m of macs) {
    if (!m.managed) continue;
    const mac = m.mac.toLowerCase();
    const l = byMac.get(mac);
    if (l) l.push(m);
    else byMac.set(mac, [m]);
  }
  const out: HealthFinding[] = [];
  for (const [mac, l] of [...byMac].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const hosts = new Set(l.map((m) => m.host));
    if (hosts.size < 2) continue;
    out.push({
      severity: "critical",
      code: "duplicate-mac",
      message: `MAC ${mac} on managed links of ${hosts.size} hosts: ${l
        .map((m) => `${m.host}/${m.link}`)
        .sort()
        .join(", ")}`,
    });
  }
  return out;
}

function notReported(what: string): HealthFinding {
  return {
    severity: "info",
    code: "not-reported",
    message: `${what}: not reported by any executor; not checked`,
  };
}

/** Evaluate the fleet's health. Findings are ordered by category, then as each check sorts them. */
export function evaluateHealth(input: HealthInput): HealthReport {
  const findings: HealthFinding[] = [];
  const staleMs = input.heartbeatIntervalMs * (input.staleAfterIntervals ?? 3);
  const ages = new Map<string, number | null>();
  for (const h of [...input.hosts].sort()) {
    const at = input.heartbeats.get(h);
    if (at === undefined) {
      ages.set(h, null);
      findings.push({
        severity: "critical",
        code: "heartbeat-missing",
        host: h,
        message: `no heartbeat from ${h}`,
      });
      continue;
    }
    const age = input.now - Date.parse(at);
    ages.set(h, Math.max(0, age) / 1000);
    if (age > staleMs)
      findings.push({
        severity: "critical",
        code: "heartbeat-stale",
        host: h,
        message: `last heartbeat from ${h} is ${(age / 1000).toFixed(1)} s old (stale after ${(staleMs / 1000).toFixed(1)} s)`,
      });
  }
  for (const d of input.drift ?? []) {
    findings.push({
      severity: "warning",
      code: "drift",
      host: d.host,
      message: `${d.key} is ${JSON.stringify(d.actual)}, expected ${JSON.stringify(d.expected)} (${d.source}${
        d.intent ? ` ${d.intent}` : ""
      }) since ${d.since}`,
    });
  }
  for (const u of input.unavailable ?? []) {
    findings.push({
      severity: "info",
      code: "sysctl-unavailable",
      host: u.host,
      message: `${u.key} is ${u.status} on ${u.host} (expected ${JSON.stringify(u.expected)}); not compared`,
    });
  }
  if (input.bgp === undefined) findings.push(notReported("BGP sessions"));
  else if (input.bgp.length > 0) findings.push(...bgpEstablished(input.bgp).findings);
  if (input.vrrp === undefined) findings.push(notReported("VRRP state"));
  else if (input.vrrp.length > 0) findings.push(...vrrpSingleMaster(input.vrrp).findings);
  if (input.overlay === undefined) findings.push(notReported("overlay probes"));
  else findings.push(...overlayReachable(input.overlay).findings);
  if (input.macs === undefined) findings.push(notReported("link MACs"));
  else findings.push(...duplicateMacs(input.macs));
  if (input.flows === undefined) findings.push(notReported("flow rollups"));
  else {
    const ratio = input.flowChangeRatio ?? 0.5;
    for (const f of input.flows) {
      if (f.baselineBytesPerS <= 0) continue;
      const change = (f.bytesPerS - f.baselineBytesPerS) / f.baselineBytesPerS;
      if (Math.abs(change) > ratio)
        findings.push({
          severity: "warning",
          code: "flow-rate-change",
          host: f.host,
          message: `flow rate of ${f.host} is ${Math.round(f.bytesPerS)} B/s, ${change > 0 ? "+" : ""}${Math.round(
            change * 100,
          )} % vs baseline ${Math.round(f.baselineBytesPerS)} B/s`,
        });
    }
  }
  const failing = (f: HealthFinding) => f.severity !== "info";
  const hosts: Record<string, HostHealth> = {};
  for (const [h, age] of ages) {
    const mine = findings.filter((f) => f.host === h);
    hosts[h] = {
      healthy: !mine.some(failing),
      heartbeatAgeS: age,
      drift: (input.drift ?? []).filter((d) => d.host === h).length,
      findings: mine.length,
    };
  }
  return { healthy: !findings.some(failing), hosts, findings };
}
