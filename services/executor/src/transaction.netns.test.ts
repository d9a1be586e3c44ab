/**
 * Acceptance (real, as root): every op kind applied to a namespace host and observed back;
 * idempotence; removal; a kernel-refused op mid-transaction reverts everything; a kernel
 * feature missing fails before anything is applied.
 */

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { emptyHostState, type HostState, type Op, ownerAlias } from "@fleetnet/netstate";
import { type NetnsFabric, netnsFabric } from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { observeStaged } from "./apply.js";
import { hasFeature } from "./capabilities.js";
import { NETNS_RUN_ROOT, netnsDriver } from "./drivers/process.js";
import { kernelReadScript, observe, parseKernelRead, readBatchFile } from "./observe.js";
import { serviceManager } from "./services.js";
import { applyHost, confirmHost, type HostTarget } from "./transaction.js";

let lab: NetnsFabric;
let stateDir: string;
let target: HostTarget;
const h = (i: number) => lab.hosts[i] as NetnsFabric["hosts"][number];

async function ipJson(ns: string, args: string[]): Promise<unknown[]> {
  const r = await lab.run(ns, ["ip", "-j", ...args]);
  return JSON.parse(r.stdout || "[]") as unknown[];
}
async function sysctl(ns: string, key: string): Promise<string> {
  return (await lab.run(ns, ["sysctl", "-n", key])).stdout.trim();
}

function desiredFull(): HostState {
  const a = ownerAlias("Bridge", "t");
  return {
    links: [
      { kind: "bridge", name: "brfnx", up: true, alias: a, mtu: 1400 },
      {
        kind: "vxlan",
        name: "vxfnx",
        up: true,
        alias: a,
        master: "brfnx",
        vni: 4242,
        local: h(0).address,
        port: 4789,
        dev: "veth0",
        learning: false,
      },
      { kind: "veth", name: "fnxa", peer: "fnxb", up: true, alias: ownerAlias("Veth", "t") },
    ],
    // the veth peer fleetnet did not mark is a foreign port enslaved to its bridge
    ports: [{ dev: "fnxb", master: "brfnx" }],
    addresses: [{ dev: "brfnx", address: "172.31.77.1/24" }],
    routes: [
      {
        destination: "10.99.0.0/24",
        table: 254,
        protocol: 250,
        nexthops: [
          { via: h(1).address, weight: 1 },
          { via: h(2).address, weight: 2 },
        ],
      },
      { destination: "10.98.0.0/24", table: 254, protocol: 250, gateway: h(1).address },
    ],
    fdb: [
      { dev: "vxfnx", mac: "00:00:00:00:00:00", dst: h(1).address },
      { dev: "vxfnx", mac: "00:00:00:00:00:00", dst: h(2).address },
    ],
    sysctls: [{ key: "net.ipv4.ip_forward", value: "1", persist: true }],
    files: [
      { path: "/etc/sysctl.d/90-fleetnet-t.conf", content: "net.ipv4.ip_forward = 1\n", mode: 0o644 },
      {
        path: "/etc/fnx/auth.conf",
        content: "auth_pass @@fleetnet-secret:pw@@\n",
        mode: 0o600,
        secrets: { pw: { fromFile: "/etc/fnx/vrrp.secret" } },
      },
    ],
    services: [],
  };
}

beforeAll(async () => {
  lab = await netnsFabric({ prefix: "fnx", hosts: 3, subnet: "10.213.240.0/24" });
  stateDir = await mkdtemp(join(tmpdir(), "fnx-tx-"));
  await chmod(stateDir, 0o755);
  target = {
    host: "h1",
    serviceMode: "direct",
    connect: async () => netnsDriver({ host: "h1", netns: h(0).ns, stateDir }),
  };
});
afterAll(async () => {
  await lab?.dispose();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe("apply transaction on a namespace host", () => {
  it("applies every network/sysctl/file op kind, observes it back, and is idempotent", async () => {
    const ns = h(0).ns;
    await mkdir(join(stateDir, "hosts/h1/etc/fnx"), { recursive: true });
    await writeFile(join(stateDir, "hosts/h1/etc/fnx/vrrp.secret"), "s3cr3t\n", { mode: 0o600 });
    expect(await sysctl(ns, "net.ipv4.ip_forward")).toBe("0");
    const r = await applyHost(target, desiredFull(), { confirmTimeoutS: 30 });
    expect(r.error).toBeUndefined();
    expect(r.result).toBe("applied");
    const kinds = new Set(r.ops.map((o) => o.op));
    for (const k of ["link.add", "addr.add", "route.replace", "fdb.append", "sysctl.set", "file.write"]) {
      expect(kinds).toContain(k);
    }
    expect(r.changed).toBe(r.ops.length);

    // independent checks with ip/bridge/sysctl
    const vx = (await ipJson(ns, ["-d", "link", "show", "vxfnx"]))[0] as {
      master: string;
      ifalias: string;
      flags: string[];
      linkinfo: { info_data: { id: number; local: string; port: number; learning: boolean; link: string } };
    };
    expect(vx.master).toBe("brfnx");
    expect(vx.ifalias).toBe("fleetnet:Bridge/t");
    expect(vx.flags).toContain("UP");
    expect(vx.linkinfo.info_data).toMatchObject({
      id: 4242,
      local: h(0).address,
      port: 4789,
      learning: false,
      link: "veth0",
    });
    const br = (await ipJson(ns, ["link", "show", "brfnx"]))[0] as { mtu: number };
    expect(br.mtu).toBe(1400);
    const addrs = JSON.stringify(await ipJson(ns, ["addr", "show", "brfnx"]));
    expect(addrs).toContain('"local":"172.31.77.1","prefixlen":24');
    const mp = (await ipJson(ns, ["-N", "route", "show", "10.99.0.0/24"]))[0] as {
      protocol: string;
      nexthops: { gateway: string; weight: number }[];
    };
    expect(mp.protocol).toBe("250");
    expect(mp.nexthops.map((n) => [n.gateway, n.weight]).sort()).toEqual(
      [
        [h(1).address, 1],
        [h(2).address, 2],
      ].sort(),
    );
    const fdb = (await lab.run(ns, ["bridge", "-j", "fdb", "show", "dev", "vxfnx"])).stdout;
    expect(fdb).toContain(`"dst":"${h(1).address}"`);
    expect(fdb).toContain(`"dst":"${h(2).address}"`);
    expect(await sysctl(ns, "net.ipv4.ip_forward")).toBe("1");
    expect(readFileSync(join(stateDir, "hosts/h1/etc/sysctl.d/90-fleetnet-t.conf"), "utf8")).toBe(
      "net.ipv4.ip_forward = 1\n",
    );
    // nothing written to the machine's /etc
    expect(existsSync("/etc/sysctl.d/90-fleetnet-t.conf")).toBe(false);
    // the secret was resolved on the host only; results carry the placeholder
    expect(readFileSync(join(stateDir, "hosts/h1/etc/fnx/auth.conf"), "utf8")).toBe("auth_pass s3cr3t\n");
    expect(JSON.stringify(r)).not.toContain("s3cr3t");
    const port = (await ipJson(ns, ["link", "show", "fnxb"]))[0] as { master?: string };
    expect(port.master).toBe("brfnx");
    // the vxlan overlay works end to end: the owned veth peer is foreign (no alias) and stays
    const again = await applyHost(target, desiredFull());
    expect(again).toMatchObject({ result: "unchanged", changed: 0, ops: [] });
  });

  it("observe reports ownership from the ledger (sysctl original, file) ", async () => {
    const d = netnsDriver({ host: "h1", netns: h(0).ns, stateDir });
    const o = await observe(d, serviceManager(d, "direct"));
    expect(o.state.sysctls).toEqual([
      { key: "net.ipv4.ip_forward", value: "1", persist: true, original: "0" },
    ]);
    expect(o.state.files.map((f) => f.path)).toEqual([
      "/etc/fnx/auth.conf",
      "/etc/sysctl.d/90-fleetnet-t.conf",
    ]);
    // observed content is masked back to the placeholder (ledger), so diff stays empty
    expect(o.state.files[0]?.content).toBe("auth_pass @@fleetnet-secret:pw@@\n");
    expect(
      o.state.routes
        .filter((r) => r.protocol === 250)
        .map((r) => r.destination)
        .sort(),
    ).toEqual(["10.98.0.0/24", "10.99.0.0/24"]);
  });

  it("changes in place and removes exactly what fleetnet owns (link.set, *.del, file.remove, sysctl release)", async () => {
    const ns = h(0).ns;
    const next = desiredFull();
    next.links[0] = { kind: "bridge", name: "brfnx", up: true, alias: ownerAlias("Bridge", "t"), mtu: 1300 };
    next.links = next.links.filter((l) => l.name !== "fnxa");
    next.ports = [];
    next.routes = next.routes.filter((r) => r.destination !== "10.98.0.0/24");
    next.fdb = next.fdb.slice(0, 1);
    next.addresses = [{ dev: "brfnx", address: "172.31.78.1/24" }];
    next.sysctls = [];
    next.files = [];
    const r = await applyHost(target, next);
    expect(r.error).toBeUndefined();
    expect(r.result).toBe("applied");
    const kinds = new Set(r.ops.map((o) => o.op));
    for (const k of [
      "link.set",
      "link.del",
      "addr.del",
      "addr.add",
      "route.del",
      "fdb.del",
      "file.remove",
      "sysctl.set",
    ]) {
      expect(kinds).toContain(k);
    }
    expect(((await ipJson(ns, ["link", "show", "brfnx"]))[0] as { mtu: number }).mtu).toBe(1300);
    expect((await lab.run(ns, ["ip", "link", "show", "fnxa"], { allowFailure: true })).code).not.toBe(0);
    expect(await ipJson(ns, ["route", "show", "10.98.0.0/24"])).toEqual([]);
    expect((await lab.run(ns, ["bridge", "-j", "fdb", "show", "dev", "vxfnx"])).stdout).not.toContain(
      h(2).address,
    );
    expect(await sysctl(ns, "net.ipv4.ip_forward")).toBe("0"); // original restored
    expect(existsSync(join(stateDir, "hosts/h1/etc/sysctl.d/90-fleetnet-t.conf"))).toBe(false);
    expect((await applyHost(target, next)).result).toBe("unchanged");

    // everything away: the host's foreign underlay stays
    const gone = await applyHost(target, emptyHostState());
    expect(gone.result).toBe("applied");
    expect((await lab.run(ns, ["ip", "link", "show", "brfnx"], { allowFailure: true })).code).not.toBe(0);
    expect((await ipJson(ns, ["addr", "show", "veth0"])).length).toBe(1);
    expect(JSON.stringify(await ipJson(ns, ["addr", "show", "veth0"]))).toContain(h(0).address);
  });

  it("reverts everything when the kernel refuses an op mid-transaction (state equals the snapshot)", async () => {
    const ns = h(0).ns;
    const d = netnsDriver({ host: "h1", netns: ns, stateDir });
    const snapshot = (await observe(d, serviceManager(d, "direct"), { desired: desiredFull() })).state;
    const bad = desiredFull();
    // 10.55.0.1 is not on any connected network: `ip route replace` fails after the links,
    // addresses and the sysctl were already applied
    bad.routes.push({ destination: "10.97.0.0/24", table: 254, protocol: 250, gateway: "10.55.0.1" });
    const r = await applyHost(target, bad);
    expect(r.result, JSON.stringify(r.error)).toBe("reverted");
    expect(r.error?.code).toBe("APPLY_FAILED");
    expect(r.error?.message).toMatch(/ip -batch failed.*(Nexthop has invalid gateway|unreachable)/is);
    const after = (await observe(d, serviceManager(d, "direct"), { desired: desiredFull() })).state;
    expect(after).toEqual(snapshot);
    expect((await lab.run(ns, ["ip", "link", "show", "brfnx"], { allowFailure: true })).code).not.toBe(0);
    expect(await sysctl(ns, "net.ipv4.ip_forward")).toBe("0");
  });

  it("a network-only change takes ONE host process: observe + pings before, pause, timer, apply, pings and verify read", async () => {
    const ns = h(0).ns;
    const { files: _f, ...rest } = desiredFull();
    const net: HostState = {
      ...rest,
      files: [],
      sysctls: [{ key: "net.ipv4.ip_forward", value: "1", persist: false }],
    };
    const runs: string[] = [];
    const stagedRuns: { finished: string[]; paused: boolean }[] = [];
    let detached = 0;
    const counting: HostTarget = {
      ...target,
      connect: async () => {
        const d = netnsDriver({ host: "h1", netns: ns, stateDir });
        return {
          ...d,
          kind: d.kind,
          host: d.host,
          fsRoot: d.fsRoot,
          run: (argv, o) => {
            runs.push(
              argv[0] === "sh"
                ? `sh ${/@@fleetnet-apply/.test(argv[2] ?? "") ? "apply" : "other"}`
                : (argv[0] ?? ""),
            );
            return d.run(argv, o);
          },
          runStaged: async (argv, pause, o) => {
            const s = await d.runStaged(argv, pause, o);
            const rec = { finished: [] as string[], paused: s.first.paused };
            stagedRuns.push(rec);
            return {
              first: s.first,
              finish: (input) => {
                rec.finished.push(input.split("\n")[0] ?? "");
                return s.finish(input);
              },
            };
          },
          spawnDetached: (argv) => {
            detached++;
            return d.spawnDetached(argv);
          },
          readFile: (x) => d.readFile(x),
          writeFileAtomic: (x, c, m) => d.writeFileAtomic(x, c, m),
          removeFile: (x) => d.removeFile(x),
          hostPath: (x) => d.hostPath(x),
          close: () => d.close(),
        };
      },
    };
    const r = await applyHost(counting, net, { probes: { ping: [h(1).address] } });
    expect(r.result, JSON.stringify(r.error)).toBe("applied");
    expect(detached).toBe(0); // the timer started inside the apply process
    // the observation with the ping round before the change paused, then applied: no other shell
    expect(runs.filter((x) => x.startsWith("sh"))).toEqual([]);
    // told `apply` (the transaction's way out ends it again: a no-op then)
    expect(stagedRuns.map((x) => [x.paused, x.finished[0]])).toEqual([[true, "apply"]]);
    expect(r.pings?.get(h(1).address)?.reachable).toBe(true); // the apply process's ping round
    expect(r.observed?.state.fdb).toHaveLength(2);
    expect(await sysctl(ns, "net.ipv4.ip_forward")).toBe("1");
    expect(JSON.stringify(await ipJson(ns, ["route", "show", "10.99.0.0/24"]))).toContain(h(2).address);
    // no change: the paused process is told nothing (end-of-file) and ends
    expect((await applyHost(counting, net)).result).toBe("unchanged");
    expect(stagedRuns.map((x) => [x.paused, ...new Set(x.finished)])[1]).toEqual([true, ""]);
    expect(runs.filter((x) => x.startsWith("sh"))).toEqual([]);
    expect((await applyHost(target, emptyHostState())).result).toBe("applied");
    expect(await sysctl(ns, "net.ipv4.ip_forward")).toBe("0");
  });

  it("the kernel read: sysctls (absent and write-only ones left out), the VXLAN FDB, pings, and no bridge start without a VXLAN link", async () => {
    const ns = h(0).ns;
    // a PATH with the read's programs but no fping: the script pings with `ping`
    const noFping = await mkdtemp(join(tmpdir(), "fnx-nofping-"));
    for (const tool of ["ip", "bridge", "sysctl", "ping"]) {
      const at = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
      await symlink(at, join(noFping, tool));
    }
    const d = netnsDriver({ host: "h1", netns: ns, stateDir });
    await lab.run(ns, ["ip", "link", "add", "vxfnr", "type", "vxlan", "id", "77", "dstport", "4789"]);
    try {
      await lab.run(ns, [
        "bridge",
        "fdb",
        "append",
        "00:00:00:00:00:00",
        "dev",
        "vxfnr",
        "dst",
        h(1).address,
      ]);
      const keys = [
        "net.ipv4.ip_forward",
        "net.ipv4.tcp_rmem",
        "net.ipv4.fnx_absent",
        "net.ipv4.route.flush",
      ];
      const peers = [h(1).address, h(2).address];
      const reads = [];
      // the batch lines piped from printf, from the batch file, and pinged by `ping` (no fping)
      for (const [bf, env] of [
        ["", []],
        [await readBatchFile(d), []],
        ["", ["env", `PATH=${noFping}`]],
      ] as const) {
        const k = kernelReadScript(keys, peers, {}, bf);
        const r = await d.run([...env, env.length > 0 ? "/bin/sh" : "sh", "-c", k.script, "sh", ...k.args]);
        reads.push(parseKernelRead("h1", r.stdout, r.stderr, keys, peers));
      }
      for (const read of reads) {
        expect(read.sysctls.get("net.ipv4.tcp_rmem")?.value).toMatch(/^\d+ \d+ \d+$/);
        expect([...read.sysctls.keys()].sort()).toEqual(["net.ipv4.ip_forward", "net.ipv4.tcp_rmem"]);
        expect(read.fdb.some((f) => f.ifname === "vxfnr" && f.dst === h(1).address)).toBe(true);
        expect([...read.pings.keys()].sort()).toEqual([...peers].sort());
        expect(read.links.map((l) => l.ifname)).toEqual(reads[0]?.links.map((l) => l.ifname));
      }
      expect(() => kernelReadScript([], ["10.0.0.1 *"])).toThrow(/not an IP address/);
    } finally {
      await lab.run(ns, ["ip", "link", "del", "vxfnr"], { allowFailure: true });
      await rm(noFping, { recursive: true, force: true });
    }
    // no VXLAN link: no remote FDB entry can exist, `bridge` is not started
    const k0 = kernelReadScript([], []);
    const r0 = await d.run(["sh", "-c", k0.script, "sh", ...k0.args]);
    expect(parseKernelRead("h1", r0.stdout, r0.stderr, [], []).fdb).toEqual([]);
  });

  it("the paused transaction process applies nothing unless told `apply` with all its arguments", async () => {
    const d = netnsDriver({ host: "h1", netns: h(0).ns, stateDir });
    // end-of-file (the executor died, or no change), another word, arguments cut short
    for (const input of ["", "stop\n", "apply\n/nonexistent/revert.sh\n/nonexistent/plan\n"]) {
      const s = await observeStaged(d, ["net.ipv4.ip_forward"], [h(1).address]);
      expect(s.kernel.sysctls.get("net.ipv4.ip_forward")?.value).toMatch(/^[01]$/);
      expect(s.kernel.pings.has(h(1).address)).toBe(true);
      expect(s.kernel.links.some((l) => l.ifname === "veth0")).toBe(true);
      expect(await s.run.finish(input)).toEqual({ code: 0, stdout: "", stderr: "" });
    }
  });

  it("a network-only change the kernel refuses mid-apply is reverted (state equals the snapshot)", async () => {
    const ns = h(0).ns;
    const d = netnsDriver({ host: "h1", netns: ns, stateDir });
    const { files: _f, ...rest } = desiredFull();
    const bad: HostState = {
      ...rest,
      files: [],
      sysctls: [{ key: "net.ipv4.ip_forward", value: "1", persist: false }],
    };
    const snapshot = (await observe(d, serviceManager(d, "direct"), { desired: bad })).state;
    bad.routes.push({ destination: "10.97.0.0/24", table: 254, protocol: 250, gateway: "10.55.0.1" });
    const r = await applyHost(target, bad);
    expect(r.result, JSON.stringify(r.error)).toBe("reverted");
    expect(r.error?.code).toBe("APPLY_FAILED");
    expect(r.error?.message).toMatch(/ip -batch failed on h1.*(Nexthop has invalid gateway|unreachable)/is);
    expect((await observe(d, serviceManager(d, "direct"), { desired: bad })).state).toEqual(snapshot);
    expect((await lab.run(ns, ["ip", "link", "show", "brfnx"], { allowFailure: true })).code).not.toBe(0);
    expect(await sysctl(ns, "net.ipv4.ip_forward")).toBe("0");
  });

  it("a network-only change with a sysctl value the kernel refuses is reverted (sysctl written by redirection)", async () => {
    const ns = h(0).ns;
    const range = await sysctl(ns, "net.ipv4.ip_local_port_range");
    const { files: _f, ...rest } = desiredFull();
    const bad: HostState = {
      ...rest,
      files: [],
      sysctls: [
        { key: "net.ipv4.ip_forward", value: "1", persist: false },
        { key: "net.ipv4.ip_local_port_range", value: "5000 1000", persist: false }, // min > max: EINVAL
      ],
    };
    const r = await applyHost(target, bad);
    expect(r.result, JSON.stringify(r.error)).toBe("reverted");
    expect(r.error?.code).toBe("APPLY_FAILED");
    expect(r.error?.message).toMatch(/sysctl -w failed on h1: .*ip_local_port_range/s);
    expect((await lab.run(ns, ["ip", "link", "show", "brfnx"], { allowFailure: true })).code).not.toBe(0);
    expect(await sysctl(ns, "net.ipv4.ip_forward")).toBe("0");
    expect(await sysctl(ns, "net.ipv4.ip_local_port_range")).toBe(range);
  });

  it("a network-only change whose confirm comes too late is reverted by the timer the apply process started", async () => {
    const ns = h(0).ns;
    const { files: _f, ...rest } = desiredFull();
    const net: HostState = { ...rest, files: [], sysctls: [] };
    const r = await applyHost(target, net, {
      confirmTimeoutS: 1,
      afterApply: () => new Promise((res) => setTimeout(res, 2500)),
    });
    expect(r.result, JSON.stringify(r)).toBe("reverted");
    expect(r.error?.code).toBe("CONFIRM_TIMEOUT");
    expect((await lab.run(ns, ["ip", "link", "show", "brfnx"], { allowFailure: true })).code).not.toBe(0);
  });

  it("the one-process apply's timer (a subshell) ignores TERM and HUP; a confirm ends it and its sleep", async () => {
    const ns = h(0).ns;
    const { files: _f, ...rest } = desiredFull();
    const net: HostState = { ...rest, files: [], sysctls: [] };
    const r = await applyHost(target, net, { confirmTimeoutS: 60, confirm: "manual" });
    expect(r.result, JSON.stringify(r.error)).toBe("applied");
    const plans = join(NETNS_RUN_ROOT, ns, "fleetnet/revert");
    const armed = readdirSync(plans).filter((id) => existsSync(join(plans, id, "armed")));
    expect(armed).toHaveLength(1);
    const timer = Number(readFileSync(join(plans, armed[0] as string, "timer.sub"), "utf8"));
    // alive: not gone, and not a zombie left for this machine's init to reap
    const alive = (pid: number) => {
      try {
        return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    const childrenOf = (pid: number) =>
      readdirSync("/proc")
        .filter((e) => /^\d+$/.test(e))
        .filter((e) => {
          try {
            return (
              readFileSync(`/proc/${e}/stat`, "utf8")
                .replace(/^.*\) /, "")
                .split(" ")[1] === String(pid)
            );
          } catch {
            return false;
          }
        })
        .map(Number);
    expect(alive(timer)).toBe(true);
    const [sleeper] = childrenOf(timer);
    expect(sleeper).toBeDefined();
    expect(readFileSync(`/proc/${sleeper}/comm`, "utf8").trim()).toBe("sleep");
    process.kill(timer, "SIGTERM");
    process.kill(timer, "SIGHUP");
    process.kill(sleeper as number, "SIGTERM");
    await new Promise((res) => setTimeout(res, 300));
    expect(alive(timer)).toBe(true);
    expect(alive(sleeper as number)).toBe(true);
    expect(await confirmHost(target)).toEqual(armed);
    for (let i = 0; i < 50 && (alive(timer) || alive(sleeper as number)); i++)
      await new Promise((res) => setTimeout(res, 100));
    expect(alive(timer)).toBe(false);
    expect(alive(sleeper as number)).toBe(false);
    expect((await lab.run(ns, ["ip", "link", "show", "brfnx"], { allowFailure: true })).code).toBe(0);
    expect((await applyHost(target, emptyHostState())).result).toBe("applied");
  });

  it("lets only one transaction at a time change a host (lock: the other gets HOST_BUSY or sees it done)", async () => {
    const [a, b] = await Promise.all([applyHost(target, desiredFull()), applyHost(target, desiredFull())]);
    expect([a?.result, b?.result].filter((o) => o === "applied")).toHaveLength(1);
    const other = a?.result === "applied" ? b : a;
    expect(other?.result === "unchanged" || other?.error?.code === "HOST_BUSY", JSON.stringify(other)).toBe(
      true,
    );
    expect((await applyHost(target, emptyHostState())).result).toBe("applied");
    expect(existsSync(join(NETNS_RUN_ROOT, h(0).ns, "fleetnet/lock"))).toBe(false);
  });

  it("takes over a lock left by a dead executor on this machine; refuses one held by a live one", async () => {
    const lock = join(NETNS_RUN_ROOT, h(0).ns, "fleetnet/lock"); // the host's /run (tmpfs)
    const dead = spawnSync("true").pid as number; // exited: its pid is not alive
    await mkdir(lock, { recursive: true });
    const owner = (pid: number) =>
      JSON.stringify({ txId: "x", until: Date.now() + 600_000, executor: hostname(), pid });
    await writeFile(join(lock, "owner"), owner(1)); // pid 1 lives
    const busy = await applyHost(target, desiredFull());
    expect(busy.result).toBe("failed");
    expect(busy.error).toMatchObject({ code: "HOST_BUSY", retryable: true });
    await writeFile(join(lock, "owner"), owner(dead));
    expect((await applyHost(target, emptyHostState())).error).toBeUndefined();
    expect(existsSync(lock)).toBe(false);
  });

  it("refuses an op the kernel cannot do with KERNEL_UNSUPPORTED before applying anything", async () => {
    const ns = h(0).ns;
    const d = netnsDriver({ host: "h1", netns: ns, stateDir });
    const vlanOk = await hasFeature(d, "vlan");
    const want = desiredFull();
    want.links.push({
      kind: "vlan",
      name: "veth0.42",
      parent: "veth0",
      id: 42,
      up: true,
      alias: ownerAlias("Vlan", "v"),
    });
    const r = await applyHost(target, want);
    if (vlanOk) {
      // a kernel with 802.1Q applies it
      expect(r.result).toBe("applied");
      await applyHost(target, emptyHostState());
      return;
    }
    expect(r.result).toBe("failed");
    expect(r.error?.code).toBe("KERNEL_UNSUPPORTED");
    expect(r.error?.message).toContain("CONFIG_VLAN_8021Q");
    expect((r.ops as Op[]).length).toBeGreaterThan(0);
    expect((await lab.run(ns, ["ip", "link", "show", "brfnx"], { allowFailure: true })).code).not.toBe(0);
    expect(await sysctl(ns, "net.ipv4.ip_forward")).toBe("0");
  });
});
