import { RolloutPolicySpecSchema } from "@fleetnet/intent";
import { describe, expect, it } from "vitest";
import {
  type Action,
  type HostOutcome,
  jobId,
  machineConfig,
  newRollout,
  outstanding,
  parseJobId,
  type RolloutState,
  reduce,
  summarize,
  toleratedFailures,
  transitions,
} from "./machine.js";
import { planWaves } from "./waves.js";

const hostsOf = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `h${i + 1}`, labels: {} }));

function rollout(n: number, p: Record<string, unknown> = {}): RolloutState {
  const policy = RolloutPolicySpecSchema.parse({
    soak: "0s",
    confirmTimeout: "60s",
    maxUnavailable: "100%",
    ...p,
  });
  const plan = planWaves(hostsOf(n), policy);
  return newRollout("r1", plan.waves, machineConfig(policy, n, 120_000), 0);
}

const jobs = (s: RolloutState, kind?: Action["kind"]) =>
  outstanding(s)
    .filter((a) => kind === undefined || a.kind === kind)
    .map((a) => ("host" in a ? a.host : `gates:${a.wave}`));
const statuses = (s: RolloutState) =>
  Object.fromEntries(Object.entries(s.hosts).map(([n, h]) => [n, h.status]));
const waveStatuses = (s: RolloutState) => s.waves.map((w) => w.status);

/** Answer every outstanding host job (the executor's part); `outcome` picks per host and job. */
function answer(
  s: RolloutState,
  at: number,
  outcome: (host: string, kind: string) => HostOutcome | undefined = (_h, k) =>
    k === "apply" ? "applied" : k === "confirm" ? "confirmed" : "reverted",
): RolloutState {
  for (const a of outstanding(s)) {
    if (a.kind === "gates") continue;
    const o = outcome(a.host, a.kind);
    if (o) s = reduce(s, { type: "result", at, host: a.host, attempt: a.attempt, outcome: o });
  }
  return s;
}
/** Outcomes where the apply of `hosts` fails and everything else goes well. */
const failOn =
  (...hosts: string[]) =>
  (h: string, k: string): HostOutcome =>
    k === "apply" ? (hosts.includes(h) ? "failed" : "applied") : k === "confirm" ? "confirmed" : "reverted";
const gates = (s: RolloutState, at: number, passed = true, detail?: string) =>
  reduce(s, { type: "gates", at, wave: s.current, passed, ...(detail ? { detail } : {}) });

/** Drive a rollout to its end: answer jobs with `outcome`, pass gates, tick time forward. */
function drive(s: RolloutState, outcome?: Parameters<typeof answer>[2], gatePass = true): RolloutState {
  let at = 1;
  for (let i = 0; i < 200 && !["succeeded", "failed", "rolled_back", "aborted"].includes(s.status); i++) {
    at += 1000;
    s = answer(s, at, outcome);
    if (outstanding(s).some((a) => a.kind === "gates")) s = gates(s, at, gatePass, "gate detail");
    s = reduce(s, { type: "tick", at });
  }
  return s;
}

describe("rollout state machine", () => {
  it("pending until start; a happy rollout confirms every host wave by wave", () => {
    let s = rollout(5, { waves: [{ hosts: 1 }, { percent: 100 }] });
    expect(s.status).toBe("pending");
    expect(outstanding(s)).toEqual([]);
    s = reduce(s, { type: "start", at: 1 });
    expect(s.status).toBe("running");
    expect(outstanding(s)).toEqual([{ kind: "apply", host: "h1", wave: 0, attempt: 1, jobId: "r1_h1_1" }]);
    expect(waveStatuses(s)).toEqual(["applying", "pending"]);
    s = drive(s);
    expect(s.status).toBe("succeeded");
    expect(waveStatuses(s)).toEqual(["succeeded", "succeeded"]);
    expect(new Set(Object.values(statuses(s)))).toEqual(new Set(["confirmed"]));
    expect(outstanding(s)).toEqual([]);
  });

  it("applies a wave in batches of maxUnavailable", () => {
    let s = reduce(rollout(5, { waves: [{ percent: 100 }], maxUnavailable: 2 }), { type: "start", at: 1 });
    expect(jobs(s)).toEqual(["h1", "h2"]);
    s = reduce(s, { type: "result", at: 2, host: "h1", attempt: 1, outcome: "applied" });
    expect(jobs(s)).toEqual(["h2"]); // the batch is not done yet
    s = reduce(s, { type: "result", at: 3, host: "h2", attempt: 1, outcome: "unchanged" });
    expect(jobs(s)).toEqual(["h3", "h4"]);
    s = answer(s, 4);
    expect(jobs(s)).toEqual(["h5"]);
  });

  it("confirms only after the wave's gates pass; a failing gate is polled again", () => {
    let s = reduce(rollout(2, { waves: [{ percent: 100 }] }), { type: "start", at: 0 });
    s = answer(s, 1, (h) => (h === "h1" ? "applied" : "unchanged"));
    expect(s.waves[0]?.status).toBe("gating");
    expect(outstanding(s)).toEqual([
      { kind: "gates", wave: 0, hosts: ["h1", "h2"], gates: ["hostsHealthy"] },
    ]);
    s = gates(s, 2, false, "h1: no heartbeat");
    expect(s.waves[0]?.status).toBe("gating");
    expect(s.waves[0]?.gateDetail).toBe("h1: no heartbeat");
    expect(jobs(s, "confirm")).toEqual([]);
    s = gates(s, 3, true);
    expect(s.waves[0]?.status).toBe("confirming");
    expect(outstanding(s)).toEqual([
      { kind: "confirm", host: "h1", wave: 0, attempt: 2, jobId: "r1_h1_2", applyJobId: "r1_h1_1" },
    ]); // not h2
    s = answer(s, 4);
    expect(s.status).toBe("succeeded");
    expect(statuses(s)).toEqual({ h1: "confirmed", h2: "unchanged" });
  });

  it("gates that never pass fail the wave before the confirm deadline and roll it back", () => {
    let s = reduce(rollout(3, { waves: [{ hosts: 2 }, { percent: 100 }] }), { type: "start", at: 0 });
    s = answer(s, 1_000);
    s = gates(s, 2_000, false, "h2 unhealthy");
    // deadline = first applied (1000) + 60s - 5s margin
    expect(s.waves[0]?.gateDeadline).toBe(56_000);
    s = reduce(s, { type: "tick", at: 55_999 });
    expect(s.waves[0]?.status).toBe("gating");
    s = reduce(s, { type: "tick", at: 56_000 });
    expect(s.stop?.reason).toBe("wave 0: gates hostsHealthy did not pass in time: h2 unhealthy");
    expect(jobs(s)).toEqual(["h1", "h2"]);
    expect(outstanding(s).every((a) => a.kind === "revert")).toBe(true);
    s = answer(s, 57_000);
    expect(s.status).toBe("rolled_back");
    expect(waveStatuses(s)).toEqual(["reverted", "skipped"]);
    expect(statuses(s)).toEqual({ h1: "reverted", h2: "reverted", h3: "pending" });
  });

  it("a host failing in wave 2 with autoRollback wave: that wave reverts, later waves never start", () => {
    const s = drive(
      reduce(
        rollout(8, {
          waves: [{ hosts: 1 }, { hosts: 5 }, { percent: 100 }],
          maxUnavailable: 8,
          failureThreshold: { hosts: 0 },
        }),
        { type: "start", at: 0 },
      ),
      (h, k) =>
        k === "apply"
          ? h === "h3"
            ? "failed"
            : h === "h4"
              ? "unchanged"
              : "applied"
          : k === "confirm"
            ? "confirmed"
            : "reverted",
    );
    expect(s.status).toBe("rolled_back");
    expect(waveStatuses(s)).toEqual(["succeeded", "reverted", "skipped"]);
    expect(statuses(s)).toEqual({
      h1: "confirmed",
      h2: "reverted",
      h3: "failed",
      h4: "unchanged",
      h5: "reverted",
      h6: "pending",
      h7: "pending",
      h8: "pending",
    });
    expect(s.hosts.h3?.error?.code).toBe("APPLY_FAILED");
    expect(s.stop?.reason).toBe("failureThreshold exceeded: 1 host(s) failed, 0 tolerated: h3");
  });

  it("autoRollback rollout reverts every changed host, newest wave first", () => {
    let s = reduce(
      rollout(6, {
        waves: [{ hosts: 1 }, { hosts: 3 }, { percent: 100 }],
        autoRollback: "rollout",
        maxUnavailable: 6,
        failureThreshold: { hosts: 0 },
      }),
      { type: "start", at: 0 },
    );
    // waves 0 and 1 succeed, wave 2 has a failure
    const fail = (h: string, k: string): HostOutcome =>
      k === "apply" ? (h === "h6" ? "failed" : "applied") : "confirmed";
    for (let at = 1; s.current < 2 || jobs(s, "apply").length > 0; at++) {
      s = answer(s, at, fail);
      if (outstanding(s).some((a) => a.kind === "gates")) s = gates(s, at);
    }
    expect(s.stop?.kind).toBe("failure");
    expect(jobs(s, "revert")).toEqual(["h4", "h5"]); // the newest wave first (h6 failed: nothing to revert)
    s = answer(s, 100);
    expect(jobs(s, "revert")).toEqual(["h2", "h3"]);
    expect(s.hosts.h1?.status).toBe("confirmed");
    s = answer(s, 101);
    expect(jobs(s, "revert")).toEqual(["h1"]);
    s = answer(s, 102);
    expect(s.status).toBe("rolled_back");
    expect(waveStatuses(s)).toEqual(["reverted", "reverted", "reverted"]);
    expect(Object.values(s.hosts).every((h) => !h.changed)).toBe(true);
  });

  it("autoRollback none: stops failed, keeps confirmed hosts, reverts never-confirmed ones", () => {
    let s = reduce(
      rollout(4, {
        waves: [{ hosts: 1 }, { percent: 100 }],
        autoRollback: "none",
        maxUnavailable: 4,
        failureThreshold: { hosts: 0 },
      }),
      { type: "start", at: 0 },
    );
    s = drive(s, (h, k) =>
      k === "apply" ? (h === "h4" ? "failed" : "applied") : k === "confirm" ? "confirmed" : "reverted",
    );
    expect(s.status).toBe("failed");
    expect(statuses(s)).toEqual({ h1: "confirmed", h2: "reverted", h3: "reverted", h4: "failed" });
    expect(waveStatuses(s)).toEqual(["succeeded", "reverted"]);
  });

  // failureThreshold is the number of failures tolerated: the rollout stops when it is exceeded;
  // a rollout that completes with tolerated failures ends failed (not succeeded), not rolled back
  it.each([
    { threshold: { hosts: 1 }, failing: [], status: "succeeded" },
    { threshold: { hosts: 1 }, failing: ["h2"], status: "failed" },
    { threshold: { hosts: 1 }, failing: ["h2", "h5"], status: "rolled_back" },
    { threshold: { hosts: 2 }, failing: ["h2", "h5"], status: "failed" },
    { threshold: { hosts: 2 }, failing: ["h2", "h5", "h7"], status: "rolled_back" },
    { threshold: { hosts: 0 }, failing: ["h2"], status: "rolled_back" },
    { threshold: { percent: 0 }, failing: ["h2"], status: "rolled_back" },
    { threshold: { percent: 5 }, failing: ["h2"], status: "rolled_back" }, // 10% > 5%
    { threshold: { percent: 10 }, failing: ["h2"], status: "failed" }, // 10% is not more than 10%
    { threshold: { percent: 30 }, failing: ["h2", "h3", "h4"], status: "failed" },
    { threshold: { percent: 30 }, failing: ["h2", "h3", "h4", "h6"], status: "rolled_back" },
  ])("failureThreshold $threshold with $failing failing → $status", ({ threshold, failing, status }) => {
    const s = drive(
      reduce(rollout(10, { waves: [{ percent: 100 }], maxUnavailable: 1, failureThreshold: threshold }), {
        type: "start",
        at: 0,
      }),
      failOn(...failing),
    );
    expect(s.status).toBe(status);
  });

  it("{hosts: 1} tolerates one failure, stops at the second; the wave with it rolls back", () => {
    let s = reduce(
      rollout(6, { waves: [{ hosts: 2 }, { hosts: 4 }, { percent: 100 }], failureThreshold: { hosts: 1 } }),
      { type: "start", at: 0 },
    );
    s = drive(s, failOn("h2", "h4"));
    expect(s.status).toBe("rolled_back");
    expect(s.stop?.reason).toBe("failureThreshold exceeded: 2 host(s) failed, 1 tolerated: h2, h4");
    // wave 1 went on past h2's failure and was confirmed; wave 2 (h4's) was reverted
    expect(waveStatuses(s)).toEqual(["succeeded", "reverted", "skipped"]);
    expect(statuses(s)).toEqual({
      h1: "confirmed",
      h2: "failed",
      h3: "reverted",
      h4: "failed",
      h5: "pending",
      h6: "pending",
    });
  });

  it("a rollout completing with tolerated failures ends failed: no revert, confirmed hosts stay", () => {
    let s = reduce(
      rollout(4, {
        waves: [{ hosts: 1 }, { percent: 100 }],
        maxUnavailable: 4,
        failureThreshold: { hosts: 1 },
      }),
      { type: "start", at: 0 },
    );
    const before = s;
    const kinds: string[] = [];
    s = drive(s, (h, k) => {
      kinds.push(`${k}:${h}`);
      return failOn("h3")(h, k);
    });
    expect(s.status).toBe("failed");
    expect(kinds.filter((k) => k.startsWith("revert"))).toEqual([]);
    expect(statuses(s)).toEqual({ h1: "confirmed", h2: "confirmed", h3: "failed", h4: "confirmed" });
    expect(waveStatuses(s)).toEqual(["succeeded", "succeeded"]);
    expect(s.stop).toMatchObject({
      kind: "failure",
      reason: "completed with 1 failed host(s) within failureThreshold (tolerates 1): h3",
    });
    expect(outstanding(s)).toEqual([]);
    // the audit trail's last word says why
    const end = transitions(before, s).at(-1);
    expect(end).toMatchObject({ action: "rollout.failed", detail: s.stop?.reason });
    expect(summarize(s).status).toBe("failed");
  });

  it("toleratedFailures: hosts as given, percent of the selected hosts rounded down", () => {
    expect(toleratedFailures({ hosts: 0 }, 10)).toBe(0);
    expect(toleratedFailures({ hosts: 3 }, 10)).toBe(3);
    expect(toleratedFailures({ percent: 0 }, 10)).toBe(0);
    expect(toleratedFailures({ percent: 10 }, 50)).toBe(5); // SSM: 10% of 50 stops at the 6th error
    expect(toleratedFailures({ percent: 5 }, 10)).toBe(0);
    expect(toleratedFailures({ percent: 7 }, 100)).toBe(7);
    expect(toleratedFailures({ percent: 100 }, 9)).toBe(9);
  });

  it("pause holds new dispatches and the next wave, lets in-flight hosts finish and confirm; resume continues", () => {
    let s = reduce(rollout(4, { waves: [{ hosts: 2 }, { percent: 100 }], maxUnavailable: 1 }), {
      type: "start",
      at: 0,
    });
    s = reduce(s, { type: "pause", at: 1, by: "alice" });
    expect(s.status).toBe("paused");
    expect(jobs(s)).toEqual(["h1"]); // already dispatched before the pause
    s = answer(s, 2);
    expect(jobs(s)).toEqual([]); // h2 not dispatched while paused
    s = reduce(s, { type: "resume", at: 3 });
    expect(jobs(s)).toEqual(["h2"]);
    s = answer(s, 4);
    s = reduce(s, { type: "pause", at: 5 });
    s = gates(s, 6);
    s = answer(s, 7); // confirms still flow while paused
    expect(statuses(s)).toMatchObject({ h1: "confirmed", h2: "confirmed", h3: "pending" });
    expect(waveStatuses(s)).toEqual(["succeeded", "pending"]);
    s = reduce(s, { type: "tick", at: 8 });
    expect(jobs(s)).toEqual([]);
    s = reduce(s, { type: "resume", at: 9 });
    expect(jobs(s)).toEqual(["h3"]);
    expect(drive(s).status).toBe("succeeded");
  });

  it("abort mid-wave: in-flight hosts finish, unconfirmed changes revert, status aborted", () => {
    let s = reduce(rollout(4, { waves: [{ hosts: 1 }, { percent: 100 }], maxUnavailable: 2 }), {
      type: "start",
      at: 0,
    });
    s = answer(s, 1);
    s = gates(s, 2);
    s = answer(s, 3); // wave 0 confirmed
    expect(jobs(s)).toEqual(["h2", "h3"]);
    s = reduce(s, { type: "abort", at: 4, by: "bob" });
    expect(s.status).toBe("running");
    expect(jobs(s)).toEqual(["h2", "h3"]); // nothing new, in-flight continues
    s = answer(s, 5);
    expect(jobs(s, "revert")).toEqual(["h2", "h3"]);
    s = answer(s, 6);
    expect(s.status).toBe("aborted");
    expect(s.stop).toMatchObject({ kind: "abort", by: "bob" });
    expect(statuses(s)).toEqual({ h1: "confirmed", h2: "reverted", h3: "reverted", h4: "pending" });
    expect(waveStatuses(s)).toEqual(["succeeded", "reverted"]);
  });

  it("soak: waits after confirm, then checks the gates again before the next wave", () => {
    let s = reduce(rollout(2, { waves: [{ hosts: 1 }, { percent: 100 }], soak: "10s" }), {
      type: "start",
      at: 0,
    });
    s = answer(s, 1_000);
    s = gates(s, 1_000);
    s = answer(s, 2_000);
    expect(s.waves[0]).toMatchObject({ status: "soaking", soakUntil: 12_000 });
    s = reduce(s, { type: "tick", at: 11_999 });
    expect(s.waves[0]?.status).toBe("soaking");
    expect(jobs(s)).toEqual([]);
    s = reduce(s, { type: "tick", at: 12_000 });
    expect(s.waves[0]?.status).toBe("verifying");
    expect(jobs(s)).toEqual(["gates:0"]);
    s = gates(s, 12_500);
    expect(waveStatuses(s)).toEqual(["succeeded", "applying"]);
    expect(jobs(s)).toEqual(["h2"]);
  });

  it("a host without a result in time fails with RESULT_TIMEOUT", () => {
    let s = reduce(rollout(2, { waves: [{ percent: 100 }], failureThreshold: { hosts: 2 } }), {
      type: "start",
      at: 0,
    });
    s = reduce(s, { type: "result", at: 1, host: "h1", attempt: 1, outcome: "applied" });
    s = reduce(s, { type: "tick", at: 119_999 });
    expect(s.hosts.h2?.status).toBe("dispatched");
    s = reduce(s, { type: "tick", at: 120_000 });
    expect(s.hosts.h2).toMatchObject({ status: "failed", failure: true, error: { code: "RESULT_TIMEOUT" } });
    // a late result for that job is ignored
    const late = reduce(s, { type: "result", at: 120_001, host: "h2", attempt: 1, outcome: "applied" });
    expect(late.hosts.h2?.status).toBe("failed");
  });

  it("stale and duplicate results change nothing", () => {
    let s = reduce(rollout(1), { type: "start", at: 0 });
    s = reduce(s, { type: "result", at: 1, host: "h1", attempt: 1, outcome: "applied" });
    expect(reduce(s, { type: "result", at: 2, host: "h1", attempt: 1, outcome: "failed" })).toBe(s);
    expect(reduce(s, { type: "result", at: 2, host: "nope", attempt: 1, outcome: "failed" })).toBe(s);
    expect(reduce(s, { type: "resume", at: 2 })).toBe(s);
  });

  it("a host that reverts instead of confirming counts as a failure", () => {
    let s = reduce(rollout(2, { waves: [{ percent: 100 }], failureThreshold: { hosts: 0 } }), {
      type: "start",
      at: 0,
    });
    s = answer(s, 1);
    s = gates(s, 2);
    s = answer(s, 3, (h) => (h === "h1" ? "reverted" : "confirmed"));
    expect(s.hosts.h1).toMatchObject({ status: "reverted", failure: true, changed: false });
    expect(s.hosts.h1?.error?.code).toBe("NOT_CONFIRMED");
    s = answer(s, 4);
    expect(s.status).toBe("rolled_back");
    expect(statuses(s)).toEqual({ h1: "reverted", h2: "reverted" });
  });

  it("a host whose own timer reverted the apply (a late `reverted` for the apply job) is a failure", () => {
    let s = reduce(rollout(2, { waves: [{ percent: 100 }], failureThreshold: { hosts: 0 } }), {
      type: "start",
      at: 0,
    });
    s = answer(s, 1);
    expect(s.waves[0]?.status).toBe("gating");
    s = reduce(s, { type: "result", at: 70_000, host: "h1", attempt: 1, outcome: "reverted" });
    expect(s.hosts.h1).toMatchObject({ status: "reverted", changed: false, failure: true });
    expect(s.hosts.h1?.error?.code).toBe("NOT_CONFIRMED");
    s = answer(s, 70_001);
    expect(s.status).toBe("rolled_back");
    expect(statuses(s)).toEqual({ h1: "reverted", h2: "reverted" });
  });

  it("operator rollback of a finished rollout reverts everything newest first; unchanged hosts are left", () => {
    let s = drive(
      reduce(rollout(3, { waves: [{ hosts: 1 }, { percent: 100 }] }), { type: "start", at: 0 }),
      (h, k) =>
        k === "apply" ? (h === "h3" ? "unchanged" : "applied") : k === "confirm" ? "confirmed" : "reverted",
    );
    expect(s.status).toBe("succeeded");
    s = reduce(s, { type: "rollback", at: 10_000_000, by: "carol" });
    expect(s.status).toBe("running");
    expect(jobs(s)).toEqual(["h2"]);
    s = answer(s, 10_000_001);
    expect(jobs(s)).toEqual(["h1"]);
    s = answer(s, 10_000_002);
    expect(s.status).toBe("rolled_back");
    expect(statuses(s)).toEqual({ h1: "reverted", h2: "reverted", h3: "unchanged" });
    expect(reduce(s, { type: "rollback", at: 10_000_003 })).toBe(s);
  });

  it("a revert that fails leaves the rollout failed, naming the host", () => {
    const start = rollout(2, { waves: [{ percent: 100 }], failureThreshold: { hosts: 0 } });
    const s = drive(reduce(start, { type: "start", at: 0 }), (h, k) =>
      k === "apply" ? (h === "h2" ? "failed" : "applied") : k === "revert" ? "failed" : "confirmed",
    );
    expect(s.status).toBe("failed");
    expect(s.hosts.h1?.error?.code).toBe("REVERT_FAILED");
    expect(s.waves[0]?.status).toBe("failed");
  });

  it("a runner failure stops the rollout and rolls back like a host failure", () => {
    let s = reduce(rollout(2, { waves: [{ hosts: 1 }, { percent: 100 }] }), { type: "start", at: 0 });
    s = answer(s, 1);
    s = reduce(s, { type: "fail", at: 2, reason: "lost host locks" });
    expect(s.stop).toEqual({ kind: "failure", reason: "lost host locks", at: 2 });
    expect(outstanding(s)).toEqual([
      { kind: "revert", host: "h1", wave: 0, attempt: 2, jobId: "r1_h1_2", applyJobId: "r1_h1_1" },
    ]);
    s = answer(s, 3);
    expect(s.status).toBe("rolled_back");
  });

  it("a runner that lost its hosts stops without touching them", () => {
    let s = reduce(rollout(3, { waves: [{ hosts: 2 }, { percent: 100 }], maxUnavailable: 1 }), {
      type: "start",
      at: 0,
    });
    s = answer(s, 1);
    expect(jobs(s)).toEqual(["h2"]);
    s = reduce(s, { type: "fail", at: 2, reason: "lost lock on h1", revert: false });
    expect(jobs(s)).toEqual(["h2"]); // the in-flight job still answers
    s = answer(s, 3);
    expect(s.status).toBe("failed");
    expect(outstanding(s)).toEqual([]);
    expect(statuses(s)).toEqual({ h1: "applied", h2: "applied", h3: "pending" });
    expect(waveStatuses(s)).toEqual(["failed", "skipped"]);
  });

  it("abort and rollback of a pending rollout end it at once", () => {
    expect(reduce(rollout(2), { type: "abort", at: 1 }).status).toBe("aborted");
    expect(reduce(rollout(2), { type: "rollback", at: 1 }).status).toBe("rolled_back");
  });

  it("transitions name every status change for the audit log; outstanding is stable", () => {
    const a = rollout(2, { waves: [{ percent: 100 }] });
    const b = reduce(a, { type: "start", at: 1 });
    expect(transitions(a, b)).toEqual([
      { scope: "rollout", id: "r1", action: "rollout.running", from: "pending", to: "running" },
      { scope: "wave", id: "0", action: "wave.applying", from: "pending", to: "applying" },
      { scope: "host", id: "h1", action: "host.dispatched", from: "pending", to: "dispatched+apply#1" },
      { scope: "host", id: "h2", action: "host.dispatched", from: "pending", to: "dispatched+apply#1" },
    ]);
    const c = reduce(b, {
      type: "result",
      at: 2,
      host: "h1",
      attempt: 1,
      outcome: "failed",
      error: { code: "X", message: "boom" },
    });
    expect(transitions(b, c)).toContainEqual({
      scope: "host",
      id: "h1",
      action: "host.failed",
      from: "dispatched",
      to: "failed",
      detail: "X: boom",
    });
    // the second host's result moves the wave on: outcome first, then the wave, then the jobs it sends
    let d = reduce(rollout(1, { gates: [] }), { type: "start", at: 0 });
    const before = d;
    d = reduce(d, { type: "result", at: 1, host: "h1", attempt: 1, outcome: "applied" });
    // (net changes: the wave passed through gating within this one step)
    expect(transitions(before, d).map((t) => t.action)).toEqual([
      "host.applied",
      "wave.confirming",
      "host.confirm-sent",
    ]);
    const e = reduce(d, { type: "result", at: 2, host: "h1", attempt: 2, outcome: "confirmed" });
    expect(transitions(d, e).map((t) => t.action)).toEqual([
      "host.confirmed",
      "wave.succeeded",
      "rollout.succeeded",
    ]);
    expect(outstanding(c)).toEqual(outstanding(c));
    expect(jobId("r-1", "h-2", 3)).toBe("r-1_h-2_3");
    expect(parseJobId("r_x-1_h-2_3")).toEqual({ rolloutId: "r_x-1", host: "h-2", attempt: 3 });
    expect(parseJobId("nonsense")).toBeUndefined();
  });

  it("summarize gives the CLI's JSON shape", () => {
    const s = drive(
      reduce(rollout(2, { waves: [{ hosts: 1 }, { percent: 100 }], failureThreshold: { hosts: 0 } }), {
        type: "start",
        at: 0,
      }),
      (h, k) =>
        k === "apply" ? (h === "h2" ? "failed" : "applied") : k === "confirm" ? "confirmed" : "reverted",
    );
    expect(summarize(s)).toEqual({
      rolloutId: "r1",
      status: "rolled_back",
      waves: [
        { index: 0, hosts: ["h1"], status: "succeeded" },
        { index: 1, hosts: ["h2"], status: "failed" }, // nothing in it to revert
      ],
      hosts: {
        h1: { status: "confirmed", changed: true, error: null },
        h2: { status: "failed", changed: false, error: { code: "APPLY_FAILED", message: "apply failed" } },
      },
      stop: s.stop,
    });
  });
});
