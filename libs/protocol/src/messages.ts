/**
 * zod schemas of every fleetnet message, and the edge helpers that parse them.
 *
 * Every message carries `v: 1` (the protocol version, also in the subject root) and is
 * strict: unknown fields are refused, so a sender/receiver version mismatch is loud.
 * Receivers parse with {@link parseMessage} (safeParse at the edge → typed result with an
 * error naming the field); senders encode with {@link encodeMessage} (validates first, so
 * nothing malformed leaves a process).
 *
 * Message kinds: job (apply | confirm | revert | observe — confirms are jobs, see
 * names.ts), progress, result, heartbeat, state report (HostState + sysctl snapshot),
 * audit event, and the error envelope (errors.ts).
 */
import { z } from "zod";
import { ErrorEnvelopeSchema, FleetnetError, ProtocolErrorCodes } from "./errors.js";
import { HOST_NAME_RE, SAFE_ID_RE } from "./names.js";
import { HostStateWireSchema, OpWireSchema } from "./netstate.js";

/** Protocol version carried in every message. */
export const PROTOCOL_VERSION = 1;

/** A host name (DNS label). */
export const HostNameSchema = z
  .string()
  .regex(HOST_NAME_RE, "must be a DNS label (lower-case letters, digits, '-')");
/** A safe id: letters, digits, `_`, `-` (1–128). */
export const SafeIdSchema = z.string().regex(SAFE_ID_RE, "must be 1–128 letters, digits, '_' or '-'");
/** An RFC 3339 UTC timestamp, e.g. `2026-11-29T22:00:00.000Z`. */
export const TimestampSchema = z.iso.datetime({ offset: false });
/** A job nonce: 16–128 base64url characters (≥ 96 random bits). */
export const NonceSchema = z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, "must be 16–128 base64url characters");

const version = z.literal(PROTOCOL_VERSION);

const jobCommon = {
  v: version,
  /** Unique per job; also the JetStream `Nats-Msg-Id`. */
  jobId: SafeIdSchema,
  /** The one host this job is for. */
  host: HostNameSchema,
  rolloutId: SafeIdSchema,
  planHash: SafeIdSchema,
  /** Who issued it (planner instance id), for the audit log. */
  issuer: z.string().min(1).max(128),
  issuedAt: TimestampSchema,
  expiresAt: TimestampSchema,
  nonce: NonceSchema,
};

/** Longest confirm timeout a job may ask for (one day). */
export const MAX_CONFIRM_TIMEOUT_MS = 24 * 3_600_000;

/** Payload of an `apply` job: the host's whole desired state, and how long to wait for a confirm. */
export const ApplyPayloadSchema = z.strictObject({
  desired: HostStateWireSchema,
  /** The host reverts itself unless confirmed within this many ms after it applied. */
  confirmTimeoutMs: z.number().int().positive().max(MAX_CONFIRM_TIMEOUT_MS),
  /** Index of the wave this job belongs to (0-based). */
  wave: z.number().int().nonnegative(),
});

/**
 * The confirm message: payload of a `confirm` job. Confirms the apply job `applyJobId`;
 * the executor disarms its revert timer and persists the state.
 */
export const ConfirmPayloadSchema = z.strictObject({ applyJobId: SafeIdSchema });

/** Payload of a `revert` job: undo what apply job `applyJobId` changed. */
export const RevertPayloadSchema = z.strictObject({
  applyJobId: SafeIdSchema,
  reason: z.string().min(1).max(1024),
});

/** Payload of an `observe` job: report state now, with these sysctl keys. */
export const ObservePayloadSchema = z.strictObject({
  sysctls: z.array(z.string().regex(/^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/, "must be a sysctl key")).max(4096),
});

/** An apply job. */
export const ApplyJobSchema = z.strictObject({
  ...jobCommon,
  kind: z.literal("apply"),
  payload: ApplyPayloadSchema,
});
/** A confirm job. */
export const ConfirmJobSchema = z.strictObject({
  ...jobCommon,
  kind: z.literal("confirm"),
  payload: ConfirmPayloadSchema,
});
/** A revert job. */
export const RevertJobSchema = z.strictObject({
  ...jobCommon,
  kind: z.literal("revert"),
  payload: RevertPayloadSchema,
});
/** An observe job. */
export const ObserveJobSchema = z.strictObject({
  ...jobCommon,
  kind: z.literal("observe"),
  payload: ObservePayloadSchema,
});

/** A job envelope (unsigned): one of the four kinds, with `expiresAt` after `issuedAt`. */
export const JobSchema = z
  .discriminatedUnion("kind", [ApplyJobSchema, ConfirmJobSchema, RevertJobSchema, ObserveJobSchema])
  .refine((j) => Date.parse(j.expiresAt) > Date.parse(j.issuedAt), {
    message: "expiresAt must be after issuedAt",
    path: ["expiresAt"],
  });
/** A job envelope. */
export type Job = z.infer<typeof JobSchema>;
/** Job kinds. */
export type JobKind = Job["kind"];
/** An apply job. */
export type ApplyJob = z.infer<typeof ApplyJobSchema>;
/** A confirm job. */
export type ConfirmJob = z.infer<typeof ConfirmJobSchema>;
/** A revert job. */
export type RevertJob = z.infer<typeof RevertJobSchema>;
/** An observe job. */
export type ObserveJob = z.infer<typeof ObserveJobSchema>;

/** Signature block of a signed job. */
export const JobSignatureSchema = z.strictObject({
  alg: z.literal("ed25519"),
  /** Fingerprint of the signing public key (see `publicKeyId`). */
  keyId: z.string().regex(/^[0-9a-f]{32}$/, "must be 32 hex digits"),
  /** base64 of the 64-byte Ed25519 signature over the job's canonical JSON. */
  value: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, "must be a base64 Ed25519 signature"),
});

/**
 * What travels on `fleet.v1.jobs.<host>`: the job and its signature. `job` is kept
 * unparsed here on purpose: the signature is checked over the job exactly as received
 * before its schema is (see `verifyJob`).
 */
export const SignedJobWireSchema = z.strictObject({
  job: z.record(z.string(), z.unknown()),
  sig: JobSignatureSchema,
});
/** A signed job as it travels. */
export type SignedJob = { job: Job; sig: z.infer<typeof JobSignatureSchema> };

/** Executor phases reported as progress. */
export const ProgressPhaseSchema = z.enum([
  "received",
  "observing",
  "snapshot",
  "applying",
  "verifying",
  "probing",
  "awaiting-confirm",
  "committing",
  "reverting",
]);
/** Progress of one job on one host (`fleet.v1.events.host.<host>.progress`). */
export const ProgressSchema = z.strictObject({
  v: version,
  jobId: SafeIdSchema,
  host: HostNameSchema,
  rolloutId: SafeIdSchema,
  at: TimestampSchema,
  phase: ProgressPhaseSchema,
  message: z.string().max(4096).optional(),
});
/** A progress message. */
export type Progress = z.infer<typeof ProgressSchema>;

/**
 * Outcome of a job. `applied`/`unchanged`/`reverted`/`failed` answer apply and revert
 * jobs; `confirmed` answers a confirm; `observed` an observe (its state goes to the state
 * subject).
 */
export const ResultStatusSchema = z.enum([
  "applied",
  "unchanged",
  "reverted",
  "failed",
  "confirmed",
  "observed",
]);
/** A result status. */
export type ResultStatus = z.infer<typeof ResultStatusSchema>;

/** The fields of a result; {@link ResultSchema} adds the cross-field rule. */
const ResultObjectSchema = z.strictObject({
  v: version,
  jobId: SafeIdSchema,
  host: HostNameSchema,
  rolloutId: SafeIdSchema,
  planHash: SafeIdSchema,
  kind: z.enum(["apply", "confirm", "revert", "observe"]),
  status: ResultStatusSchema,
  /** The ops the executor ran (empty when unchanged, and for confirm jobs: they run none). */
  ops: z.array(OpWireSchema),
  error: ErrorEnvelopeSchema.optional(),
  at: TimestampSchema,
  durationMs: z.number().nonnegative(),
});

/** A result's `error` goes with its status (the rule of both result schemas). */
function errorMatchesStatus(r: { status: ResultStatus; error?: unknown }): boolean {
  return r.status === "failed" ? r.error !== undefined : r.status === "reverted" || r.error === undefined;
}
const ERROR_RULE = {
  // A `reverted` result may say why (the verify or probe that failed, the missed confirm).
  message: "error is required when status is failed, allowed with reverted, and forbidden otherwise",
  path: ["error"],
};

/** Result of one job on one host (`fleet.v1.events.host.<host>.result`). */
export const ResultSchema = ResultObjectSchema.refine(errorMatchesStatus, ERROR_RULE);

/**
 * A result read by a consumer that does not use its op list (the planner: it needs the
 * status and error): every field checked like {@link ResultSchema} except the ops, which are
 * only required to be an array: a 200-peer mesh's apply result lists ~200 ops, and the planner
 * would check each of them for every result only to drop them.
 */
export const ResultSummarySchema = ResultObjectSchema.extend({ ops: z.array(z.unknown()) }).refine(
  errorMatchesStatus,
  ERROR_RULE,
);
/** A result message. */
export type Result = z.infer<typeof ResultSchema>;

/** Heartbeat of one host's executor (`fleet.v1.heartbeat.<host>`). */
export const HeartbeatSchema = z.strictObject({
  v: version,
  host: HostNameSchema,
  at: TimestampSchema,
  /** Increases by one per heartbeat of this executor process. */
  seq: z.number().int().nonnegative(),
  executor: z.strictObject({
    id: z.string().min(1).max(128),
    mode: z.enum(["agent", "pool"]),
    version: z.string().min(1).max(64),
  }),
  uptimeS: z.number().nonnegative(),
  /** The job being worked on, if any. */
  activeJobId: SafeIdSchema.optional(),
  /** An armed revert timer waiting for a confirm, if any. */
  awaitingConfirm: z.strictObject({ applyJobId: SafeIdSchema, deadline: TimestampSchema }).optional(),
});
/** A heartbeat. */
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

/**
 * One sysctl reading: `ok` (readable and writable here), `read-only` (exists, e.g.
 * `rmem_max` inside a namespace), `absent` (does not exist here, e.g.
 * `netdev_max_backlog` in a namespace).
 */
export const SysctlReadingSchema = z.discriminatedUnion("status", [
  z.strictObject({ status: z.literal("ok"), value: z.string() }),
  z.strictObject({ status: z.literal("read-only"), value: z.string() }),
  z.strictObject({ status: z.literal("absent") }),
]);
/** A sysctl reading. */
export type SysctlReading = z.infer<typeof SysctlReadingSchema>;

const ObsAddress = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[0-9A-Fa-f:.]+$/, "must be an IP address");
const ObsName = z.string().min(1).max(128);

/**
 * Live observations an executor adds to its state report, for health and rollout gates
 * (telemetry's `BgpSessionObservation`, `VrrpObservation`, `OverlayProbe`, `LinkMac`
 * without the `host`, which is the report's). Each list is optional: absent = this host did
 * not observe that category (e.g. no FRR running), so telemetry can tell "not reported"
 * from "reported, nothing wrong". Bounded so a report stays small.
 */
export const ObservationsSchema = z.strictObject({
  /** BGP sessions of the host's FRR (`vtysh show bgp summary json`). */
  bgp: z
    .array(
      z.strictObject({
        peer: ObsName,
        /** FRR's state name, e.g. `Established`, `Active`, `Idle`. */
        state: z.string().min(1).max(64),
        /** Address family of the session, e.g. `ipv4Unicast`. */
        afi: z.string().min(1).max(64).optional(),
      }),
    )
    .max(1024)
    .optional(),
  /** VRRP instances of the host's keepalived. */
  vrrp: z
    .array(
      z.strictObject({
        /** The L2 segment the VRID lives on: the `vrrp_instance` (KeepalivedPair) name. */
        segment: ObsName,
        interface: z.string().min(1).max(15).optional(),
        vrid: z.number().int().min(1).max(255),
        state: z.enum(["MASTER", "BACKUP", "FAULT"]),
        /** The instance's VIPs (`addr/len` or `addr`). */
        vips: z.array(z.string().min(1).max(64)).max(64),
      }),
    )
    .max(256)
    .optional(),
  /** Overlay probes the host ran against a sample of its overlay peers. */
  probes: z
    .array(
      z.strictObject({
        /** The overlay (VXLAN device / intent) probed. */
        overlay: ObsName,
        peer: ObsAddress,
        reachable: z.boolean(),
        rttMs: z.number().nonnegative().optional(),
      }),
    )
    .max(64)
    .optional(),
  /** MACs of the host's links; `managed`: fleetnet owns the link. */
  macs: z
    .array(
      z.strictObject({
        link: z.string().min(1).max(15),
        mac: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, "must be a lower-case MAC address"),
        managed: z.boolean(),
      }),
    )
    .max(4096)
    .optional(),
});
/** Observations in a state report. */
export type Observations = z.infer<typeof ObservationsSchema>;

/** Observed state of one host (`fleet.v1.state.<host>`): HostState + sysctl snapshot. */
export const StateReportSchema = z.strictObject({
  v: version,
  host: HostNameSchema,
  at: TimestampSchema,
  /** The observe job this answers, if any (periodic reports have none). */
  jobId: SafeIdSchema.optional(),
  state: HostStateWireSchema,
  sysctls: z.record(z.string(), SysctlReadingSchema),
  /** Live daemon/probe observations (absent from executors that do not observe them). */
  observations: ObservationsSchema.optional(),
});
/** A state report. */
export type StateReport = z.infer<typeof StateReportSchema>;

/** Who did something. */
export const ActorSchema = z.strictObject({
  kind: z.enum(["user", "planner", "executor", "telemetry"]),
  id: z.string().min(1).max(128),
});

/**
 * An audit event (`fleet.v1.events.…`): who did what, when, to which rollout/host/job,
 * and with what result. `action` is dotted, e.g. `rollout.started`, `wave.gate-passed`,
 * `host.applied`, `job.refused`.
 */
export const AuditEventSchema = z.strictObject({
  v: version,
  /** Unique event id; also the event's `Nats-Msg-Id`. */
  id: SafeIdSchema,
  at: TimestampSchema,
  actor: ActorSchema,
  action: z
    .string()
    .regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/, "must be dotted lower-case words, e.g. host.applied"),
  target: z.strictObject({
    rolloutId: SafeIdSchema.optional(),
    host: HostNameSchema.optional(),
    jobId: SafeIdSchema.optional(),
    wave: z.number().int().nonnegative().optional(),
  }),
  result: z.enum(["ok", "failed", "refused", "reverted", "skipped"]),
  error: ErrorEnvelopeSchema.optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});
/** An audit event. */
export type AuditEvent = z.infer<typeof AuditEventSchema>;

/** A successful parse. */
export interface ParseOk<T> {
  ok: true;
  value: T;
}
/** A failed parse: `error.code` is `MESSAGE_MALFORMED` (or the code asked for). */
export interface ParseFail {
  ok: false;
  error: FleetnetError;
}
/** Outcome of {@link parseMessage}. */
export type ParseResult<T> = ParseOk<T> | ParseFail;

/** Options of {@link parseMessage}. */
export interface ParseOptions {
  /** Name of the message in the error text (default "message"). */
  what?: string;
  /** Error code of a failure (default `MESSAGE_MALFORMED`). */
  code?: string;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || "(root)";
}

/**
 * The first few issues of a zod error as one sentence naming each field, e.g.
 * `field payload.confirmTimeoutMs: Invalid input: expected number, received string`.
 */
export function describeZodError(error: z.ZodError, max = 3): string {
  const parts = error.issues.slice(0, max).map((i) => `field ${formatPath(i.path)}: ${i.message}`);
  const more = error.issues.length > max ? ` (and ${error.issues.length - max} more)` : "";
  return parts.join("; ") + more;
}

/**
 * Parse message bytes (UTF-8 JSON) or an already-decoded value against `schema`. Never
 * throws: bad UTF-8/JSON or a schema mismatch returns `{ok: false, error}` whose message
 * names the field and whose details carry every issue path.
 */
export function parseMessage<S extends z.ZodType>(
  schema: S,
  input: Uint8Array | string | unknown,
  options: ParseOptions = {},
): ParseResult<z.infer<S>> {
  const what = options.what ?? "message";
  const code = options.code ?? ProtocolErrorCodes.MESSAGE_MALFORMED;
  let value: unknown = input;
  if (input instanceof Uint8Array || typeof input === "string") {
    try {
      const text =
        typeof input === "string" ? input : new TextDecoder("utf-8", { fatal: true }).decode(input);
      value = JSON.parse(text);
    } catch (err) {
      return {
        ok: false,
        error: new FleetnetError(code, `${what} is not valid UTF-8 JSON: ${(err as Error).message}`, {
          cause: err,
        }),
      };
    }
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data as z.infer<S> };
  return {
    ok: false,
    error: new FleetnetError(code, `${what} is malformed: ${describeZodError(parsed.error)}`, {
      details: { issues: parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })) },
    }),
  };
}

/** Like {@link parseMessage} but throws the {@link FleetnetError}. */
export function decodeMessage<S extends z.ZodType>(
  schema: S,
  input: Uint8Array | string | unknown,
  options?: ParseOptions,
): z.infer<S> {
  const r = parseMessage(schema, input, options);
  if (!r.ok) throw r.error;
  return r.value;
}

/**
 * Validate `value` against `schema` and encode it as UTF-8 JSON. Throws
 * `MESSAGE_MALFORMED` naming the field: a process never sends what a receiver would refuse.
 */
export function encodeMessage<S extends z.ZodType>(
  schema: S,
  value: z.input<S>,
  what = "message",
): Uint8Array {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new FleetnetError(
      ProtocolErrorCodes.MESSAGE_MALFORMED,
      `refusing to send ${what}: ${describeZodError(parsed.error)}`,
    );
  }
  return new TextEncoder().encode(JSON.stringify(parsed.data));
}

/** Every message schema by name (for JSON Schema export and documentation). */
export const MESSAGE_SCHEMAS = {
  SignedJob: SignedJobWireSchema,
  Job: JobSchema,
  Progress: ProgressSchema,
  Result: ResultSchema,
  Heartbeat: HeartbeatSchema,
  StateReport: StateReportSchema,
  AuditEvent: AuditEventSchema,
  ErrorEnvelope: ErrorEnvelopeSchema,
} as const;

/**
 * JSON Schemas (draft 2020-12) of every message, by name — for executors or tools not
 * written in TypeScript. Refinements that JSON Schema cannot express (e.g. `expiresAt`
 * after `issuedAt`, `error` present exactly when `failed`) are only enforced by the zod
 * schemas.
 */
export function messageJsonSchemas(): Record<keyof typeof MESSAGE_SCHEMAS, Record<string, unknown>> {
  const out = {} as Record<keyof typeof MESSAGE_SCHEMAS, Record<string, unknown>>;
  for (const [name, schema] of Object.entries(MESSAGE_SCHEMAS) as [
    keyof typeof MESSAGE_SCHEMAS,
    z.ZodType,
  ][]) {
    out[name] = z.toJSONSchema(schema, { unrepresentable: "any" }) as Record<string, unknown>;
  }
  return out;
}
