import { describe, expect, it } from "vitest";
import {
  isV6Route,
  kernelReadScript,
  normSysctl,
  parseAddresses,
  parseFdb,
  parseKernelRead,
  parseLinks,
  parseRoutes,
  sysctlPath,
} from "./observe.js";

describe("observe parsers (ip -j / bridge -j output captured on this machine)", () => {
  it("parses links: kinds, alias, master, vxlan data, veth peer; foreign enslaved links are ports", () => {
    const { links, ports } = parseLinks([
      { ifname: "lo", flags: ["LOOPBACK"], mtu: 65536 },
      { ifname: "v1", link: "v0", flags: ["BROADCAST"], mtu: 1500, linkinfo: { info_kind: "veth" } },
      {
        ifname: "br0",
        ifalias: "fleetnet:Bridge/x",
        flags: ["UP"],
        mtu: 1450,
        linkinfo: { info_kind: "bridge" },
      },
      {
        ifname: "vx1",
        master: "br0",
        flags: ["BROADCAST"],
        mtu: 1450,
        linkinfo: {
          info_kind: "vxlan",
          info_data: { id: 100, local: "10.9.0.1", link: "v0", port: 4789, learning: false },
        },
      },
      { ifname: "tap0", master: "br0", flags: ["UP"], mtu: 1500, linkinfo: { info_kind: "tun" } },
      { ifname: "veth0", link: "if7", flags: ["UP"], mtu: 1500, linkinfo: { info_kind: "veth" } },
    ]);
    expect(links).toEqual([
      { kind: "veth", name: "v1", up: false, mtu: 1500, peer: "v0" },
      { kind: "bridge", name: "br0", up: true, mtu: 1450, alias: "fleetnet:Bridge/x" },
      {
        kind: "vxlan",
        name: "vx1",
        up: false,
        mtu: 1450,
        master: "br0",
        vni: 100,
        local: "10.9.0.1",
        port: 4789,
        dev: "v0",
        learning: false,
      },
      { kind: "veth", name: "veth0", up: true, mtu: 1500 },
    ]);
    expect(ports).toEqual([
      { dev: "tap0", master: "br0" },
      { dev: "vx1", master: "br0" },
    ]);
  });

  it("parses routes: multipath nexthops, numeric protocol/table, host routes, skips local/broadcast", () => {
    const r = parseRoutes(
      [
        { dst: "default", gateway: "192.0.2.1", dev: "eth0" },
        {
          dst: "10.50.0.0/24",
          protocol: "250",
          nexthops: [
            { gateway: "10.9.0.2", dev: "v0", weight: 2 },
            { gateway: "10.9.0.3", dev: "v0", weight: 1 },
          ],
        },
        { dst: "10.1.1.1", table: "100", protocol: "186", gateway: "10.9.0.2", dev: "v0" },
        { type: "2", dst: "10.9.0.1", dev: "v0", table: "255", protocol: "2" },
        { type: "3", dst: "10.9.0.255", dev: "v0", protocol: "2" },
      ],
      false,
    );
    expect(r).toEqual([
      { destination: "0.0.0.0/0", table: 254, protocol: 3, gateway: "192.0.2.1", dev: "eth0" },
      {
        destination: "10.50.0.0/24",
        table: 254,
        protocol: 250,
        nexthops: [
          { via: "10.9.0.2", weight: 2, dev: "v0" },
          { via: "10.9.0.3", weight: 1, dev: "v0" },
        ],
      },
      { destination: "10.1.1.1/32", table: 100, protocol: 186, gateway: "10.9.0.2", dev: "v0" },
    ]);
    expect(parseRoutes([{ dst: "default", dev: "eth0", protocol: "2" }], true)[0]?.destination).toBe("::/0");
  });

  it("parses addresses and remote-VTEP FDB entries; normalises sysctl whitespace", () => {
    expect(
      parseAddresses([
        {
          ifname: "v0",
          addr_info: [
            { local: "10.9.0.1", prefixlen: 24 },
            { local: "fe80::1", prefixlen: 64 },
          ],
        },
      ]),
    ).toEqual([
      { dev: "v0", address: "10.9.0.1/24" },
      { dev: "v0", address: "fe80::1/64" },
    ]);
    expect(
      parseFdb([
        { mac: "33:33:00:00:00:01", ifname: "v1" },
        { mac: "0e:d8:6f:26:ec:37", ifname: "vx1", master: "br0" },
        { mac: "00:00:00:00:00:00", ifname: "vx1", dst: "10.9.0.2" },
      ]),
    ).toEqual([{ dev: "vx1", mac: "00:00:00:00:00:00", dst: "10.9.0.2" }]);
    expect(normSysctl("4096\t131072\t6291456\n")).toBe("4096 131072 6291456");
  });

  it("tells the families of a family-less route listing apart (a v6 default is not 0.0.0.0/0)", () => {
    // from `ip -j -N route show table all` on iproute2 6.1: both families, no family field
    const v4default = { type: "1", dst: "default", gateway: "10.1.0.2", dev: "d0", table: "254" };
    const v6defaultDevOnly = { type: "1", dst: "default", dev: "d0", table: "254", pref: "medium" };
    const v6default = { type: "1", dst: "default", gateway: "fd00::2", dev: "d0", pref: "medium" };
    const v6mp = { dst: "fd01::/64", nexthops: [{ gateway: "fe80::1", dev: "d0" }] };
    expect([v4default, v6defaultDevOnly, v6default, v6mp].map(isV6Route)).toEqual([false, true, true, true]);
    expect(isV6Route({ dst: "10.1.0.0/24", dev: "d0" })).toBe(false);
  });

  it("maps sysctl keys to /proc/sys paths (a / in a key is a . in an interface name)", () => {
    expect(sysctlPath("net.ipv4.ip_forward")).toBe("/proc/sys/net/ipv4/ip_forward");
    expect(sysctlPath("net.ipv4.conf.eth0/100.rp_filter")).toBe("/proc/sys/net/ipv4/conf/eth0.100/rp_filter");
  });

  it.each([
    ["nothing done before", {}],
    ["ip printed by the apply batch", { ip: true }],
    ["fdb printed by the apply batch", { fdb: true }],
    ["both printed by the apply batches", { ip: true, fdb: true }],
  ] as const)("parses a kernel read with %s (the read script skips exactly those parts)", (_, which) => {
    const ipDocs =
      '[{"ifname":"br0","flags":["UP"],"mtu":1450,"linkinfo":{"info_kind":"bridge"}}]\n' +
      '[{"ifname":"br0","addr_info":[{"local":"10.9.0.1","prefixlen":24,"family":"inet"}]}]\n' +
      '[{"dst":"10.8.0.0/24","gateway":"10.9.0.2","dev":"br0","table":"254","protocol":"250"}]\n';
    const fdb =
      '[{"mac":"00:00:00:00:00:00","ifname":"vx0","dst":"10.9.0.3","flags":["self"],"state":"permanent"}]\n';
    const sys = "rw net.ipv4.ip_forward\n--\nnet.ipv4.ip_forward = 1\n";
    const done = { ...("ip" in which ? { ip: ipDocs } : {}), ...("fdb" in which ? { fdb } : {}) };
    const args = kernelReadScript(["net.ipv4.ip_forward"], [], {
      ip: "ip" in which,
      fdb: "fdb" in which,
    }).args;
    // NPING=0, then READ_IP READ_FDB: 1 = read here, 0 = already printed
    expect(args.slice(0, 4)).toEqual(["0", "ip" in which ? "0" : "1", "fdb" in which ? "0" : "1", ""]);
    const out =
      "@@fleetnet-probed\n" +
      ("ip" in which ? "" : `${ipDocs}\n@@fleetnet 0\n`) +
      ("fdb" in which ? "" : `${fdb}\n@@fleetnet 0\n`) +
      sys;
    const k = parseKernelRead("h", out, "", ["net.ipv4.ip_forward"], [], done);
    expect(k.links.map((l) => l.ifname)).toEqual(["br0"]);
    expect(k.addrs[0]?.addr_info?.[0]?.local).toBe("10.9.0.1");
    expect(k.routes[0]?.gateway).toBe("10.9.0.2");
    expect(k.fdb.map((f) => f.dst)).toEqual(["10.9.0.3"]);
    expect(k.sysctls.get("net.ipv4.ip_forward")).toEqual({ value: "1", writable: true });
    // a read that lost a part is an error, not an empty table
    expect(() =>
      parseKernelRead("h", "@@fleetnet-probed\n" + sys, "", ["net.ipv4.ip_forward"], [], {}),
    ).toThrow(/observing the kernel/);
  });
});
