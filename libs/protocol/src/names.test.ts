import { describe, expect, it } from "vitest";
import {
  assertHostName,
  assertSafeId,
  hostInboxPrefix,
  jobConsumerName,
  jsApi,
  planHashId,
  redisKeys,
  subjects,
} from "./index.js";
import { codeOf } from "./testlib/errors.testlib.js";

describe("subject builders", () => {
  it("builds every subject from validated parts", () => {
    expect(subjects.job("h001")).toBe("fleet.v1.jobs.h001");
    expect(subjects.hostEvent("kvm-a02", "result")).toBe("fleet.v1.events.host.kvm-a02.result");
    expect(subjects.hostEvents("h1")).toBe("fleet.v1.events.host.h1.>");
    expect(subjects.allHostEvents("progress")).toBe("fleet.v1.events.host.*.progress");
    expect(subjects.rolloutEvent("r-20261129_1", "wave-started")).toBe(
      "fleet.v1.events.rollout.r-20261129_1.wave-started",
    );
    expect(subjects.rolloutEvents()).toBe("fleet.v1.events.rollout.>");
    expect(subjects.heartbeat("h1")).toBe("fleet.v1.heartbeat.h1");
    expect(subjects.state("h1")).toBe("fleet.v1.state.h1");
    expect(subjects.api("rollback")).toBe("fleet.v1.api.rollback");
    expect(subjects.allJobs()).toBe("fleet.v1.jobs.>");
    expect(subjects.telemetryApi("health")).toBe("fleet.v1.telemetry.health");
    expect(subjects.allEvents()).toBe("fleet.v1.events.>");
  });

  it("a host named like a publisher class cannot reach that class's subjects", () => {
    // host "rollout" publishes under events.host.rollout.>, never events.rollout.<id>.>
    expect(subjects.hostEvents("rollout")).toBe("fleet.v1.events.host.rollout.>");
    expect(subjects.rolloutEvent("x1", "done").startsWith("fleet.v1.events.host.")).toBe(false);
  });

  it.each([
    ["dot", "h1.evil"],
    ["star", "h*"],
    ["gt", ">"],
    ["space", "h 1"],
    ["tab", "h\t1"],
    ["upper case", "H1"],
    ["empty", ""],
    ["leading dash", "-h1"],
    ["trailing dash", "h1-"],
    ["64 chars", "a".repeat(64)],
    ["underscore", "h_1"],
  ])("refuses a host name with %s", (_why, host) => {
    expect(codeOf(() => subjects.job(host))).toBe("INVALID_NAME");
    expect(codeOf(() => subjects.heartbeat(host))).toBe("INVALID_NAME");
    expect(codeOf(() => redisKeys.hostLock(host))).toBe("INVALID_NAME");
  });

  it.each([
    ["dot", "r.1"],
    ["star", "r*"],
    ["gt", "r>"],
    ["colon", "r:1"],
    ["brace", "r{1}"],
    ["space", "r 1"],
    ["newline", "r\n1"],
    ["empty", ""],
    ["129 chars", "r".repeat(129)],
  ])("refuses an id with %s", (_why, id) => {
    expect(codeOf(() => subjects.rolloutEvent(id, "started"))).toBe("INVALID_NAME");
    expect(codeOf(() => redisKeys.rollout(id))).toBe("INVALID_NAME");
    expect(codeOf(() => assertSafeId(id))).toBe("INVALID_NAME");
  });

  it("refuses event types and verbs that are not tokens", () => {
    expect(codeOf(() => subjects.rolloutEvent("r1", "a.b"))).toBe("INVALID_NAME");
    expect(codeOf(() => subjects.plannerEvent("*"))).toBe("INVALID_NAME");
    // a caller bypassing the type system still cannot inject a wildcard
    expect(codeOf(() => subjects.hostEvent("h1", ">" as never))).toBe("INVALID_NAME");
    expect(codeOf(() => subjects.api("plan.>" as never))).toBe("INVALID_NAME");
  });

  it("names the bad value in the error", () => {
    expect(() => assertHostName("bad.host")).toThrow(/invalid host name "bad.host": must be a DNS label/);
  });
});

describe("stream, consumer, inbox and JetStream API names", () => {
  it("builds per-host names", () => {
    expect(jobConsumerName("h1")).toBe("exec-h1");
    expect(hostInboxPrefix("h1")).toBe("_INBOX_h1");
    expect(jsApi.consumerNext("FLEET_JOBS", "exec-h1")).toBe("$JS.API.CONSUMER.MSG.NEXT.FLEET_JOBS.exec-h1");
    expect(jsApi.consumerInfo("FLEET_JOBS", "exec-h1")).toBe("$JS.API.CONSUMER.INFO.FLEET_JOBS.exec-h1");
    expect(jsApi.consumerAcks("FLEET_JOBS", "exec-h1")).toBe("$JS.ACK.FLEET_JOBS.exec-h1.>");
    expect(codeOf(() => jsApi.consumerNext("FLEET_JOBS", "exec-*"))).toBe("INVALID_NAME");
    expect(codeOf(() => jsApi.consumerNext("fleet.jobs", "exec-h1"))).toBe("INVALID_NAME");
  });
});

describe("planHashId", () => {
  it("turns netstate's sha256:<hex> into a safe id and refuses anything else unsafe", () => {
    expect(planHashId(`sha256:${"ab".repeat(32)}`)).toBe(`sha256-${"ab".repeat(32)}`);
    expect(planHashId("p-1")).toBe("p-1");
    expect(redisKeys.plan(planHashId("sha256:00ff"))).toBe("fleetnet:plan:sha256-00ff");
    expect(codeOf(() => planHashId("sha256:a:b"))).toBe("INVALID_NAME");
    expect(codeOf(() => planHashId("x y"))).toBe("INVALID_NAME");
  });
});

describe("Redis keys", () => {
  it("keeps a rollout's keys in one hash slot and all locks in another", () => {
    expect(redisKeys.rollout("r1")).toBe("fleetnet:rollout:{r1}");
    expect(redisKeys.rolloutHosts("r1")).toBe("fleetnet:rollout:{r1}:hosts");
    expect(redisKeys.rolloutWaves("r1")).toBe("fleetnet:rollout:{r1}:waves");
    expect(redisKeys.hostLock("h1")).toBe("fleetnet:{locks}:host:h1");
    expect(redisKeys.lockFence()).toBe("fleetnet:{locks}:fence");
    expect(redisKeys.plan("abc123")).toBe("fleetnet:plan:abc123");
    expect(redisKeys.hostState("h1")).toBe("fleetnet:host:h1:state");
    expect(redisKeys.allocations("pool-a")).toBe("fleetnet:alloc:pool-a");
    expect(redisKeys.replay("h1")).toBe("fleetnet:replay:h1");
  });
});
