import { describe, expect, it } from "vitest";
import { parseDuration, parseOnceArgs } from "./once.js";

describe("once arguments", () => {
  it("parses durations", () => {
    expect(parseDuration("30s")).toBe(30);
    expect(parseDuration("2m")).toBe(120);
    expect(parseDuration("1500ms")).toBe(1.5);
    expect(parseDuration("45")).toBe(45);
    expect(() => parseDuration("soon")).toThrow(/not a duration/);
    expect(() => parseDuration("0s")).toThrow(/between 1s and 24h/);
  });
  it("parses apply with several -f paths and --try", () => {
    expect(
      parseOnceArgs(["apply", "--host", "h1", "-f", "a.yaml", "b.yaml", "--try", "10s", "--json"]),
    ).toMatchObject({
      action: "apply",
      host: "h1",
      files: ["a.yaml", "b.yaml"],
      trySeconds: 10,
      json: true,
    });
  });
  it("refuses bad usage with a clear message", () => {
    expect(() => parseOnceArgs(["frobnicate"])).toThrow(/observe \| apply \| confirm/);
    expect(() => parseOnceArgs(["apply", "-f", "x"])).toThrow(/--host NAME is required/);
    expect(() => parseOnceArgs(["apply", "--host", "h"])).toThrow(/-f PATH/);
    expect(() => parseOnceArgs(["observe", "--host", "h", "-f", "x", "--try", "5s"])).toThrow(
      /only for apply/,
    );
    expect(() => parseOnceArgs(["apply", "--host", "h", "-f", "x", "--bogus"])).toThrow(
      /unknown option --bogus/,
    );
  });
});
