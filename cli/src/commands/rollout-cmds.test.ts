import type { AuditEvent } from "@fleetnet/protocol";
import { describe, expect, it } from "vitest";
import { describeEvent, type RolloutSummary, readIntentFiles } from "./rollout-api.js";
import { formatSummary, resultJson } from "./rollout-cmds.js";

const summary: RolloutSummary = {
  rolloutId: "r-1",
  status: "failed",
  waves: [
    { index: 0, hosts: ["h001"], status: "succeeded" },
    { index: 1, hosts: ["h002", "h003"], status: "reverted", reason: "spread" },
    { index: 2, hosts: ["h004"], status: "pending" },
  ],
  hosts: {
    h001: { status: "confirmed", changed: true, error: null },
    h002: { status: "reverted", changed: false, error: null },
    h003: {
      status: "failed",
      changed: false,
      error: { code: "FOREIGN_LINK_CONFLICT", message: "vx5102 is a veth" },
    },
    h004: { status: "pending", changed: false, error: null },
  },
  stop: { kind: "failure", reason: "1 host failed", at: 1 },
};

describe("apply --json result", () => {
  it("has exactly rolloutId, status, waves[{index, hosts, status}], hosts{status, changed, error}", () => {
    const j = resultJson(summary) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(["rolloutId", "status", "waves", "hosts"]);
    expect(j.waves).toEqual([
      { index: 0, hosts: ["h001"], status: "succeeded" },
      { index: 1, hosts: ["h002", "h003"], status: "reverted" },
      { index: 2, hosts: ["h004"], status: "pending" },
    ]);
    expect((j.hosts as Record<string, unknown>).h003).toEqual({
      status: "failed",
      changed: false,
      error: { code: "FOREIGN_LINK_CONFLICT", message: "vx5102 is a veth" },
    });
  });
});

describe("human output", () => {
  it("shows the stop reason, one line per wave with its progress, and each host error", () => {
    const text = formatSummary(summary);
    expect(text).toContain("rollout r-1: failed (failure: 1 host failed)");
    expect(text).toMatch(/wave 1 \[#{10}\] succeeded +h001/);
    expect(text).toMatch(/wave 2 \[#{10}\] reverted +h002, h003/);
    expect(text).toMatch(/wave 3 \[-{10}\] pending +h004/);
    expect(text).toContain("h003: failed: FOREIGN_LINK_CONFLICT: vx5102 is a veth");
  });

  it("describes wave and host events 1-based, with who acted", () => {
    const base: AuditEvent = {
      v: 1,
      id: "e1",
      at: "2026-01-01T12:00:01.000Z",
      actor: { kind: "planner", id: "planner-1" },
      action: "wave.gating",
      target: { rolloutId: "r-1", wave: 1 },
      result: "ok",
    };
    expect(describeEvent(base)).toBe("12:00:01 wave 2 gating");
    expect(
      describeEvent({
        ...base,
        action: "host.failed",
        target: { rolloutId: "r-1", host: "h003", wave: 1 },
        result: "failed",
        details: { detail: "FOREIGN_LINK_CONFLICT" },
      }),
    ).toBe("12:00:01 host h003 failed: FOREIGN_LINK_CONFLICT");
    expect(describeEvent({ ...base, action: "rollout.paused", actor: { kind: "user", id: "alice" } })).toBe(
      "12:00:01 rollout.paused (by alice)",
    );
  });
});

describe("reading intent files", () => {
  it("refuses no paths and unreadable paths with a usage error naming them", () => {
    expect(() => readIntentFiles([])).toThrow(/-f PATH/);
    expect(() => readIntentFiles(["/nonexistent/fne.yaml"])).toThrow(/nonexistent\/fne\.yaml/);
  });
});
