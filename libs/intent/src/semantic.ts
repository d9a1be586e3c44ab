/**
 * Semantic rules: everything that needs more than one field or one document.
 *
 * Input is the set of documents that passed their schemas (defaults applied). Rules that
 * need hosts run only when there is exactly one schema-valid Inventory — otherwise a broken
 * inventory would drown the real error in "unknown host" noise. Each rule reports a
 * {@link SemanticProblem} with the document, path, stable code and a sentence naming the
 * values involved. Pure: no I/O.
 */
import type { ErrorCode } from "./errors.js";
import {
  formatCidr,
  formatIp,
  type IpAddress,
  type IpPrefix,
  networkOf,
  parseCidr,
  parseIp,
  prefixContains,
  prefixesOverlap,
  usableHosts,
} from "./ip.js";
import {
  type BgpMultipathSpec,
  type HostSelector,
  type IntentDocument,
  type InventoryHost,
  ifnameProblem,
  type KeepalivedPairSpec,
  overlayMtu,
  parseAsnRange,
  vxlanOverhead,
} from "./schema.js";
import { selectHosts } from "./selector.js";

/** A document that passed its schema (the subset of ParsedDocument the rules need). */
export interface CheckedDocument {
  readonly ref: { readonly file: string; readonly index: number; readonly line: number };
  readonly document: IntentDocument;
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

/** One semantic problem; `doc` is absent for problems of the whole input. */
export interface SemanticProblem {
  doc?: CheckedDocument;
  path: PropertyKey[];
  code: ErrorCode;
  message: string;
}

/** `x.yaml#2` — where another document is, for messages that name both. */
function where(d: CheckedDocument): string {
  return `${d.document.kind}/${d.document.metadata.name} (${d.ref.file}#${d.ref.index})`;
}

type Doc<K extends IntentDocument["kind"]> = CheckedDocument & {
  document: Extract<IntentDocument, { kind: K }>;
};

function ofKind<K extends IntentDocument["kind"]>(docs: readonly CheckedDocument[], kind: K): Doc<K>[] {
  return docs.filter((d): d is Doc<K> => d.document.kind === kind);
}

/** Underlay subnet and address of a host, parsed once. */
interface HostNet {
  host: InventoryHost;
  address: IpPrefix;
  subnet: IpPrefix;
}

/**
 * Deterministic ASN of each member for an `asn` that is a number (all the same) or a pool
 * (one per host in host-name order). Hosts beyond the pool's size get no ASN.
 */
export function assignAsns(asn: BgpMultipathSpec["asn"], hostNames: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  const sorted = [...hostNames].sort();
  if (typeof asn === "number") {
    for (const h of sorted) out.set(h, asn);
    return out;
  }
  const range = parseAsnRange(asn.pool);
  if (!range) return out;
  sorted.forEach((h, i) => {
    if (range[0] + i <= range[1]) out.set(h, range[0] + i);
  });
  return out;
}

/**
 * The usable part of an Inventory that failed its schema: the host entries that parse on
 * their own (at their original index) and the names of the broken ones. Lets the host rules
 * still run — so all errors show at once — without blaming intents for the broken hosts:
 * rules that could be wrong about a broken host (unknown name, empty selector, unknown peer
 * address, unused spread label) stay silent.
 */
export interface InventorySalvage {
  doc: CheckedDocument;
  hosts: ReadonlyArray<InventoryHost | undefined>;
  brokenNames: ReadonlySet<string>;
}

/** Run every cross-document rule. */
export function semanticProblems(
  docs: readonly CheckedDocument[],
  opts: { inventoryDocuments: number; salvage?: InventorySalvage },
): SemanticProblem[] {
  const out: SemanticProblem[] = [];
  const report = (
    doc: CheckedDocument | undefined,
    path: PropertyKey[],
    code: ErrorCode,
    message: string,
  ) => {
    const p: SemanticProblem = { path, code, message };
    if (doc) p.doc = doc;
    out.push(p);
  };

  // --- document set ---------------------------------------------------------------
  const inventories = ofKind(docs, "Inventory");
  if (opts.inventoryDocuments === 0) {
    report(
      undefined,
      [],
      "INVENTORY_MISSING",
      "no Inventory document: exactly one is required to know the hosts",
    );
  }
  if (opts.inventoryDocuments > 1) {
    for (const d of inventories.slice(1)) {
      report(
        d,
        ["kind"],
        "INVENTORY_MULTIPLE",
        `a second Inventory; exactly one is allowed (first: ${where(inventories[0] as CheckedDocument)})`,
      );
    }
  }
  const policies = ofKind(docs, "RolloutPolicy");
  for (const d of policies.slice(1)) {
    report(
      d,
      ["kind"],
      "ROLLOUT_POLICY_MULTIPLE",
      `a second RolloutPolicy; at most one is allowed (first: ${where(policies[0] as CheckedDocument)})`,
    );
  }
  const byName = new Map<string, CheckedDocument>();
  for (const d of docs) {
    const key = `${d.document.kind}/${d.document.metadata.name}`;
    const first = byName.get(key);
    if (first) {
      report(
        d,
        ["metadata", "name"],
        "DUPLICATE_NAME",
        `${key} is defined twice (first: ${first.ref.file}#${first.ref.index})`,
      );
    } else byName.set(key, d);
  }

  // --- host-independent rules ---------------------------------------------------
  const overlays = ofKind(docs, "VxlanOverlay");
  const vnis = new Map<number, CheckedDocument>();
  for (const d of overlays) {
    const first = vnis.get(d.document.spec.vni);
    if (first) {
      report(
        d,
        ["spec", "vni"],
        "VNI_CONFLICT",
        `VNI ${d.document.spec.vni} is already used by ${where(first)}; each overlay needs its own VNI`,
      );
    } else vnis.set(d.document.spec.vni, d);
  }

  // Address pools: overlapping pools across intents.
  interface PoolUse {
    doc: CheckedDocument;
    path: PropertyKey[];
    text: string;
    prefix: IpPrefix;
  }
  const pools: PoolUse[] = [];
  for (const d of docs) {
    const doc = d.document;
    if ((doc.kind === "Bridge" || doc.kind === "Vlan" || doc.kind === "VxlanOverlay") && doc.spec.addresses) {
      const prefix = parseCidr(doc.spec.addresses.pool);
      if (prefix)
        pools.push({ doc: d, path: ["spec", "addresses", "pool"], text: doc.spec.addresses.pool, prefix });
    }
  }
  pools.forEach((a, i) => {
    for (const b of pools.slice(0, i)) {
      if (prefixesOverlap(a.prefix, b.prefix)) {
        report(
          a.doc,
          a.path,
          "POOL_OVERLAP",
          `address pool ${a.text} overlaps pool ${b.text} of ${where(b.doc)}`,
        );
        break;
      }
    }
  });

  // ASN pools across BGP intents.
  const bgps = ofKind(docs, "BgpMultipath");
  const asnRanges = bgps.map((d) => {
    const a = d.document.spec.asn;
    const r = typeof a === "number" ? ([a, a] as [number, number]) : parseAsnRange(a.pool);
    return { d, r, isPool: typeof a !== "number" };
  });
  // Pools of two intents must not overlap, and a fixed ASN must not lie in another intent's
  // pool: either way two hosts could end up with one ASN, and eBGP drops routes whose AS
  // path already holds the receiver's own ASN.
  asnRanges.forEach((a, i) => {
    if (!a.r) return;
    for (const b of asnRanges.slice(0, i)) {
      if (!b.r || (!a.isPool && !b.isPool)) continue;
      if (a.r[0] <= b.r[1] && b.r[0] <= a.r[1]) {
        const mine = a.isPool ? `ASN pool ${a.r[0]}-${a.r[1]}` : `ASN ${a.r[0]}`;
        const theirs = b.isPool ? `the pool ${b.r[0]}-${b.r[1]}` : `ASN ${b.r[0]}`;
        report(
          a.d,
          a.isPool ? ["spec", "asn", "pool"] : ["spec", "asn"],
          "ASN_POOL_OVERLAP",
          `${mine} overlaps ${theirs} of ${where(b.d)}`,
        );
        break;
      }
    }
  });

  for (const d of bgps) {
    const t = d.document.spec.timers;
    if (t && t.hold !== 0 && (t.hold < 3 || t.hold <= t.keepalive)) {
      report(
        d,
        ["spec", "timers", "hold"],
        "BGP_TIMERS",
        `hold time ${t.hold} must be 0 or at least 3 seconds and above keepalive ${t.keepalive}`,
      );
    }
  }

  for (const d of ofKind(docs, "EcmpRoute")) {
    const dest = parseCidr(d.document.spec.destination);
    const seen = new Map<string, number>();
    d.document.spec.nexthops.forEach((nh, j) => {
      const a = parseIp(nh.via);
      if (!a) return;
      if (dest && a.family !== dest.family) {
        report(
          d,
          ["spec", "nexthops", j, "via"],
          "FAMILY_MISMATCH",
          `nexthop ${nh.via} is IPv${a.family} but destination ${d.document.spec.destination} is IPv${dest.family}`,
        );
      }
      const key = formatIp(a);
      const k = seen.get(key);
      if (k !== undefined) {
        report(
          d,
          ["spec", "nexthops", j, "via"],
          "DUPLICATE_NEXTHOP",
          `nexthop ${nh.via} is listed twice (also spec.nexthops[${k}])`,
        );
      } else seen.set(key, j);
    });
    if (d.document.spec.nexthops.length >= 2 && seen.size < 2) {
      report(
        d,
        ["spec", "nexthops"],
        "ECMP_TOO_FEW_NEXTHOPS",
        `an ECMP route needs at least 2 distinct nexthops, got ${seen.size}`,
      );
    }
  }

  const pairs = ofKind(docs, "KeepalivedPair");
  for (const d of pairs) {
    const s = d.document.spec;
    if (s.primary === s.backup) {
      report(
        d,
        ["spec", "backup"],
        "KEEPALIVED_SAME_HOST",
        `primary and backup are both ${s.primary}; a VRRP pair needs two different hosts`,
      );
    }
    if (s.priority.primary <= s.priority.backup) {
      report(
        d,
        ["spec", "priority", "primary"],
        "KEEPALIVED_PRIORITY",
        `primary priority ${s.priority.primary} must be above backup priority ${s.priority.backup}`,
      );
    }
    if (s.authPassword && s.version !== 2) {
      report(
        d,
        ["spec", "authPassword"],
        "AUTH_REQUIRES_VRRP2",
        `authPassword is only defined for VRRP version 2, but version is ${s.version}`,
      );
    }
    if (s.version === 2 && !Number.isInteger(s.advertInterval)) {
      report(
        d,
        ["spec", "advertInterval"],
        "ADVERT_INTERVAL",
        `VRRPv2 advertises in whole seconds; ${s.advertInterval} needs version 3`,
      );
    }
    if (
      s.version === 3 &&
      (!Number.isInteger(Math.round(s.advertInterval * 100)) ||
        s.advertInterval > 40.95 ||
        Math.abs(s.advertInterval * 100 - Math.round(s.advertInterval * 100)) > 1e-9)
    ) {
      report(
        d,
        ["spec", "advertInterval"],
        "ADVERT_INTERVAL",
        `VRRPv3 advertises in centiseconds up to 40.95 s; ${s.advertInterval} is not expressible`,
      );
    }
  }

  // --- rules that need the hosts --------------------------------------------------
  if (opts.inventoryDocuments !== 1) return out;
  const salvage = inventories.length === 1 ? undefined : opts.salvage;
  if (inventories.length !== 1 && !salvage) return out;
  const inv = (inventories[0] ?? salvage?.doc) as CheckedDocument;
  const hosts: ReadonlyArray<InventoryHost | undefined> = salvage
    ? salvage.hosts
    : (inv.document as Extract<IntentDocument, { kind: "Inventory" }>).spec.hosts;
  const broken = salvage?.brokenNames ?? new Set<string>();

  const hostByName = new Map<string, InventoryHost>();
  const netByName = new Map<string, HostNet>();
  const hostByAddress = new Map<string, InventoryHost>();
  const namespaces = new Map<string, string>();
  hosts.forEach((h, i) => {
    if (!h) return;
    if (hostByName.has(h.name)) {
      report(
        inv,
        ["spec", "hosts", i, "name"],
        "DUPLICATE_HOST",
        `host name ${h.name} appears twice in the inventory`,
      );
      return;
    }
    hostByName.set(h.name, h);
    const address = parseCidr(h.underlay.address);
    if (address) {
      netByName.set(h.name, { host: h, address, subnet: networkOf(address) });
      const key = formatIp(address);
      const other = hostByAddress.get(key);
      if (other) {
        report(
          inv,
          ["spec", "hosts", i, "underlay", "address"],
          "DUPLICATE_ADDRESS",
          `underlay address ${key} of ${h.name} is already the address of ${other.name}`,
        );
      } else hostByAddress.set(key, h);
    }
    if (h.transport.driver === "netns") {
      const other = namespaces.get(h.transport.namespace);
      if (other !== undefined) {
        report(
          inv,
          ["spec", "hosts", i, "transport", "namespace"],
          "DUPLICATE_NAMESPACE",
          `namespace ${h.transport.namespace} of ${h.name} is already used by ${other}`,
        );
      } else namespaces.set(h.transport.namespace, h.name);
    }
  });
  const uniqueHosts = [...hostByName.values()];

  /** Resolve a selector; reports unknown names and empty selections. */
  const select = (d: CheckedDocument, path: PropertyKey[], sel: HostSelector): InventoryHost[] => {
    let unknown = false;
    if ("names" in sel) {
      sel.names.forEach((n, i) => {
        if (!hostByName.has(n)) {
          unknown = true;
          if (!broken.has(n))
            report(d, [...path, "names", i], "UNKNOWN_HOST", `host ${n} is not in the inventory`);
        }
      });
    }
    const chosen = selectHosts(sel, uniqueHosts);
    if (chosen.length === 0 && !unknown && !salvage) {
      report(
        d,
        path,
        "SELECTOR_EMPTY",
        `the host selector ${describeSelector(sel)} matches no host of the inventory`,
      );
    }
    return chosen;
  };

  // Members of every selector-based intent.
  const members = new Map<CheckedDocument, InventoryHost[]>();
  for (const d of docs) {
    const doc = d.document;
    if (doc.kind === "Inventory" || doc.kind === "RolloutPolicy" || doc.kind === "KeepalivedPair") continue;
    members.set(d, select(d, ["spec", "hosts"], doc.spec.hosts));
  }
  const membersOf = (d: CheckedDocument) => members.get(d) ?? [];

  // Pools against underlay subnets, and pool sizes.
  for (const pu of pools) {
    const hit = [...netByName.values()].find((n) => prefixesOverlap(pu.prefix, n.subnet));
    if (hit) {
      report(
        pu.doc,
        pu.path,
        "POOL_OVERLAP",
        `address pool ${pu.text} overlaps the underlay subnet ${formatCidr(hit.subnet)} of host ${hit.host.name}`,
      );
    }
    const n = membersOf(pu.doc).length;
    if (BigInt(n) > usableHosts(pu.prefix)) {
      report(
        pu.doc,
        pu.path,
        "POOL_TOO_SMALL",
        `address pool ${pu.text} has ${usableHosts(pu.prefix)} usable addresses but ${n} hosts need one each`,
      );
    }
  }

  // Interface names that intents create, per host. A bridge may be shared: a Bridge intent's
  // bridge (or an overlay's / VLAN's `bridge`) can be the one other VLANs and overlays attach
  // to; everything else (a VXLAN device, a VLAN interface, two Bridge intents of one name) is
  // exclusive. Sharers must agree on the bridge MTU. Each (document, field) is reported once.
  interface Claim {
    doc: CheckedDocument;
    path: PropertyKey[];
    role: "device" | "bridge" | "attach";
    mtu: number | undefined;
  }
  const claims = new Map<string, Claim>();
  const reported = new Set<string>();
  const claimReport = (c: Claim, code: ErrorCode, message: string) => {
    const k = `${code}\u0000${c.doc.ref.file}#${c.doc.ref.index}\u0000${formatKey(c.path)}`;
    if (reported.has(k)) return;
    reported.add(k);
    report(c.doc, c.path, code, message);
  };
  const claim = (c: Claim, host: InventoryHost, ifname: string) => {
    if (ifname === host.underlay.interface) {
      claimReport(
        c,
        "IFNAME_CONFLICT",
        `interface ${ifname} on host ${host.name} is the underlay interface; pick another name`,
      );
      return;
    }
    const key = `${host.name}\u0000${ifname}`;
    const first = claims.get(key);
    if (!first) {
      claims.set(key, c);
      return;
    }
    if (first.doc === c.doc && formatKey(first.path) === formatKey(c.path)) return;
    const other = first.doc === c.doc ? `this document's ${formatKey(first.path)}` : where(first.doc);
    const shareable =
      first.role !== "device" && c.role !== "device" && (first.role === "attach" || c.role === "attach");
    if (!shareable) {
      claimReport(
        c,
        "IFNAME_CONFLICT",
        `interface ${ifname} on host ${host.name} is also created by ${other}`,
      );
      return;
    }
    if (first.mtu !== undefined && c.mtu !== undefined && first.mtu !== c.mtu) {
      claimReport(
        c,
        "BRIDGE_MTU_CONFLICT",
        `bridge ${ifname} on host ${host.name} gets MTU ${c.mtu} here but ${first.mtu} from ${other}`,
      );
      return;
    }
    // Keep the most specific MTU seen so far and prefer the Bridge intent as the owner.
    if (first.mtu === undefined && c.mtu !== undefined) claims.set(key, { ...first, mtu: c.mtu });
  };
  for (const d of docs) {
    const doc = d.document;
    for (const h of membersOf(d)) {
      if (doc.kind === "Bridge") {
        claim({ doc: d, path: ["spec", "name"], role: "bridge", mtu: doc.spec.mtu }, h, doc.spec.name);
      } else if (doc.kind === "Vlan") {
        claim({ doc: d, path: ["spec", "name"], role: "device", mtu: doc.spec.mtu }, h, doc.spec.name);
        if (doc.spec.bridge)
          claim({ doc: d, path: ["spec", "bridge"], role: "attach", mtu: doc.spec.mtu }, h, doc.spec.bridge);
      } else if (doc.kind === "VxlanOverlay") {
        const mtu = overlayMtu(doc.spec, h);
        claim({ doc: d, path: ["spec", "device"], role: "device", mtu }, h, doc.spec.device);
        claim({ doc: d, path: ["spec", "bridge"], role: "attach", mtu }, h, doc.spec.bridge);
      }
    }
  }

  // Bridge ports: not the underlay (the VTEP/BGP source address lives there), not the bridge
  // itself, not an interface that fleetnet creates as something else, and one bridge each.
  const portOwner = new Map<string, CheckedDocument>();
  for (const d of ofKind(docs, "Bridge")) {
    const s = d.document.spec;
    (s.ports ?? []).forEach((port, j) => {
      const path = ["spec", "ports", j];
      for (const h of membersOf(d)) {
        let why: string | undefined;
        if (port === h.underlay.interface)
          why = `is the underlay interface of host ${h.name}; enslaving it would take the underlay address off the host`;
        else if (port === s.name) why = "is the bridge itself";
        else {
          const c = claims.get(`${h.name}\u0000${port}`);
          if (c && c.role !== "device")
            why = `is a bridge on host ${h.name} (${where(c.doc)}); a bridge cannot be a port`;
          const first = portOwner.get(`${h.name}\u0000${port}`);
          if (!why && first && first !== d) why = `is already a port of ${where(first)} on host ${h.name}`;
        }
        if (why) {
          report(d, path, "BRIDGE_PORT_CONFLICT", `port ${port} ${why}`);
          break;
        }
        portOwner.set(`${h.name}\u0000${port}`, d);
      }
    });
  }

  // VLANs: derived names, id collisions, MTU against a known parent.
  const vlanIds = new Map<string, CheckedDocument>();
  for (const d of ofKind(docs, "Vlan")) {
    const s = d.document.spec;
    const problem = ifnameProblem(s.name);
    if (problem) {
      report(
        d,
        ["spec", "name"],
        "BAD_IFNAME",
        `interface name "${s.name}" (default <parent>.<id>) is refused by the kernel: ${problem}; give a shorter spec.name`,
      );
    }
    for (const h of membersOf(d)) {
      const key = `${h.name}\u0000${s.parent}\u0000${s.id}`;
      const first = vlanIds.get(key);
      if (first) {
        report(
          d,
          ["spec", "id"],
          "VLAN_CONFLICT",
          `VLAN ${s.id} on ${s.parent} of host ${h.name} is already defined by ${where(first)}`,
        );
        break;
      }
      vlanIds.set(key, d);
    }
    if (s.mtu !== undefined) {
      for (const h of membersOf(d)) {
        if (s.parent === h.underlay.interface && s.mtu > h.underlay.mtu) {
          report(
            d,
            ["spec", "mtu"],
            "MTU_TOO_LARGE",
            `VLAN MTU ${s.mtu} is above the MTU ${h.underlay.mtu} of its parent ${s.parent} on host ${h.name}`,
          );
          break;
        }
      }
    }
  }

  // Overlays: MTU per member, underlay family.
  for (const d of overlays) {
    const s = d.document.spec;
    const ms = membersOf(d);
    if (s.mtu !== undefined) {
      for (const h of ms) {
        const overhead = vxlanOverhead(h);
        const max = h.underlay.mtu - overhead;
        if (s.mtu > max) {
          report(
            d,
            ["spec", "mtu"],
            "MTU_TOO_LARGE",
            `overlay MTU ${s.mtu} is above ${max} on host ${h.name} (underlay MTU ${h.underlay.mtu} minus ${overhead} bytes of VXLAN)`,
          );
          break;
        }
      }
    } else {
      const low = ms.find((h) => h.underlay.mtu - vxlanOverhead(h) < 68);
      if (low) {
        report(
          d,
          ["spec", "hosts"],
          "MTU_TOO_LARGE",
          `host ${low.name} has underlay MTU ${low.underlay.mtu}, too small to carry VXLAN (needs at least ${68 + vxlanOverhead(low)})`,
        );
      }
    }
    const fams = new Set(ms.map((h) => netByName.get(h.name)?.address.family).filter((f) => f !== undefined));
    if (fams.size > 1) {
      report(
        d,
        ["spec", "hosts"],
        "FAMILY_MISMATCH",
        "overlay members mix IPv4 and IPv6 underlay addresses; VTEPs must share one family",
      );
    }
    if (s.replication.mode === "multicast") {
      const g = parseIp(s.replication.group);
      const f = [...fams][0];
      if (g && f !== undefined && g.family !== f) {
        report(
          d,
          ["spec", "replication", "group"],
          "FAMILY_MISMATCH",
          `multicast group ${s.replication.group} is IPv${g.family} but the underlay is IPv${f}`,
        );
      }
    }
  }

  // BGP: membership, ASN pools, peers.
  const bgpOfHost = new Map<string, { d: Doc<"BgpMultipath">; asn: number | undefined }>();
  for (const d of bgps) {
    const ms = membersOf(d);
    const asns = assignAsns(
      d.document.spec.asn,
      ms.map((h) => h.name),
    );
    const a = d.document.spec.asn;
    if (typeof a !== "number") {
      const r = parseAsnRange(a.pool);
      if (r && r[1] - r[0] + 1 < ms.length) {
        report(
          d,
          ["spec", "asn", "pool"],
          "ASN_POOL_TOO_SMALL",
          `ASN pool ${a.pool} has ${r[1] - r[0] + 1} ASNs but ${ms.length} hosts need one each`,
        );
      }
    }
    for (const h of ms) {
      const other = bgpOfHost.get(h.name);
      if (other) {
        report(
          d,
          ["spec", "hosts"],
          "BGP_HOST_CONFLICT",
          `host ${h.name} is already a member of ${where(other.d)}; a host runs one BGP instance`,
        );
        break;
      }
      bgpOfHost.set(h.name, { d, asn: asns.get(h.name) });
    }
    if (d.document.spec.routerId === "underlay") {
      const v6 = ms.find((h) => netByName.get(h.name)?.address.family === 6);
      if (v6) {
        report(
          d,
          ["spec", "routerId"],
          "ROUTER_ID_REQUIRED",
          `host ${v6.name} has an IPv6 underlay; a BGP router id must be an IPv4 address, set spec.routerId`,
        );
      }
    }
  }
  // Peers: a fleet host's address must come with that host's ASN; any other address must be
  // on a member's underlay subnet.
  for (const d of bgps) {
    const ms = membersOf(d);
    d.document.spec.peers.forEach((peer, i) => {
      if ("address" in peer) {
        const a = parseIp(peer.address);
        if (!a) return;
        const key = formatIp(a);
        const owner = hostByAddress.get(key);
        if (owner) {
          if (ms.some((m) => m.name === owner.name)) {
            report(
              d,
              ["spec", "peers", i, "address"],
              "PEER_SELF",
              `peer ${peer.address} is the underlay address of member ${owner.name} itself`,
            );
            return;
          }
          const ob = bgpOfHost.get(owner.name);
          if (!ob) {
            report(
              d,
              ["spec", "peers", i, "address"],
              "PEER_NOT_BGP",
              `peer ${peer.address} is host ${owner.name}, which is in no BgpMultipath intent`,
            );
          } else if (ob.asn !== undefined && ob.asn !== peer.remoteAs) {
            report(
              d,
              ["spec", "peers", i, "remoteAs"],
              "ASN_MISMATCH",
              `peer ${peer.address} is host ${owner.name} with ASN ${ob.asn}, but remoteAs is ${peer.remoteAs}`,
            );
          }
          return;
        }
        const reachable = ms.some((m) => {
          const n = netByName.get(m.name);
          return n !== undefined && prefixContains(n.subnet, a);
        });
        if (ms.length > 0 && !reachable && !salvage) {
          report(
            d,
            ["spec", "peers", i, "address"],
            "PEER_UNKNOWN_ADDRESS",
            `peer ${peer.address} is no fleet host and lies outside the underlay subnet of every member, so no member can reach it`,
          );
        }
      } else {
        const chosen = select(d, ["spec", "peers", i, "hosts"], peer.hosts);
        const notBgp = chosen.find((h) => !bgpOfHost.has(h.name));
        if (notBgp) {
          report(
            d,
            ["spec", "peers", i, "hosts"],
            "PEER_NOT_BGP",
            `peer host ${notBgp.name} is in no BgpMultipath intent, so it has no ASN to peer with`,
          );
        }
      }
    });
  }

  // Subnets each host has: underlay + pools of intents that cover it, by interface name.
  const ifSubnets = new Map<string, Map<string, IpPrefix>>();
  const addIf = (host: string, ifname: string, p: IpPrefix) => {
    let m = ifSubnets.get(host);
    if (!m) {
      m = new Map();
      ifSubnets.set(host, m);
    }
    if (!m.has(ifname)) m.set(ifname, networkOf(p));
  };
  for (const n of netByName.values()) addIf(n.host.name, n.host.underlay.interface, n.subnet);
  for (const pu of pools) {
    const doc = pu.doc.document;
    const ifname =
      doc.kind === "Bridge"
        ? doc.spec.name
        : doc.kind === "Vlan"
          ? (doc.spec.bridge ?? doc.spec.name)
          : doc.kind === "VxlanOverlay"
            ? doc.spec.bridge
            : undefined;
    if (ifname === undefined) continue;
    for (const h of membersOf(pu.doc)) addIf(h.name, ifname, pu.prefix);
  }

  // ECMP: nexthops on-link for each host; route conflicts.
  const routes = new Map<string, CheckedDocument>();
  for (const d of ofKind(docs, "EcmpRoute")) {
    const s = d.document.spec;
    const dest = parseCidr(s.destination);
    for (const h of membersOf(d)) {
      const subnets = [...(ifSubnets.get(h.name)?.values() ?? [])];
      let stop = false;
      s.nexthops.forEach((nh, j) => {
        if (stop) return;
        const a = parseIp(nh.via);
        if (!a) return;
        // A host's own address is accepted by the kernel as a nexthop (verified with `ip route`),
        // so only off-link gateways are refused ("Nexthop has invalid gateway").
        if (!subnets.some((p) => prefixContains(p, a))) {
          report(
            d,
            ["spec", "nexthops", j, "via"],
            "NEXTHOP_UNREACHABLE",
            `nexthop ${nh.via} is outside every subnet of host ${h.name} (${subnets.map((p) => formatCidr(p)).join(", ") || "none"}); the kernel refuses an unreachable gateway`,
          );
          stop = true;
        }
      });
      if (stop) break;
      if (dest) {
        const key = `${h.name}\u0000${formatCidr(dest, true)}\u0000${s.table === undefined || s.table === "main" ? 254 : s.table}`;
        const first = routes.get(key);
        if (first && first !== d) {
          report(
            d,
            ["spec", "destination"],
            "ROUTE_CONFLICT",
            `route to ${s.destination} on host ${h.name} is already defined by ${where(first)}`,
          );
          break;
        }
        routes.set(key, d);
      }
    }
  }

  // Keepalived: hosts, segment, VIPs, VRIDs.
  const vrids = new Map<string, CheckedDocument>();
  const vips = new Map<string, CheckedDocument>();
  for (const d of pairs) {
    const s = d.document.spec;
    const subnetOf = (role: "primary" | "backup"): IpPrefix | undefined => {
      const name = s[role];
      if (!hostByName.has(name)) {
        if (!broken.has(name))
          report(d, ["spec", role], "UNKNOWN_HOST", `${role} ${name} is not in the inventory`);
        return undefined;
      }
      const p = ifSubnets.get(name)?.get(s.interface);
      if (!p) {
        report(
          d,
          ["spec", "interface"],
          "INTERFACE_NO_SUBNET",
          `interface ${s.interface} of ${role} ${name} has no subnet fleetnet knows (use the underlay interface or one with an addresses pool), so the VIPs cannot be checked`,
        );
      }
      return p;
    };
    const ps = subnetOf("primary");
    const bs = s.primary === s.backup ? ps : subnetOf("backup");
    if (ps && bs && formatCidr(ps) !== formatCidr(bs)) {
      report(
        d,
        ["spec", "interface"],
        "KEEPALIVED_SEGMENT_MISMATCH",
        `interface ${s.interface} is on ${formatCidr(ps)} on ${s.primary} but on ${formatCidr(bs)} on ${s.backup}; a VRRP pair shares one L2 segment`,
      );
    }
    const seg = ps ?? bs;
    if (seg) checkVips(d, s, seg);
    const segKey = seg ? formatCidr(seg) : `${s.primary}/${s.interface}`;
    const vkey = `${segKey}\u0000${s.vrid}`;
    const first = vrids.get(vkey);
    if (first) {
      report(
        d,
        ["spec", "vrid"],
        "VRID_CONFLICT",
        `VRID ${s.vrid} is already used on segment ${segKey} by ${where(first)}`,
      );
    } else vrids.set(vkey, d);
  }
  function checkVips(d: CheckedDocument, s: KeepalivedPairSpec, seg: IpPrefix) {
    s.vips.forEach((v, i) => {
      const a: IpAddress | undefined = parseCidr(v) ?? parseIp(v);
      if (!a) return;
      if (!prefixContains(seg, a)) {
        report(
          d,
          ["spec", "vips", i],
          "VIP_OUTSIDE_SUBNET",
          `VIP ${v} is outside ${formatCidr(seg)}, the subnet of ${s.interface}`,
        );
        return;
      }
      const key = formatIp(a);
      const owner = hostByAddress.get(key);
      if (owner) {
        report(
          d,
          ["spec", "vips", i],
          "VIP_CONFLICT",
          `VIP ${v} is the underlay address of host ${owner.name}`,
        );
        return;
      }
      const first = vips.get(key);
      if (first && first !== d) {
        report(d, ["spec", "vips", i], "VIP_CONFLICT", `VIP ${v} is already a VIP of ${where(first)}`);
      } else vips.set(key, d);
    });
  }

  // Sysctls: one value per key per host.
  const sysctls = new Map<string, { d: CheckedDocument; value: string }>();
  for (const d of ofKind(docs, "SysctlBaseline")) {
    for (const [key, value] of Object.entries(d.document.spec.settings)) {
      for (const h of membersOf(d)) {
        const k = `${h.name}\u0000${key}`;
        const first = sysctls.get(k);
        if (first && first.d !== d && first.value !== value) {
          report(
            d,
            ["spec", "settings", key],
            "SYSCTL_CONFLICT",
            `${key} = ${JSON.stringify(value)} on host ${h.name} conflicts with ${JSON.stringify(first.value)} from ${where(first.d)}`,
          );
          break;
        }
        if (!first) sysctls.set(k, { d, value });
      }
    }
  }

  // Rollout spreading by a label no host has is almost certainly a typo.
  for (const d of policies) {
    const label = d.document.spec.spreadBy;
    if (
      label !== undefined &&
      !salvage &&
      uniqueHosts.length > 0 &&
      !uniqueHosts.some((h) => Object.hasOwn(h.labels, label))
    ) {
      report(
        d,
        ["spec", "spreadBy"],
        "SPREAD_LABEL_UNKNOWN",
        `spreadBy label ${JSON.stringify(label)} is on no host of the inventory`,
      );
    }
  }

  return out;
}

function formatKey(path: readonly PropertyKey[]): string {
  return path.map(String).join(".");
}

function describeSelector(sel: HostSelector): string {
  if ("names" in sel) return `{names: [${sel.names.join(", ")}]}`;
  if ("matchLabels" in sel) {
    return `{matchLabels: {${Object.entries(sel.matchLabels)
      .map(([k, v]) => `${k}: ${v}`)
      .join(", ")}}}`;
  }
  return `{matchExpressions: [${sel.matchExpressions
    .map((e) => `${e.key} ${e.operator}${e.values ? ` [${e.values.join(", ")}]` : ""}`)
    .join(", ")}]}`;
}
