import { describe, expect, it } from "vitest";
import { runTelemetryService } from "./command.js";

describe("fleetnet-telemetry run: usage", () => {
  it.each([
    [[], 2, "--intents FILE is required"],
    [["--intents"], 2, "--intents needs a value"],
    [
      ["--intents", "x.yaml", "--heartbeat-s", "soon"],
      2,
      '--heartbeat-s: expected a positive number of seconds, got "soon"',
    ],
    [["--bogus"], 2, 'unknown argument "--bogus"'],
    [["--intents", "/nonexistent/fnt-fleet.yaml"], 1, "/nonexistent/fnt-fleet.yaml"],
  ])("%j → exit %i naming the problem", async (argv, code, text) => {
    const errs: string[] = [];
    expect(await runTelemetryService(argv, { err: (l) => errs.push(l) })).toBe(code);
    expect(errs.join("\n")).toContain(text);
  });
});
