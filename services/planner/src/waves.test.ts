import { type RolloutPolicySpec, RolloutPolicySpecSchema } from "@fleetnet/intent";
import { describe, expect, it } from "vitest";
import { planWaves, type RolloutTopology, topologyFromIntents, type WaveHost, waveTargets } from "./waves.js";

const policy = (p: Record<string, unknown> = {}): RolloutPolicySpec => RolloutPolicySpecSchema.parse(p);
const fleet = (n: number, labels: (i: number) => Record<string, string> = () => ({})): WaveHost[] =>
  Array.from({ length: n }, (_, i) => ({ name: `h${String(i + 1).padStart(3, "0")}`, labels: labels(i) }));
const names = (plan: ReturnType<typeof planWaves>) => plan.waves.map((w) => w.hosts);

describe("waveTargets", () => {
  it.each([
    { waves: [{ hosts: 1 }, { percent: 25 }, { percent: 100 }], total: 10, want: [1, 3, 10] },
    { waves: [{ hosts: 1 }, { percent: 10 }, { percent: 100 }], total: 200, want: [1, 20, 200] },
    { waves: [{ percent: 50 }, { hosts: 2 }, { percent: 60 }], total: 10, want: [5, 5, 10] },
    { waves: [{ hosts: 50 }], total: 8, want: [8] },
    { waves: [{ hosts: 2 }, { hosts: 3 }], total: 8, want: [2, 8] },
    { waves: [{ percent: 33 }, { percent: 100 }], total: 4, want: [2, 4] },
  ])("$waves of $total → $want", ({ waves, total, want }) => {
    expect(waveTargets({ waves }, total)).toEqual(want);
  });
});

describe("planWaves", () => {
  it("defaults: canary, 25%, rest — host-name order", () => {
    const plan = planWaves([...fleet(8)].reverse(), policy());
    expect(names(plan)).toEqual([["h001"], ["h002"], ["h003", "h004", "h005", "h006", "h007", "h008"]]);
    expect(plan.maxInFlight).toBe(2);
    expect(plan.waves[2]?.batches).toEqual([
      ["h003", "h004"],
      ["h005", "h006"],
      ["h007", "h008"],
    ]);
    expect(plan.waves.every((w) => w.reason === undefined)).toBe(true);
  });

  it("drops waves that add nothing and renumbers", () => {
    const plan = planWaves(fleet(3), policy({ waves: [{ hosts: 1 }, { percent: 10 }, { percent: 100 }] }));
    expect(names(plan)).toEqual([["h001"], ["h002", "h003"]]);
    expect(plan.waves.map((w) => w.index)).toEqual([0, 1]);
  });

  it("maxUnavailable as a count makes batches", () => {
    const plan = planWaves(fleet(5), policy({ waves: [{ percent: 100 }], maxUnavailable: 2 }));
    expect(plan.waves[0]?.batches).toEqual([["h001", "h002"], ["h003", "h004"], ["h005"]]);
  });

  it("spreadBy rack: at most maxPerDomain per rack, extra waves say why", () => {
    const hosts = fleet(6, (i) => ({ rack: `r${(i % 2) + 1}` }));
    const plan = planWaves(hosts, policy({ waves: [{ percent: 100 }], spreadBy: "rack", maxPerDomain: 1 }));
    expect(names(plan)).toEqual([
      ["h001", "h002"],
      ["h003", "h004"],
      ["h005", "h006"],
    ]);
    expect(plan.waves[0]?.reason).toMatch(/2 of 6 hosts: spreadBy rack allows 1 host\(s\) per rack/);
    expect(plan.waves[1]?.reason).toMatch(/^added wave: spreadBy rack/);
    expect(plan.waves[2]?.reason).toMatch(/^added wave: spreadBy rack/);
  });

  it("spreadBy: hosts without the label share one domain", () => {
    const hosts = fleet(3, (i): Record<string, string> => (i === 0 ? { rack: "r1" } : {}));
    const plan = planWaves(hosts, policy({ waves: [{ percent: 100 }], spreadBy: "rack", maxPerDomain: 1 }));
    expect(names(plan)).toEqual([["h001", "h002"], ["h003"]]);
  });

  it("a shortfall in one wave is made up by the next cumulative target", () => {
    const hosts = fleet(6, (i) => ({ rack: `r${(i % 3) + 1}` }));
    const plan = planWaves(
      hosts,
      policy({ waves: [{ hosts: 4 }, { percent: 100 }], spreadBy: "rack", maxPerDomain: 1 }),
    );
    expect(names(plan)).toEqual([
      ["h001", "h002", "h003"],
      ["h004", "h005", "h006"],
    ]);
    expect(plan.waves[0]?.reason).toMatch(/^3 of 4 hosts/);
  });

  it("KeepalivedPair members never share a wave", () => {
    const topo: RolloutTopology = { pairs: [{ name: "gw", members: ["h002", "h001"] }], bgpPeers: {} };
    const plan = planWaves(fleet(4), policy({ waves: [{ percent: 100 }] }), topo);
    expect(names(plan)).toEqual([["h001", "h003", "h004"], ["h002"]]);
    expect(plan.waves[0]?.reason).toMatch(/KeepalivedPair gw: h001 and h002 never change in one wave/);
    expect(plan.waves[1]?.reason).toMatch(/^added wave: KeepalivedPair gw/);
  });

  it("never all BGP peers of a host in one wave (spine/leaf)", () => {
    const hosts = [...fleet(4, () => ({ role: "leaf" })), { name: "s1", labels: { role: "spine" } }];
    hosts.push({ name: "s2", labels: { role: "spine" } });
    const inventory = hosts;
    const bgp = {
      apiVersion: "fleetnet/v1",
      kind: "BgpMultipath",
      metadata: { name: "fabric" },
      spec: {
        hosts: { matchLabels: { role: "leaf" } },
        asn: 65001,
        routerId: "underlay",
        peers: [{ hosts: { matchLabels: { role: "spine" } } }, { address: "10.0.0.1", remoteAs: 65000 }],
        maximumPaths: 4,
        multipathRelax: true,
      },
    };
    const topo = topologyFromIntents(inventory, [bgp]);
    expect(topo.bgpPeers.h001).toEqual(["s1", "s2"]);
    expect(topo.bgpPeers.s1).toEqual(["h001", "h002", "h003", "h004"]);
    const plan = planWaves(hosts, policy({ waves: [{ percent: 100 }] }), topo);
    // the leaves must not all change at once (each spine keeps one session), nor both spines
    expect(names(plan)).toEqual([
      ["h001", "h002", "h003", "s1"],
      ["h004", "s2"],
    ]);
    expect(plan.waves[0]?.reason).toMatch(/BGP: .* must keep at least one of its peers unchanged/);
  });

  it("a BGP peer outside the rollout keeps its speaker safe", () => {
    const topo: RolloutTopology = { pairs: [], bgpPeers: { x: ["h001", "h002", "outside"] } };
    const plan = planWaves(fleet(2), policy({ waves: [{ percent: 100 }] }), topo);
    expect(names(plan)).toEqual([["h001", "h002"]]);
  });

  it("a single BGP peer cannot be protected and does not block", () => {
    const topo: RolloutTopology = { pairs: [], bgpPeers: { h001: ["h002"], h002: ["h001"] } };
    expect(names(planWaves(fleet(2), policy({ waves: [{ percent: 100 }] }), topo))).toEqual([
      ["h001", "h002"],
    ]);
  });

  it("KeepalivedPair from intents", () => {
    const kp = {
      kind: "KeepalivedPair",
      metadata: { name: "vip" },
      spec: { primary: "h003", backup: "h001" },
    };
    expect(topologyFromIntents(fleet(3), [kp]).pairs).toEqual([{ name: "vip", members: ["h003", "h001"] }]);
  });

  it("empty fleet → no waves; duplicate names are refused", () => {
    expect(planWaves([], policy()).waves).toEqual([]);
    expect(() => planWaves([...fleet(1), ...fleet(1)], policy())).toThrow(/duplicate/);
  });
});

/** mulberry32: a small seeded PRNG so the property test is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("planWaves property: every host exactly once, constraints hold, deterministic", () => {
  it("holds for 300 random fleets, policies and topologies", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const pick = (n: number) => Math.floor(r() * n);
      const n = pick(40);
      const hosts = fleet(n, () => ({ rack: `r${pick(5)}` }));
      if (n > 0) hosts.splice(pick(n), 0, { name: `z-nolabel-${seed}`, labels: {} });
      const nm = hosts.map((h) => h.name);
      const waves = Array.from({ length: 1 + pick(4) }, () =>
        r() < 0.5 ? { hosts: 1 + pick(10) } : { percent: 1 + pick(100) },
      );
      const spread = r() < 0.5;
      const maxPerDomain = 1 + pick(3);
      const p = policy({
        waves,
        maxUnavailable: r() < 0.5 ? 1 + pick(5) : `${1 + pick(100)}%`,
        ...(spread ? { spreadBy: "rack", maxPerDomain } : {}),
      });
      const topo: RolloutTopology = { pairs: [], bgpPeers: {} };
      const shuffled = [...nm].sort(() => r() - 0.5);
      for (let i = 0; i + 1 < shuffled.length && r() < 0.7; i += 2)
        topo.pairs.push({ name: `p${i}`, members: [shuffled[i] as string, shuffled[i + 1] as string] });
      for (let s = 0; s < pick(4) && nm.length > 0; s++) {
        const peers = nm.filter(() => r() < 0.3);
        topo.bgpPeers[`spk${s}`] = peers;
      }

      const plan = planWaves(hosts, p, topo);
      const ctx = `seed ${seed}`;
      const all = plan.waves.flatMap((w) => w.hosts);
      expect(all.sort(), ctx).toEqual([...nm].sort());
      expect(planWaves([...hosts].reverse(), p, topo), ctx).toEqual(plan);
      const targets = waveTargets(p, hosts.length);
      let cum = 0;
      for (const w of plan.waves) {
        expect(w.hosts.length, ctx).toBeGreaterThan(0);
        cum += w.hosts.length;
        expect(cum, ctx).toBeLessThanOrEqual(w.target);
        expect(w.batches.flat(), ctx).toEqual(w.hosts);
        expect(Math.max(...w.batches.map((b) => b.length)), ctx).toBeLessThanOrEqual(plan.maxInFlight);
        const set = new Set(w.hosts);
        if (spread) {
          const count = new Map<string, number>();
          for (const h of hosts.filter((x) => set.has(x.name))) {
            const d = h.labels.rack ?? "-";
            count.set(d, (count.get(d) ?? 0) + 1);
          }
          for (const c of count.values()) expect(c, ctx).toBeLessThanOrEqual(maxPerDomain);
        }
        for (const pair of topo.pairs)
          expect(
            pair.members.every((m) => set.has(m)),
            `${ctx} pair ${pair.name}`,
          ).toBe(false);
        for (const [spk, peers] of Object.entries(topo.bgpPeers))
          if (peers.length >= 2)
            expect(
              peers.every((x) => set.has(x)),
              `${ctx} bgp ${spk}`,
            ).toBe(false);
      }
      // without constraints blocking, the cumulative targets are met exactly
      if (!spread && topo.pairs.length === 0 && Object.keys(topo.bgpPeers).length === 0) {
        expect(
          plan.waves.map((w) => w.hosts.length),
          ctx,
        ).toEqual(targets.map((t, i) => t - (targets[i - 1] ?? 0)).filter((d) => d > 0));
      }
    }
  });
});
