import { renderKeepalived } from "@fleetnet/netstate";
import { describe, expect, it } from "vitest";
import { keepalivedVips } from "./probes.js";

describe("keepalivedVips", () => {
  it("reads the VIPs of every virtual_ipaddress block of a rendered config", () => {
    const conf = renderKeepalived("h1", [
      {
        name: "fn_a",
        state: "MASTER",
        interface: "veth0",
        vrid: 1,
        priority: 150,
        advertInterval: 1,
        version: 3,
        preempt: true,
        vips: ["10.0.0.100/24", "10.0.0.101/24"],
      },
      {
        name: "fn_b",
        state: "BACKUP",
        interface: "br0",
        vrid: 2,
        priority: 100,
        advertInterval: 1,
        version: 2,
        preempt: false,
        vips: ["fd00::100/64"],
        unicast: { src: "10.0.0.1", peer: "10.0.0.2" },
      },
    ]);
    expect(keepalivedVips(conf)).toEqual(["10.0.0.100/24", "10.0.0.101/24", "fd00::100/64"]);
    expect(keepalivedVips("global_defs {\n}\n")).toEqual([]);
  });
});
