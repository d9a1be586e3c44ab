/**
 * The CLI side of the planner API (`fleet.v1.api.<verb>`, request/reply over NATS).
 *
 * Design: one short-lived NATS connection per command (configured by the same environment
 * as every fleetnet process: NATS_URL, NATS_*_FILE …, see @fleetnet/runtime). Every reply
 * is `{ok: true, ...}` or `{ok: false, error: {code, message, retryable}}`; a failed reply
 * becomes a `FleetnetError` with the planner's code, so callers print `code: message`.
 * No planner listening (`503 no responders`) or no answer in time becomes
 * `PLANNER_UNAVAILABLE` (retryable) — the hint is `fleetnet up`.
 */
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { expandPaths } from "@fleetnet/intent";
import type { Plan } from "@fleetnet/netstate";
import { type ApiVerb, type AuditEvent, FleetnetError, subjects } from "@fleetnet/protocol";
import { connectNats, createLogger, loadConfig, type NatsConnection } from "@fleetnet/runtime";
import { UsageError } from "../io.js";

/** Status of a rollout as the planner reports it. */
export type RolloutStatusName =
  | "pending"
  | "running"
  | "paused"
  | "succeeded"
  | "failed"
  | "rolled_back"
  | "aborted";

/** The planner's rollout summary (`status` reply; also the body of `apply`'s reply). */
export interface RolloutSummary {
  rolloutId: string;
  status: RolloutStatusName;
  waves: { index: number; hosts: string[]; status: string; reason?: string }[];
  hosts: Record<
    string,
    { status: string; changed: boolean; error: { code: string; message: string } | null }
  >;
  stop?: { kind: string; reason: string; by?: string; at: number };
}

/** Terminal statuses: the rollout does nothing more on its own. */
export const TERMINAL_STATUSES: readonly RolloutStatusName[] = [
  "succeeded",
  "failed",
  "rolled_back",
  "aborted",
];

/** `apply` reply: the summary plus the plan's identity. */
export interface ApplyReply extends RolloutSummary {
  planHash: string;
  summary: { hosts: number; changedHosts: number; ops: number };
  /** Ops per host of the plan the rollout carries (planners before 2026-11-30 omit it). */
  hostOps?: { host: string; ops: number }[];
  unobserved: string[];
}

/** `plan` reply: the plan's identity and size; `plan` itself only when small (else `paged`). */
export interface PlanReply {
  planHash: string;
  planId: string;
  summary: { hosts: number; changedHosts: number; ops: number };
  /** Ops per host, in plan order. */
  hostOps: { host: string; ops: number }[];
  unobserved: string[];
  plan?: Plan;
  paged?: true;
}

/** One page of a stored plan (`plan` request `{planId, hosts: {offset, limit}}`). */
interface PlanPage {
  planId: string;
  hash: string;
  summary: Plan["summary"];
  allocations?: Plan["allocations"];
  total: number;
  offset: number;
  next: number | null;
  hosts: Plan["hosts"];
}

/** An intent file as the API wants it. */
export interface IntentFile {
  name: string;
  text: string;
}

/**
 * Read every intent file under `paths` (files or directories, as `fleetnet validate`).
 * @throws UsageError naming the path that cannot be read.
 */
export function readIntentFiles(paths: readonly string[]): IntentFile[] {
  if (paths.length === 0) throw new UsageError("needs -f PATH (intent files or directories)");
  const { files, ioErrors } = expandPaths(paths);
  if (ioErrors.length > 0) throw new UsageError(ioErrors.map((e) => e.message).join("; "));
  if (files.length === 0) throw new UsageError(`no YAML files under ${paths.join(", ")}`);
  return files.map((f) => {
    try {
      return { name: f, text: readFileSync(f, "utf8") };
    } catch (err) {
      throw new UsageError(`cannot read ${f}: ${(err as Error).message}`);
    }
  });
}

/** Who the CLI acts as in the audit log (`user@host` of the OS user). */
export function operatorId(): string {
  try {
    return userInfo().username || "operator";
  } catch {
    return "operator";
  }
}

/** A connection to the planner API. `close()` when done. */
export class PlannerClient {
  private constructor(readonly nc: NatsConnection) {}

  /**
   * Connect with the environment's NATS settings.
   * @throws FleetnetError `NATS_UNAVAILABLE` (retryable) / `CONFIG_INVALID`.
   */
  static async connect(env: NodeJS.ProcessEnv = process.env): Promise<PlannerClient> {
    const config = loadConfig(env, { serviceName: "fleetnet-cli" });
    const logger = createLogger({ serviceName: "fleetnet-cli", level: "error", destination: process.stderr });
    return new PlannerClient(await connectNats(config, { logger, name: "fleetnet-cli" }));
  }

  /**
   * Call one API verb. Resolves with the `ok` body.
   * @throws FleetnetError with the planner's code, or `PLANNER_UNAVAILABLE`.
   */
  async call<T>(verb: ApiVerb, body: object, timeoutMs = 30_000): Promise<T> {
    let data: Uint8Array;
    try {
      const m = await this.nc.request(subjects.api(verb), JSON.stringify(body), { timeout: timeoutMs });
      data = m.data;
    } catch (err) {
      throw new FleetnetError(
        "PLANNER_UNAVAILABLE",
        `the planner did not answer ${subjects.api(verb)} (${(err as Error).message}); is the stack up? (fleetnet up)`,
        { retryable: true, cause: err },
      );
    }
    let v: {
      ok?: boolean;
      error?: { code?: string; message?: string; retryable?: boolean; details?: unknown };
    };
    try {
      v = JSON.parse(new TextDecoder().decode(data));
    } catch {
      throw new FleetnetError("BAD_REPLY", `the planner's ${verb} reply is not JSON`);
    }
    if (v.ok !== true) {
      const e = v.error ?? {};
      throw new FleetnetError(e.code ?? "PLANNER_ERROR", e.message ?? `${verb} failed`, {
        retryable: e.retryable === true,
        ...(e.details === undefined ? {} : { details: e.details as Record<string, unknown> }),
      });
    }
    return v as T;
  }

  /**
   * Plan intent files live: the summary (and the plan itself when small, or stored for
   * {@link fullPlan} when big). `summaryOnly`: the summary and op counts alone — no plan in
   * the reply and nothing stored by the planner (what `apply` shows before submitting).
   */
  plan(files: IntentFile[], by?: string, opts: { summaryOnly?: boolean } = {}): Promise<PlanReply> {
    return this.call<PlanReply>(
      "plan",
      { files, ...(by ? { by } : {}), ...(opts.summaryOnly ? { summaryOnly: true } : {}) },
      120_000,
    );
  }

  /**
   * The whole plan of a `plan` reply: inline, or assembled from the planner's pages (each
   * reply under NATS's max_payload).
   * @throws FleetnetError `PLAN_NOT_FOUND` (stored plan expired), `BAD_REPLY` (pages disagree).
   */
  async fullPlan(reply: PlanReply): Promise<Plan> {
    if (reply.plan) return reply.plan;
    const hosts: Plan["hosts"] = [];
    let allocations: Plan["allocations"];
    let first: PlanPage | undefined;
    for (let offset: number | null = 0; offset !== null; ) {
      const page: PlanPage = await this.call<PlanPage>("plan", { planId: reply.planId, hosts: { offset } });
      if (page.offset !== offset || (page.hosts.length === 0 && page.next !== null))
        throw new FleetnetError("BAD_REPLY", `plan page at ${offset} is not the one asked for`);
      first ??= page;
      if (offset === 0) allocations = page.allocations;
      hosts.push(...page.hosts);
      offset = page.next;
    }
    if (!first || hosts.length !== first.total)
      throw new FleetnetError(
        "BAD_REPLY",
        `plan ${reply.planId}: ${hosts.length} of ${first?.total} host(s)`,
      );
    return {
      planId: first.planId,
      hash: first.hash,
      summary: first.summary,
      hosts,
      ...(allocations ? { allocations } : {}),
    };
  }

  /** Rollout status. */
  status(rolloutId: string): Promise<RolloutSummary> {
    return this.call<RolloutSummary>("status", { rolloutId });
  }

  /** The audit events of one rollout so far. */
  async events(rolloutId: string): Promise<AuditEvent[]> {
    const all: AuditEvent[] = [];
    for (let after: number | null | undefined; after !== null; ) {
      const r: { events: AuditEvent[]; next?: number | null } = await this.call(
        "events",
        { rolloutId, ...(after === undefined ? {} : { after }) },
        60_000,
      );
      all.push(...r.events);
      after = r.next ?? null; // pages of at most ~512 KiB (NATS max_payload)
    }
    return all;
  }

  async close(): Promise<void> {
    await this.nc.close().catch(() => {});
  }
}

/** One line for an audit event, e.g. `12:00:01 wave 2 applying` / `host h003 applied`. */
export function describeEvent(e: AuditEvent): string {
  const t = e.at.slice(11, 19);
  const d = (e.details ?? {}) as { detail?: unknown; to?: unknown };
  const [scope, what] = [e.action.split(".")[0], e.action.split(".").slice(1).join(".")];
  const who = e.actor.kind === "user" ? ` (by ${e.actor.id})` : "";
  const detail =
    typeof d.detail === "string" ? `: ${d.detail}` : e.error ? `: ${e.error.code} ${e.error.message}` : "";
  if (scope === "wave") return `${t} wave ${(e.target.wave ?? 0) + 1} ${what}${detail}${who}`;
  if (scope === "host") return `${t} host ${e.target.host ?? "?"} ${what}${detail}${who}`;
  return `${t} ${e.action}${detail}${who}`;
}
