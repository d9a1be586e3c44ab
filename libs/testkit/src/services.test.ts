import { describe, expect, it } from "vitest";
import { freePort, uniqueName } from "./services.js";

describe("uniqueName", () => {
  it("is unique per call and valid as a stream name, subject token and queue name", () => {
    const names = Array.from({ length: 1000 }, () => uniqueName("JOBS"));
    expect(new Set(names).size).toBe(1000);
    for (const n of names) expect(n).toMatch(/^JOBS_[0-9a-f]{8}_\d+$/);
  });

  it.each(["a.b", "a b", "", "1abc", "a*", "a>"])("rejects the prefix %j", (p) => {
    expect(() => uniqueName(p)).toThrow(/uniqueName: prefix must match/);
  });
});

describe("freePort", () => {
  it("returns a bindable loopback port", async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1023);
    expect(port).toBeLessThan(65536);
  });
});
