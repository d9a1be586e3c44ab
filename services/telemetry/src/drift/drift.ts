/**
 * sysctl drift: expected vs actual per host and key (pure).
 *
 * Design:
 * - Two sources of expectation. A `SysctlBaseline` intent selecting the host names the value
 *   (`source: "baseline"`, first matching intent in input order wins for a key, like the
 *   compiler). For keys no intent names, the fleet's own *learned* baseline applies: the
 *   majority value of that key among the hosts with the same `role` label
 *   (`source: "learned"`). A tie for the top count gives no learned expectation — a split
 *   fleet has no "normal" to drift from. Hosts without a role have no learned baseline.
 * - Readings `absent` and `read-only` are not drift: the key cannot be set there (e.g.
 *   `netdev_max_backlog` in a namespace). They are reported in `unavailable`, and are not
 *   counted in the learned majority. A key an intent expects but the report lacks is
 *   `unreported` (the executor did not read it).
 * - Values are compared after collapsing whitespace (`/proc/sys` uses tabs between the
 *   fields of vector values like `tcp_rmem`; intents use spaces).
 * - `since` (first time seen drifting) survives across reports: callers pass the previous
 *   {@link DriftMemory} and keep the one returned. A key that stops drifting is forgotten,
 *   so drifting again starts a new `since`.
 */
import { hostMatches, type InventoryHost, type SysctlBaseline } from "@fleetnet/intent";
import type { SysctlReading } from "@fleetnet/protocol";

/** The label whose value groups hosts for the learned baseline. */
export const ROLE_LABEL = "role";

/** The latest sysctl readings of one host (from its state report). */
export interface SysctlSnapshot {
  host: string;
  /** When the executor read them (RFC 3339). */
  at: string;
  sysctls: Readonly<Record<string, SysctlReading>>;
}

/** One drifted key. */
export interface DriftFinding {
  host: string;
  key: string;
  expected: string;
  actual: string;
  /** First report (its `at`) in which this key was seen drifting, continuously since. */
  since: string;
  source: "baseline" | "learned";
  /** The SysctlBaseline intent that expects the value (source `baseline` only). */
  intent?: string;
  /** What the intent asks for on drift (learned expectations only alert). */
  action: "alert" | "heal";
}

/** A key that is expected but cannot be compared on a host. */
export interface UnavailableKey {
  host: string;
  key: string;
  expected: string;
  status: "absent" | "read-only" | "unreported";
  source: "baseline" | "learned";
}

/** `since` per `host` + key, carried from one evaluation to the next. */
export type DriftMemory = ReadonlyMap<string, string>;

/** Input of {@link evaluateDrift}. */
export interface DriftInput {
  /** Inventory hosts (names and labels). */
  hosts: readonly Pick<InventoryHost, "name" | "labels">[];
  /** SysctlBaseline intents, in input order. */
  baselines: readonly SysctlBaseline[];
  /** Latest snapshot per host name. */
  snapshots: ReadonlyMap<string, SysctlSnapshot>;
  /** Memory of the previous evaluation (empty at first). */
  memory?: DriftMemory;
  /** Label to learn per (default {@link ROLE_LABEL}). */
  roleLabel?: string;
  /**
   * The learned baseline, when the caller keeps it incrementally ({@link LearnedCounts});
   * must equal `learnBaseline(hosts, snapshots, roleLabel)`. Computed when absent.
   */
  learned?: Record<string, Record<string, string>>;
}

/** Output of {@link evaluateDrift}. */
export interface DriftResult {
  /** Sorted by host, then key. */
  findings: DriftFinding[];
  unavailable: UnavailableKey[];
  /** Learned baseline: role → key → majority value. */
  learned: Record<string, Record<string, string>>;
  /** Pass to the next evaluation. */
  memory: Map<string, string>;
}

/** Whitespace-normalised sysctl value for comparison. */
export function normalizeSysctlValue(v: string): string {
  // Fast path: most values ("1", "4096") have nothing to collapse.
  return NEEDS_NORMALIZING.test(v) ? v.trim().split(/\s+/).join(" ") : v;
}
const NEEDS_NORMALIZING = /^\s|\s$|\s\s|[\t\n\r\f\v]/;

const memKey = (host: string, key: string) => `${host}\u0000${key}`;

/**
 * The learned baseline: per role, per key, the value most hosts of that role report (`ok`
 * readings only). Ties for the top count give no entry.
 */
export function learnBaseline(
  hosts: readonly Pick<InventoryHost, "name" | "labels">[],
  snapshots: ReadonlyMap<string, SysctlSnapshot>,
  roleLabel: string = ROLE_LABEL,
): Record<string, Record<string, string>> {
  const counts = new Map<string, Map<string, Map<string, number>>>();
  for (const h of hosts) {
    const role = h.labels[roleLabel];
    const snap = snapshots.get(h.name);
    if (role === undefined || !snap) continue;
    let perKey = counts.get(role);
    if (!perKey) {
      perKey = new Map();
      counts.set(role, perKey);
    }
    for (const [key, r] of Object.entries(snap.sysctls)) {
      if (r.status !== "ok") continue;
      const v = normalizeSysctlValue(r.value);
      let perValue = perKey.get(key);
      if (!perValue) {
        perValue = new Map();
        perKey.set(key, perValue);
      }
      perValue.set(v, (perValue.get(v) ?? 0) + 1);
    }
  }
  const out: Record<string, Record<string, string>> = {};
  for (const [role, perKey] of [...counts].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const values: Record<string, string> = {};
    for (const [key, perValue] of [...perKey].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const v = majority(perValue);
      if (v !== undefined) values[key] = v;
    }
    out[role] = values;
  }
  return out;
}

function majority(perValue: ReadonlyMap<string, number>): string | undefined {
  let best: string | undefined;
  let bestN = 0;
  let tie = false;
  for (const [v, n] of perValue) {
    if (n > bestN) {
      best = v;
      bestN = n;
      tie = false;
    } else if (n === bestN) tie = true;
  }
  return tie ? undefined : best;
}

/**
 * The learned baseline kept incrementally: each host's report replaces its previous votes,
 * and only the (role, key) pairs it touched are recounted. `baseline()` equals
 * {@link learnBaseline} over the same hosts and latest snapshots (a full recount costs
 * O(hosts × keys) per report; this costs O(keys of one host)).
 */
export class LearnedCounts {
  readonly #counts = new Map<string, Map<string, Map<string, number>>>();
  readonly #votes = new Map<string, { role: string; values: Map<string, string> }>();
  /** Hosts per role that have a snapshot (a role with no `ok` reading still appears, empty). */
  readonly #members = new Map<string, number>();
  #cache: Record<string, Record<string, string>> | undefined;

  /** Replace `host`'s votes: its role (undefined: none) and latest readings (undefined: forget it). */
  update(
    host: string,
    role: string | undefined,
    sysctls: Readonly<Record<string, SysctlReading>> | undefined,
  ): void {
    const old = this.#votes.get(host);
    if (old) {
      const perKey = this.#counts.get(old.role);
      for (const [key, v] of old.values) {
        const perValue = perKey?.get(key);
        if (!perValue) continue;
        const n = (perValue.get(v) ?? 0) - 1;
        if (n > 0) perValue.set(v, n);
        else perValue.delete(v);
        if (perValue.size === 0) perKey?.delete(key);
      }
      const left = (this.#members.get(old.role) ?? 1) - 1;
      if (left > 0) this.#members.set(old.role, left);
      else {
        this.#members.delete(old.role);
        this.#counts.delete(old.role);
      }
      this.#votes.delete(host);
    }
    this.#cache = undefined;
    if (role === undefined || sysctls === undefined) return;
    const values = new Map<string, string>();
    let perKey = this.#counts.get(role);
    if (!perKey) {
      perKey = new Map();
      this.#counts.set(role, perKey);
    }
    for (const [key, r] of Object.entries(sysctls)) {
      if (r.status !== "ok") continue;
      const v = normalizeSysctlValue(r.value);
      values.set(key, v);
      let perValue = perKey.get(key);
      if (!perValue) {
        perValue = new Map();
        perKey.set(key, perValue);
      }
      perValue.set(v, (perValue.get(v) ?? 0) + 1);
    }
    this.#votes.set(host, { role, values });
    this.#members.set(role, (this.#members.get(role) ?? 0) + 1);
  }

  /** Role → key → majority value (ties omitted), as {@link learnBaseline}. */
  baseline(): Record<string, Record<string, string>> {
    if (this.#cache) return this.#cache;
    const out: Record<string, Record<string, string>> = {};
    for (const role of [...this.#counts.keys()].sort()) {
      const perKey = this.#counts.get(role) as Map<string, Map<string, number>>;
      const values: Record<string, string> = {};
      for (const key of [...perKey.keys()].sort()) {
        const v = majority(perKey.get(key) as Map<string, number>);
        if (v !== undefined) values[key] = v;
      }
      out[role] = values;
    }
    this.#cache = out;
    return out;
  }
}

interface Expectation {
  value: string;
  source: "baseline" | "learned";
  intent?: string;
  action: "alert" | "heal";
}

/** Expected values of one host: intents first, then the learned baseline of its role. */
function expectationsFor(
  host: Pick<InventoryHost, "name" | "labels">,
  baselines: readonly SysctlBaseline[],
  learned: Record<string, Record<string, string>>,
  roleLabel: string,
): Map<string, Expectation> {
  const out = new Map<string, Expectation>();
  for (const b of baselines) {
    if (!hostMatches(b.spec.hosts, host)) continue;
    for (const [key, value] of Object.entries(b.spec.settings)) {
      if (!out.has(key))
        out.set(key, {
          value: normalizeSysctlValue(value),
          source: "baseline",
          intent: b.metadata.name,
          action: b.spec.drift,
        });
    }
  }
  const role = host.labels[roleLabel];
  if (role !== undefined) {
    for (const [key, value] of Object.entries(learned[role] ?? {})) {
      if (!out.has(key)) out.set(key, { value, source: "learned", action: "alert" });
    }
  }
  return out;
}

/**
 * Compare every reported host's snapshot with its expectations. Hosts without a snapshot
 * are skipped (health reports them as missing heartbeats/state); a learned key the host
 * did not report is not listed (executors read only the keys their intents name).
 */
export function evaluateDrift(input: DriftInput): DriftResult {
  const roleLabel = input.roleLabel ?? ROLE_LABEL;
  const learned = input.learned ?? learnBaseline(input.hosts, input.snapshots, roleLabel);
  const memory = new Map<string, string>();
  const findings: DriftFinding[] = [];
  const unavailable: UnavailableKey[] = [];
  const classes = new Map<string, (readonly [string, Expectation])[]>();
  const hosts = [...input.hosts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const h of hosts) {
    const snap = input.snapshots.get(h.name);
    if (!snap) continue;
    // Hosts with the same role and the same matching intents share one sorted expectation
    // list (a fleet has few such classes; building it per host dominated the cost).
    const matching = input.baselines
      .map((b, i) => (hostMatches(b.spec.hosts, h) ? i : -1))
      .filter((i) => i >= 0);
    const cacheKey = `${h.labels[roleLabel] ?? "\u0000"}\u0000${matching.join(",")}`;
    let expected = classes.get(cacheKey);
    if (!expected) {
      const m = expectationsFor(h, input.baselines, learned, roleLabel);
      expected = [...m.keys()].sort().map((key) => [key, m.get(key) as Expectation] as const);
      classes.set(cacheKey, expected);
    }
    for (const [key, e] of expected) {
      const r = snap.sysctls[key];
      if (r === undefined || r.status !== "ok") {
        if (e.source === "baseline" || r !== undefined)
          unavailable.push({
            host: h.name,
            key,
            expected: e.value,
            status: r === undefined ? "unreported" : r.status,
            source: e.source,
          });
        continue;
      }
      const actual = normalizeSysctlValue(r.value);
      if (actual === e.value) continue;
      const mk = memKey(h.name, key);
      const since = input.memory?.get(mk) ?? snap.at;
      memory.set(mk, since);
      findings.push({
        host: h.name,
        key,
        expected: e.value,
        actual,
        since,
        source: e.source,
        ...(e.intent !== undefined ? { intent: e.intent } : {}),
        action: e.action,
      });
    }
  }
  return { findings, unavailable, learned, memory };
}
