/**
 * The service's process starter (drivers/spawner.ts) against the built executor bin's
 * `spawner` subcommand: same answers as starting the process directly, many in flight, and a
 * spawner that dies fails only the commands in flight.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProcess, runStagedProcess, startProcess } from "./process.js";
import { spawnerPid, spawnerPids, useSpawner } from "./spawner.js";

const BIN = fileURLToPath(new URL("../../dist/bin.js", import.meta.url));

describe("spawner", () => {
  beforeAll(() => {
    expect(existsSync(BIN), `${BIN} missing: run pnpm build first`).toBe(true);
    useSpawner([process.execPath, BIN, "spawner"]);
  });
  afterAll(() => {
    const pid = spawnerPid();
    useSpawner(undefined);
    if (pid) process.kill(pid, "SIGKILL"); // it ignores SIGTERM by design
  });

  it("answers like a direct start: exit status, stdout, stderr, stdin, 127, 124", async () => {
    const argv = ["sh", "-c", 'read x; echo "out $x"; echo err >&2; exit 3'];
    const via = await runProcess(argv, { stdin: "hello\n" });
    expect(spawnerPid()).toBeGreaterThan(0);
    expect(via).toEqual(await startProcess(argv, { stdin: "hello\n" }));
    expect(via).toEqual({ code: 3, stdout: "out hello\n", stderr: "err\n" });
    expect((await runProcess(["fleetnet-no-such-command"])).code).toBe(127);
    expect((await runProcess(["sleep", "5"], { timeoutMs: 100 })).code).toBe(124);
  });

  it("keeps many commands in flight apart", async () => {
    const out = await Promise.all(
      Array.from({ length: 60 }, (_, i) => runProcess(["sh", "-c", 'echo "$1"', "sh", `n${i}`])),
    );
    expect(out.map((r) => r.stdout)).toEqual(Array.from({ length: 60 }, (_, i) => `n${i}\n`));
  });

  it("runs staged commands: the first stage at the pause line, the rest after the input", async () => {
    const script = 'echo one; echo @@p; IFS= read -r x || { echo eof; exit 4; }; echo "two $x"';
    const many = await Promise.all(
      Array.from({ length: 10 }, () => runStagedProcess(["sh", "-c", script], "@@p")),
    );
    for (const s of many) expect(s.first).toEqual({ code: 0, stdout: "one\n", stderr: "", paused: true });
    const done = await Promise.all(many.map((s, i) => s.finish(i % 2 === 0 ? `go${i}\n` : "")));
    expect(done.map((r) => r.stdout)).toEqual(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? `two go${i}\n` : "eof\n")),
    );
    expect(done.map((r) => r.code)).toEqual(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 0 : 4)));
    const early = await runStagedProcess(["sh", "-c", "echo x; exit 2"], "@@p");
    expect(early.first).toEqual({ code: 2, stdout: "x\n", stderr: "", paused: false });
    expect((await early.finish("y\n")).code).toBe(2);
  });

  it("a staged command whose spawner dies reads end-of-file; finishing it fails (retryable)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fnx-spawner-"));
    try {
      const mark = join(dir, "eof");
      const s = await runStagedProcess(
        ["sh", "-c", 'echo @@p; IFS= read -r x || { echo eof > "$0"; exit 0; }; echo "$x" > "$0"', mark],
        "@@p",
      );
      expect(s.first.paused).toBe(true);
      process.kill(spawnerPid() as number, "SIGKILL");
      const end = Date.now() + 5000;
      while (!existsSync(mark) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(readFileSync(mark, "utf8")).toBe("eof\n");
      await expect(s.finish("apply\n")).rejects.toMatchObject({ code: "COMMAND_FAILED", retryable: true });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("outlives a SIGTERM to the process group (the pool drains its jobs first)", async () => {
    await runProcess(["true"]);
    const pid = spawnerPid() as number;
    process.kill(pid, "SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    expect(await runProcess(["echo", "still"])).toEqual({ code: 0, stdout: "still\n", stderr: "" });
    expect(spawnerPid()).toBe(pid);
  });

  it("a spawner that dies fails the commands in flight (retryable); the next command starts a new one", async () => {
    const slow = runProcess(["sleep", "2"]); // orphaned by the kill; ends on its own
    const first = spawnerPid() as number;
    process.kill(first, "SIGKILL");
    await expect(slow).rejects.toMatchObject({ code: "COMMAND_FAILED", retryable: true });
    expect(await runProcess(["echo", "again"])).toEqual({ code: 0, stdout: "again\n", stderr: "" });
    expect(spawnerPid()).not.toBe(first);
  });
});

describe("spawners (more than one)", () => {
  afterAll(() => {
    const pids = spawnerPids();
    useSpawner(undefined);
    for (const pid of pids) process.kill(pid, "SIGKILL");
  });

  it("spread commands over the spawners by commands in flight; answers stay apart", async () => {
    useSpawner([process.execPath, BIN, "spawner"], 2);
    const out = await Promise.all(
      Array.from({ length: 20 }, (_, i) => runProcess(["sh", "-c", 'sleep 0.05; echo "$1"', "sh", `m${i}`])),
    );
    expect(out.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}\n`));
    const pids = spawnerPids();
    expect(pids).toHaveLength(2);
    expect(new Set(pids).size).toBe(2);
  });
});
