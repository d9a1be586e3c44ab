/** The periodic state report's schedule (pure). */
import { describe, expect, it } from "vitest";
import { periodicReportDue } from "./worker.js";

describe("periodicReportDue", () => {
  const period = 60_000;
  it.each([
    ["never reported", 1_000_000, 0, true],
    ["reported a whole period ago", 1_000_000, 1_000_000 - period, true],
    ["reported exactly half a period ago", 1_000_000, 1_000_000 - period / 2, true],
    ["reported after a job 10 s ago", 1_000_000, 1_000_000 - 10_000, false],
    ["reported just now", 1_000_000, 1_000_000, false],
  ])("%s → %s", (_why, now, last, due) => {
    expect(periodicReportDue(now, last, period)).toBe(due);
  });
});
