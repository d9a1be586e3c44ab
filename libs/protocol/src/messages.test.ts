import { emptyHostState } from "@fleetnet/netstate";
import { describe, expect, it } from "vitest";
import {
  AuditEventSchema,
  decodeMessage,
  ErrorEnvelopeSchema,
  encodeMessage,
  FleetnetError,
  HeartbeatSchema,
  isFleetnetError,
  JobSchema,
  messageJsonSchemas,
  ProgressSchema,
  parseMessage,
  ResultSchema,
  ResultSummarySchema,
  StateReportSchema,
  toErrorEnvelope,
} from "./index.js";

const at = "2026-11-29T22:00:00.000Z";
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
/** A job's fields but `kind` and `payload`. */
const jobFields = {
  v: 1,
  jobId: "j-2",
  host: "h1",
  rolloutId: "r",
  planHash: "p",
  issuer: "planner",
  issuedAt: at,
  expiresAt: "2026-11-29T22:01:00.000Z",
  nonce: "AAAAAAAAAAAAAAAAAAAAAA",
};

const result = {
  v: 1,
  jobId: "j-1",
  host: "h1",
  rolloutId: "r-1",
  planHash: "abc",
  kind: "apply",
  status: "applied",
  ops: [
    {
      op: "sysctl.set",
      key: "net.ipv4.ip_forward",
      value: "1",
      previous: "0",
      persist: true,
      ownership: "acquire",
    },
  ],
  at,
  durationMs: 12.5,
};

describe("parseMessage", () => {
  it("parses bytes, text and objects into typed values", () => {
    for (const input of [enc(result), JSON.stringify(result), result]) {
      const r = parseMessage(ResultSchema, input);
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.value.status).toBe("applied");
    }
  });

  it("names the field and value problem, with every issue in details", () => {
    const r = parseMessage(ResultSchema, enc({ ...result, durationMs: "fast", host: "H1" }), {
      what: "result",
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe("MESSAGE_MALFORMED");
    expect(r.error.message).toMatch(/^result is malformed: /);
    expect(r.error.message).toMatch(/field host: must be a DNS label/);
    expect(r.error.message).toMatch(/field durationMs: .*expected number/);
    expect(r.error.details?.issues).toHaveLength(2);
  });

  it("names nested fields with dots and indexes", () => {
    const r = parseMessage(ResultSchema, { ...result, ops: [{ ...result.ops[0], value: 1 }] });
    expect(!r.ok && r.error.message).toMatch(/field ops\[0\]/);
  });

  it("refuses unknown fields (strict), missing fields and bad JSON", () => {
    expect(parseMessage(ResultSchema, { ...result, extra: 1 }).ok).toBe(false);
    const { jobId: _omit, ...noId } = result;
    const r = parseMessage(ResultSchema, noId);
    expect(!r.ok && r.error.message).toMatch(/field jobId/);
    const bad = parseMessage(ResultSchema, "{oops", { code: "JOB_MALFORMED" });
    expect(!bad.ok && bad.error.code).toBe("JOB_MALFORMED");
  });

  it("a result summary checks every field but the ops' contents (the planner's view)", () => {
    const odd = { ...result, ops: [{ op: "no-such-op" }] };
    expect(parseMessage(ResultSchema, odd).ok).toBe(false);
    const s = parseMessage(ResultSummarySchema, odd);
    expect(s.ok && s.value.status).toBe("applied");
    expect(parseMessage(ResultSummarySchema, { ...result, ops: "all" }).ok).toBe(false);
    expect(parseMessage(ResultSummarySchema, { ...result, host: "H1" }).ok).toBe(false);
    expect(parseMessage(ResultSummarySchema, { ...result, extra: 1 }).ok).toBe(false);
    expect(parseMessage(ResultSummarySchema, { ...result, status: "failed" }).ok).toBe(false);
  });

  it("requires an error when a result failed, allows one with reverted, forbids it otherwise", () => {
    expect(parseMessage(ResultSchema, { ...result, status: "failed" }).ok).toBe(false);
    const error = { code: "APPLY_FAILED", message: "ip said no", retryable: true };
    expect(parseMessage(ResultSchema, { ...result, status: "failed", error }).ok).toBe(true);
    expect(parseMessage(ResultSchema, { ...result, error }).ok).toBe(false);
    expect(parseMessage(ResultSchema, { ...result, status: "reverted", error }).ok).toBe(true);
    expect(parseMessage(ResultSchema, { ...result, status: "reverted" }).ok).toBe(true);
  });

  it("decodeMessage throws the FleetnetError", () => {
    expect(() => decodeMessage(HeartbeatSchema, {}, { what: "heartbeat" })).toThrow(FleetnetError);
    expect(() => decodeMessage(HeartbeatSchema, {}, { what: "heartbeat" })).toThrow(
      /heartbeat is malformed: field v/,
    );
  });
});

describe("message schemas", () => {
  it("accepts each message kind", () => {
    const ok = (schema: { safeParse(v: unknown): { success: boolean } }, v: unknown) =>
      expect(schema.safeParse(v).success).toBe(true);
    ok(ProgressSchema, { v: 1, jobId: "j", host: "h1", rolloutId: "r", at, phase: "applying" });
    ok(HeartbeatSchema, {
      v: 1,
      host: "h1",
      at,
      seq: 3,
      executor: { id: "pool-1", mode: "pool", version: "0.1.0" },
      uptimeS: 10,
      awaitingConfirm: { applyJobId: "j-1", deadline: at },
    });
    ok(StateReportSchema, {
      v: 1,
      host: "h1",
      at,
      state: emptyHostState(),
      sysctls: {
        "net.ipv4.ip_forward": { status: "ok", value: "1" },
        "net.core.rmem_max": { status: "read-only", value: "212992" },
        "net.core.netdev_max_backlog": { status: "absent" },
      },
    });
    ok(AuditEventSchema, {
      v: 1,
      id: "e-1",
      at,
      actor: { kind: "executor", id: "h1" },
      action: "job.refused",
      target: { host: "h1", jobId: "j-9" },
      result: "refused",
      error: { code: "JOB_EXPIRED", message: "expired", retryable: false },
    });
    for (const kind of ["confirm", "revert", "observe"] as const) {
      const payload =
        kind === "confirm"
          ? { applyJobId: "j-1" }
          : kind === "revert"
            ? { applyJobId: "j-1", reason: "wave failed" }
            : { sysctls: ["net.ipv4.ip_forward"] };
      ok(JobSchema, { ...jobFields, kind, payload });
    }
  });

  it("state report observations: accepted when well-formed, strict per field", () => {
    const base = { v: 1, host: "h1", at, state: emptyHostState(), sysctls: {} };
    const observations = {
      bgp: [{ peer: "10.0.0.2", state: "Established", afi: "ipv4Unicast" }],
      vrrp: [{ segment: "gw", interface: "veth0", vrid: 51, state: "MASTER", vips: ["10.0.0.100/24"] }],
      probes: [{ overlay: "vx100", peer: "10.0.0.3", reachable: true, rttMs: 0.4 }],
      macs: [{ link: "vx100", mac: "aa:bb:cc:dd:ee:ff", managed: true }],
    };
    expect(StateReportSchema.safeParse({ ...base, observations }).success).toBe(true);
    expect(StateReportSchema.safeParse({ ...base, observations: {} }).success).toBe(true);
    const bad = (o: unknown, path: string) => {
      const r = StateReportSchema.safeParse({ ...base, observations: o });
      expect(r.success, path).toBe(false);
      expect(r.error?.issues.map((i) => i.path.join(".")).join(" ")).toContain(path);
    };
    bad(
      { ...observations, vrrp: [{ ...observations.vrrp[0], state: "master" }] },
      "observations.vrrp.0.state",
    );
    bad({ ...observations, vrrp: [{ ...observations.vrrp[0], vrid: 256 }] }, "observations.vrrp.0.vrid");
    bad(
      { ...observations, macs: [{ link: "vx100", mac: "AA:BB:CC:DD:EE:FF", managed: true }] },
      "observations.macs.0.mac",
    );
    bad(
      { ...observations, probes: [{ overlay: "vx", peer: "10.0.0.3; rm", reachable: true }] },
      "observations.probes.0.peer",
    );
    bad(
      { ...observations, bgp: [{ peer: "10.0.0.2", state: "Established", extra: 1 }] },
      "observations.bgp.0",
    );
    bad({ ...observations, arp: [] }, "observations");
  });

  it("refuses an absent sysctl with a value, a payload of the wrong kind, a bad audit action", () => {
    expect(
      StateReportSchema.safeParse({
        v: 1,
        host: "h1",
        at,
        state: {},
        sysctls: { "a.b": { status: "absent", value: "1" } },
      }).success,
    ).toBe(false);
    const job = { ...jobFields, kind: "confirm", payload: { sysctls: [] } };
    const r = parseMessage(JobSchema, job);
    expect(!r.ok && r.error.message).toMatch(/field payload/);
    expect(
      AuditEventSchema.safeParse({
        v: 1,
        id: "e",
        at,
        actor: { kind: "user", id: "u" },
        action: "Bad Action",
        target: {},
        result: "ok",
      }).success,
    ).toBe(false);
  });
});

describe("encodeMessage", () => {
  it("validates before sending", () => {
    const bytes = encodeMessage(ProgressSchema, {
      v: 1,
      jobId: "j",
      host: "h1",
      rolloutId: "r",
      at,
      phase: "verifying",
    });
    expect(JSON.parse(new TextDecoder().decode(bytes)).phase).toBe("verifying");
    expect(() =>
      encodeMessage(
        ProgressSchema,
        { v: 1, jobId: "j", host: "h1", rolloutId: "r", at, phase: "dancing" } as never,
        "progress",
      ),
    ).toThrow(/refusing to send progress: field phase/);
  });
});

describe("error envelope", () => {
  it("round-trips a FleetnetError through the wire form", () => {
    const err = new FleetnetError("HOST_LOCKED", "host h1 is locked by rollout r-7", {
      retryable: true,
      details: { holder: "r-7" },
    });
    const env = toErrorEnvelope(err);
    expect(ErrorEnvelopeSchema.parse(env)).toEqual({
      code: "HOST_LOCKED",
      message: "host h1 is locked by rollout r-7",
      retryable: true,
      details: { holder: "r-7" },
    });
    const back = FleetnetError.fromEnvelope(env);
    expect(isFleetnetError(back, "HOST_LOCKED")).toBe(true);
    expect(back.retryable).toBe(true);
  });

  it("wraps unknown errors as retryable INTERNAL and refuses bad codes", () => {
    expect(toErrorEnvelope(new Error("boom"))).toEqual({
      code: "INTERNAL",
      message: "boom",
      retryable: true,
    });
    expect(toErrorEnvelope("x")).toMatchObject({ code: "INTERNAL", message: "x" });
    // a lower package's coded error (netstate's, the executor's) keeps its code across NATS
    const coded = Object.assign(new Error("h1: link vx1 exists as a veth"), {
      code: "FOREIGN_LINK_CONFLICT",
      retryable: false,
      details: { host: "h1" },
    });
    expect(toErrorEnvelope(coded)).toEqual({
      code: "FOREIGN_LINK_CONFLICT",
      message: "h1: link vx1 exists as a veth",
      retryable: false,
      details: { host: "h1" },
    });
    const badCode = Object.assign(new Error("m"), { code: "ENOENT-ish", retryable: false });
    expect(toErrorEnvelope(badCode).code).toBe("INTERNAL");
    expect(() => new FleetnetError("lower-case", "m")).toThrow(TypeError);
    expect(ErrorEnvelopeSchema.safeParse({ code: "X", message: "m", retryable: true }).success).toBe(false);
  });
});

describe("messageJsonSchemas", () => {
  it("exports a JSON Schema for every message", () => {
    const all = messageJsonSchemas();
    expect(Object.keys(all).sort()).toEqual([
      "AuditEvent",
      "ErrorEnvelope",
      "Heartbeat",
      "Job",
      "Progress",
      "Result",
      "SignedJob",
      "StateReport",
    ]);
    const result = all.Result as { required?: string[]; additionalProperties?: unknown };
    expect(result.required).toEqual(expect.arrayContaining(["jobId", "host", "status", "ops"]));
    expect(result.additionalProperties).toBe(false);
    expect(JSON.stringify(all.Job)).toContain('"confirmTimeoutMs"');
  });
});
