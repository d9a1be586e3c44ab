import { renderKeepalived } from "@fleetnet/netstate";
import { describe, expect, it } from "vitest";
import { keepalivedVips, parsePings, samplePeers } from "./probes.js";

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

describe("samplePeers", () => {
  const peers = Array.from({ length: 200 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).sort();
  it("keeps every peer when there are at most k", () => {
    expect(samplePeers(["10.0.0.2", "10.0.0.3"], 4, "h1")).toEqual(["10.0.0.2", "10.0.0.3"]);
  });
  it("picks k distinct peers spread over the list, the same for the same host", () => {
    const a = samplePeers(peers, 4, "h001");
    expect(new Set(a).size).toBe(4);
    expect(samplePeers(peers, 4, "h001")).toEqual(a);
    const idx = a.map((p) => peers.indexOf(p));
    // evenly spread: consecutive picks are 50 apart (mod 200)
    for (let i = 1; i < idx.length; i++)
      expect(((idx[i] as number) - (idx[i - 1] as number) + 200) % 200).toBe(50);
  });
  it("spreads different hosts over different peers", () => {
    const firsts = new Set(Array.from({ length: 50 }, (_, i) => samplePeers(peers, 4, `h${i}`)[0]));
    expect(firsts.size).toBeGreaterThan(25);
  });
});

describe("parsePings", () => {
  it("reads fping's lines (one process for all peers)", () => {
    const out = "10.0.0.2 is alive (0.035 ms)\n10.0.0.3 is unreachable\n10.0.0.4 is alive\n";
    expect(parsePings(out, ["10.0.0.2", "10.0.0.3", "10.0.0.4"])).toEqual(
      new Map([
        ["10.0.0.2", 0.035],
        ["10.0.0.4", undefined],
      ]),
    );
  });
  it("reads the ping fallback's `ADDR rtt-summary` lines and ignores addresses not asked for", () => {
    const out = "10.0.0.2 0.045/0.052/0.060/0.000 ms\n10.0.0.9 0.1/0.1/0.1/0.0 ms\n\n";
    expect(parsePings(out, ["10.0.0.2", "10.0.0.3"])).toEqual(new Map([["10.0.0.2", 0.052]]));
  });
});
