import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { isAlive, stopChild, waitFor } from "./wait.js";

describe("waitFor", () => {
  it("returns the first value that is not undefined (false and 0 count as values)", async () => {
    let n = 0;
    expect(await waitFor("n", () => (++n < 3 ? undefined : n), 1_000, 1)).toBe(3);
    expect(await waitFor("false", () => false, 1_000, 1)).toBe(false);
    expect(await waitFor("zero", async () => 0, 1_000, 1)).toBe(0);
  });

  it("throws naming what it waited for once the time is up", async () => {
    await expect(waitFor("nothing", () => undefined, 30, 5)).rejects.toThrow("timed out waiting for nothing");
  });
});

describe("stopChild", () => {
  it("ends a running process with SIGTERM; a second call and an absent child are no-ops", async () => {
    const p = spawn("sleep", ["30"], { stdio: "ignore" });
    await new Promise((r) => p.once("spawn", r));
    await stopChild(p);
    expect(p.signalCode).toBe("SIGTERM");
    await stopChild(p);
    await stopChild(undefined);
  });

  it("uses SIGKILL when SIGTERM is ignored for longer than the grace time", async () => {
    const p = spawn("sh", ["-c", "trap '' TERM; echo ready; exec sleep 30"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    await new Promise((r) => p.stdout?.once("data", r));
    await stopChild(p, 200);
    await new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once("exit", r)));
    expect(p.signalCode).toBe("SIGKILL");
  });
});

describe("isAlive", () => {
  it("is true for this process and false once a child has exited and been reaped", async () => {
    expect(isAlive(process.pid)).toBe(true);
    const p = spawn("true", [], { stdio: "ignore" });
    await new Promise((r) => p.once("exit", r));
    expect(p.pid !== undefined && isAlive(p.pid)).toBe(false);
  });
});
