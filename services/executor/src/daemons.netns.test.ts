/**
 * Acceptance (real daemons in namespaces): FRR eBGP ECMP — h1 peers with h2 and h3, both
 * advertise one prefix, and h1's kernel route gets 2 nexthops (`proto bgp`); config
 * reload, idempotence, a config the daemon's checker rejects (nothing changed), stop.
 * keepalived pair — the VIP is on the primary only; stopping the primary's keepalived
 * moves it to the backup within 5 s.
 */
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  emptyHostState,
  type FrrInput,
  type HostState,
  renderFrr,
  renderKeepalived,
  sha256Text,
} from "@fleetnet/netstate";
import { type NetnsFabric, namespacePids, netnsFabric } from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { netnsDriver } from "./drivers/process.js";
import { observe, observeDaemons } from "./observe.js";
import { serviceManager } from "./services.js";
import { applyHost, type HostTarget } from "./transaction.js";

let stateDir: string;
beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "fnx-daemons-"));
  await chmod(stateDir, 0o755); // the frr user must reach the per-host config
});
afterAll(async () => {
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

function targetOf(lab: NetnsFabric, i: number, name: string): HostTarget {
  const ns = lab.hosts[i]?.ns as string;
  return {
    host: name,
    serviceMode: "direct",
    connect: async () => netnsDriver({ host: name, netns: ns, stateDir }),
  };
}

function withService(name: "frr" | "keepalived", path: string, content: string): HostState {
  return {
    ...emptyHostState(),
    files: [{ path, content, mode: 0o644 }],
    services: [{ name, running: true, configHash: sha256Text(content), configPaths: [path] }],
  };
}

async function until<T>(f: () => Promise<T | undefined>, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("FRR (zebra + bgpd) in 3 namespaces", () => {
  let lab: NetnsFabric;
  const addr = (i: number) => lab.hosts[i]?.address as string;
  const frr = (i: number, extra: Partial<FrrInput> = {}): HostState => {
    const asn = 65001 + i;
    const neighbors =
      i === 0
        ? [
            { address: addr(1), remoteAs: 65002 },
            { address: addr(2), remoteAs: 65003 },
          ]
        : [{ address: addr(0), remoteAs: 65001 }];
    const conf = renderFrr({
      hostname: `h${i + 1}`,
      intent: "fnx",
      asn,
      routerId: addr(i),
      neighbors,
      maximumPaths: 4,
      multipathRelax: true,
      advertise: i === 0 ? [] : ["10.200.0.0/24"],
      redistribute: [],
      timers: { keepalive: 1, hold: 3 },
      ...extra,
    });
    const s = withService("frr", "/etc/frr/frr.conf", conf);
    s.sysctls = [{ key: "net.ipv4.ip_forward", value: "1", persist: false }];
    return s;
  };
  beforeAll(async () => {
    lab = await netnsFabric({ prefix: "fnx", hosts: 3, subnet: "10.213.243.0/24" });
  });
  afterAll(async () => {
    await lab?.dispose(); // kills the daemons inside the namespaces by PID
  });

  it("eBGP to two peers advertising one prefix gives a kernel route with 2 nexthops (proto bgp)", async () => {
    const results = await Promise.all([0, 1, 2].map((i) => applyHost(targetOf(lab, i, `h${i + 1}`), frr(i))));
    for (const r of results) {
      expect(r.error).toBeUndefined();
      expect(r.result).toBe("applied");
      expect(r.ops.map((o) => o.op)).toEqual(
        expect.arrayContaining(["file.write", "service.start", "sysctl.set"]),
      );
    }
    // nothing in the machine's /etc
    expect(readFileSync(join(stateDir, "hosts/h1/etc/frr/frr.conf"), "utf8")).toContain("router bgp 65001");
    const route = await until(async () => {
      const r = await lab.run(lab.hosts[0]?.ns as string, ["ip", "-j", "route", "show", "10.200.0.0/24"]);
      const j = JSON.parse(r.stdout || "[]") as { protocol?: string; nexthops?: { gateway: string }[] }[];
      return j[0]?.nexthops?.length === 2 ? j[0] : undefined;
    }, 30_000);
    expect(route?.protocol).toBe("bgp");
    expect(route?.nexthops?.map((n) => n.gateway).sort()).toEqual([addr(1), addr(2)].sort());
    // observe reports the BGP sessions
    const d0 = netnsDriver({ host: "h1", netns: lab.hosts[0]?.ns as string, stateDir });
    const svc = serviceManager(d0, "direct");
    const daemons = await observeDaemons(d0, svc, (await observe(d0, svc)).state);
    expect(daemons.bgp?.[`ipv4Unicast ${addr(1)}`]).toBe("Established");
    expect(daemons.bgp?.[`ipv4Unicast ${addr(2)}`]).toBe("Established");
    // idempotent: the running daemon's config hash comes from the host ledger
    expect((await applyHost(targetOf(lab, 0, "h1"), frr(0))).result).toBe("unchanged");
  });

  it("reloads on a config change and keeps the BGP sessions (probe), then refuses a config vtysh rejects", async () => {
    const t = targetOf(lab, 0, "h1");
    const r = await applyHost(t, frr(0, { maximumPaths: 2 }), { probeWindowMs: 30_000 });
    expect(r.error).toBeUndefined();
    expect(r.result).toBe("applied");
    expect(r.ops.map((o) => o.op)).toEqual(["file.write", "service.reload"]);
    const bad = frr(0);
    const broken = `${bad.files[0]?.content}router bgp 65001\n neighbor 10.213.243.9 remote-as banana\n`;
    const before = readFileSync(join(stateDir, "hosts/h1/etc/frr/frr.conf"), "utf8");
    const f = await applyHost(t, withService("frr", "/etc/frr/frr.conf", broken));
    expect(f.result).toBe("failed");
    expect(f.error?.code).toBe("CONFIG_CHECK_FAILED");
    expect(f.error?.message).toMatch(/frr rejects the new \/etc\/frr\/frr.conf/);
    expect(readFileSync(join(stateDir, "hosts/h1/etc/frr/frr.conf"), "utf8")).toBe(before);
  });

  it("stops the daemons when the service is no longer wanted", async () => {
    const t = targetOf(lab, 2, "h3");
    const r = await applyHost(t, emptyHostState());
    expect(r.result).toBe("applied");
    expect(r.ops.map((o) => o.op)).toEqual(expect.arrayContaining(["service.stop", "file.remove"]));
    expect(existsSync(join(stateDir, "hosts/h3/run/fleetnet/frr/bgpd.pid"))).toBe(false);
    // no process left in the namespace (asked from the root namespace)
    expect(await namespacePids(lab.hosts[2]?.ns as string)).toEqual([]);
  });
});

describe("keepalived pair in 2 namespaces", () => {
  let lab: NetnsFabric;
  const VIP = "10.213.244.100";
  beforeAll(async () => {
    lab = await netnsFabric({ prefix: "fnx", hosts: 2, subnet: "10.213.244.0/24" });
  });
  afterAll(async () => {
    await lab?.dispose();
  });
  const conf = (i: number, priority?: number) =>
    renderKeepalived(`h${i + 1}`, [
      {
        name: "fn_fnx",
        state: i === 0 ? "MASTER" : "BACKUP",
        interface: "veth0",
        vrid: 51,
        priority: priority ?? (i === 0 ? 150 : 100),
        advertInterval: 1,
        version: 3,
        preempt: true,
        vips: [`${VIP}/24`],
        unicast: { src: lab.hosts[i]?.address as string, peer: lab.hosts[1 - i]?.address as string },
      },
    ]);
  const hasVip = async (i: number) =>
    (await lab.run(lab.hosts[i]?.ns as string, ["ip", "-j", "addr", "show", "veth0"])).stdout.includes(
      `"local":"${VIP}"`,
    );

  it("puts the VIP on the primary only; a change that loses it is reverted; stopping the primary's keepalived moves it to the backup within 5 s", async () => {
    const rs = await Promise.all(
      [0, 1].map((i) =>
        applyHost(
          targetOf(lab, i, `k${i + 1}`),
          withService("keepalived", "/etc/keepalived/keepalived.conf", conf(i)),
        ),
      ),
    );
    for (const r of rs) {
      expect(r.error).toBeUndefined();
      expect(r.result).toBe("applied");
    }
    expect(await until(async () => ((await hasVip(0)) ? true : undefined), 10_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await hasVip(0)).toBe(true);
    expect(await hasVip(1)).toBe(false);
    const dk = netnsDriver({ host: "k1", netns: lab.hosts[0]?.ns as string, stateDir });
    const sk = serviceManager(dk, "direct");
    expect((await observeDaemons(dk, sk, (await observe(dk, sk)).state)).vrrp).toEqual([
      { vip: `${VIP}/24`, held: true },
    ]);
    // idempotent
    expect(
      (
        await applyHost(
          targetOf(lab, 1, "k2"),
          withService("keepalived", "/etc/keepalived/keepalived.conf", conf(1)),
        )
      ).result,
    ).toBe("unchanged");

    // a change that loses the primary its VIP fails the VIP probe and is reverted
    const demote = await applyHost(
      targetOf(lab, 0, "k1"),
      withService("keepalived", "/etc/keepalived/keepalived.conf", conf(0, 50)),
      { probeWindowMs: 6_000 },
    );
    expect(demote.result, JSON.stringify(demote.error)).toBe("reverted");
    expect(demote.error?.code).toBe("PROBE_FAILED");
    expect(demote.error?.message).toContain(`VIP ${VIP}`);
    expect(await until(async () => ((await hasVip(0)) ? true : undefined), 10_000)).toBe(true);
    expect(readFileSync(join(stateDir, "hosts/k1/etc/keepalived/keepalived.conf"), "utf8")).toContain(
      "priority 150",
    );

    const t0 = Date.now();
    const stop = await applyHost(targetOf(lab, 0, "k1"), emptyHostState());
    expect(stop.ops.map((o) => o.op)).toContain("service.stop");
    const moved = await until(async () => ((await hasVip(1)) ? Date.now() : undefined), 5_000);
    expect(moved, "VIP did not move to the backup").toBeDefined();
    expect((moved as number) - t0).toBeLessThan(5_000);
    expect(await hasVip(0)).toBe(false);
  });
});
