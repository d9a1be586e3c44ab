/**
 * End to end: the BUILT `fleetnet` CLI runs the whole stack (`fleetnet up`: planner +
 * executor pool) against a private NATS + Redis and an 8-host lab (4 racks), then rolls
 * `examples/rollout/` out in three waves and checks the kernel state of every host; a host
 * that fails for real in wave 2 stops the rollout (its policy tolerates no failure:
 * `failureThreshold: {hosts: 0}`), its wave is reverted and wave 3 never starts; the audit
 * stream tells the story; pause/resume/abort and the host lock; with `{hosts: 1}` one real
 * failure is tolerated, every wave runs and the rollout ends `failed` saying so.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  attachNats,
  buildProjects,
  type PrivateServer,
  startNatsServer,
  startRedisServer,
  type TestLab,
  testLab,
} from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..");
const CLI = join(ROOT, "cli", "dist", "bin.js");
const EXAMPLE = join(ROOT, "examples", "rollout");

let nats: PrivateServer | undefined;
let redis: PrivateServer | undefined;
let lab: TestLab | undefined;
let dir = "";
let env: NodeJS.ProcessEnv = {};
let upLog = "";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the built CLI to completion. */
function fleetnet(args: string[], timeoutMs = 55_000): Promise<Run> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (b: Buffer) => {
      stdout += b;
    });
    c.stderr.on("data", (b: Buffer) => {
      stderr += b;
    });
    const t = setTimeout(() => c.kill("SIGKILL"), timeoutMs);
    c.once("error", rej);
    c.once("exit", (code) => {
      clearTimeout(t);
      res({ code, stdout, stderr });
    });
  });
}

/** Start the CLI and return it running, with its output so far. */
function start(args: string[]): {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  done: Promise<Run>;
} {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  const out = { stdout: "", stderr: "" };
  child.stdout?.on("data", (b: Buffer) => {
    out.stdout += b;
  });
  child.stderr?.on("data", (b: Buffer) => {
    out.stderr += b;
  });
  const done = new Promise<Run>((r) => child.once("exit", (code) => r({ code, ...out })));
  return { child, out, done };
}

async function waitFor<T>(
  what: string,
  f: () => T | undefined | Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function ipJson(ns: string, args: string[]): unknown[] {
  const r = spawnSync(args[0] === "bridge" ? "bridge" : "ip", ["-n", ns, "-j", ...args.slice(1)], {
    encoding: "utf8",
  });
  if (r.status !== 0) return [];
  return JSON.parse(r.stdout || "[]") as unknown[];
}

interface Link {
  ifname: string;
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number } };
  addr_info?: { family: string; local: string; prefixlen: number }[];
  operstate?: string;
}

/** The overlay `vni` as the kernel of `host` has it (undefined when absent). */
function overlayOf(host: string, vni: number) {
  const ns = lab?.host(host).namespace as string;
  const links = ipJson(ns, ["ip", "-d", "link", "show"]) as Link[];
  const vx = links.find((l) => l.ifname === `vx${vni}`);
  if (!vx) return undefined;
  const addrs = ipJson(ns, ["ip", "addr", "show", "dev", `br${vni}`]) as Link[];
  const fdb = ipJson(ns, ["bridge", "fdb", "show", "dev", `vx${vni}`]) as { mac: string; dst?: string }[];
  return {
    kind: vx.linkinfo?.info_kind,
    vni: vx.linkinfo?.info_data?.id,
    master: vx.master,
    bridgeKind: links.find((l) => l.ifname === `br${vni}`)?.linkinfo?.info_kind,
    overlayAddrs: (addrs[0]?.addr_info ?? []).filter((a) => a.family === "inet").map((a) => a.local),
    floodTo: fdb
      .filter((e) => e.mac === "00:00:00:00:00:00" && e.dst)
      .map((e) => e.dst as string)
      .sort(),
  };
}

function overlayFile(name: string, vni: number, pool: string): string {
  const f = join(dir, `${name}.yaml`);
  writeFileSync(
    f,
    `apiVersion: fleetnet/v1
kind: VxlanOverlay
metadata: {name: ${name}}
spec:
  hosts: {matchLabels: {role: hypervisor}}
  vni: ${vni}
  replication: {mode: unicast}
  addresses: {pool: ${pool}}
`,
  );
  return f;
}

/**
 * Files of the overlays earlier tests left applied, up to `vni`: a later apply names them
 * too, or its plan would remove them.
 */
function keptOverlays(upTo: number): string[] {
  const kept = [
    ["pause-c", 5103],
    ["abort-e", 5105],
    ["kill-f", 5106],
    ["tty-g", 5107],
    ["restart-h", 5108],
  ] as const;
  return kept.filter(([, v]) => v <= upTo).map(([n, v]) => overlayFile(n, v, `172.16.${v - 5000}.0/24`));
}

/** `-f` arguments: the lab inventory, the example intents (examples/rollout), then `files`. */
function inputs(files: string[], example: string[] = [EXAMPLE]): string[] {
  return [lab?.inventoryFile as string, ...example, ...files].flatMap((f) => ["-f", f]);
}

/** Waits until a started apply prints its rollout id. */
function submittedId(run: ReturnType<typeof start>): Promise<string> {
  return waitFor("the rollout id", () => /rollout (\S+) submitted/.exec(run.out.stderr)?.[1]);
}

/** Waits until a started apply says wave `n` is applying. */
function waveApplying(run: ReturnType<typeof start>, n: number, ms?: number): Promise<true> {
  return waitFor(
    `wave ${n} dispatched`,
    () => run.out.stderr.includes(`wave ${n} applying`) || undefined,
    ms,
  );
}

/**
 * Makes `host` refuse a VXLAN named `dev` for real: a foreign veth (peer `peer`) already
 * holds the name. Returns the host's namespace.
 */
function foreignVeth(host: string, dev: string, peer: string): string {
  const ns = lab?.host(host).namespace as string;
  const add = spawnSync("ip", ["-n", ns, "link", "add", dev, "type", "veth", "peer", "name", peer]);
  expect(add.status).toBe(0);
  return ns;
}

/** Every lab host's kernel has the overlay `vni`. */
function expectOverlayOnAll(vni: number): void {
  for (const h of hostNames()) expect(overlayOf(h, vni)?.vni, h).toBe(vni);
}

function hostNames(): string[] {
  return (lab?.hosts ?? []).map((h) => h.name);
}

beforeAll(async () => {
  // Tests run the built binaries: build them now (fast when up to date), fail clearly if it fails.
  await buildProjects(["cli", "services/planner", "services/executor"]);
  dir = mkdtempSync(join(tmpdir(), "fne-rollout-"));
  nats = await startNatsServer();
  redis = await startRedisServer();
  lab = await testLab({ prefix: "fne", hosts: 8, racks: 4 });
  env = {
    ...process.env,
    NATS_URL: nats.url,
    REDIS_URL: redis.url,
    FLEETNET_STATE_DIR: join(dir, "state"),
    LOG_LEVEL: "info",
    NO_COLOR: "1",
  };
  const up = await fleetnet([
    "up",
    "-f",
    lab.inventoryFile,
    "--lab-state-dir",
    lab.stateDir,
    "--heartbeat",
    "1s",
    "--state-report",
    "2s",
    "--timeout",
    "40s",
  ]);
  upLog = `${up.stdout}${up.stderr}`;
  if (up.code !== 0) {
    const logs = ["planner", "executor"]
      .map((n) => {
        try {
          return `--- ${n}.log\n${readFileSync(join(dir, "state", "stack", `${n}.log`), "utf8").slice(-3000)}`;
        } catch {
          return "";
        }
      })
      .join("\n");
    throw new Error(`fleetnet up failed (${up.code}):\n${upLog}\n${logs}`);
  }
}, 120_000);

afterAll(async () => {
  try {
    if (env.FLEETNET_STATE_DIR) {
      const down = await fleetnet(["down"]);
      if (down.code !== 0) process.stderr.write(`fleetnet down: ${down.stdout}${down.stderr}\n`);
    }
  } finally {
    await lab?.dispose();
    await nats?.[Symbol.asyncDispose]();
    await redis?.[Symbol.asyncDispose]();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

describe("fleetnet up/apply/rollout on an 8-host lab", () => {
  it("fleetnet up is idempotent and status reports every host heartbeating", async () => {
    expect(upLog).toContain("planner started");
    const again = await fleetnet(["up", "--timeout", "20s"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("planner already running");
    expect(again.stderr).toContain("executor already running");
    const st = await fleetnet(["status", "--json"]);
    expect(st.code, st.stdout + st.stderr).toBe(0);
    const s = JSON.parse(st.stdout) as {
      up: boolean;
      plannerAnswering: boolean;
      hosts: Record<string, string>;
    };
    expect(s.up).toBe(true);
    expect(s.plannerAnswering).toBe(true);
    expect(Object.keys(s.hosts).sort()).toEqual(hostNames().sort());
    expect(Object.values(s.hosts).every((v) => v === "heartbeating")).toBe(true);
  });

  it("apply without --yes and without a terminal is a usage error; nothing is submitted", async () => {
    const r = await fleetnet(["apply", ...inputs([])]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--yes");
  });

  it("invalid intents: the planner refuses them naming document, field and value; exit 1, nothing applied", async () => {
    const f = join(dir, "bad-vni.yaml");
    writeFileSync(
      f,
      "apiVersion: fleetnet/v1\nkind: VxlanOverlay\nmetadata: {name: badvni}\n" +
        "spec: {hosts: {matchLabels: {role: hypervisor}}, vni: 99999999, bridge: br-bad}\n",
    );
    const r = await fleetnet(["apply", "--yes", ...inputs([f])]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("INTENTS_INVALID");
    expect(r.stderr).toMatch(/bad-vni\.yaml#1 VxlanOverlay\/badvni spec\.vni: .*99999999 \[OUT_OF_RANGE\]/);
    expect(r.stderr).not.toContain("submitted");
    for (const h of lab?.hosts ?? []) {
      const links = ipJson(h.namespace, ["ip", "link", "show"]) as Link[];
      expect(links.map((l) => l.ifname)).not.toContain("br-bad");
    }
  });

  it("rolls examples/rollout out in 3 waves; every host's kernel matches the plan", async () => {
    const r = await fleetnet(["apply", ...inputs([]), "--yes", "--json"]);
    if (process.env.FNE_LOG) process.stderr.write(r.stderr);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const res = JSON.parse(r.stdout) as {
      rolloutId: string;
      status: string;
      waves: { index: number; hosts: string[]; status: string }[];
      hosts: Record<string, { status: string; changed: boolean; error: unknown }>;
    };
    expect(Object.keys(res).sort()).toEqual(["hosts", "rolloutId", "status", "waves"]);
    expect(res.status).toBe("succeeded");
    expect(res.waves.map((w) => w.hosts.length)).toEqual([1, 2, 5]);
    expect(res.waves.every((w) => w.status === "succeeded")).toBe(true);
    for (const h of hostNames())
      expect(res.hosts[h]).toEqual({ status: "confirmed", changed: true, error: null });
    // kernel: a VXLAN 5101 on a bridge with one overlay address per host, flooding to every peer
    const underlay = new Map((lab?.hosts ?? []).map((h) => [h.name, h.address]));
    const seen = new Set<string>();
    for (const h of hostNames()) {
      const o = overlayOf(h, 5101);
      expect(o, h).toBeDefined();
      expect(o?.kind).toBe("vxlan");
      expect(o?.vni).toBe(5101);
      expect(o?.master).toBe("br5101");
      expect(o?.bridgeKind).toBe("bridge");
      expect(o?.overlayAddrs).toHaveLength(1);
      const a = o?.overlayAddrs[0] as string;
      expect(a.startsWith("172.16.101.")).toBe(true);
      expect(seen.has(a)).toBe(false);
      seen.add(a);
      const peers = hostNames()
        .filter((p) => p !== h)
        .map((p) => underlay.get(p) as string)
        .sort();
      expect(o?.floodTo).toEqual(peers);
    }
    // progress was shown per wave (plain lines on stderr with --json)
    expect(r.stderr).toMatch(/wave 1 .*applying/);
    expect(r.stderr).toMatch(/host h001 confirmed/);
    const st = await fleetnet(["rollout", "status", res.rolloutId, "--json"]);
    expect(JSON.parse(st.stdout)).toEqual(res);
  });

  it("a host failing in wave 2 stops the rollout, wave 2 is reverted, wave 3 never starts; the audit tells it", async () => {
    const extra = overlayFile("fail-b", 5102, "172.16.102.0/24");
    const run = start(["apply", ...inputs([extra]), "--yes", "--json"]);
    // the waves are printed at submit; make the 2nd host of wave 2 refuse its change for real:
    // a foreign veth already named like the VXLAN device fleetnet must create there
    const wave2 = await waitFor(
      "the wave list",
      () => /wave 2: (\S+), (\S+)\n/.exec(run.out.stderr) ?? undefined,
    );
    const [ok2, bad] = [wave2[1] as string, wave2[2] as string];
    const ns = foreignVeth(bad, "vx5102", "fne-peer");
    const r = await run.done;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    const res = JSON.parse(r.stdout) as {
      rolloutId: string;
      status: string;
      waves: { hosts: string[]; status: string }[];
      hosts: Record<string, { status: string; changed: boolean; error: { code: string } | null }>;
    };
    expect(["failed", "rolled_back"]).toContain(res.status);
    expect(res.hosts[bad]?.status).toBe("failed");
    expect(res.hosts[bad]?.error).not.toBeNull();
    expect(res.waves[0]?.status).toBe("succeeded");
    expect(res.waves[1]?.status).toBe("reverted");
    expect(res.hosts[ok2]?.changed).toBe(false);
    for (const h of res.waves[2]?.hosts ?? []) {
      expect(res.hosts[h]?.status).toBe("pending");
      expect(overlayOf(h, 5102), h).toBeUndefined(); // never touched
    }
    expect(overlayOf(ok2, 5102)).toBeUndefined(); // reverted
    expect(overlayOf(res.waves[0]?.hosts[0] as string, 5102)?.vni).toBe(5102); // wave 1 kept
    expect(overlayOf(bad, 5101)?.vni).toBe(5101); // the earlier rollout is untouched
    const link = ipJson(ns, ["ip", "-d", "link", "show", "vx5102"]) as Link[];
    expect(link[0]?.linkinfo?.info_kind).toBe("veth"); // the foreign link is left alone
    spawnSync("ip", ["-n", ns, "link", "del", "vx5102"]);

    const ev = await fleetnet(["rollout", "events", res.rolloutId, "--json"]);
    expect(ev.code, ev.stderr).toBe(0);
    const events = (
      JSON.parse(ev.stdout) as { events: { action: string; target: { host?: string; wave?: number } }[] }
    ).events;
    const actions = events.map((e) => `${e.action}${e.target.host ? `:${e.target.host}` : ""}`);
    expect(actions).toContain("rollout.running");
    expect(actions).toContain(`host.failed:${bad}`);
    expect(actions).toContain(`host.reverted:${ok2}`);
    expect(events.some((e) => e.action === "host.dispatched" && e.target.wave === 2)).toBe(false);
    expect(actions.indexOf(`host.failed:${bad}`)).toBeLessThan(actions.indexOf(`host.reverted:${ok2}`));
  });

  it("pause holds the rollout, a second rollout on its hosts is refused with the holder's id, resume finishes it", async () => {
    const extra = overlayFile("pause-c", 5103, "172.16.103.0/24");
    const run = start(["apply", ...inputs([extra]), "--yes", "--json"]);
    const id = await submittedId(run);
    const p = await fleetnet(["rollout", "pause", id, "--json"]);
    expect(p.code, p.stderr).toBe(0);
    const paused = await waitFor("paused", async () => {
      const s = await fleetnet(["rollout", "status", id, "--json"]);
      const v = JSON.parse(s.stdout || "{}") as { status?: string; waves?: { status: string }[] };
      return v.status === "paused" ? v : undefined;
    });
    expect(paused.waves?.[2]?.status).toBe("pending");
    // a second rollout touching the same hosts is refused, naming the holder
    const other = overlayFile("lock-d", 5104, "172.16.104.0/24");
    const second = await fleetnet(["apply", ...inputs([other]), "--yes"]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("HOST_LOCKED");
    expect(second.stderr).toContain(id);
    // still paused a moment later: nothing moved
    await new Promise((r) => setTimeout(r, 1500));
    const still = JSON.parse((await fleetnet(["rollout", "status", id, "--json"])).stdout) as {
      status: string;
    };
    expect(still.status).toBe("paused");
    const rs = await fleetnet(["rollout", "resume", id]);
    expect(rs.code, rs.stderr).toBe(0);
    const r = await run.done;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect((JSON.parse(r.stdout) as { status: string }).status).toBe("succeeded");
    expectOverlayOnAll(5103);
  });

  it("abort mid-rollout stops it: later waves never start, the CLI exits 1 with status aborted", async () => {
    const extra = overlayFile("abort-e", 5105, "172.16.105.0/24");
    const run = start(["apply", ...inputs([...keptOverlays(5103), extra]), "--yes", "--json"]);
    const id = await submittedId(run);
    const a = await fleetnet(["rollout", "abort", id]);
    expect(a.code, a.stderr).toBe(0);
    const r = await run.done;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    const res = JSON.parse(r.stdout) as { status: string; waves: { hosts: string[]; status: string }[] };
    expect(res.status).toBe("aborted");
    for (const h of res.waves[2]?.hosts ?? []) expect(overlayOf(h, 5105), h).toBeUndefined();
  });

  it("SIGKILL of the planner mid-wave: `fleetnet up` restarts it, the rollout completes, no host applied twice", async () => {
    const extra = overlayFile("kill-f", 5106, "172.16.106.0/24");
    const run = start(["apply", ...inputs([extra, ...keptOverlays(5105)]), "--yes", "--json"]);
    const id = await submittedId(run);
    await waveApplying(run, 2);
    const pidFile = join(dir, "state", "stack", "planner.pid");
    const before = JSON.parse(readFileSync(pidFile, "utf8")) as { pid: number };
    process.kill(before.pid, "SIGKILL");
    await waitFor("the planner gone", () => {
      try {
        return readFileSync(`/proc/${before.pid}/cmdline`, "utf8") === "" || undefined; // zombie
      } catch {
        return true;
      }
    });
    const up = await fleetnet(["up", "--timeout", "30s"]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain("planner started");
    expect(up.stderr).toContain("executor already running");
    const r = await run.done;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const res = JSON.parse(r.stdout) as { status: string; hosts: Record<string, { status: string }> };
    expect(res.status).toBe("succeeded");
    for (const h of hostNames()) {
      expect(res.hosts[h]?.status, h).toBe("confirmed");
      expect(overlayOf(h, 5106)?.vni, h).toBe(5106);
    }
    // every host's own results (FLEET_EVENTS): exactly one `applied` apply per host
    await using a = await attachNats(nats?.url);
    const consumer = await a.js.consumers.get("FLEET_EVENTS", {
      filter_subjects: "fleet.v1.events.host.*.result",
    });
    const applied = new Map<string, number>();
    for (let got = -1; got !== 0; ) {
      got = 0;
      const msgs = await consumer.fetch({ max_messages: 500, expires: 1000 });
      for await (const m of msgs) {
        got++;
        const v = m.json<{ rolloutId: string; host: string; kind: string; status: string }>();
        if (v.rolloutId === id && v.kind === "apply" && v.status === "applied")
          applied.set(v.host, (applied.get(v.host) ?? 0) + 1);
      }
    }
    expect(Object.fromEntries(applied)).toEqual(Object.fromEntries(hostNames().map((h) => [h, 1])));
  });

  it("on a terminal, apply asks before submitting and draws one progress bar per wave", async () => {
    // `script` gives the CLI a pseudo-terminal; what we type goes to its stdin
    const argv = [CLI, "apply", ...inputs([overlayFile("tty-g", 5107, "172.16.107.0/24")])];
    const cmd = [process.execPath, ...argv].map((a) => `'${a}'`).join(" "); // our own paths, no quotes in them
    const ask = (answer: string) =>
      new Promise<Run>((res) => {
        const c = spawn("script", ["-qefc", cmd, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        c.stdout.on("data", (b: Buffer) => {
          stdout += b;
          if (stdout.includes("[y/N]") && !c.stdin.writableEnded) c.stdin.end(answer);
        });
        c.once("exit", (code) => res({ code, stdout, stderr: "" }));
      });
    const no = await ask("n\r");
    expect(no.code).toBe(1);
    expect(no.stdout).toContain("nothing applied");
    expect(no.stdout).not.toContain("submitted");
    expect(overlayOf(hostNames()[0] as string, 5107)).toBeUndefined();
    const yes = await ask("y\r");
    expect(yes.code, yes.stdout).toBe(0);
    expect(yes.stdout).toMatch(/wave 1 \[#{20}\] 1\/1/);
    expect(yes.stdout).toMatch(/wave 3 \[#{20}\] 5\/5/);
    expect(yes.stdout).toContain("\u001b[2K"); // bars are redrawn in place
    expectOverlayOnAll(5107);
  });

  it("nats-server and redis-server restarted mid-rollout: the rollout completes", async () => {
    const files = [...keptOverlays(5107), overlayFile("restart-h", 5108, "172.16.108.0/24")];
    const run = start(["apply", ...inputs(files), "--yes", "--json"]);
    await waveApplying(run, 2);
    await nats?.restart();
    await waveApplying(run, 3, 45_000);
    await redis?.restart();
    const r = await run.done;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect((JSON.parse(r.stdout) as { status: string }).status).toBe("succeeded");
    expectOverlayOnAll(5108);
  });

  it("failureThreshold {hosts: 1}: a host failing for real is tolerated, every wave runs, apply exits 1 saying so", async () => {
    const policy = join(dir, "tolerant-policy.yaml");
    writeFileSync(
      policy,
      readFileSync(join(EXAMPLE, "policy.yaml"), "utf8").replace(
        "failureThreshold: { hosts: 0 }",
        "failureThreshold: { hosts: 1 }",
      ),
    );
    expect(readFileSync(policy, "utf8")).toContain("failureThreshold: { hosts: 1 }");
    const files = inputs(
      [...keptOverlays(5108), overlayFile("tolerate-i", 5109, "172.16.109.0/24")],
      [join(EXAMPLE, "overlay.yaml"), policy],
    );
    // a wave-3 host refuses its change for real: a foreign veth holds the VXLAN's name. Made
    // after the plan (the waves are printed at submit), as an operator's hand change would be:
    // in a state report before planning, the planner itself refuses the plan (FOREIGN_LINK_CONFLICT).
    const run = start(["apply", ...files, "--yes", "--json"]);
    const wave3 = await waitFor(
      "the wave list",
      () => /wave 3: ([^\n]+)\n/.exec(run.out.stderr) ?? undefined,
    );
    const bad = (wave3[1] as string).split(", ").at(-1) as string;
    const ns = foreignVeth(bad, "vx5109", "fni-peer");
    try {
      const r = await run.done;
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
      const res = JSON.parse(r.stdout) as {
        rolloutId: string;
        status: string;
        waves: { status: string }[];
        hosts: Record<string, { status: string; changed: boolean; error: { code: string } | null }>;
      };
      expect(res.status).toBe("failed");
      expect(res.waves.map((w) => w.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
      expect(res.hosts[bad]?.status).toBe("failed");
      expect(res.hosts[bad]?.error).not.toBeNull();
      for (const h of hostNames().filter((n) => n !== bad)) {
        expect(res.hosts[h]?.status, h).toBe("confirmed"); // converged hosts stay
        expect(overlayOf(h, 5109)?.vni, h).toBe(5109);
      }
      const reason = `completed with 1 failed host(s) within failureThreshold (tolerates 1): ${bad}`;
      expect(r.stderr).toContain(`rollout.failed: ${reason}`);
      const st = await fleetnet(["rollout", "status", res.rolloutId]);
      expect(st.stdout).toContain(`rollout ${res.rolloutId}: failed (failure: ${reason})`);
      const ev = await fleetnet(["rollout", "events", res.rolloutId, "--json"]);
      const actions = (JSON.parse(ev.stdout) as { events: { action: string }[] }).events.map((e) => e.action);
      expect(actions).not.toContain("host.revert-sent"); // nothing rolled back
      expect(actions.at(-1)).toBe("rollout.failed");
      const link = ipJson(ns, ["ip", "-d", "link", "show", "vx5109"]) as Link[];
      expect(link[0]?.linkinfo?.info_kind).toBe("veth"); // the failed host reverted itself
    } finally {
      spawnSync("ip", ["-n", ns, "link", "del", "vx5109"]);
    }
  });

  it("rollout verbs on an unknown id fail with the planner's code", async () => {
    const r = await fleetnet(["rollout", "status", "no-such-rollout"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NOT_FOUND/);
  });

  it("fleetnet down stops exactly what up started; status then says down", async () => {
    const pids = ["planner", "executor"].map(
      (n) =>
        (JSON.parse(readFileSync(join(dir, "state", "stack", `${n}.pid`), "utf8")) as { pid: number }).pid,
    );
    const down = await fleetnet(["down"]);
    expect(down.code, down.stderr).toBe(0);
    // gone, or a zombie waiting for a non-reaping init (no command line any more)
    const cmdline = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        return "";
      }
    };
    for (const pid of pids) expect(cmdline(pid)).toBe("");
    const st = await fleetnet(["status", "--json"]);
    expect(st.code).toBe(1);
    const s = JSON.parse(st.stdout) as { up: boolean; processes: Record<string, { running: boolean }> };
    expect(s.up).toBe(false);
    expect(Object.values(s.processes).every((p) => !p.running)).toBe(true);
    // NATS and Redis were the test's own (reused by infra/dev/services): still running
    expect(nats?.pid).toBeDefined();
    // no planner now: the CLI says so and how to start one (exit 2)
    const st2 = await fleetnet(["rollout", "status", "r-any"]);
    expect(st2.code).toBe(2);
    expect(st2.stderr).toContain("PLANNER_UNAVAILABLE");
    expect(st2.stderr).toContain("fleetnet up");
    // an invalid inventory starts nothing
    const bad = join(dir, "bad.yaml");
    writeFileSync(
      bad,
      "apiVersion: fleetnet/v1\nkind: Inventory\nmetadata: {name: x}\nspec: {hosts: [{name: BAD_NAME}]}\n",
    );
    const up = await fleetnet(["up", "-f", bad, "--timeout", "5s"]);
    expect(up.code).toBe(1);
    expect(up.stderr).toContain("nothing started");
    expect(JSON.parse((await fleetnet(["status", "--json"])).stdout).processes.planner.running).toBe(false);
  });
});
