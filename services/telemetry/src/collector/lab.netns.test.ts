/**
 * Lab: softflowd on two lab hosts (network namespaces on a bridge) exports to
 * `fleetnet-telemetry collect` running in a third namespace; per-host rollups and top talkers
 * must appear for both exporters. Needs root, softflowd, iperf3 and a built collector.
 * Namespaces `fnf-lab-*`; everything is removed in afterAll, processes are killed by PID.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mergeTalkers, type RollupMinute } from "./rollup.js";
import { hasCommand } from "./testing.js";

const BIN = fileURLToPath(new URL("../../dist/bin.js", import.meta.url));
const ready =
  process.getuid?.() === 0 &&
  hasCommand("softflowd") &&
  hasCommand("softflowctl") &&
  hasCommand("iperf3") &&
  existsSync(BIN);
const NS = { col: "fnf-lab-col", h1: "fnf-lab-h1", h2: "fnf-lab-h2" };
const ip = (args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
const inNs = (ns: string, args: string[]) =>
  execFileSync("ip", ["netns", "exec", ns, ...args], { stdio: "pipe" });

describe.skipIf(!ready)("lab: softflowd hosts -> collector rollups (root, softflowd, iperf3, tsc -b)", () => {
  const dir = mkdtempSync(join(tmpdir(), "fnf-lab-"));
  const procs: ChildProcess[] = [];
  let collector: ChildProcess | null = null;
  let stderr = "";
  let stdout = "";

  beforeAll(() => {
    for (const ns of Object.values(NS)) ip(["netns", "add", ns]);
    ip(["-n", NS.col, "link", "add", "fnf-br", "type", "bridge"]);
    ip(["-n", NS.col, "addr", "add", "10.89.0.254/24", "dev", "fnf-br"]);
    ip(["-n", NS.col, "link", "set", "fnf-br", "up"]);
    ip(["-n", NS.col, "link", "set", "lo", "up"]);
    for (const [i, ns] of [NS.h1, NS.h2].entries()) {
      const a = `fnf-l${i + 1}a`;
      const b = `fnf-l${i + 1}b`;
      ip(["link", "add", a, "netns", ns, "type", "veth", "peer", "name", b, "netns", NS.col]);
      ip(["-n", ns, "addr", "add", `10.89.0.${i + 1}/24`, "dev", a]);
      ip(["-n", ns, "link", "set", a, "up"]);
      ip(["-n", ns, "link", "set", "lo", "up"]);
      ip(["-n", NS.col, "link", "set", b, "master", "fnf-br"]);
      ip(["-n", NS.col, "link", "set", b, "up"]);
    }
  });

  afterAll(async () => {
    for (const p of [collector, ...procs]) if (p?.pid !== undefined && p.exitCode === null) p.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 200));
    for (const ns of Object.values(NS)) {
      try {
        ip(["netns", "del", ns]);
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("per-host rollups and top talkers appear for both exporters", async () => {
    const out = join(dir, "rollups.jsonl");
    collector = spawn("ip", ["netns", "exec", NS.col, process.execPath, BIN, "collect"], {
      env: { ...process.env, PORT: "2055", BIND: "10.89.0.254", ROLLUP_OUT: out, REDIS_URL: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    collector.stdout?.on("data", (d) => {
      stdout += d;
    });
    collector.stderr?.on("data", (d) => {
      stderr += d;
    });
    const t0 = Date.now();
    while (!stderr.includes("collecting on") && Date.now() - t0 < 20_000)
      await new Promise((r) => setTimeout(r, 50));
    expect(stderr).toContain("collecting on 10.89.0.254:2055");

    const iperf = spawn("ip", ["netns", "exec", NS.h2, "iperf3", "-s", "-p", "5201"], { stdio: "ignore" });
    procs.push(iperf);
    for (const [i, ns] of [NS.h1, NS.h2].entries()) {
      const sf = spawn(
        "ip",
        [
          "netns",
          "exec",
          ns,
          "softflowd",
          "-i",
          `fnf-l${i + 1}a`,
          "-n",
          "10.89.0.254:2055",
          "-v",
          i === 0 ? "9" : "10",
          "-d",
          "-p",
          join(dir, `sf${i}.pid`),
          "-c",
          join(dir, `sf${i}.ctl`),
          "-t",
          "maxlife=30",
          "-t",
          "expint=1",
        ],
        { stdio: "ignore" },
      );
      procs.push(sf);
    }
    await new Promise((r) => setTimeout(r, 1500));
    inNs(NS.h1, ["ping", "-c", "3", "-i", "0.2", "10.89.0.2"]);
    inNs(NS.h1, ["iperf3", "-c", "10.89.0.2", "-p", "5201", "-t", "1", "-b", "4M"]);
    inNs(NS.h2, ["ping", "-c", "2", "-i", "0.2", "10.89.0.1"]);
    for (const [i, ns] of [NS.h1, NS.h2].entries())
      inNs(ns, ["softflowctl", "-c", join(dir, `sf${i}.ctl`), "expire-all"]);
    await new Promise((r) => setTimeout(r, 2000));

    const exited = new Promise((r) => collector?.on("exit", r));
    collector.kill("SIGTERM");
    await exited;
    const report = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as Record<string, number>;
    expect(report.records).toBeGreaterThan(4);
    expect(report.templateMisses).toBe(0);
    const minutes = readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as RollupMinute);
    const byHost = new Map<string, RollupMinute[]>();
    for (const m of minutes) byHost.set(m.host, [...(byHost.get(m.host) ?? []), m]);
    expect([...byHost.keys()].sort()).toEqual(["10.89.0.1", "10.89.0.2"]);
    // h1 ran the iperf3 client: h1 → h2 on 5201 is h1's top pair by far (4 Mbit/s for 1 s ≈ 500 kB).
    const top1 = mergeTalkers(
      (byHost.get("10.89.0.1") ?? []).map((m) => m.topTalkers),
      10,
    )[0];
    expect(top1).toMatchObject({ src: "10.89.0.1", dst: "10.89.0.2", dstPort: 5201 });
    expect(top1?.bytes).toBeGreaterThan(300_000);
    const h2 = byHost.get("10.89.0.2") ?? [];
    expect(h2.reduce((a, m) => a + m.flows, 0)).toBeGreaterThan(0);
    expect(h2.flatMap((m) => m.topTalkers.map((t) => `${t.src}>${t.dst}`))).toEqual(
      expect.arrayContaining(["10.89.0.2>10.89.0.1"]),
    );
  });
});
