import { emptyHostState, type HostState, ownerAlias, renderKeepalived } from "@fleetnet/netstate";
import { describe, expect, it } from "vitest";
import { underlayPeers } from "../probes.js";
import { managedMacs, parseKeepalivedInstances, probeTargets, vrrpStates } from "./observations.js";

describe("observations (pure parts)", () => {
  it("parses the vrrp_instance blocks fleetnet renders (name, interface, VRID, VIPs)", () => {
    const conf = renderKeepalived("h1", [
      {
        name: "gw",
        state: "MASTER",
        interface: "veth0",
        vrid: 51,
        priority: 150,
        advertInterval: 1,
        version: 3,
        preempt: true,
        vips: ["10.0.0.100/24", "10.0.0.101/24"],
        unicast: { src: "10.0.0.1", peer: "10.0.0.2" },
      },
      {
        name: "gw2",
        state: "BACKUP",
        interface: "veth1",
        vrid: 52,
        priority: 100,
        advertInterval: 1,
        version: 2,
        preempt: false,
        vips: ["10.0.1.100/24"],
        authSecretId: "s",
      },
    ]);
    expect(parseKeepalivedInstances(conf)).toEqual([
      { name: "gw", interface: "veth0", vrid: 51, vips: ["10.0.0.100/24", "10.0.0.101/24"] },
      { name: "gw2", interface: "veth1", vrid: 52, vips: ["10.0.1.100/24"] },
    ]);
    // hand-written, comments, no VRID → skipped
    expect(
      parseKeepalivedInstances(
        "vrrp_instance a {\n # virtual_router_id 9\n interface e0\n virtual_ipaddress {\n 1.2.3.4\n }\n}\nvrrp_instance b { \n virtual_router_id 7\n}\n",
      ),
    ).toEqual([{ name: "b", vrid: 7, vips: [] }]);
  });

  it("derives MASTER / BACKUP / FAULT from the VIPs held and whether keepalived runs", () => {
    const inst = [{ name: "gw", vrid: 51, vips: ["10.0.0.100/24", "10.0.0.101/24"] }];
    const st = (running: boolean, held: string[]) => vrrpStates(inst, running, new Set(held))[0]?.state;
    expect(st(true, ["10.0.0.100", "10.0.0.101"])).toBe("MASTER");
    expect(st(true, [])).toBe("BACKUP");
    expect(st(true, ["10.0.0.100"])).toBe("FAULT");
    expect(st(false, ["10.0.0.100", "10.0.0.101"])).toBe("FAULT");
    expect(vrrpStates(inst, true, new Set())[0]).toEqual({
      segment: "gw",
      vrid: 51,
      state: "BACKUP",
      vips: ["10.0.0.100/24", "10.0.0.101/24"],
    });
  });

  it("reports only managed ethernet links' MACs", () => {
    expect(
      managedMacs([
        { ifname: "lo", address: "00:00:00:00:00:00", link_type: "loopback" },
        { ifname: "veth0", address: "aa:aa:aa:aa:aa:01", link_type: "ether" },
        {
          ifname: "vx1",
          address: "aa:aa:aa:aa:aa:02",
          link_type: "ether",
          ifalias: ownerAlias("Overlay", "o"),
        },
        {
          ifname: "br1",
          address: "aa:aa:aa:aa:aa:03",
          link_type: "ether",
          ifalias: ownerAlias("Bridge", "b"),
        },
        // `ip -N` prints the link type as its number: ARPHRD_ETHER is [1], loopback [772]
        { ifname: "br2", address: "aa:aa:aa:aa:aa:04", link_type: "[1]", ifalias: ownerAlias("Bridge", "c") },
        {
          ifname: "lo2",
          address: "00:00:00:00:00:00",
          link_type: "[772]",
          ifalias: ownerAlias("Bridge", "d"),
        },
      ]),
    ).toEqual([
      { link: "br1", mac: "aa:aa:aa:aa:aa:03", managed: true },
      { link: "br2", mac: "aa:aa:aa:aa:aa:04", managed: true },
      { link: "vx1", mac: "aa:aa:aa:aa:aa:02", managed: true },
    ]);
  });

  it("probes the transaction's sample of distinct remote VTEPs, named by the overlay intent", () => {
    const d: HostState = {
      ...emptyHostState(),
      links: [
        {
          kind: "vxlan",
          name: "vx100",
          up: true,
          alias: ownerAlias("Overlay", "tenant-a"),
          vni: 100,
          local: "10.0.0.1",
          port: 4789,
          dev: "veth0",
          learning: false,
        },
      ],
      fdb: ["10.0.0.5", "10.0.0.2", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.6", "10.0.0.7"].map(
        (dst, i) => ({
          dev: "vx100",
          mac: i === 2 ? "aa:bb:cc:dd:ee:ff" : "00:00:00:00:00:00",
          dst,
        }),
      ),
    };
    const got = probeTargets(d, "h1");
    expect(got.map((t) => t.peer)).toEqual(underlayPeers(d, "h1"));
    expect(got).toHaveLength(4);
    expect(new Set(got.map((t) => t.peer)).size).toBe(4);
    for (const t of got) expect(t.overlay).toBe("tenant-a");
    expect(probeTargets(undefined, "h1")).toEqual([]);
  });
});
