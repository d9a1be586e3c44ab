import { validateText } from "@fleetnet/intent";
import { describe, expect, it } from "vitest";
import {
  allocate,
  allocateAsns,
  applyOps,
  compile,
  diff,
  emptyHostState,
  FLEETNET_ROUTE_PROTOCOL,
  HostStateSchema,
  maskSecrets,
  NetstateError,
  ownerAlias,
  PATHS,
  resolveSecrets,
  secretIds,
} from "./index.js";
import { BGP_LEAVES, BGP_SPINE, KEEPALIVED_GW } from "./testlib/fixtures.testlib.js";

function inv(n: number, extra = ""): string {
  const hosts = Array.from({ length: n }, (_, k) => {
    const i = k + 1;
    const role = i <= n - 1 ? "hypervisor" : "spine";
    return `    - {name: h${String(i).padStart(3, "0")}, labels: {role: ${role}, rack: r${i % 2}}, underlay: {interface: veth0, address: 10.250.0.${i}/16}, transport: {driver: netns, namespace: fnp-h${i}}}`;
  });
  return `apiVersion: fleetnet/v1\nkind: Inventory\nmetadata: {name: lab}\nspec:\n  hosts:\n${hosts.join("\n")}\n${extra}`;
}

function load(text: string) {
  const r = validateText(text);
  if (!r.valid || !r.inventory) throw new Error(JSON.stringify(r.errors, null, 2));
  return { inventory: r.inventory, intents: r.intents };
}

const OVERLAY = `---
apiVersion: fleetnet/v1
kind: VxlanOverlay
metadata: {name: blue}
spec:
  hosts: {matchLabels: {role: hypervisor}}
  vni: 5001
  addresses: {pool: 172.16.1.0/24}
`;

describe("compile: VxlanOverlay", () => {
  const { inventory, intents } = load(inv(4) + OVERLAY);
  const { hosts, allocations } = compile(inventory, intents);

  it("creates bridge + vxlan (dev underlay, nolearning, mtu underlay-50) with the owner alias", () => {
    const h1 = hosts.get("h001");
    expect(h1?.links).toEqual([
      { kind: "bridge", name: "br5001", mtu: 1450, alias: ownerAlias("VxlanOverlay", "blue"), up: true },
      {
        kind: "vxlan",
        name: "vx5001",
        vni: 5001,
        local: "10.250.0.1",
        port: 4789,
        dev: "veth0",
        learning: false,
        mtu: 1450,
        master: "br5001",
        alias: ownerAlias("VxlanOverlay", "blue"),
        up: true,
      },
    ]);
    expect(HostStateSchema.safeParse(h1).success).toBe(true);
  });

  it("has one all-zero FDB entry per OTHER member (head-end replication), none to non-members", () => {
    for (const [name, dsts] of [
      ["h001", ["10.250.0.2", "10.250.0.3"]],
      ["h002", ["10.250.0.1", "10.250.0.3"]],
    ] as const) {
      expect(hosts.get(name)?.fdb).toEqual(
        dsts.map((dst) => ({ dev: "vx5001", mac: "00:00:00:00:00:00", dst })),
      );
    }
    expect(hosts.get("h004")).toEqual(emptyHostState());
  });

  it("allocates overlay addresses from the pool in host-name order, and records them", () => {
    expect(hosts.get("h001")?.addresses).toEqual([{ dev: "br5001", address: "172.16.1.1/24" }]);
    expect(hosts.get("h003")?.addresses).toEqual([{ dev: "br5001", address: "172.16.1.3/24" }]);
    expect(allocations.addresses["VxlanOverlay/blue"]).toEqual({
      h001: "172.16.1.1/24",
      h002: "172.16.1.2/24",
      h003: "172.16.1.3/24",
    });
  });

  it("multicast replication sets the group and has no FDB entries", () => {
    const m = load(
      inv(3) + OVERLAY.replace("vni: 5001", "vni: 5001\n  replication: {mode: multicast, group: 239.1.1.1}"),
    );
    const h = compile(m.inventory, m.intents).hosts.get("h001");
    expect(h?.links.find((l) => l.kind === "vxlan")).toMatchObject({ group: "239.1.1.1" });
    expect(h?.fdb).toEqual([]);
  });
});

describe("IPAM", () => {
  it("keeps an address once given when hosts join or leave", () => {
    const first = allocate("10.20.0.0/24", ["b", "c", "d"], undefined);
    expect(first).toEqual({ b: "10.20.0.1/24", c: "10.20.0.2/24", d: "10.20.0.3/24" });
    // "a" joins (sorts first) and "c" leaves: b and d keep theirs, a takes the lowest free.
    const second = allocate("10.20.0.0/24", ["a", "b", "d"], first);
    expect(second).toEqual({ a: "10.20.0.2/24", b: "10.20.0.1/24", d: "10.20.0.3/24" });
  });
  it("skips network/broadcast; /31 uses both; IPv6 skips the anycast address", () => {
    expect(allocate("10.0.0.0/30", ["a", "b"], undefined)).toEqual({ a: "10.0.0.1/30", b: "10.0.0.2/30" });
    expect(allocate("10.0.0.0/31", ["a", "b"], undefined)).toEqual({ a: "10.0.0.0/31", b: "10.0.0.1/31" });
    expect(allocate("fd00::/64", ["a"], undefined)).toEqual({ a: "fd00::1/64" });
  });
  it("reallocates an address that no longer fits a changed pool", () => {
    expect(allocate("10.30.0.0/24", ["a"], { a: "10.20.0.7/24" })).toEqual({ a: "10.30.0.1/24" });
  });
  it("fails with POOL_EXHAUSTED when the pool is too small", () => {
    expect(() => allocate("10.0.0.0/30", ["a", "b", "c"], undefined)).toThrow(/no free entry/);
    try {
      allocate("10.0.0.0/30", ["a", "b", "c"], undefined);
    } catch (e) {
      expect((e as NetstateError).code).toBe("POOL_EXHAUSTED");
    }
  });
  it("ASN pools are sticky too", () => {
    const a = allocateAsns("65001-65010", ["h2", "h3"], undefined);
    expect(a).toEqual({ h2: 65001, h3: 65002 });
    expect(allocateAsns("65001-65010", ["h1", "h3"], a)).toEqual({ h1: 65001, h3: 65002 });
  });
  it("compile with previous allocations: a joining host does not move anyone", () => {
    const four = load(inv(4) + OVERLAY);
    const before = compile(four.inventory, four.intents);
    // A host h000 that sorts first joins the overlay.
    const text =
      inv(4).replace(
        "  hosts:\n",
        "  hosts:\n    - {name: h000, labels: {role: hypervisor}, underlay: {interface: veth0, address: 10.250.0.100/16}, transport: {driver: local}}\n",
      ) + OVERLAY;
    const five = load(text);
    const after = compile(five.inventory, five.intents, before.allocations);
    for (const h of ["h001", "h002", "h003"]) {
      expect(after.hosts.get(h)?.addresses).toEqual(before.hosts.get(h)?.addresses);
    }
    expect(after.hosts.get("h000")?.addresses).toEqual([{ dev: "br5001", address: "172.16.1.4/24" }]);
    // Without allocations (offline), the order is by host name: h000 gets .1.
    expect(compile(five.inventory, five.intents).hosts.get("h000")?.addresses[0]?.address).toBe(
      "172.16.1.1/24",
    );
    // Existing members only gain the new FDB entry.
    const ops = diff(
      after.hosts.get("h001") ?? emptyHostState(),
      before.hosts.get("h001") ?? emptyHostState(),
    );
    expect(ops).toEqual([{ op: "fdb.append", dev: "vx5001", mac: "00:00:00:00:00:00", dst: "10.250.0.100" }]);
  });
});

describe("compile: other kinds", () => {
  it("Bridge: bridge with ports and pool address", () => {
    const { inventory, intents } = load(
      inv(2) +
        `---\napiVersion: fleetnet/v1\nkind: Bridge\nmetadata: {name: vm}\nspec:\n  hosts: {names: [h001]}\n  name: brvm0\n  mtu: 1500\n  ports: [eth1]\n  addresses: {pool: 10.20.0.0/24}\n`,
    );
    const h = compile(inventory, intents).hosts.get("h001");
    expect(h?.links).toEqual([
      { kind: "bridge", name: "brvm0", mtu: 1500, alias: "fleetnet:Bridge/vm", up: true },
    ]);
    expect(h?.ports).toEqual([{ dev: "eth1", master: "brvm0" }]);
    expect(h?.addresses).toEqual([{ dev: "brvm0", address: "10.20.0.1/24" }]);
  });

  it("Bridge ports: a port fleetnet creates itself is enslaved via its link; conflicts are refused", () => {
    const { inventory, intents } = load(
      inv(2) +
        `---\napiVersion: fleetnet/v1\nkind: Vlan\nmetadata: {name: stor}\nspec:\n  hosts: {names: [h001]}\n  id: 100\n  parent: eth1\n` +
        `---\napiVersion: fleetnet/v1\nkind: Bridge\nmetadata: {name: vm}\nspec:\n  hosts: {names: [h001]}\n  name: brvm0\n  ports: [eth1.100, eth2]\n`,
    );
    const h = compile(inventory, intents).hosts.get("h001");
    expect(h?.links.find((l) => l.name === "eth1.100")?.master).toBe("brvm0");
    expect(h?.ports).toEqual([{ dev: "eth2", master: "brvm0" }]);
    const converged = applyOps(emptyHostState(), diff(h ?? emptyHostState(), emptyHostState()));
    expect(diff(h ?? emptyHostState(), converged)).toEqual([]);
  });

  it("Vlan: vlan link on its parent, enslaved to its bridge which gets the address", () => {
    const { inventory, intents } = load(
      inv(2) +
        `---\napiVersion: fleetnet/v1\nkind: Vlan\nmetadata: {name: stor}\nspec:\n  hosts: {names: [h001]}\n  id: 100\n  parent: eth1\n  bridge: brstor\n  addresses: {pool: 10.100.0.0/24}\n`,
    );
    const h = compile(inventory, intents).hosts.get("h001");
    expect(h?.links).toEqual([
      { kind: "bridge", name: "brstor", alias: "fleetnet:Vlan/stor", up: true },
      {
        kind: "vlan",
        name: "eth1.100",
        id: 100,
        parent: "eth1",
        master: "brstor",
        alias: "fleetnet:Vlan/stor",
        up: true,
      },
    ]);
    expect(h?.addresses).toEqual([{ dev: "brstor", address: "10.100.0.1/24" }]);
  });

  it("EcmpRoute: multipath route with weights in fleetnet's protocol and table", () => {
    const { inventory, intents } = load(
      inv(3) +
        `---\napiVersion: fleetnet/v1\nkind: EcmpRoute\nmetadata: {name: r}\nspec:\n  hosts: {names: [h001]}\n  destination: 10.252.1.7/16\n  nexthops: [{via: 10.250.0.2, weight: 3}, {via: 10.250.0.3}]\n  table: 100\n`,
    );
    expect(compile(inventory, intents).hosts.get("h001")?.routes).toEqual([
      {
        destination: "10.252.0.0/16",
        table: 100,
        protocol: FLEETNET_ROUTE_PROTOCOL,
        nexthops: [
          { via: "10.250.0.2", weight: 3 },
          { via: "10.250.0.3", weight: 1 },
        ],
      },
    ]);
  });

  it("SysctlBaseline: sysctls and a persisted sysctl.d file", () => {
    const { inventory, intents } = load(
      inv(2) +
        `---\napiVersion: fleetnet/v1\nkind: SysctlBaseline\nmetadata: {name: base}\nspec:\n  hosts: {matchLabels: {}}\n  settings:\n    net.ipv4.tcp_rmem: "4096 131072 16777216"\n    net.core.somaxconn: 4096\n  persist: true\n`,
    );
    const h = compile(inventory, intents).hosts.get("h002");
    expect(h?.sysctls).toEqual([
      { key: "net.core.somaxconn", value: "4096", persist: true },
      { key: "net.ipv4.tcp_rmem", value: "4096 131072 16777216", persist: true },
    ]);
    expect(h?.files).toEqual([
      {
        path: "/etc/sysctl.d/90-fleetnet-base.conf",
        content:
          "# managed by fleetnet (SysctlBaseline/base); changes are overwritten\nnet.core.somaxconn = 4096\nnet.ipv4.tcp_rmem = 4096 131072 16777216\n",
        mode: 0o644,
      },
    ]);
  });

  const BGP = `${BGP_LEAVES}${BGP_SPINE}  multipathRelax: false\n`;

  it("BgpMultipath: FRR config with ASN from the pool, peers by selector, ECMP and ip_forward", () => {
    const { inventory, intents } = load(inv(3) + BGP);
    const { hosts, allocations } = compile(inventory, intents);
    expect(allocations.asns["BgpMultipath/leaves"]).toEqual({ h001: 65001, h002: 65002 });
    const h1 = hosts.get("h001");
    const frr = h1?.files.find((f) => f.path === PATHS.frr)?.content ?? "";
    expect(frr).toContain("router bgp 65001\n bgp router-id 10.250.0.1\n no bgp ebgp-requires-policy\n");
    expect(frr).toContain(" bgp bestpath as-path multipath-relax\n");
    expect(frr).toContain(" timers bgp 3 9\n");
    expect(frr).toContain(" neighbor 10.250.0.3 remote-as 65000\n");
    expect(frr).toContain(" neighbor 10.250.0.254 remote-as 65500\n");
    expect(frr).toContain("  network 10.10.0.0/24\n");
    expect(frr).toContain("  redistribute connected\n");
    expect(frr).toContain("  maximum-paths 4\n");
    expect(h1?.sysctls).toEqual([{ key: "net.ipv4.ip_forward", value: "1", persist: false }]);
    expect(h1?.services).toEqual([
      {
        name: "frr",
        running: true,
        configHash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
        configPaths: [PATHS.frr],
      },
    ]);
    const spine = hosts.get("h003")?.files[0]?.content ?? "";
    expect(spine).toContain(
      " neighbor 10.250.0.1 remote-as 65001\n neighbor 10.250.0.1 description fleetnet-host-h001\n",
    );
    expect(spine).toContain(" neighbor 10.250.0.2 remote-as 65002\n");
    expect(spine).not.toContain("multipath-relax");
    expect(spine).toContain("  maximum-paths 8\n");
  });

  const KA = `${KEEPALIVED_GW}  priority: {primary: 150, backup: 100}\n  advertInterval: 1\n`;

  it("KeepalivedPair: MASTER/BACKUP instances with unicast peers; the password is only a reference", () => {
    const { inventory, intents } = load(inv(3) + KA);
    const { hosts } = compile(inventory, intents);
    const f1 = hosts.get("h001")?.files.find((f) => f.path === PATHS.keepalived);
    const f2 = hosts.get("h002")?.files.find((f) => f.path === PATHS.keepalived);
    expect(f1?.content).toContain(
      "    state MASTER\n    interface veth0\n    virtual_router_id 51\n    priority 150\n",
    );
    expect(f2?.content).toContain("    state BACKUP\n");
    expect(f2?.content).toContain("    priority 100\n");
    expect(f1?.content).toContain(
      "    unicast_src_ip 10.250.0.1\n    unicast_peer {\n        10.250.0.2\n    }\n",
    );
    expect(f1?.content).toContain("        10.250.0.100/16 dev veth0\n");
    expect(f1?.content).toContain("auth_pass @@fleetnet-secret:vrrp-gw@@");
    expect(f1?.secrets).toEqual({ "vrrp-gw": { fromEnv: "FLEETNET_VRRP_GW" } });
    expect(f1?.mode).toBe(0o600);
    expect(hosts.get("h003")?.files).toEqual([]);
    expect(secretIds(f1?.content ?? "")).toEqual(["vrrp-gw"]);
    const real = resolveSecrets(f1?.content ?? "", { "vrrp-gw": "s3cret" });
    expect(real).toContain("auth_pass s3cret\n");
    expect(maskSecrets(real, f1?.content ?? "", { "vrrp-gw": "s3cret" })).toBe(f1?.content);
    expect(() => resolveSecrets(f1?.content ?? "", {})).toThrow(NetstateError);
    expect(() => resolveSecrets(f1?.content ?? "", { "vrrp-gw": "a\nvrrp_script x" })).toThrow(/line break/);
  });

  it("compiles the same input to the same state regardless of intent order", () => {
    const a = load(inv(3) + OVERLAY + KA + BGP);
    const x = compile(a.inventory, a.intents);
    const y = compile(a.inventory, [...a.intents].reverse());
    expect([...y.hosts]).toEqual([...x.hosts]);
  });
});

describe("compile: conflicts and cross-intent details", () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e instanceof NetstateError ? e.code : String(e);
    }
    return "no error";
  };

  it("two SysctlBaselines that set one key differently on a host: COMPILE_CONFLICT", () => {
    const base = (name: string, v: string) =>
      `---\napiVersion: fleetnet/v1\nkind: SysctlBaseline\nmetadata: {name: ${name}}\nspec:\n  hosts: {names: [h001]}\n  settings: {net.core.somaxconn: "${v}"}\n`;
    const same = load(inv(2) + base("a", "4096") + base("b", "4096"));
    expect(compile(same.inventory, same.intents).hosts.get("h001")?.sysctls).toHaveLength(1);
    // Validation refuses this (SYSCTL_CONFLICT); compile must not silently pick one either.
    expect(validateText(inv(2) + base("a", "4096") + base("b", "1024")).errors.map((e) => e.code)).toEqual([
      "SYSCTL_CONFLICT",
    ]);
    const a = load(inv(2) + base("a", "4096"));
    const b = load(inv(2) + base("b", "1024"));
    expect(code(() => compile(a.inventory, [...a.intents, ...b.intents]))).toBe("COMPILE_CONFLICT");
  });

  it("a SysctlBaseline naming ip_forward wins over the BGP default", () => {
    const { inventory, intents } = load(
      inv(2) +
        `---\napiVersion: fleetnet/v1\nkind: BgpMultipath\nmetadata: {name: b}\nspec:\n  hosts: {names: [h001]}\n  asn: 65001\n  peers: [{address: 10.250.0.254, remoteAs: 65000}]\n` +
        `---\napiVersion: fleetnet/v1\nkind: SysctlBaseline\nmetadata: {name: s}\nspec:\n  hosts: {names: [h001]}\n  settings: {net.ipv4.ip_forward: "1"}\n  persist: true\n`,
    );
    expect(compile(inventory, intents).hosts.get("h001")?.sysctls).toEqual([
      { key: "net.ipv4.ip_forward", value: "1", persist: true },
    ]);
  });

  it("keepalived on an overlay bridge uses the pool addresses as unicast source and peer", () => {
    const { inventory, intents } = load(
      inv(3) +
        OVERLAY +
        `---\napiVersion: fleetnet/v1\nkind: KeepalivedPair\nmetadata: {name: ov}\nspec:\n  primary: h001\n  backup: h002\n  interface: br5001\n  vrid: 7\n  vips: [172.16.1.200/24]\n`,
    );
    const f = compile(inventory, intents)
      .hosts.get("h002")
      ?.files.find((x) => x.path === PATHS.keepalived);
    expect(f?.content).toContain(
      "    unicast_src_ip 172.16.1.2\n    unicast_peer {\n        172.16.1.1\n    }\n",
    );
    expect(f?.content).toContain("        172.16.1.200/24 dev br5001\n");
    expect(f?.secrets).toBeUndefined();
  });
});
