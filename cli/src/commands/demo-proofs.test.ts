import { describe, expect, it } from "vitest";
import { type DemoHost, proveWaves } from "./demo-proofs.js";

const h = (name: string, rack: string | undefined): DemoHost => ({
  name,
  ns: `fnd-${name}`,
  address: "10.249.0.1",
  rack,
  role: rack ? "hypervisor" : "spine",
});
const hosts = [
  h("h001", "r1"),
  h("h002", "r1"),
  h("h003", "r2"),
  h("h004", "r3"),
  h("s01", undefined),
  h("s02", undefined),
];
const pair = { primary: "h001", backup: "h003" };

describe("demo proveWaves", () => {
  it("reads the wave list apply printed and checks rack spread, pair and spine separation", () => {
    const out = [
      "rollout r-1 submitted: 4 wave(s)",
      "  wave 1: h001",
      "  wave 2: h002, h003",
      "  wave 3: h004, s01 (2 of 3 hosts: spreadBy rack allows 1 host(s) per rack per wave)",
      "  wave 4: s02 (added wave: spreadBy rack allows 1 host(s) per rack per wave)",
      "  wave 1 [##########] succeeded  h001",
    ].join("\n");
    const p = proveWaves(out, hosts, pair);
    expect(p.ok).toBe(true);
    expect(p.evidence).toContain("wave 3: h004 (r3), s01 (spine)");
    expect(p.evidence).toContain("KeepalivedPair: h001 in wave 1, h003 in wave 2");
    expect(p.evidence).toContain(
      "BGP peers: s01 in wave 3, s02 in wave 4 (every hypervisor keeps a session)",
    );
  });

  it.each([
    ["two hosts of one rack", "  wave 1: h001, h002\n  wave 2: h003, s01\n  wave 3: h004, s02"],
    ["the pair together", "  wave 1: h001, h003\n  wave 2: h002, s01\n  wave 3: h004, s02"],
    ["both spines together", "  wave 1: h001\n  wave 2: h002, h003\n  wave 3: h004, s01, s02"],
    ["no wave list", "rollout r-1 submitted"],
  ])("fails with %s", (_what, out) => {
    expect(proveWaves(out, hosts, pair).ok).toBe(false);
  });
});
