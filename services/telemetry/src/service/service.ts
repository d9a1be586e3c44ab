/**
 * The telemetry service loop: heartbeats and state reports in, drift events and the
 * `health`/`drift`/`baseline` request/reply API out, and `drift: heal` turned into a planner
 * rollout.
 *
 * Design:
 * - Intake: core-NATS subscriptions to `subjects.allHeartbeats()` and `subjects.allStates()`
 *   (both are core NATS, not stored). Every message is schema-checked at the edge
 *   (`parseMessage`); bad ones are logged and dropped. Hosts not in the inventory are ignored.
 * - State: the latest heartbeat and state report per host live in memory (what the API
 *   answers from) and in Redis with a TTL (`redisKeys.heartbeats()` hash; a per-host
 *   record at `redisKeys.hostState(h) + ":telemetry"` — protocol has no telemetry key
 *   builder yet, and the planner owns the plain `hostState` key, without TTL). The record
 *   also keeps the drift `since` of the host, so a restart keeps it; on start the records
 *   of the inventory's hosts are loaded back.
 * - Drift is evaluated over the whole fleet on every state report (the learned baseline
 *   depends on every host of a role); evaluations are serialised. Each new or changed
 *   finding is published at once as an audit event `sysctl.drift` on
 *   `subjects.telemetryEvent("drift")` (result `failed`), a cleared one as
 *   `sysctl.drift-cleared` (result `ok`). The FLEET_EVENTS stream (filter
 *   `fleet.v1.events.>`) stores them when it exists.
 * - Heal: the planner plans whole host states, so a rollout that restores a baseline must
 *   carry the WHOLE intent set the fleet was applied with (a SysctlBaseline alone would
 *   plan away every other object). The service is therefore started with those intent
 *   files and sends them to the planner's `apply` API with `hosts` = the drifted hosts, once
 *   a drift has lasted `healAfterMs`, at most one request in flight and at most one per
 *   `healCooldownMs`; the outcome is published as `sysctl.heal-requested`. Heal restores
 *   what a rollout established, it never establishes it: a drifted key is healed only on a
 *   host whose state report shows the key as fleetnet's (the executor's ledger lists it,
 *   `original` set: a fleetnet transaction that named the key was applied there and not
 *   reverted). A fresh host — `fleetnet up` with baselines before the operator's first
 *   rollout — is left to that rollout (its drift still alerts). A host a rollout holds (the planner's host lock in Redis, or `HOST_LOCKED`
 *   from the planner) is skipped quietly and retried on a later report: the rollout holding
 *   it is either the operator's, which sets the key anyway, or a heal already under way.
 * - Flow rollups of the collector (`subjects.telemetryEvent("flows")`) feed the flow-rate check.
 * - Heartbeats feed health's liveness; the `observations` of the latest state report per host
 *   (BGP sessions, VRRP instances, overlay probes, managed links' MACs) feed the BGP, VRRP,
 *   overlay and duplicate-MAC checks and the three gates. A category no live host reported
 *   shows as `not-reported`; a host whose report and heartbeat are both stale is left out.
 */
import { randomUUID } from "node:crypto";
import {
  type Intent,
  type InventoryHost,
  parseDocuments,
  type SysctlBaseline,
  validateDocuments,
} from "@fleetnet/intent";
import {
  type AuditEvent,
  AuditEventSchema,
  encodeMessage,
  FleetnetError,
  type Heartbeat,
  HeartbeatSchema,
  parseMessage,
  redisKeys,
  type StateReport,
  StateReportSchema,
  subjects,
  toErrorEnvelope,
} from "@fleetnet/protocol";
import type { Logger, NatsConnection, Redis } from "@fleetnet/runtime";
import { mergeTalkers, type RollupMinute, type TalkerPair } from "../collector/rollup.js";
import { FlowStore } from "../collector/store.js";
import {
  type DriftFinding,
  type DriftResult,
  evaluateDrift,
  LearnedCounts,
  ROLE_LABEL,
  type SysctlSnapshot,
} from "../drift/drift.js";
import { captureBaseline, diffBaselines, parseBaseline } from "../drift/snapshot.js";
import { FlowRateTracker } from "../health/flowrate.js";
import {
  type BgpSessionObservation,
  bgpEstablished,
  evaluateHealth,
  type GateResult,
  type HealthReport,
  type LinkMac,
  type OverlayProbe,
  overlayReachable,
  type VrrpObservation,
  vrrpSingleMaster,
} from "../health/health.js";

/** Telemetry API verbs served on `subjects.telemetryApi(verb)`. */
export const TELEMETRY_API_VERBS = ["health", "drift", "baseline", "gate"] as const;

/**
 * The `flows` verb (served apart from {@link TELEMETRY_API_VERBS}: it reads Redis, so it answers
 * asynchronously): request `{minutes?: 1..1440 (default 5), host?}` → {@link FlowsAnswer}.
 */
export const FLOWS_VERB = "flows";

/** One host's flow totals over the asked window (bytes/packets with sampling applied). */
export interface FlowsHost {
  /** The exporter (the collector names hosts by the address they export from). */
  host: string;
  /** The inventory host whose underlay address that is, when there is one. */
  name?: string;
  /** Host-minutes found in the window. */
  minutes: number;
  flows: number;
  bytes: number;
  packets: number;
  /**
   * The heaviest src→dst pairs the host exported over the window (largest first, at most 10):
   * bytes/packets with sampling applied, flows = records, protocol/dstPort of the pair's largest
   * record. Minutes stored before pairs existed contribute totals but no talkers.
   */
  topTalkers: TalkerPair[];
}

/** Answer of the `flows` verb: hosts by bytes (largest first). */
export interface FlowsAnswer {
  /** Start of the window, ISO 8601. */
  since: string;
  minutes: number;
  hosts: FlowsHost[];
}

/**
 * Rollout gates served on `subjects.telemetryApi("gate")`: request `{gate, hosts?, since?}`
 * (`since`: RFC 3339; every host of `hosts` must have reported after it) → `GateResult`.
 */
export const GATES = ["bgpEstablished", "vrrpSingleMaster", "overlayReachable"] as const;

/** Error codes of the telemetry service. */
export const TelemetryErrorCodes = {
  /** The request is not JSON of the verb's shape. */
  BAD_REQUEST: "BAD_REQUEST",
  /** The intent files the service was started with are invalid. */
  INTENTS_INVALID: "INTENTS_INVALID",
} as const;

/** Options of {@link TelemetryService.start}. */
export interface TelemetryServiceOptions {
  nc: NatsConnection;
  redis: Redis;
  logger: Logger;
  /** The intent files (name + text) the fleet was applied with: inventory, baselines, heal. */
  intentFiles: readonly { name: string; text: string }[];
  /** Executors' heartbeat interval (default 10 s, the executor's default). */
  heartbeatIntervalMs?: number;
  /** A heartbeat older than this many intervals is stale (default 3). */
  staleAfterIntervals?: number;
  /** TTL of the Redis records (default 600 s). */
  ttlS?: number;
  /** Minimum time between two heal requests (default 60 s). */
  healCooldownMs?: number;
  /**
   * A drifted key is healed once it has drifted this long (from its `since`; default 5 s):
   * a change still in progress is not fought at once, and the drift is there to be seen
   * (`fleetnet drift`, the `sysctl.drift` event) before the heal puts it back.
   */
  healAfterMs?: number;
  /** Timeout of the planner `apply` request (default 30 s). */
  applyTimeoutMs?: number;
  /** Key prefix of the collector's flow rollups in Redis (default `fleetnet:flows`, as the collector's). */
  flowsPrefix?: string;
  /** Queue group of the API subscriptions (default `fleetnet-telemetry`). */
  queue?: string;
  /** Clock (tests). */
  now?: () => number;
}

interface HostRecord {
  report: StateReport;
  since: Record<string, string>;
}

/** Key of the per-host telemetry record (see module comment: no builder exists yet). */
export function telemetryHostKey(host: string): string {
  return `${redisKeys.hostState(host)}:telemetry`;
}

function fromIntents(files: readonly { name: string; text: string }[]): {
  hosts: Pick<InventoryHost, "name" | "labels">[];
  baselines: SysctlBaseline[];
  addresses: Map<string, string>;
} {
  const parsed = files.map((f) => parseDocuments(f.text, f.name));
  const result = validateDocuments(parsed.flatMap((p) => p.documents));
  const errors = [...parsed.flatMap((p) => p.errors), ...result.errors];
  if (errors.length > 0 || !result.valid || !result.inventory) {
    const where = (e: (typeof errors)[number]) =>
      `${e.file ?? "(intents)"}${"line" in e && e.line !== undefined ? `:${e.line}` : ""}${e.path ? ` ${e.path}` : ""}`;
    const shown = errors.slice(0, 3).map((e) => `${where(e)}: ${e.message}`);
    throw new FleetnetError(
      TelemetryErrorCodes.INTENTS_INVALID,
      `intents invalid (${errors.length} problem(s)): ${shown.join("; ") || "no Inventory document"}`,
      { details: { errors: errors.slice(0, 20) } },
    );
  }
  return {
    hosts: result.inventory.spec.hosts.map((h) => ({ name: h.name, labels: h.labels })),
    addresses: new Map(
      result.inventory.spec.hosts.map((h) => [h.underlay.address.split("/")[0] as string, h.name]),
    ),
    baselines: result.intents.filter((i: Intent): i is SysctlBaseline => i.kind === "SysctlBaseline"),
  };
}

const findingKey = (f: Pick<DriftFinding, "host" | "key">) => `${f.host}\u0000${f.key}`;

/** The running service; {@link TelemetryService.stop} drains its subscriptions. */
export class TelemetryService {
  readonly #o: Required<Omit<TelemetryServiceOptions, "intentFiles" | "flowsPrefix">> & {
    intentFiles: readonly { name: string; text: string }[];
  };
  readonly #hosts: Pick<InventoryHost, "name" | "labels">[];
  readonly #hostNames: Set<string>;
  readonly #baselines: SysctlBaseline[];
  readonly #heartbeats = new Map<string, Heartbeat>();
  readonly #flows: FlowRateTracker;
  readonly #reports = new Map<string, StateReport>();
  readonly #learned = new LearnedCounts();
  readonly #roles: Map<string, string | undefined>;
  #drift: DriftResult = { findings: [], unavailable: [], learned: {}, memory: new Map() };
  #chain: Promise<void> = Promise.resolve();
  #subs: { drain(): Promise<void> }[] = [];
  #healInFlight = false;
  /** Heal findings already logged as waiting for a first rollout (logged once each). */
  readonly #healWaiting = new Set<string>();
  readonly #dirty = new Set<string>();
  #lastHealAt = -Infinity;
  readonly #pending = new Set<Promise<unknown>>();
  readonly #flowStore: FlowStore;
  readonly #addressToHost: ReadonlyMap<string, string>;

  private constructor(o: TelemetryServiceOptions) {
    this.#o = {
      heartbeatIntervalMs: 10_000,
      staleAfterIntervals: 3,
      ttlS: 600,
      healCooldownMs: 60_000,
      healAfterMs: 5_000,
      applyTimeoutMs: 30_000,
      queue: "fleetnet-telemetry",
      now: Date.now,
      ...o,
    };
    const i = fromIntents(o.intentFiles);
    this.#hosts = i.hosts;
    this.#hostNames = new Set(i.hosts.map((h) => h.name));
    this.#roles = new Map(i.hosts.map((h) => [h.name, h.labels[ROLE_LABEL]]));
    this.#baselines = i.baselines;
    this.#flows = new FlowRateTracker(i.addresses);
    this.#addressToHost = i.addresses;
    this.#flowStore = new FlowStore(o.redis, o.flowsPrefix !== undefined ? { prefix: o.flowsPrefix } : {});
  }

  /**
   * Validate the intents, load the Redis records of the inventory's hosts, subscribe.
   * @throws FleetnetError `INTENTS_INVALID` (not retryable) naming the first problem.
   */
  static async start(o: TelemetryServiceOptions): Promise<TelemetryService> {
    const s = new TelemetryService(o);
    await s.#load();
    s.#subscribe();
    await o.nc.flush();
    return s;
  }

  /** Stop intake and API, wait for in-flight work. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.#subs.map((s) => s.drain()));
    this.#subs = [];
    await this.#chain;
    await Promise.allSettled([...this.#pending]);
  }

  /** Current drift (findings, unavailable keys, learned baseline). */
  drift(): DriftResult {
    return this.#drift;
  }

  /** Current health verdict. */
  health(): HealthReport {
    return evaluateHealth({
      now: this.#o.now(),
      hosts: this.#hosts.map((h) => h.name),
      heartbeats: new Map([...this.#heartbeats].map(([h, hb]) => [h, hb.at])),
      heartbeatIntervalMs: this.#o.heartbeatIntervalMs,
      staleAfterIntervals: this.#o.staleAfterIntervals,
      drift: this.#drift.findings,
      unavailable: this.#drift.unavailable,
      ...this.#observations(),
      ...(this.#flows.seen ? { flows: this.#flows.rates() } : {}),
    });
  }

  /**
   * The observations of the latest state reports, per category, with the host filled in.
   * A category is present only when at least one host reported it (otherwise health says
   * `not-reported`); reports older than the stale limit are left out (a dead executor's last
   * word is not evidence).
   */
  #observations(): {
    bgp?: BgpSessionObservation[];
    vrrp?: VrrpObservation[];
    overlay?: OverlayProbe[];
    macs?: LinkMac[];
  } {
    const now = this.#o.now();
    const maxAge = this.#o.heartbeatIntervalMs * this.#o.staleAfterIntervals;
    const bgp: BgpSessionObservation[] = [];
    const vrrp: VrrpObservation[] = [];
    const overlay: OverlayProbe[] = [];
    const macs: LinkMac[] = [];
    const seen = { bgp: false, vrrp: false, overlay: false, macs: false };
    for (const [host, r] of [...this.#reports].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const o = r.observations;
      if (!o) continue;
      const hb = this.#heartbeats.get(host);
      const last = Math.max(Date.parse(r.at), hb ? Date.parse(hb.at) : -Infinity);
      if (now - last > maxAge) continue;
      if (o.bgp) {
        seen.bgp = true;
        for (const b of o.bgp) bgp.push({ host, peer: b.peer, state: b.state });
      }
      if (o.vrrp) {
        seen.vrrp = true;
        for (const v of o.vrrp) vrrp.push({ host, segment: v.segment, vrid: v.vrid, state: v.state });
      }
      if (o.probes) {
        seen.overlay = true;
        for (const p of o.probes)
          overlay.push({
            host,
            overlay: p.overlay,
            peer: p.peer,
            reachable: p.reachable,
            ...(p.rttMs !== undefined ? { rttMs: p.rttMs } : {}),
          });
      }
      if (o.macs) {
        seen.macs = true;
        for (const m of o.macs) macs.push({ host, ...m });
      }
    }
    return {
      ...(seen.bgp ? { bgp } : {}),
      ...(seen.vrrp ? { vrrp } : {}),
      ...(seen.overlay ? { overlay } : {}),
      ...(seen.macs ? { macs } : {}),
    };
  }

  async #load(): Promise<void> {
    const names = [...this.#hostNames];
    if (names.length === 0) return;
    const [records, beats] = await Promise.all([
      this.#o.redis.mget(...names.map(telemetryHostKey)),
      this.#o.redis.hmget(redisKeys.heartbeats(), ...names),
    ]);
    const memory = new Map<string, string>();
    names.forEach((h, i) => {
      const r = records[i];
      if (r) {
        const parsed = JSON.parse(r) as HostRecord;
        const ok = parseMessage(StateReportSchema, parsed.report);
        if (ok.ok) {
          this.#setReport(ok.value);
          for (const [k, since] of Object.entries(parsed.since ?? {})) memory.set(`${h}\u0000${k}`, since);
        }
      }
      const b = beats[i];
      if (b) {
        const hb = parseMessage(HeartbeatSchema, b);
        if (hb.ok) this.#heartbeats.set(h, hb.value);
      }
    });
    this.#drift = this.#evaluate(memory);
  }

  #subscribe(): void {
    const log = this.#o.logger;
    const hb = this.#o.nc.subscribe(subjects.allHeartbeats(), {
      callback: (err, m) => {
        if (err) return;
        const p = parseMessage(HeartbeatSchema, m.data, { what: "heartbeat" });
        if (!p.ok) return log.warn({ subject: m.subject, err: p.error.message }, "bad heartbeat dropped");
        if (!this.#hostNames.has(p.value.host)) return;
        this.#heartbeats.set(p.value.host, p.value);
        this.#track(
          this.#o.redis
            .multi()
            .hset(redisKeys.heartbeats(), p.value.host, JSON.stringify(p.value))
            .expire(redisKeys.heartbeats(), this.#o.ttlS)
            .exec(),
        );
      },
    });
    const st = this.#o.nc.subscribe(subjects.allStates(), {
      callback: (err, m) => {
        if (err) return;
        const p = parseMessage(StateReportSchema, m.data, { what: "state report" });
        if (!p.ok) return log.warn({ subject: m.subject, err: p.error.message }, "bad state report dropped");
        if (!this.#hostNames.has(p.value.host)) return;
        if (m.subject !== subjects.state(p.value.host))
          return log.warn(
            { subject: m.subject, host: p.value.host },
            "state report on another host's subject dropped",
          );
        this.#onReport(p.value);
      },
    });
    // The collector's per-minute rollups (optional: without a collector, flows are "not reported").
    const fl = this.#o.nc.subscribe(subjects.telemetryEvent("flows"), {
      callback: (err, m) => {
        if (err) return;
        try {
          const r = JSON.parse(new TextDecoder().decode(m.data)) as Partial<RollupMinute>;
          if (typeof r.host === "string" && typeof r.minute === "string" && typeof r.bytes === "number")
            this.#flows.add({ host: r.host, minute: r.minute, bytes: r.bytes });
        } catch {
          log.warn({ subject: m.subject }, "bad flow rollup dropped");
        }
      },
    });
    this.#subs.push(hb, st, fl);
    for (const verb of TELEMETRY_API_VERBS) {
      this.#subs.push(
        this.#o.nc.subscribe(subjects.telemetryApi(verb), {
          queue: this.#o.queue,
          callback: (err, m) => {
            if (err) return;
            let body: Record<string, unknown>;
            try {
              body = this.#decode(m.data);
              m.respond(JSON.stringify({ ok: true, ...this.#answer(verb, body) }));
            } catch (e) {
              m.respond(JSON.stringify({ ok: false, error: toErrorEnvelope(e) }));
            }
          },
        }),
      );
    }
    this.#subs.push(
      this.#o.nc.subscribe(subjects.telemetryApi(FLOWS_VERB), {
        queue: this.#o.queue,
        callback: (err, m) => {
          if (err) return;
          const answer = async () => {
            try {
              const body = this.#decode(m.data);
              m.respond(JSON.stringify({ ok: true, ...(await this.flows(body)) }));
            } catch (e) {
              m.respond(JSON.stringify({ ok: false, error: toErrorEnvelope(e) }));
            }
          };
          this.#track(answer());
        },
      }),
    );
  }

  /**
   * The collector's rollups of the last `minutes` (default 5) from Redis, per host (or only
   * `host`: an exporter address or an inventory host name): totals and merged top talkers.
   * @throws FleetnetError BAD_REQUEST when `minutes` or `host` has the wrong shape.
   */
  async flows(body: Record<string, unknown>): Promise<FlowsAnswer> {
    const minutes = body.minutes ?? 5;
    if (typeof minutes !== "number" || !Number.isInteger(minutes) || minutes < 1 || minutes > 1440)
      throw new FleetnetError(
        TelemetryErrorCodes.BAD_REQUEST,
        `bad request: field minutes: expected an integer 1..1440, got ${JSON.stringify(body.minutes)}`,
      );
    const host = body.host;
    if (host !== undefined && (typeof host !== "string" || host === ""))
      throw new FleetnetError(
        TelemetryErrorCodes.BAD_REQUEST,
        `bad request: field host: expected a host name, got ${JSON.stringify(host)}`,
      );
    // whole minutes: the current (still open) minute plus the `minutes - 1` before it
    const sinceMs = (Math.floor(this.#o.now() / 60_000) - minutes + 1) * 60_000;
    const byName = [...this.#addressToHost].filter(([, n]) => n === host).map(([a]) => a);
    const names =
      host !== undefined
        ? byName.length > 0
          ? byName
          : [host]
        : (await this.#o.redis.smembers(`${this.#flowStore.prefix}:hosts`)).sort();
    const hosts: FlowsHost[] = [];
    for (const h of names) {
      const mins = await this.#flowStore.minutes(h, sinceMs);
      if (mins.length === 0) continue;
      const name = this.#addressToHost.get(h);
      const t: FlowsHost = {
        host: h,
        ...(name !== undefined ? { name } : {}),
        minutes: mins.length,
        flows: 0,
        bytes: 0,
        packets: 0,
        topTalkers: [],
      };
      for (const r of mins) {
        t.flows += r.flows;
        t.bytes += r.bytes;
        t.packets += r.packets;
      }
      t.topTalkers = mergeTalkers(
        mins.map((r) => (Array.isArray(r.topTalkers) ? r.topTalkers : [])),
        10,
      );
      hosts.push(t);
    }
    hosts.sort((a, b) => b.bytes - a.bytes || a.host.localeCompare(b.host));
    return { since: new Date(sinceMs).toISOString(), minutes, hosts };
  }

  #track(p: Promise<unknown>): void {
    const q = p.catch((err: unknown) =>
      this.#o.logger.warn({ err: toErrorEnvelope(err) }, "telemetry write failed"),
    );
    this.#pending.add(q);
    void q.finally(() => this.#pending.delete(q));
  }

  #decode(data: Uint8Array): Record<string, unknown> {
    if (data.length === 0) return {};
    let v: unknown;
    try {
      v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
    } catch (e) {
      throw new FleetnetError(
        TelemetryErrorCodes.BAD_REQUEST,
        `bad request: not UTF-8 JSON: ${(e as Error).message}`,
      );
    }
    if (typeof v !== "object" || v === null || Array.isArray(v))
      throw new FleetnetError(TelemetryErrorCodes.BAD_REQUEST, "bad request: not a JSON object");
    return v as Record<string, unknown>;
  }

  #answer(verb: (typeof TELEMETRY_API_VERBS)[number], body: Record<string, unknown>): object {
    switch (verb) {
      case "health":
        return this.health();
      case "drift": {
        const d = this.#drift;
        // a heal finding on a key no rollout set on the host yet waits for the first rollout
        const findings = d.findings.map((f) =>
          f.action === "heal" && !this.#owned(f) ? { ...f, healWaits: "first-rollout" } : f,
        );
        return { findings, unavailable: d.unavailable, learned: d.learned };
      }
      case "gate": {
        // The planner may not import this service: it asks over NATS. The gates judge the
        // observations of the executors' state reports (the wave's hosts when `hosts` is
        // given); no observation → `{pass: false, reason: "no observations"}`: a gate never
        // passes on no evidence.
        const gate = body.gate;
        if (typeof gate !== "string" || !(GATES as readonly string[]).includes(gate))
          throw new FleetnetError(
            TelemetryErrorCodes.BAD_REQUEST,
            `bad request: field gate: expected one of ${GATES.join(", ")}, got ${JSON.stringify(gate)}`,
          );
        const hosts = body.hosts;
        if (hosts !== undefined && (!Array.isArray(hosts) || hosts.some((h) => typeof h !== "string")))
          throw new FleetnetError(
            TelemetryErrorCodes.BAD_REQUEST,
            "bad request: field hosts: expected a list of host names",
          );
        const since = body.since;
        if (since !== undefined && (typeof since !== "string" || Number.isNaN(Date.parse(since))))
          throw new FleetnetError(
            TelemetryErrorCodes.BAD_REQUEST,
            `bad request: field since: expected an RFC 3339 time, got ${JSON.stringify(since)}`,
          );
        const wave = hosts as string[] | undefined;
        // `since` (the planner: when the wave's gating began): evidence from before the change
        // proves nothing about it, so every wave host must have reported after it
        if (since !== undefined && wave) {
          const t = Date.parse(since);
          const behind = wave.filter((h) => {
            const r = this.#reports.get(h);
            return !r || Date.parse(r.at) < t;
          });
          if (behind.length > 0)
            return {
              pass: false,
              reason: `waiting for state reports newer than ${since} from ${behind.slice(0, 5).join(", ")}${
                behind.length > 5 ? ", …" : ""
              }`,
              findings: [],
            } satisfies GateResult;
        }
        const obs = this.#observations();
        if (gate === "bgpEstablished") return bgpEstablished(obs.bgp ?? [], wave);
        if (gate === "vrrpSingleMaster") {
          // a VRID is judged across ALL its members (the wave's host and its peer): the
          // segments the wave's hosts are in, or the whole fleet's when they are in none
          const all = obs.vrrp ?? [];
          const key = (v: VrrpObservation) => `${v.segment}\u0000${v.vrid}`;
          const segs = new Set(all.filter((v) => !wave || wave.includes(v.host)).map(key));
          return vrrpSingleMaster(segs.size > 0 ? all.filter((v) => segs.has(key(v))) : all);
        }
        return overlayReachable((obs.overlay ?? []).filter((p) => !wave || wave.includes(p.host)));
      }
      case "baseline": {
        if (body.op === "capture")
          return { baseline: captureBaseline(this.#reports.values(), new Date(this.#o.now())) };
        if (body.op === "diff") {
          const a = parseBaseline(body.a, "a");
          const b = parseBaseline(body.b, "b");
          return { changes: diffBaselines(a, b) };
        }
        throw new FleetnetError(
          TelemetryErrorCodes.BAD_REQUEST,
          `bad request: field op: expected "capture" or "diff", got ${JSON.stringify(body.op)}`,
        );
      }
    }
  }

  #evaluate(memory: ReadonlyMap<string, string>): DriftResult {
    const snapshots = new Map<string, SysctlSnapshot>(
      [...this.#reports].map(([h, r]) => [h, { host: h, at: r.at, sysctls: r.sysctls }]),
    );
    return evaluateDrift({
      hosts: this.#hosts,
      baselines: this.#baselines,
      snapshots,
      memory,
      learned: this.#learned.baseline(),
    });
  }

  #setReport(report: StateReport): void {
    this.#reports.set(report.host, report);
    this.#learned.update(report.host, this.#roles.get(report.host), report.sysctls);
  }

  #onReport(report: StateReport): void {
    this.#setReport(report);
    // Reports arriving while an evaluation waits are covered by it (one fleet-wide pass
    // per burst, not one per report).
    const queued = this.#dirty.size > 0;
    this.#dirty.add(report.host);
    if (queued) return;
    this.#chain = this.#chain
      .then(() => {
        const reporters = [...this.#dirty];
        this.#dirty.clear();
        return this.#reevaluate(reporters);
      })
      .catch((err: unknown) => {
        this.#o.logger.error({ err: toErrorEnvelope(err) }, "drift evaluation failed");
      });
  }

  async #reevaluate(reporters: readonly string[]): Promise<void> {
    const before = new Map(this.#drift.findings.map((f) => [findingKey(f), f]));
    const next = this.#evaluate(this.#drift.memory);
    this.#drift = next;
    const after = new Map(next.findings.map((f) => [findingKey(f), f]));
    const changedHosts = new Set<string>(reporters);
    for (const [k, f] of after) {
      const old = before.get(k);
      if (old && old.actual === f.actual && old.expected === f.expected) continue;
      changedHosts.add(f.host);
      this.#publish("sysctl.drift", "failed", f);
    }
    for (const [k, f] of before) {
      if (after.has(k)) continue;
      changedHosts.add(f.host);
      this.#publish("sysctl.drift-cleared", "ok", f);
    }
    const multi = this.#o.redis.multi();
    for (const h of changedHosts) {
      const report = this.#reports.get(h);
      if (!report) continue;
      const since = Object.fromEntries(
        next.findings.filter((f) => f.host === h).map((f) => [f.key, f.since]),
      );
      multi.set(
        telemetryHostKey(h),
        JSON.stringify({ report, since } satisfies HostRecord),
        "EX",
        this.#o.ttlS,
      );
    }
    this.#track(multi.exec());
    if (next.findings.some((f) => f.action === "heal"))
      this.#heal(next.findings.filter((f) => f.action === "heal"));
  }

  #publish(
    action: string,
    result: AuditEvent["result"],
    f: DriftFinding,
    extra: Record<string, unknown> = {},
  ): void {
    const ev: AuditEvent = {
      v: 1,
      id: randomUUID(),
      at: new Date(this.#o.now()).toISOString(),
      actor: { kind: "telemetry", id: "fleetnet-telemetry" },
      action,
      target: { host: f.host },
      result,
      details: { ...f, ...extra },
    };
    try {
      this.#o.nc.publish(
        subjects.telemetryEvent("drift"),
        encodeMessage(AuditEventSchema, ev, "drift event"),
      );
    } catch (err) {
      this.#o.logger.warn({ err: toErrorEnvelope(err) }, "drift event not published");
    }
  }

  /**
   * The heal findings on hosts where fleetnet owns the key (see the module comment); the
   * others are logged once each as waiting for a rollout.
   */
  #healable(findings: readonly DriftFinding[]): DriftFinding[] {
    const out: DriftFinding[] = [];
    const current = new Set<string>();
    const now = this.#o.now();
    for (const f of findings) {
      const k = findingKey(f);
      current.add(k);
      if (now - Date.parse(f.since) < this.#o.healAfterMs) continue; // a later report heals it
      if (this.#owned(f)) {
        out.push(f);
        this.#healWaiting.delete(k);
      } else if (!this.#healWaiting.has(k)) {
        this.#healWaiting.add(k);
        this.#o.logger.info(
          { host: f.host, key: f.key, intent: f.intent },
          "drift not healed: no fleetnet rollout has set this key on the host yet (the first rollout will)",
        );
      }
    }
    for (const k of this.#healWaiting) if (!current.has(k)) this.#healWaiting.delete(k);
    return out;
  }

  /** Whether the host's latest state report shows `f.key` as set by a fleetnet rollout (its ledger). */
  #owned(f: DriftFinding): boolean {
    return (
      this.#reports.get(f.host)?.state.sysctls.some((s) => s.key === f.key && s.original !== undefined) ??
      false
    );
  }

  #heal(all: DriftFinding[]): void {
    const findings = this.#healable(all);
    const now = this.#o.now();
    if (findings.length === 0 || this.#healInFlight || now - this.#lastHealAt < this.#o.healCooldownMs)
      return;
    this.#healInFlight = true;
    const log = this.#o.logger;
    const work = (async () => {
      const drifted = [...new Set(findings.map((f) => f.host))].sort();
      // the planner's host locks (protocol's key): a host a rollout holds is left to it
      const held = await this.#o.redis.mget(...drifted.map((h) => redisKeys.hostLock(h)));
      const hosts = drifted.filter((_, i) => held[i] === null);
      if (hosts.length === 0) {
        log.debug({ hosts: drifted }, "heal deferred: a rollout holds the drifted hosts");
        return;
      }
      const mine = findings.filter((f) => hosts.includes(f.host));
      const first = mine[0] as DriftFinding;
      this.#lastHealAt = now;
      const req = { files: this.#o.intentFiles, by: "fleetnet-telemetry (drift heal)", hosts };
      try {
        const m = await this.#o.nc.request(subjects.api("apply"), JSON.stringify(req), {
          timeout: this.#o.applyTimeoutMs,
        });
        const r = JSON.parse(new TextDecoder().decode(m.data)) as {
          ok: boolean;
          rolloutId?: string;
          error?: { code: string; message: string };
        };
        if (r.ok) {
          log.info({ rolloutId: r.rolloutId, hosts, drifted: mine.length }, "heal rollout submitted");
          this.#publish("sysctl.heal-requested", "ok", first, {
            rolloutId: r.rolloutId,
            hosts,
            drifted: mine.length,
          });
        } else if (r.error?.code === "HOST_LOCKED") {
          // a rollout took a host after the lock check: not a failure, try again later
          this.#lastHealAt = -Infinity;
          log.debug({ error: r.error }, "heal deferred: a rollout holds a drifted host");
        } else {
          log.warn({ error: r.error }, "planner refused the heal rollout");
          this.#publish("sysctl.heal-requested", "failed", first, { error: r.error, hosts });
        }
      } catch (err) {
        log.warn({ err: toErrorEnvelope(err) }, "heal request failed");
        this.#publish("sysctl.heal-requested", "failed", first, { error: toErrorEnvelope(err), hosts });
      }
    })().finally(() => {
      this.#healInFlight = false;
    });
    this.#track(work);
  }
}
