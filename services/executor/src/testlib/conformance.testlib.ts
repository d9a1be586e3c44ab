/**
 * The ONE driver conformance suite. Every driver (local, netns, ssh) runs it against a
 * real host: a scratch network namespace on this machine. `setup` says how to connect
 * and which namespace the host's commands must land in.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostDriver } from "../driver.js";

/** What a driver under test provides. */
export interface ConformanceTarget {
  /** A fresh, connected driver (called more than once). */
  connect(): Promise<HostDriver>;
  /** The network namespace the host is. */
  netns: string;
  /** Remove what setup created. */
  cleanup(): Promise<void>;
}

async function waitFor(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return pred();
}

/** Register the conformance suite for one driver kind. */
export function driverConformance(name: string, setup: () => Promise<ConformanceTarget>): void {
  describe(`HostDriver conformance: ${name}`, () => {
    let t: ConformanceTarget;
    let d: HostDriver;
    let scratch: string;
    beforeAll(async () => {
      t = await setup();
      d = await t.connect();
      scratch = await mkdtemp(join(tmpdir(), "fnx-conf-"));
    });
    afterAll(async () => {
      await d?.close();
      await t?.cleanup();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    });

    it("runs argv with stdin and returns exit code, stdout and stderr", async () => {
      const r = await d.run(["cat"], { stdin: "héllo\nworld\n" });
      expect(r).toEqual({ code: 0, stdout: "héllo\nworld\n", stderr: "" });
      const f = await d.run(["sh", "-c", "echo oops >&2; exit 7"]);
      expect(f.code).toBe(7);
      expect(f.stderr).toBe("oops\n");
      const missing = await d.run(["fnx-no-such-command"]);
      expect(missing.code).not.toBe(0);
    });

    it("passes every argument verbatim (no shell interpretation)", async () => {
      const canary = join(scratch, "pwned");
      const weird = [
        "a b",
        "it's",
        `$(touch ${canary})`,
        `\`touch ${canary}\``,
        `; touch ${canary}`,
        "|",
        "*",
        "\\",
        '"q"',
        "",
        "-n",
        "ü ✓",
        "$HOME",
      ];
      const r = await d.run(["printf", "%s\\0", ...weird]);
      expect(r.code).toBe(0);
      expect(r.stdout.split("\0").slice(0, -1)).toEqual(weird);
      expect(existsSync(canary)).toBe(false);
    });

    it("runs commands inside the host's network namespace", async () => {
      const r = await d.run(["readlink", "/proc/self/ns/net"]);
      expect(r.stdout.trim()).toBe(`net:[${statSync(`/run/netns/${t.netns}`).ino}]`);
      const link = await d.run(["ip", "link", "add", "fnxconf0", "type", "bridge"]);
      expect(link.code, link.stderr).toBe(0);
      const shown = await d.run(["ip", "-j", "link", "show", "fnxconf0"]);
      expect(JSON.parse(shown.stdout)[0].ifname).toBe("fnxconf0");
      await d.run(["ip", "link", "del", "fnxconf0"]);
    });

    it("runs a command in two stages: its output up to the pause line, then what the caller sends", async () => {
      const script =
        'echo before; echo warn >&2; echo @@pause; IFS= read -r x || { echo stopped; exit 5; }; echo "got $x"; readlink /proc/self/ns/net';
      const s = await d.runStaged(["sh", "-c", script], "@@pause");
      expect(s.first).toMatchObject({ code: 0, stdout: "before\n", paused: true });
      const r = await s.finish("go it's $x\n");
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`got go it's $x\nnet:[${statSync(`/run/netns/${t.netns}`).ino}]\n`);
      expect(s.first.stderr + r.stderr).toBe("warn\n"); // stderr: what arrived by each stage's end
      // closed stdin: the process reads end-of-file (the executor or the session died)
      const eof = await d.runStaged(["sh", "-c", script], "@@pause");
      expect(await eof.finish("")).toMatchObject({ code: 5, stdout: "stopped\n" });
      // ended before pausing: the whole result in `first`
      const early = await d.runStaged(["sh", "-c", "echo only; echo @@pausex; exit 3"], "@@pause");
      expect(early.first).toEqual({ code: 3, stdout: "only\n@@pausex\n", stderr: "", paused: false });
      expect((await early.finish("ignored\n")).code).toBe(3);
      // no pause line in time: 124, like run's timeout
      const slow = await d.runStaged(["sh", "-c", "sleep 3; echo @@pause"], "@@pause", { timeoutMs: 200 });
      expect(slow.first).toMatchObject({ code: 124, paused: false });
    });

    it("writes files atomically under its fsRoot, reads and removes them", async () => {
      const p = "/etc/fleetnet-conf/sub/a.conf";
      expect(d.hostPath(p)).toBe(d.fsRoot === "/" ? p : `${d.fsRoot}${p}`);
      expect(await d.readFile(p)).toBeUndefined();
      await d.writeFileAtomic(p, "one\n", 0o600);
      expect(await d.readFile(p)).toBe("one\n");
      const local = d.hostPath(p);
      expect(statSync(local).mode & 0o777).toBe(0o600);
      await d.writeFileAtomic(p, "two 'quoted' $x\n");
      expect(await d.readFile(p)).toBe("two 'quoted' $x\n");
      expect(statSync(local).mode & 0o777).toBe(0o644);
      // no temp files left behind
      expect(readdirSync(d.hostPath("/etc/fleetnet-conf/sub"))).toEqual(["a.conf"]);
      await d.removeFile(p);
      expect(await d.readFile(p)).toBeUndefined();
      await d.removeFile(p); // absent is fine
    });

    it("starts detached processes in the host that outlive the driver", async () => {
      const d2 = await t.connect();
      const out = join(scratch, "detached");
      await d2.spawnDetached(["sh", "-c", 'sleep 1; readlink /proc/self/ns/net > "$0"', out]);
      await d2.close();
      expect(existsSync(out)).toBe(false);
      expect(await waitFor(() => existsSync(out), 8000)).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
      const { readFileSync } = await import("node:fs");
      expect(readFileSync(out, "utf8").trim()).toBe(`net:[${statSync(`/run/netns/${t.netns}`).ino}]`);
    });
  });
}
