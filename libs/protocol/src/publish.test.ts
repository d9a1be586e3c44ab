import { emptyHostState } from "@fleetnet/netstate";
import { describe, expect, it } from "vitest";
import {
  generateJobKeyPair,
  type JetStreamPublisher,
  jobPublication,
  MemoryReplayCache,
  messageIds,
  newJob,
  publishAuditEvent,
  publishResult,
  type Result,
  signJob,
  TRACEPARENT_RE,
  verifyJob,
} from "./index.js";

/** A publisher that must never be reached: these tests check what is refused before publishing. */
const unreachable: JetStreamPublisher<never> = {
  publish: () => Promise.reject(new Error("publish must not be called")),
};

describe("jobPublication", () => {
  it("addresses the job's host subject with Nats-Msg-Id = jobId and a payload that verifies", async () => {
    const keys = generateJobKeyPair();
    const job = newJob({
      kind: "apply",
      host: "h7",
      rolloutId: "r-1",
      planHash: "p",
      issuer: "t",
      payload: { desired: emptyHostState(), confirmTimeoutMs: 1000, wave: 0 },
    });
    const pub = jobPublication(signJob(job, keys.privateKey));
    expect(pub.subject).toBe("fleet.v1.jobs.h7");
    expect(pub.msgID).toBe(job.jobId);
    await expect(
      verifyJob(pub.payload, { publicKey: keys.publicKey, host: "h7", replayCache: new MemoryReplayCache() }),
    ).resolves.toEqual(job);
  });
});

describe("message ids", () => {
  it("are stable per job and status/phase", () => {
    expect(messageIds.result({ jobId: "j-1", status: "applied" })).toBe("j-1.result.applied");
    expect(messageIds.progress({ jobId: "j-1", phase: "applying" })).toBe("j-1.progress.applying");
    expect(messageIds.audit({ id: "e-1" })).toBe("e-1");
    expect(() => messageIds.job("j 1")).toThrow(/invalid job id/);
  });

  it("recognises a W3C traceparent", () => {
    expect(TRACEPARENT_RE.test("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).toBe(true);
    expect(TRACEPARENT_RE.test("00-xyz-00f067aa0ba902b7-01")).toBe(false);
  });
});

describe("publish helpers refuse before publishing", () => {
  it("a malformed result", async () => {
    const bad = {
      v: 1,
      jobId: "j-1",
      host: "h1",
      rolloutId: "r",
      planHash: "p",
      kind: "apply",
      status: "failed",
      ops: [],
      at: "2026-11-29T22:00:00.000Z",
      durationMs: 1,
    } as Result;
    await expect(publishResult(unreachable, bad)).rejects.toThrow(/refusing to send result: field error/);
  });

  it("an audit event outside fleet.v1.events.>", async () => {
    const ev = {
      v: 1 as const,
      id: "e-1",
      at: "2026-11-29T22:00:00.000Z",
      actor: { kind: "planner" as const, id: "p" },
      action: "rollout.started",
      target: {},
      result: "ok" as const,
    };
    await expect(publishAuditEvent(unreachable, "fleet.v1.jobs.h1", ev)).rejects.toThrow(RangeError);
  });
});
