/**
 * Wave planning: which hosts a rollout changes together.
 *
 * Design: a pure, deterministic greedy pass. The policy's `waves` are cumulative targets
 * (`{hosts: n}` or `{percent: p}` of the selected hosts, rounded up, made monotonic, the
 * last one always "all"). Each wave takes the not-yet-placed hosts in host-name order and
 * admits one only if it keeps every topology constraint for that wave:
 *   - `spreadBy`/`maxPerDomain`: at most N hosts per value of the label (hosts without
 *     the label share one domain, the conservative reading of "unknown failure domain");
 *   - the two members of a KeepalivedPair never together (one of them always holds the VIP);
 *   - never every BGP peer of a host together (the host keeps at least one session).
 * A host that does not fit waits for the next wave; when the targets run out with hosts
 * left over, extra waves are appended and their `reason` says which constraint forced
 * them. Any single host fits into an empty wave, so the pass always terminates.
 * `maxUnavailable` caps how many hosts of a wave are in flight at once: a larger wave is
 * applied in `batches` of at most that size, in wave order.
 */
import {
  type BgpMultipath,
  type HostSelector,
  type InventoryHost,
  type KeepalivedPair,
  type RolloutPolicySpec,
  resolveCount,
  selectHosts,
} from "@fleetnet/intent";

/** The part of an inventory host that wave planning looks at. */
export type WaveHost = Pick<InventoryHost, "name" | "labels">;

/** Topology facts that constrain which hosts may change together. */
export interface RolloutTopology {
  /** KeepalivedPairs: the two members must never be in the same wave. */
  pairs: { name: string; members: [string, string] }[];
  /**
   * BGP sessions between fleet hosts, host → its peers (symmetric: a session has two ends).
   * For a host with two or more peers, no wave may hold all of them.
   */
  bgpPeers: Record<string, string[]>;
}

/** One planned wave. */
export interface PlannedWave {
  /** 0-based position. */
  index: number;
  /** Hosts of this wave, in dispatch order. */
  hosts: string[];
  /** `hosts` cut into groups of at most `maxUnavailable`, applied one after the other. */
  batches: string[][];
  /** Cumulative host count the policy asked for by the end of this wave (all, for added waves). */
  target: number;
  /** Why the wave differs from the policy: smaller than its target, or added. */
  reason?: string;
}

/** The result of {@link planWaves}. */
export interface WavePlan {
  waves: PlannedWave[];
  /** `maxUnavailable` resolved against the selected hosts (at least 1). */
  maxInFlight: number;
}

/** An empty topology (no pairs, no BGP sessions). */
export function emptyTopology(): RolloutTopology {
  return { pairs: [], bgpPeers: {} };
}

/**
 * Derive the topology constraints from intents: KeepalivedPair members, and BGP sessions
 * between fleet hosts from BgpMultipath `peers` that use host selectors (fixed-address
 * peers are outside the fleet and never change with it). `inventory` is the whole fleet,
 * so sessions to hosts outside the rollout are known too.
 */
export function topologyFromIntents(
  inventory: readonly WaveHost[],
  intents: readonly { kind: string }[],
): RolloutTopology {
  const pairs: RolloutTopology["pairs"] = [];
  const peers = new Map<string, Set<string>>();
  const link = (a: string, b: string) => {
    if (a === b) return;
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const s = peers.get(x) ?? new Set<string>();
      s.add(y);
      peers.set(x, s);
    }
  };
  for (const doc of intents) {
    if (doc.kind === "KeepalivedPair") {
      const kp = doc as KeepalivedPair;
      pairs.push({ name: kp.metadata.name, members: [kp.spec.primary, kp.spec.backup] });
    } else if (doc.kind === "BgpMultipath") {
      const bgp = doc as BgpMultipath;
      const speakers = selectHosts(bgp.spec.hosts, inventory);
      for (const peer of bgp.spec.peers) {
        if (!("hosts" in peer)) continue;
        const remote = selectHosts(peer.hosts as HostSelector, inventory);
        for (const s of speakers) for (const r of remote) link(s.name, r.name);
      }
    }
  }
  const bgpPeers: Record<string, string[]> = {};
  for (const [h, s] of [...peers].sort(([a], [b]) => cmp(a, b))) bgpPeers[h] = [...s].sort(cmp);
  return { pairs, bgpPeers };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Domain of a host under `spreadBy` (hosts without the label share one domain). */
function domainOf(host: WaveHost, spreadBy: string | undefined): string | undefined {
  if (spreadBy === undefined) return undefined;
  return host.labels[spreadBy] ?? "\u0000unlabelled";
}

/** Cumulative targets: resolved, rounded up, monotonic, the last one is every host. */
export function waveTargets(policy: Pick<RolloutPolicySpec, "waves">, total: number): number[] {
  const out: number[] = [];
  let prev = 0;
  policy.waves.forEach((w, i) => {
    const t = i === policy.waves.length - 1 ? total : Math.max(prev, resolveCount(w, total));
    out.push(t);
    prev = t;
  });
  return out;
}

/**
 * Plan the waves of a rollout over `hosts` (the selected hosts; order does not matter —
 * placement is by host name). Deterministic: the same inputs give the same waves.
 * Waves whose target adds no host are dropped; indexes are renumbered.
 */
export function planWaves(
  hosts: readonly WaveHost[],
  policy: Pick<RolloutPolicySpec, "waves" | "maxUnavailable" | "spreadBy" | "maxPerDomain">,
  topology: RolloutTopology = emptyTopology(),
): WavePlan {
  const total = hosts.length;
  const maxInFlight = Math.max(1, resolveCount(policy.maxUnavailable, total));
  const byName = new Map(hosts.map((h) => [h.name, h]));
  if (byName.size !== hosts.length) throw new Error("planWaves: duplicate host names");
  const partnerOf = new Map<string, { pair: string; partner: string }[]>();
  for (const p of topology.pairs) {
    const [a, b] = p.members;
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const list = partnerOf.get(x) ?? [];
      list.push({ pair: p.name, partner: y });
      partnerOf.set(x, list);
    }
  }
  // For each speaker with >= 2 peers: the peers, and which speakers each host is a peer of.
  const guarded = new Map<string, string[]>();
  const peerOf = new Map<string, string[]>();
  for (const [speaker, peers] of Object.entries(topology.bgpPeers)) {
    const uniq = [...new Set(peers)].filter((p) => p !== speaker);
    if (uniq.length < 2) continue;
    guarded.set(speaker, uniq);
    for (const p of uniq) peerOf.set(p, [...(peerOf.get(p) ?? []), speaker]);
  }

  let remaining = [...byName.keys()].sort(cmp);
  const targets = waveTargets(policy, total);
  const waves: PlannedWave[] = [];
  let placed = 0;
  let ti = 0;
  let leftOverWhy = "";
  while (remaining.length > 0) {
    const target = ti < targets.length ? (targets[ti] as number) : total;
    const quota = ti < targets.length ? target - placed : remaining.length;
    ti++;
    if (quota <= 0) continue;
    const wave: string[] = [];
    const inWave = new Set<string>();
    const perDomain = new Map<string, number>();
    const blocked = new Set<string>();
    for (const name of remaining) {
      if (wave.length >= quota) break;
      const host = byName.get(name) as WaveHost;
      const dom = domainOf(host, policy.spreadBy);
      if (dom !== undefined && (perDomain.get(dom) ?? 0) >= policy.maxPerDomain) {
        blocked.add(
          `spreadBy ${policy.spreadBy} allows ${policy.maxPerDomain} host(s) per ${policy.spreadBy} per wave`,
        );
        continue;
      }
      const pair = (partnerOf.get(name) ?? []).find((p) => inWave.has(p.partner));
      if (pair) {
        blocked.add(`KeepalivedPair ${pair.pair}: ${pair.partner} and ${name} never change in one wave`);
        continue;
      }
      const speaker = (peerOf.get(name) ?? []).find((s) =>
        (guarded.get(s) as string[]).every((p) => p === name || inWave.has(p)),
      );
      if (speaker !== undefined) {
        blocked.add(`BGP: ${speaker} must keep at least one of its peers unchanged per wave`);
        continue;
      }
      wave.push(name);
      inWave.add(name);
      if (dom !== undefined) perDomain.set(dom, (perDomain.get(dom) ?? 0) + 1);
    }
    remaining = remaining.filter((n) => !inWave.has(n));
    placed += wave.length;
    const why = [...blocked].join("; ");
    const added = ti > targets.length;
    const pw: PlannedWave = { index: waves.length, hosts: wave, batches: chunk(wave, maxInFlight), target };
    if (added) pw.reason = `added wave: ${leftOverWhy}`;
    else if (wave.length < quota) pw.reason = `${wave.length} of ${quota} hosts: ${why}`;
    waves.push(pw);
    if (why) leftOverWhy = why;
  }
  return { waves, maxInFlight };
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
