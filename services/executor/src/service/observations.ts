/**
 * Live observations for state reports: what health and the rollout gates judge
 * (`bgpEstablished`, `vrrpSingleMaster`, `overlayReachable`, duplicate MACs).
 *
 * Design:
 * - BGP: the engine's `observeDaemons` (`vtysh … show bgp summary json`, only when FRR runs
 *   for the host per its ledger/desired state). No FRR → no `bgp` list (telemetry then says
 *   "not reported" for this host instead of pretending the sessions are fine).
 * - VRRP: keepalived has no cheap, reliable state query in a namespace (its data dump goes to
 *   a shared `/tmp` file on SIGUSR1), so the state is derived: each `vrrp_instance` of the
 *   host's keepalived config is MASTER when the host holds all its VIPs, BACKUP when it holds
 *   none, FAULT when it holds only some or keepalived does not run. The segment is the
 *   instance name (fleetnet renders one instance per KeepalivedPair, same name on both
 *   members), so two hosts MASTER for one (segment, VRID) is a split brain.
 * - MACs: `ip -j link show`; only links fleetnet owns (alias `fleetnet:…`) are reported.
 * - Overlay probes: the sample of remote VTEPs of the host's last desired state (its VXLAN FDB
 *   destinations) that transactions ping too (probes.ts `underlayPeers`), 1 s timeout, in ONE
 *   process on the host (probes.ts `pingMany`; ≤ ~1 s added to a report). A report right after
 *   a transaction takes the transaction's last round for the peers it re-pinged. The desired state names the peers' VTEPs, not their
 *   overlay addresses, so the probe proves the tunnel's underlay path to the peer.
 * - Every category fails soft: an error in one leaves it out of the report (logged by the
 *   caller), never the whole report.
 */
import { type HostState, isOwnedAlias, OWNER_ALIAS_PREFIX } from "@fleetnet/netstate";
import type { Observations } from "@fleetnet/protocol";
import type { HostDriver } from "../driver.js";
import { type LinkMac, observeDaemons } from "../observe.js";
import { pingMany, underlayPeers } from "../probes.js";
import { CONFIG_PATHS, type ServiceManager } from "../services.js";

/** One `vrrp_instance` of a keepalived config. */
export interface KeepalivedInstance {
  name: string;
  interface?: string;
  vrid: number;
  vips: string[];
}

/**
 * The `vrrp_instance` blocks of a keepalived config: name, interface, virtual_router_id and
 * the first word of each `virtual_ipaddress` line. Instances without a valid VRID are skipped.
 */
export function parseKeepalivedInstances(conf: string): KeepalivedInstance[] {
  const out: KeepalivedInstance[] = [];
  let cur: { name: string; interface?: string; vrid?: number; vips: string[] } | undefined;
  let depth = 0;
  let inVips = false;
  for (const raw of conf.split("\n")) {
    const line = raw.replace(/[#!].*$/, "").trim();
    if (line === "") continue;
    const open = (line.match(/\{/g) ?? []).length;
    const close = (line.match(/\}/g) ?? []).length;
    if (!cur) {
      const m = /^vrrp_instance\s+(\S+)\s*\{/.exec(line);
      if (m?.[1]) {
        cur = { name: m[1], vips: [] };
        depth = 1;
        inVips = false;
      }
      continue;
    }
    if (depth === 1) {
      const [key, value] = line.split(/\s+/);
      if (key === "interface" && value) cur.interface = value;
      else if (key === "virtual_router_id" && value && /^\d+$/.test(value)) cur.vrid = Number(value);
      else if (key === "virtual_ipaddress" && open > 0) inVips = true;
    } else if (depth === 2 && inVips && open === 0 && close === 0) {
      const first = line.split(/\s+/)[0] ?? "";
      if (/^[0-9a-fA-F:.]+(\/\d+)?$/.test(first)) cur.vips.push(first);
    }
    depth += open - close;
    if (depth <= 1) inVips = false;
    if (depth <= 0) {
      if (cur.vrid !== undefined && cur.vrid >= 1 && cur.vrid <= 255)
        out.push({
          name: cur.name,
          vrid: cur.vrid,
          vips: cur.vips,
          ...(cur.interface ? { interface: cur.interface } : {}),
        });
      cur = undefined;
    }
  }
  return out;
}

/** VRRP state of each instance from the addresses the host holds (see module comment). */
export function vrrpStates(
  instances: readonly KeepalivedInstance[],
  running: boolean,
  held: ReadonlySet<string>,
): NonNullable<Observations["vrrp"]> {
  return instances.map((i) => {
    const have = i.vips.filter((v) => held.has(v.split("/")[0] as string)).length;
    const state: "MASTER" | "BACKUP" | "FAULT" = !running
      ? "FAULT"
      : i.vips.length > 0 && have === i.vips.length
        ? "MASTER"
        : have === 0
          ? "BACKUP"
          : "FAULT";
    return {
      segment: i.name,
      ...(i.interface ? { interface: i.interface } : {}),
      vrid: i.vrid,
      state,
      vips: i.vips,
    };
  });
}

interface IpLinkJson {
  ifname?: string;
  address?: string;
  link_type?: string;
  ifalias?: string;
}

/** Managed links' MACs from `ip -j link show` output. */
export function managedMacs(raw: readonly IpLinkJson[]): NonNullable<Observations["macs"]> {
  return raw
    .filter(
      (l) =>
        l.ifname &&
        // `ether`, or ARPHRD_ETHER as `ip -N` (numeric, the observation's listing) prints it
        (l.link_type === "ether" || l.link_type === "[1]") &&
        isOwnedAlias(l.ifalias) &&
        /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(l.address ?? ""),
    )
    .map((l) => ({ link: (l.ifname as string).slice(0, 15), mac: l.address as string, managed: true }))
    .sort((a, b) => (a.link < b.link ? -1 : a.link > b.link ? 1 : 0));
}

/**
 * The overlay peers to probe: the remote VTEPs of the host's last desired state (its VXLAN FDB
 * destinations) that a transaction on `host` pings too (probes.ts `underlayPeers`: a spread
 * sample), each named by its overlay intent.
 */
export function probeTargets(
  desired: HostState | undefined,
  host: string,
): { overlay: string; peer: string }[] {
  if (!desired) return [];
  const overlayOf = (dev: string) => {
    const alias = desired.links.find((l) => l.name === dev)?.alias;
    const owned = alias?.startsWith(OWNER_ALIAS_PREFIX) ? alias.slice(alias.indexOf("/") + 1) : "";
    return owned || dev;
  };
  const devOf = new Map<string, string>();
  for (const f of desired.fdb)
    if (!devOf.has(f.dst) || f.dev < (devOf.get(f.dst) as string)) devOf.set(f.dst, f.dev);
  return underlayPeers(desired, host).map((peer) => ({
    overlay: overlayOf(devOf.get(peer) as string),
    peer,
  }));
}

/** Inputs of {@link collectObservations}. */
export interface ObservationInput {
  d: HostDriver;
  services: ServiceManager;
  /** The host state just observed (services and addresses). */
  state: HostState;
  /** The host's last desired state (overlay peers), if any. */
  desired?: HostState;
  /** Called with each category that could not be observed. */
  onError?: (category: string, err: unknown) => void;
  /** The links (with MACs) of the same observation, when the caller has them: no `ip link show` then. */
  links?: readonly LinkMac[];
  /**
   * Ping results the caller just got from this host (a transaction's last probe round):
   * targets found here are not pinged again.
   */
  pings?: ReadonlyMap<string, { reachable: boolean; rttMs?: number }>;
}

async function soft<T>(category: string, f: () => Promise<T>, o: ObservationInput): Promise<T | undefined> {
  try {
    return await f();
  } catch (err) {
    o.onError?.(category, err);
    return undefined;
  }
}

/** Observe BGP sessions, VRRP instances, managed links' MACs and overlay probes of one host. */
export async function collectObservations(o: ObservationInput): Promise<Observations> {
  const { d, services, state } = o;
  const [bgp, vrrp, macs, probes] = await Promise.all([
    soft(
      "bgp",
      async () => {
        const daemons = await observeDaemons(d, services, { ...state, files: [] });
        if (!daemons.bgp) return undefined;
        return Object.entries(daemons.bgp)
          .map(([k, s]) => {
            const sp = k.indexOf(" ");
            return { afi: k.slice(0, sp), peer: k.slice(sp + 1), state: s };
          })
          .filter((x) => x.afi && x.peer)
          .slice(0, 1024);
      },
      o,
    ),
    soft(
      "vrrp",
      async () => {
        const conf = await d.readFile(CONFIG_PATHS.keepalived);
        if (conf === undefined) return undefined;
        const instances = parseKeepalivedInstances(conf);
        if (instances.length === 0) return undefined;
        const running = await services.running("keepalived");
        const held = new Set(state.addresses.map((a) => a.address.split("/")[0] as string));
        return vrrpStates(instances, running, held).slice(0, 256);
      },
      o,
    ),
    soft(
      "macs",
      async () => {
        let links: readonly IpLinkJson[] | undefined = o.links;
        if (!links) {
          const r = await d.run(["ip", "-j", "link", "show"], { timeoutMs: 10_000 });
          if (r.code !== 0) throw new Error(`ip -j link show failed: ${r.stderr.trim()}`);
          links = JSON.parse(r.stdout) as IpLinkJson[];
        }
        return managedMacs(links).slice(0, 4096);
      },
      o,
    ),
    soft(
      "probes",
      async () => {
        const targets = probeTargets(o.desired, d.host);
        if (targets.length === 0) return undefined;
        const ask = [...new Set(targets.map((t) => t.peer))].filter((p) => !o.pings?.has(p));
        const answered = await pingMany(d, ask);
        return targets.map((t) => {
          const known = o.pings?.get(t.peer);
          const reachable = known ? known.reachable : answered.has(t.peer);
          const rtt = known ? known.rttMs : answered.get(t.peer);
          return { ...t, reachable, ...(rtt !== undefined ? { rttMs: rtt } : {}) };
        });
      },
      o,
    ),
  ]);
  return {
    ...(bgp ? { bgp } : {}),
    ...(vrrp ? { vrrp } : {}),
    ...(macs ? { macs } : {}),
    ...(probes ? { probes } : {}),
  };
}
