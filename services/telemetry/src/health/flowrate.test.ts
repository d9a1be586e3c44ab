import { describe, expect, it } from "vitest";
import { FlowRateTracker } from "./flowrate.js";
import { evaluateHealth } from "./health.js";

const m = (i: number) => `2026-11-29T12:${String(i).padStart(2, "0")}:00.000Z`;

describe("FlowRateTracker", () => {
  const addr = new Map([["10.0.0.1", "a"]]);

  it("needs history, then compares the latest minute with the mean of the earlier ones", () => {
    const t = new FlowRateTracker(addr, { alpha: 0.5, minHistory: 3 });
    for (let i = 0; i < 3; i++) t.add({ host: "10.0.0.1", minute: m(i), bytes: 6000 });
    expect(t.rates()).toEqual([]);
    t.add({ host: "10.0.0.1", minute: m(3), bytes: 60_000 });
    expect(t.rates()).toEqual([{ host: "a", bytesPerS: 1000, baselineBytesPerS: 100 }]);
    const h = evaluateHealth({
      now: Date.parse(m(4)),
      hosts: ["a"],
      heartbeats: new Map([["a", m(4)]]),
      heartbeatIntervalMs: 10_000,
      bgp: [],
      vrrp: [],
      overlay: [],
      macs: [],
      flows: t.rates(),
    });
    expect(h.findings).toEqual([
      {
        severity: "warning",
        code: "flow-rate-change",
        host: "a",
        message: "flow rate of a is 1000 B/s, +900 % vs baseline 100 B/s",
      },
    ]);
  });

  it("ignores unknown exporters, repeated and out-of-order minutes", () => {
    const t = new FlowRateTracker(addr, { minHistory: 1 });
    t.add({ host: "10.9.9.9", minute: m(0), bytes: 1 });
    expect(t.seen).toBe(false);
    t.add({ host: "10.0.0.1", minute: m(1), bytes: 600 });
    t.add({ host: "10.0.0.1", minute: m(2), bytes: 1200 });
    t.add({ host: "10.0.0.1", minute: m(2), bytes: 999_999 });
    t.add({ host: "10.0.0.1", minute: m(0), bytes: 999_999 });
    expect(t.rates()).toEqual([{ host: "a", bytesPerS: 20, baselineBytesPerS: 10 }]);
  });
});
