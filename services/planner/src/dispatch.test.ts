import { describe, expect, it } from "vitest";
import { HeartbeatBook, HeartbeatGates } from "./dispatch.js";

describe("heartbeat gates", () => {
  const now = Date.parse("2026-01-01T00:01:00Z");
  const book = new HeartbeatBook();
  book.record({ host: "a", at: "2026-01-01T00:00:55Z" });
  book.record({ host: "b", at: "2026-01-01T00:00:10Z" });
  book.record({ host: "a", at: "2026-01-01T00:00:01Z" }); // older: ignored
  const gates = new HeartbeatGates(book, 15_000);

  it("hostsHealthy passes when every host was heard from recently", async () => {
    expect(book.lastSeen("a")).toBe(Date.parse("2026-01-01T00:00:55Z"));
    expect(await gates.check(["hostsHealthy"], ["a"], now)).toEqual({
      passed: true,
      detail: "hostsHealthy passed for 1 host(s)",
    });
  });

  it("names stale and silent hosts", async () => {
    expect(await gates.check(["hostsHealthy"], ["a", "b", "c"], now)).toEqual({
      passed: false,
      detail: "b: last heartbeat 50s ago; c: no heartbeat",
    });
  });

  it("gates without a source fail closed, saying so", async () => {
    const v = await gates.check(["hostsHealthy", "bgpEstablished"], ["a"], now);
    expect(v).toEqual({
      passed: false,
      detail: "gate bgpEstablished is not available (no telemetry source for it)",
    });
  });
});
