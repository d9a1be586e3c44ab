import { emptyHostState } from "@fleetnet/netstate";
import { describe, expect, it } from "vitest";
import {
  AuditEventSchema,
  FleetnetError,
  followUpJobId,
  generateJobKeyPair,
  jobRefusedEvent,
  MemoryReplayCache,
  messageIds,
  newId,
  newJob,
  SAFE_ID_RE,
  signJob,
  verifyJob,
} from "./index.js";

describe("newId", () => {
  it("makes unique safe ids with the prefix", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId("j")));
    expect(ids.size).toBe(1000);
    for (const id of ids) {
      expect(id).toMatch(/^j-[0-9a-z]+-[0-9a-f]{16}$/);
      expect(SAFE_ID_RE.test(id)).toBe(true);
    }
    expect(() => newId("Bad.Prefix")).toThrow(RangeError);
  });
});

describe("newJob", () => {
  it("fills in the envelope; the result signs and verifies", async () => {
    const keys = generateJobKeyPair();
    const now = Date.parse("2026-11-29T22:00:00.000Z");
    const job = newJob({
      kind: "apply",
      host: "h1",
      rolloutId: "r-1",
      planHash: "p1",
      issuer: "planner-a",
      payload: { desired: emptyHostState(), confirmTimeoutMs: 60_000, wave: 1 },
      ttlMs: 60_000,
      now,
    });
    expect(job.issuedAt).toBe("2026-11-29T22:00:00.000Z");
    expect(job.expiresAt).toBe("2026-11-29T22:01:00.000Z");
    expect(job.payload.wave).toBe(1);
    const got = await verifyJob(signJob(job, keys.privateKey), {
      publicKey: keys.publicKey,
      host: "h1",
      now: now + 1000,
      replayCache: new MemoryReplayCache(),
    });
    expect(got).toEqual(job);
    const confirm = newJob({
      kind: "confirm",
      host: "h1",
      rolloutId: "r-1",
      planHash: "p1",
      issuer: "p",
      payload: { applyJobId: job.jobId },
      jobId: `${job.jobId}-c`,
    });
    expect(confirm.jobId).toBe(`${job.jobId}-c`);
    expect(messageIds.job(confirm.jobId)).toBe(confirm.jobId);
    expect(() =>
      newJob({
        kind: "observe",
        host: "H!",
        rolloutId: "r",
        planHash: "p",
        issuer: "p",
        payload: { sysctls: [] },
      }),
    ).toThrow(FleetnetError);
  });
});

describe("jobRefusedEvent", () => {
  it("is a valid audit event that keeps the claimed jobId out of the target", () => {
    const err = new FleetnetError("JOB_MISADDRESSED", "job j-1 is addressed to host h2, not h1", {
      details: { jobId: "j-1", to: "h2", self: "h1" },
    });
    const ev = jobRefusedEvent({ host: "h1", executorId: "exec-1", error: err, streamSeq: 42, now: 0 });
    expect(AuditEventSchema.parse(ev)).toEqual(ev);
    expect(ev).toMatchObject({
      action: "job.refused",
      result: "refused",
      target: { host: "h1" },
      error: { code: "JOB_MISADDRESSED", retryable: false },
      details: { claimedJobId: "j-1", streamSeq: 42 },
    });
    expect(ev.target.jobId).toBeUndefined();
  });
});

describe("followUpJobId", () => {
  it("derives confirm/revert ids deterministically", () => {
    expect(followUpJobId("j-1", "confirm")).toBe("j-1-c");
    expect(followUpJobId("j-1", "revert")).toBe("j-1-r");
    expect(followUpJobId("j-1", "revert", 3)).toBe("j-1-r3");
    expect(() => followUpJobId("j-1", "revert", 0)).toThrow(RangeError);
    expect(() => followUpJobId("j".repeat(127), "confirm")).toThrow(/follow-up job id/);
  });
});
