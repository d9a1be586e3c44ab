/**
 * The planner API over NATS request/reply (`@nats-io/services`), one endpoint per verb on
 * `fleet.v1.api.<verb>`: plan, apply, status, pause, resume, abort, rollback, events.
 *
 * Design: every request and reply is JSON. A request that fails carries
 * `{ok: false, error: {code, message, retryable, details?}}` (protocol's error envelope)
 * and the service-error headers; a good one `{ok: true, ...}`. `plan` and `apply` take the
 * intent files' text (the CLI reads them), validate them exactly like `fleetnet validate`
 * (nothing is queued when any document is invalid), compile, and diff against the state the
 * executors last reported (live planning); hosts that never reported count as empty and
 * are listed in `unobserved`. IPAM (addresses, ASNs from pools) starts from what the last
 * applied plan allocated (`redisKeys.allocations`), so hosts keep their addresses when others
 * come and go. `apply` then submits a rollout over every host of the plan
 * (hosts already converged answer "unchanged"), or over the plan's hosts named in `hosts`
 * (telemetry's drift heal restores only the hosts that drifted) — refused with
 * `HOST_LOCKED` naming the holder while another rollout owns a host.
 *
 * Reply sizes: NATS refuses messages over max_payload (1 MiB by default), and a 200-host full
 * mesh plan is ≈ 6 MB. So the `plan` reply carries the summary, per-host op counts
 * (`hostOps`), `planHash`, `planId` and `unobserved`, plus the whole `plan` only when its
 * JSON is at most {@link PLAN_INLINE_MAX}; otherwise (`paged: true`) the plan is stored in
 * Redis ({@link planPagesKey}, an hour) and fetched with `plan` requests
 * `{planId, hosts: {offset, limit}}`, each reply at most ≈ {@link PLAN_PAGE_MAX}. A caller
 * that wants only the summary (`fleetnet apply` shows it before submitting, and `apply`
 * plans again anyway) asks `{files, summaryOnly: true}`: the reply is the head alone, and
 * nothing is stored.
 */
import {
  defaultRolloutPolicy,
  type Intent,
  type Inventory,
  parseDocuments,
  type RolloutPolicySpec,
  type ValidationError,
  validateDocuments,
} from "@fleetnet/intent";
import {
  type Allocations,
  compile,
  emptyHostState,
  type HostState,
  type Plan,
  planFromDesired,
} from "@fleetnet/netstate";
import {
  API_VERBS,
  type ApiVerb,
  type AuditEvent,
  AuditEventSchema,
  assertSafeId,
  EVENTS_STREAM,
  FleetnetError,
  parseMessage,
  redisKeys,
  subjects,
  toErrorEnvelope,
} from "@fleetnet/protocol";
import type { JetStreamClient, NatsConnection } from "@fleetnet/runtime";
import { type ServiceMsg, Svcm } from "@nats-io/services";
import type { Redis } from "ioredis";
import { summarize } from "./machine.js";
import type { RolloutRunner } from "./runner.js";
import { topologyFromIntents } from "./waves.js";

/** Version of the planner service (the `@nats-io/services` `version`). */
export const PLANNER_VERSION = "0.1.0";

const MAX_TEXT = 8 * 1024 * 1024;

/** `plan`/`apply` request: the intent files (text as read by the CLI), and who asks. */
export interface DocumentsRequest {
  files: { name: string; text: string }[];
  by?: string;
}

/**
 * `plan` request for a new plan. `summaryOnly`: reply with the summary, per-host op counts,
 * `planHash`, `planId` and `unobserved` only — never the plan, never pages (nothing stored).
 */
export interface PlanRequest extends DocumentsRequest {
  summaryOnly?: boolean;
}

/**
 * `plan` request for one page of a stored plan (a plan too big to travel in one reply):
 * `{planId, hosts: {offset, limit}}`.
 */
export interface PlanPageRequest {
  planId: string;
  offset: number;
  limit: number;
}

/** A plan whose JSON is at most this big travels whole in the `plan` reply (`plan`). */
export const PLAN_INLINE_MAX = 256 * 1024;
/** A page of a stored plan holds host plans up to about this many bytes (NATS default max_payload is 1 MiB). */
export const PLAN_PAGE_MAX = 512 * 1024;
/** Stored plans (for paging) expire after this many seconds. */
export const PLAN_PAGE_TTL_S = 3_600;

/** Redis key of a plan stored for paging (a hash: `meta` + one field per host index). */
export function planPagesKey(planId: string): string {
  return redisKeys.plan(`view-${assertSafeId(planId, "plan id")}`);
}

/** Parse a plan page request; throws `BAD_REQUEST` naming the field. */
export function parsePlanPageRequest(body: Uint8Array): PlanPageRequest {
  const v = decode(body);
  only(v, ["planId", "hosts", "by"]);
  if (typeof v.planId !== "string") badRequest("planId: the planId of a plan reply");
  const h = v.hosts as { offset?: unknown; limit?: unknown } | undefined;
  const offset = h?.offset ?? 0;
  const limit = h?.limit ?? 1_000_000;
  if (!Number.isInteger(offset) || (offset as number) < 0) badRequest("hosts.offset: an integer >= 0");
  if (!Number.isInteger(limit) || (limit as number) < 1) badRequest("hosts.limit: an integer >= 1");
  return { planId: assertSafeId(v.planId, "plan id"), offset: offset as number, limit: limit as number };
}

/**
 * Store a plan for paging: hash `meta` = `{planId, hash, summary, allocations, total}`,
 * field `<i>` = host plan `i` as JSON. Expires after {@link PLAN_PAGE_TTL_S}.
 */
export async function storePlanPages(redis: Redis, plan: Plan): Promise<void> {
  const key = planPagesKey(plan.planId);
  const fields: Record<string, string> = {
    meta: JSON.stringify({
      planId: plan.planId,
      hash: plan.hash,
      summary: plan.summary,
      ...(plan.allocations ? { allocations: plan.allocations } : {}),
      total: plan.hosts.length,
    }),
  };
  plan.hosts.forEach((h, i) => {
    fields[String(i)] = JSON.stringify(h);
  });
  await redis.multi().del(key).hset(key, fields).expire(key, PLAN_PAGE_TTL_S).exec();
}

/**
 * One page of a stored plan: host plans from `offset`, at most `limit` of them and at most
 * about {@link PLAN_PAGE_MAX} bytes (always at least one). Page 0 also carries `allocations`.
 * `next` is the offset of the next page, or null after the last.
 * @throws FleetnetError `PLAN_NOT_FOUND` (expired or unknown planId; plan again).
 */
export async function loadPlanPage(redis: Redis, req: PlanPageRequest): Promise<object> {
  const key = planPagesKey(req.planId);
  const metaText = await redis.hget(key, "meta");
  if (!metaText)
    throw new FleetnetError("PLAN_NOT_FOUND", `plan ${req.planId} is not stored (expired?); plan again`);
  const meta = JSON.parse(metaText) as { total: number; allocations?: unknown } & Record<string, unknown>;
  const end = Math.min(meta.total, req.offset + req.limit);
  const { allocations, ...head } = meta;
  let bytes =
    req.offset === 0 ? metaText.length : metaText.length - JSON.stringify(allocations ?? null).length;
  const hosts: string[] = [];
  const chunk = 64;
  let i = req.offset;
  fill: while (i < end) {
    const fields = Array.from({ length: Math.min(chunk, end - i) }, (_, k) => String(i + k));
    const texts = await redis.hmget(key, ...fields);
    for (const t of texts) {
      if (t === null)
        throw new FleetnetError("PLAN_NOT_FOUND", `plan ${req.planId} lost host ${i}; plan again`);
      if (hosts.length > 0 && bytes + t.length + 1 > PLAN_PAGE_MAX) break fill;
      hosts.push(t);
      bytes += t.length + 1;
      i++;
    }
  }
  // host plans are spliced in as stored (no re-parse of megabytes of ops)
  const page = JSON.stringify({
    ...head,
    ...(req.offset === 0 && allocations !== undefined ? { allocations } : {}),
    offset: req.offset,
    next: i < meta.total ? i : null,
    hosts: [],
  });
  return { __raw: `${page.slice(0, -3)}[${hosts.join(",")}]}` };
}

/** `status`/`pause`/`resume`/`abort`/`rollback`/`events` request. */
export interface RolloutRequest {
  rolloutId: string;
  by?: string;
}

function badRequest(message: string): never {
  throw new FleetnetError(ApiErrorCodes.BAD_REQUEST, `bad request: ${message}`);
}

function decode(body: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (err) {
    badRequest(`not UTF-8 JSON: ${(err as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) badRequest("not a JSON object");
  return v as Record<string, unknown>;
}

function by(v: Record<string, unknown>): { by?: string } {
  if (v.by === undefined) return {};
  if (typeof v.by !== "string" || v.by.length === 0 || v.by.length > 128) badRequest("by: 1-128 characters");
  return { by: v.by };
}

function only(v: Record<string, unknown>, keys: string[]): void {
  const extra = Object.keys(v).filter((k) => !keys.includes(k));
  if (extra.length > 0) badRequest(`unknown field(s) ${extra.join(", ")}`);
}

/** Parse a `plan`/`apply` request; throws `BAD_REQUEST` naming the field. */
export function parseDocumentsRequest(body: Uint8Array): DocumentsRequest {
  const v = decode(body);
  only(v, ["files", "by"]);
  if (!Array.isArray(v.files) || v.files.length === 0 || v.files.length > 1000)
    badRequest("files: 1-1000 entries");
  const files = v.files.map((f: unknown, i: number) => {
    const o = f as { name?: unknown; text?: unknown };
    if (typeof o?.name !== "string" || o.name.length === 0 || o.name.length > 4096)
      badRequest(`files[${i}].name: a file name`);
    if (typeof o.text !== "string" || o.text.length > MAX_TEXT)
      badRequest(`files[${i}].text: the file's text`);
    return { name: o.name, text: o.text };
  });
  return { files, ...by(v) };
}

/**
 * `apply` request. `hosts`: roll out to these hosts of the plan only (each planned from the
 * whole intent set, as in a full apply); default every host of the plan.
 */
export interface ApplyRequest extends DocumentsRequest {
  hosts?: string[];
}

/** Parse an `apply` request; throws `BAD_REQUEST` / `INVALID_NAME` naming the field. */
export function parseApplyRequest(body: Uint8Array): ApplyRequest {
  const { hosts, ...rest } = decode(body);
  if (
    hosts !== undefined &&
    (!Array.isArray(hosts) || hosts.length === 0 || hosts.some((h) => typeof h !== "string"))
  )
    badRequest("hosts: a non-empty list of host names");
  const req = parseDocumentsRequest(new TextEncoder().encode(JSON.stringify(rest)));
  return hosts === undefined
    ? req
    : { ...req, hosts: [...new Set((hosts as string[]).map((h) => assertSafeId(h, "host name")))] };
}

/** Parse a `plan` request for a new plan; throws `BAD_REQUEST` naming the field. */
export function parsePlanRequest(body: Uint8Array): PlanRequest {
  const { summaryOnly, ...rest } = decode(body);
  if (summaryOnly !== undefined && typeof summaryOnly !== "boolean") badRequest("summaryOnly: true or false");
  const req = parseDocumentsRequest(new TextEncoder().encode(JSON.stringify(rest)));
  return summaryOnly === true ? { ...req, summaryOnly } : req;
}

/** Parse a request about one rollout; throws `BAD_REQUEST` / `INVALID_NAME` naming the field. */
export function parseRolloutRequest(body: Uint8Array): RolloutRequest {
  const v = decode(body);
  only(v, ["rolloutId", "by"]);
  if (typeof v.rolloutId !== "string") badRequest("rolloutId: a rollout id");
  return { rolloutId: assertSafeId(v.rolloutId, "rollout id"), ...by(v) };
}

/** An `events` reply holds audit events up to about this many bytes; `next` asks for more. */
export const EVENTS_PAGE_MAX = 512 * 1024;

/** `events` request: a rollout, and optionally the stream sequence to continue after (`next`). */
export interface EventsRequest extends RolloutRequest {
  after?: number;
}

/** Parse an `events` request; throws `BAD_REQUEST` / `INVALID_NAME` naming the field. */
export function parseEventsRequest(body: Uint8Array): EventsRequest {
  const v = decode(body);
  const { after, ...rest } = v;
  if (after !== undefined && (!Number.isInteger(after) || (after as number) < 0))
    badRequest("after: the `next` of an events reply");
  const req = parseRolloutRequest(new TextEncoder().encode(JSON.stringify(rest)));
  return after === undefined ? req : { ...req, after: after as number };
}

/** Error codes of the API. */
export const ApiErrorCodes = {
  /** The request is not JSON of the verb's schema. */
  BAD_REQUEST: "BAD_REQUEST",
  /** The intents are invalid (details.errors lists them, as `fleetnet validate --json`). */
  INTENTS_INVALID: "INTENTS_INVALID",
} as const;

/** Result of validating + planning intent files. */
export interface LivePlan {
  plan: Plan;
  /** The plan hash as a safe id (`sha256-<hex>`), used in jobs and Redis keys. */
  planHash: string;
  desired: Map<string, HostState>;
  inventory: Inventory;
  intents: Intent[];
  policy: RolloutPolicySpec;
  /** Hosts without a state report: planned against an empty state. */
  unobserved: string[];
  /** IPAM of this plan (kept for the next plan once applied). */
  allocations: Allocations;
}

/**
 * Redis pool id of an allocation key: `Bridge/vm` → `Bridge_vm` (addresses), `asn_BgpMultipath_f`
 * (ASNs). Kinds and DNS-label names never contain `_`, so the mapping is one to one.
 */
function poolId(key: string, asn: boolean): string {
  return `${asn ? "asn_" : ""}${key.replace("/", "_")}`;
}

/**
 * The IPAM of the last applied plan for these intents (`redisKeys.allocations`), so that
 * addresses and ASNs stay put when hosts come and go.
 */
export async function loadAllocations(redis: Redis, intents: readonly Intent[]): Promise<Allocations> {
  const out: Allocations = { addresses: {}, asns: {} };
  for (const i of intents) {
    const key = `${i.kind}/${i.metadata.name}`;
    const addresses = await redis.hgetall(redisKeys.allocations(poolId(key, false)));
    if (Object.keys(addresses).length > 0) out.addresses[key] = addresses;
    const asns = await redis.hgetall(redisKeys.allocations(poolId(key, true)));
    if (Object.keys(asns).length > 0)
      out.asns[key] = Object.fromEntries(Object.entries(asns).map(([h, v]) => [h, Number(v)]));
  }
  return out;
}

/** Keep a plan's IPAM for the next plan (each pool replaced as a whole). */
export async function saveAllocations(redis: Redis, allocations: Allocations): Promise<void> {
  const tx = redis.multi();
  for (const [asn, table] of [
    [false, allocations.addresses],
    [true, allocations.asns],
  ] as const) {
    for (const [key, byHost] of Object.entries(table)) {
      const k = redisKeys.allocations(poolId(key, asn));
      tx.del(k);
      if (Object.keys(byHost).length > 0)
        tx.hset(k, Object.fromEntries(Object.entries(byHost).map(([h, v]) => [h, String(v)])));
    }
  }
  await tx.exec();
}

/**
 * Validate intent files and plan them against the last reported state of each host.
 * @throws FleetnetError `INTENTS_INVALID` with `details.errors` (nothing else happens then).
 */
export async function planDocuments(redis: Redis, files: DocumentsRequest["files"]): Promise<LivePlan> {
  const docs = files.map((f) => parseDocuments(f.text, f.name));
  const result = validateDocuments(docs.flatMap((d) => d.documents));
  const errors: ValidationError[] = [...docs.flatMap((d) => d.errors), ...result.errors];
  if (errors.length > 0 || !result.valid || !result.inventory) {
    throw new FleetnetError(
      ApiErrorCodes.INTENTS_INVALID,
      `${errors.length} problem(s) in the intents; nothing was planned`,
      { details: { errors } },
    );
  }
  const previous = await loadAllocations(redis, result.intents);
  const compiled = compile(result.inventory, result.intents, previous);
  const names = [...compiled.hosts.keys()];
  const raw = names.length > 0 ? await redis.mget(...names.map((h) => redisKeys.hostState(h))) : [];
  const observed = new Map<string, HostState>();
  const unobserved: string[] = [];
  names.forEach((h, i) => {
    const text = raw[i];
    if (text) observed.set(h, JSON.parse(text) as HostState);
    else {
      unobserved.push(h);
      observed.set(h, emptyHostState());
    }
  });
  const plan = planFromDesired(compiled.hosts, observed, { allocations: compiled.allocations });
  return {
    plan,
    allocations: compiled.allocations,
    planHash: plan.hash.replace(/^sha256:/, "sha256-"),
    desired: compiled.hosts,
    inventory: result.inventory,
    intents: result.intents,
    policy: result.rolloutPolicy?.spec ?? defaultRolloutPolicy(),
    unobserved,
  };
}

/** Options of {@link startPlannerApi}. */
export interface PlannerApiOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  redis: Redis;
  runner: RolloutRunner;
  /** Longest wait for more audit events in `events` (ms, at least and default 1000). */
  eventsIdleMs?: number;
}

/** A running API: `stop()` stops serving. */
export interface PlannerApi {
  stop(): Promise<void>;
}

type Handler = (body: Uint8Array) => Promise<object>;

/** Serve the planner API on `fleet.v1.api.<verb>` (queue group: any number of planners). */
export async function startPlannerApi(o: PlannerApiOptions): Promise<PlannerApi> {
  const control =
    (type: "pause" | "resume" | "abort" | "rollback"): Handler =>
    async (body) => {
      const req = parseRolloutRequest(body);
      await o.runner.command(req.rolloutId, type, req.by);
      return { rolloutId: req.rolloutId, queued: type };
    };
  const handlers: Record<ApiVerb, Handler> = {
    plan: async (body) => {
      if (!("files" in decode(body))) return loadPlanPage(o.redis, parsePlanPageRequest(body));
      const req = parsePlanRequest(body);
      const live = await planDocuments(o.redis, req.files);
      const plan = live.plan;
      const head = {
        planHash: live.planHash,
        planId: plan.planId,
        summary: plan.summary,
        hostOps: plan.hosts.map((h) => ({ host: h.host, ops: h.ops.length })),
        unobserved: live.unobserved,
      };
      if (req.summaryOnly) return head;
      // small plans travel whole (as before); big ones are stored and fetched page by page
      if (JSON.stringify(plan).length <= PLAN_INLINE_MAX) return { ...head, plan };
      await storePlanPages(o.redis, plan);
      return { ...head, paged: true };
    },
    apply: async (body) => {
      const req = parseApplyRequest(body);
      const live = await planDocuments(o.redis, req.files);
      const only = req.hosts && new Set(req.hosts);
      const unknown = req.hosts?.filter((h) => !live.desired.has(h)) ?? [];
      if (unknown.length > 0) badRequest(`hosts: not in the plan: ${unknown.join(", ")}`);
      const hosts = live.inventory.spec.hosts.filter(
        (h) => live.desired.has(h.name) && (!only || only.has(h.name)),
      );
      const state = await o.runner.submit({
        planHash: live.planHash,
        // the whole plan's states (stored under its hash, shared by every rollout of that plan)
        desired: Object.fromEntries(live.desired),
        hosts: hosts.map((h) => ({ name: h.name, labels: h.labels })),
        policy: live.policy,
        topology: topologyFromIntents(live.inventory.spec.hosts, live.intents),
        ...(req.by ? { by: req.by } : {}),
      });
      await saveAllocations(o.redis, live.allocations);
      return {
        ...summarize(state),
        planHash: live.planHash,
        summary: live.plan.summary,
        hostOps: live.plan.hosts.map((h) => ({ host: h.host, ops: h.ops.length })),
        unobserved: live.unobserved,
      };
    },
    status: async (body) => {
      const req = parseRolloutRequest(body);
      return summarize((await o.runner.store.load(req.rolloutId)).state);
    },
    pause: control("pause"),
    resume: control("resume"),
    abort: control("abort"),
    rollback: control("rollback"),
    events: async (body) => {
      const req = parseEventsRequest(body);
      await o.runner.store.load(req.rolloutId); // ROLLOUT_NOT_FOUND for an unknown id
      type Opts = NonNullable<Parameters<JetStreamClient["consumers"]["get"]>[1]>;
      const consumer = await o.js.consumers.get(EVENTS_STREAM, {
        filter_subjects: subjects.rolloutEvents(req.rolloutId),
        ...(req.after === undefined
          ? {}
          : { deliver_policy: "by_start_sequence", opt_start_seq: req.after + 1 }),
      } as Opts);
      const events: AuditEvent[] = [];
      const batch = 1_000;
      // bounded by bytes: the rest is fetched with {after: next} (NATS max_payload is 1 MiB)
      let bytes = 0;
      let next: number | null = null;
      let last = req.after ?? 0;
      for (let got = batch; got === batch && next === null; ) {
        got = 0;
        const msgs = await consumer.fetch({
          max_messages: batch,
          expires: Math.max(1_000, o.eventsIdleMs ?? 1_000),
        });
        for await (const m of msgs) {
          got++;
          if (next !== null) continue;
          if (events.length > 0 && bytes + m.data.length > EVENTS_PAGE_MAX) {
            next = last;
            continue;
          }
          last = m.seq;
          const ev = parseMessage(AuditEventSchema, m.data);
          if (ev.ok) {
            events.push(ev.value);
            bytes += m.data.length;
          }
        }
      }
      await consumer.delete().catch(() => {});
      return { rolloutId: req.rolloutId, events, next };
    },
  };

  // @nats-io/services is built against its own nats-core; the connection is the same protocol.
  const svc = await new Svcm(o.nc as unknown as ConstructorParameters<typeof Svcm>[0]).add({
    name: "fleetnet-planner",
    version: PLANNER_VERSION,
    description: "fleetnet planner: plans and rollouts",
    queue: "fleetnet-planner",
  });
  for (const verb of API_VERBS) {
    const handler = handlers[verb];
    svc.addEndpoint(verb, {
      subject: subjects.api(verb),
      handler: (err: Error | null, msg: ServiceMsg) => {
        if (err) return;
        void reply(msg, handler);
      },
    });
  }
  return { stop: async () => void (await svc.stop()) };
}

async function reply(msg: ServiceMsg, handler: Handler): Promise<void> {
  try {
    const out = (await handler(msg.data)) as { __raw?: string };
    if (typeof out.__raw === "string") msg.respond(`{"ok":true,${out.__raw.slice(1)}`);
    else msg.respond(JSON.stringify({ ok: true, ...out }));
  } catch (err) {
    const error = toErrorEnvelope(err);
    const status = error.code === "INTERNAL" ? 500 : 400;
    msg.respondError(status, `${error.code}: ${error.message}`, JSON.stringify({ ok: false, error }));
  }
}
