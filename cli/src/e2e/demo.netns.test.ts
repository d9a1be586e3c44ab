/**
 * End to end: `fleetnet demo --hosts 4` (the BUILT CLI) against a private NATS + Redis and a
 * temp FLEETNET_STATE_DIR: lab, stack, staged rollout of examples/demo, every proof printed,
 * and then nothing left behind — no `fnd-` namespace, no process it started, no state dir.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildProjects, type PrivateServer, startNatsServer, startRedisServer } from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..");
const CLI = join(ROOT, "cli", "dist", "bin.js");

let nats: PrivateServer | undefined;
let redis: PrivateServer | undefined;
let dir = "";
let out = "";
let code: number | null = null;

/** The line `✓ name` / `✗ name` of the summary (undefined when missing). */
function proof(name: string): "✓" | "✗" | undefined {
  const section = out.slice(out.indexOf("==> summary"));
  const m = new RegExp(`^([✓✗]) ${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m").exec(section);
  return m?.[1] as "✓" | "✗" | undefined;
}

function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8") === ""; // a zombie of a non-reaping init
  } catch {
    return true;
  }
}

beforeAll(async () => {
  await buildProjects(["cli", "services/planner", "services/executor", "services/telemetry"]);
  dir = mkdtempSync(join(tmpdir(), "fnd-demo-"));
  chmodSync(dir, 0o755); // FRR's daemons (user frr) reach their files under it
  nats = await startNatsServer();
  redis = await startRedisServer();
  const env = {
    ...process.env,
    NATS_URL: nats.url,
    REDIS_URL: redis.url,
    FLEETNET_STATE_DIR: dir,
    NO_COLOR: "1",
  };
  code = await new Promise<number | null>((res, rej) => {
    const c = spawn(process.execPath, [CLI, "demo", "--hosts", "4"], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    c.stdout.on("data", (b: Buffer) => {
      out += b;
    });
    c.stderr.on("data", (b: Buffer) => {
      out += b;
    });
    const t = setTimeout(() => c.kill("SIGINT"), 280_000);
    c.once("error", rej);
    c.once("exit", (n) => {
      clearTimeout(t);
      res(n);
    });
  });
  if (process.env.FND_LOG) process.stderr.write(out);
}, 300_000);

afterAll(async () => {
  // the demo tears down after itself; this is the safety net if it did not
  if (existsSync(join(dir, "demo"))) {
    spawnSync(process.execPath, [CLI, "demo", "--down"], {
      env: { ...process.env, NATS_URL: nats?.url, REDIS_URL: redis?.url, FLEETNET_STATE_DIR: dir },
    });
  }
  await nats?.[Symbol.asyncDispose]();
  await redis?.[Symbol.asyncDispose]();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe("fleetnet demo --hosts 4", () => {
  it("rolls examples/demo out in waves with rack spread, shown live", () => {
    expect(out).toContain("lab up: 6 hosts");
    expect(out).toMatch(/OK: \d+ document\(s\) valid/);
    expect(out).toMatch(/rollout \S+ submitted: \d wave\(s\)/);
    expect(out).toContain("wave 1: h001\n");
    expect(out).toMatch(/spreadBy rack allows 1 host\(s\) per rack per wave/);
    expect(out).toMatch(/host h00\d confirmed/);
    expect(out).toMatch(/rollout \S+: succeeded/);
  });

  it("proves overlay, ECMP, flows, drift heal, health and VIP failover, each with evidence", () => {
    expect(proof("rollout of examples/demo"), out).toBe("✓");
    expect(proof("waves: rack spread, pair and BGP-peer separation"), out).toBe("✓");
    expect(out).toContain("KeepalivedPair: h001 in wave 1, h003 in wave 2");
    expect(out).toMatch(/BGP peers: s01 in wave \d, s02 in wave \d/);
    expect(proof("overlay ping across racks"), out).toBe("✓");
    expect(out).toMatch(/ping -c1 -W1 172\.16\.200\.\d+: reply/);
    expect(proof("ECMP route"), out).toBe("✓");
    expect(proof("flows from generated traffic (flows top)"), out).toBe("✓");
    expect(out).toMatch(/fleetnet flows top: both h00\d and h00\d exported flows/);
    expect(out).toMatch(/^\s+h00\d\s+10\.249\.0\.\d+\s+\d+\s+\d+\s+\d+\s+\d+$/m);
    expect(proof("sysctl changed by hand: caught as drift, healed"), out).toBe("✓");
    expect(out).toMatch(
      /fleetnet drift after [\d.]+ s \(exit 1\): h002 {2}net\.ipv4\.ip_forward {2}expected "1" {2}actual "0"/,
    );
    expect(proof("fleetnet health"), out).toBe("✓");
    expect(out).toContain("fleet healthy");
    expect(proof("keepalived VIP on the primary, then on the backup"), out).toBe("✓");
    expect(out).toMatch(/after [\d.]+ s: 10\.249\.0\.100 on h003, gone from h001/);
  });

  it("BGP multipath gives every hypervisor 2 nexthops, and the demo exits 0 with no failed proof", () => {
    expect(proof("BGP multipath: 2 nexthops in the kernel"), out).toBe("✓");
    const failed = [...out.slice(out.indexOf("==> summary")).matchAll(/^✗ (.+)$/gm)].map((m) => m[1]);
    expect(failed).toEqual([]);
    expect(code, out).toBe(0);
  });

  it("not root: says what it needs and exits 2; a bad --hosts is a usage error", () => {
    const asNobody = spawnSync(process.execPath, [CLI, "demo"], {
      uid: 65534, // nobody
      gid: 65534,
      encoding: "utf8",
      env: { ...process.env, FLEETNET_STATE_DIR: dir },
    });
    expect(asNobody.status).toBe(2);
    expect(asNobody.stderr).toContain("it needs root");
    const bad = spawnSync(process.execPath, [CLI, "demo", "--hosts", "3"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--hosts must be an integer 4..20, got 3");
  });

  it("leaves no namespace, process or state dir behind", () => {
    expect(out).toMatch(/lab down: removed 7 namespaces/);
    const ns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    expect(ns.split("\n").filter((l) => l.startsWith("fnd-"))).toEqual([]);
    const pids = [...out.matchAll(/\(pid (\d+)[,)]/g)].map((m) => Number(m[1]));
    expect(pids.length).toBeGreaterThanOrEqual(4); // collector, planner, executor, telemetry
    for (const pid of pids) expect(gone(pid), `pid ${pid}`).toBe(true);
    expect(existsSync(join(dir, "demo"))).toBe(false);
  });
});
