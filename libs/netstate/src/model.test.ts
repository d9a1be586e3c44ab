import { describe, expect, it } from "vitest";
import {
  canonicalJson,
  emptyHostState,
  type HostState,
  HostStateSchema,
  invertOp,
  isOwnedAlias,
  normalizeHostState,
  OP_NAMES,
  type Op,
  OpSchema,
  ownerAlias,
} from "./index.js";

const state: HostState = {
  links: [
    {
      kind: "vxlan",
      name: "vx5001",
      vni: 5001,
      local: "10.250.0.1",
      port: 4789,
      dev: "veth0",
      learning: false,
      master: "br5001",
      mtu: 1450,
      up: true,
      alias: ownerAlias("VxlanOverlay", "blue"),
    },
    { kind: "bridge", name: "br5001", mtu: 1450, up: true, alias: ownerAlias("VxlanOverlay", "blue") },
  ],
  ports: [{ dev: "eth1", master: "br5001" }],
  addresses: [{ dev: "br5001", address: "172.16.1.1/24" }],
  routes: [
    {
      destination: "10.252.0.0/16",
      table: 254,
      protocol: 250,
      nexthops: [
        { via: "10.250.0.2", weight: 1 },
        { via: "10.250.0.3", weight: 2 },
      ],
    },
  ],
  fdb: [{ dev: "vx5001", mac: "00:00:00:00:00:00", dst: "10.250.0.2" }],
  sysctls: [{ key: "net.ipv4.ip_forward", value: "1", persist: true }],
  files: [{ path: "/etc/frr/frr.conf", content: "router bgp 65001\n", mode: 0o644 }],
  services: [{ name: "frr", running: true, configHash: "sha256:00", configPaths: ["/etc/frr/frr.conf"] }],
};

describe("HostStateSchema", () => {
  it("accepts a full state and an empty one", () => {
    expect(HostStateSchema.parse(state)).toEqual(state);
    expect(HostStateSchema.parse(emptyHostState())).toEqual(emptyHostState());
  });
  it("rejects bad names, addresses, macs and routes", () => {
    const bad = (patch: (s: HostState) => void) => {
      const s = structuredClone(state);
      patch(s);
      return HostStateSchema.safeParse(s).success;
    };
    expect(
      bad((s) => {
        s.links[1]!.name = "a-very-long-interface-name";
      }),
    ).toBe(false);
    expect(
      bad((s) => {
        s.links[1]!.name = "br;rm -rf";
      }),
    ).toBe(false);
    expect(
      bad((s) => {
        s.addresses[0]!.address = "172.16.1.300/24";
      }),
    ).toBe(false);
    expect(
      bad((s) => {
        s.fdb[0]!.mac = "zz:00:00:00:00:00";
      }),
    ).toBe(false);
    expect(
      bad((s) => {
        s.routes[0]!.gateway = "10.0.0.1";
      }),
    ).toBe(false); // gateway and nexthops
    expect(
      bad((s) => {
        (s as unknown as Record<string, unknown>).extra = 1;
      }),
    ).toBe(false);
    expect(
      bad((s) => {
        s.files[0]!.path = "/etc/../shadow";
      }),
    ).toBe(false);
  });
  it("normalizes collections into canonical order", () => {
    const n = normalizeHostState(state);
    expect(n.links.map((l) => l.name)).toEqual(["br5001", "vx5001"]);
    expect(normalizeHostState(n).links).toBe(n.links);
  });
  it("marks ownership through the alias", () => {
    expect(isOwnedAlias(ownerAlias("Bridge", "x"))).toBe(true);
    expect(isOwnedAlias("uplink")).toBe(false);
    expect(isOwnedAlias(undefined)).toBe(false);
  });
});

const ops: Op[] = [
  { op: "link.add", ...state.links[1]! },
  { op: "link.del", ...state.links[0]! },
  { op: "link.set", name: "eth1", set: { master: "br5001" }, previous: { master: null } },
  { op: "addr.add", dev: "br5001", address: "172.16.1.1/24" },
  { op: "addr.del", dev: "br5001", address: "172.16.1.1/24" },
  {
    op: "route.replace",
    ...state.routes[0]!,
    previous: { destination: "10.252.0.0/16", table: 254, protocol: 250, gateway: "10.250.0.9" },
  },
  { op: "route.replace", ...state.routes[0]! },
  { op: "route.del", ...state.routes[0]! },
  { op: "fdb.append", ...state.fdb[0]! },
  { op: "fdb.del", ...state.fdb[0]! },
  {
    op: "sysctl.set",
    key: "net.ipv4.ip_forward",
    value: "1",
    previous: "0",
    persist: true,
    ownership: "acquire",
  },
  {
    op: "sysctl.set",
    key: "net.ipv4.ip_forward",
    value: "1",
    previous: "0",
    persist: true,
    ownership: "keep",
  },
  { op: "file.write", ...state.files[0]!, previous: null },
  { op: "file.write", ...state.files[0]!, previous: { content: "x", mode: 0o600 } },
  { op: "file.remove", path: "/etc/frr/frr.conf", previous: { content: "x", mode: 0o600 } },
  { op: "service.start", service: "frr", configHash: "sha256:1", configPaths: ["/etc/frr/frr.conf"] },
  { op: "service.stop", service: "frr", configHash: "sha256:1", configPaths: ["/etc/frr/frr.conf"] },
  {
    op: "service.reload",
    service: "frr",
    configHash: "sha256:1",
    previousHash: "sha256:0",
    configPaths: ["/etc/frr/frr.conf"],
  },
];

describe("ops", () => {
  it("covers every op name of INTENTS.md and validates with OpSchema", () => {
    expect(new Set(ops.map((o) => o.op))).toEqual(new Set(OP_NAMES));
    for (const o of ops) expect(OpSchema.parse(o)).toEqual(o);
    expect(OpSchema.safeParse({ op: "link.frob", name: "x" }).success).toBe(false);
    expect(OpSchema.safeParse({ op: "fdb.append", dev: "vx1", mac: "x" }).success).toBe(false);
  });
  it("invertOp is an involution and yields valid ops", () => {
    for (const o of ops) {
      const inv = invertOp(o);
      expect(OpSchema.safeParse(inv).success).toBe(true);
      expect(canonicalJson(invertOp(inv))).toBe(canonicalJson(o));
      expect(inv.op === o.op && canonicalJson(inv) === canonicalJson(o)).toBe(false);
    }
  });
});

describe("canonicalJson", () => {
  it("sorts keys and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: [1, { d: undefined, c: "x" }] })).toBe('{"a":[1,{"c":"x"}],"b":1}');
  });
});
