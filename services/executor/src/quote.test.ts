import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ExecutorError } from "./errors.js";
import { shJoin, shQuote } from "./quote.js";

describe("shQuote / shJoin", () => {
  it("round-trips hostile arguments through a real POSIX shell", () => {
    const args = [
      "a b",
      "it's",
      "$(id)",
      "`id`",
      "; rm -rf /",
      "|",
      "*",
      "\\",
      '"',
      "",
      "-n",
      "ü",
      "'",
      "''",
      "a'b'c",
    ];
    const out = execFileSync("sh", ["-c", `printf '%s\\0' ${shJoin(args)}`]).toString();
    expect(out.split("\0").slice(0, -1)).toEqual(args);
  });
  it("leaves plain words alone and quotes the rest", () => {
    expect(shQuote("ip")).toBe("ip");
    expect(shQuote("10.0.0.1/24")).toBe("10.0.0.1/24");
    expect(shQuote("a b")).toBe("'a b'");
    expect(shQuote("")).toBe("''");
    expect(shQuote("it's")).toBe(`'it'\\''s'`);
  });
  it("refuses NUL and line breaks (UNSAFE_ARGUMENT)", () => {
    for (const bad of ["a\nb", "a\rb", "a\0b"]) {
      expect(() => shQuote(bad)).toThrow(ExecutorError);
      try {
        shQuote(bad);
      } catch (e) {
        expect((e as ExecutorError).code).toBe("UNSAFE_ARGUMENT");
      }
    }
    expect(() => shJoin([])).toThrow(/empty argv/);
  });
});
