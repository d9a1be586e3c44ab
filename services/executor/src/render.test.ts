import type { Op } from "@fleetnet/netstate";
import { describe, expect, it } from "vitest";
import { bridgeLine, checkOps, ipLines, segments } from "./render.js";

describe("ops → ip/bridge batch lines", () => {
  it("renders links, addresses, routes (multipath, v6) and FDB entries", () => {
    expect(
      ipLines({
        op: "link.add",
        kind: "vxlan",
        name: "vx100",
        up: true,
        mtu: 1450,
        master: "br100",
        alias: "fleetnet:VxlanOverlay/ov",
        vni: 100,
        local: "10.0.0.1",
        port: 4789,
        dev: "eth0",
        learning: false,
      }),
    ).toEqual([
      "link add vx100 type vxlan id 100 local 10.0.0.1 dstport 4789 dev eth0 nolearning",
      "link set vx100 mtu 1450 master br100 alias fleetnet:VxlanOverlay/ov",
      "link set vx100 up",
    ]);
    expect(
      ipLines({ op: "link.set", name: "br0", set: { master: null, alias: null }, previous: {} }),
    ).toEqual(['link set br0 nomaster alias ""']);
    expect(
      ipLines({
        op: "route.replace",
        destination: "10.9.0.0/24",
        table: 254,
        protocol: 250,
        nexthops: [
          { via: "10.0.0.2", weight: 1 },
          { via: "10.0.0.3", weight: 3, dev: "eth0" },
        ],
      }),
    ).toEqual([
      "route replace 10.9.0.0/24 table 254 proto 250 nexthop via 10.0.0.2 weight 1 nexthop via 10.0.0.3 dev eth0 weight 3",
    ]);
    expect(
      ipLines({ op: "route.del", destination: "fd00::/64", table: 100, protocol: 250, gateway: "fd00::1" }),
    ).toEqual(["-6 route del fd00::/64 table 100 proto 250 via fd00::1"]);
    expect(bridgeLine({ op: "fdb.append", dev: "vx100", mac: "00:00:00:00:00:00", dst: "10.0.0.2" })).toBe(
      "fdb append 00:00:00:00:00:00 dev vx100 dst 10.0.0.2",
    );
  });

  it("refuses values that are not what they claim (no injection into batch lines)", () => {
    const bad: Op[] = [
      { op: "addr.add", dev: "eth0 up\nlink del lo", address: "10.0.0.1/24" },
      { op: "addr.add", dev: "eth0", address: "10.0.0.1/24 dev lo" },
      { op: "fdb.append", dev: "vx1", mac: "00:00:00:00:00:00", dst: "10.0.0.2; reboot" },
      { op: "link.set", name: "br0", set: { alias: 'x" up #' }, previous: {} },
      {
        op: "sysctl.set",
        key: "net.ipv4.ip_forward=1 kernel.x",
        value: "1",
        previous: "0",
        persist: false,
        ownership: "acquire",
      },
      {
        op: "sysctl.set",
        key: "net.ipv4.ip_forward",
        value: "1\nkernel.panic=1",
        previous: "0",
        persist: false,
        ownership: "acquire",
      },
    ];
    for (const op of bad) expect(() => checkOps([op]), JSON.stringify(op)).toThrow(/is not valid/);
  });

  it("groups consecutive ops of one tool into one process", () => {
    const ops: Op[] = [
      { op: "fdb.del", dev: "vx1", mac: "00:00:00:00:00:00", dst: "10.0.0.9" },
      { op: "addr.del", dev: "br0", address: "10.1.0.1/24" },
      { op: "link.del", kind: "bridge", name: "br9", up: true },
      { op: "link.add", kind: "bridge", name: "br1", up: true },
      { op: "addr.add", dev: "br1", address: "10.2.0.1/24" },
      { op: "fdb.append", dev: "vx1", mac: "00:00:00:00:00:00", dst: "10.0.0.2" },
      { op: "fdb.append", dev: "vx1", mac: "00:00:00:00:00:00", dst: "10.0.0.3" },
    ];
    expect(segments(ops).map((s) => [s.tool, s.ops.length])).toEqual([
      ["bridge", 1],
      ["ip", 4],
      ["bridge", 2],
    ]);
  });
});
