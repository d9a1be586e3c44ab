/**
 * `compile(inventory, intents, allocations?)` → the desired `HostState` of every host.
 *
 * Design:
 * - Pure and deterministic: the same input gives the same states (canonical order).
 * - IPAM ({@link allocate}): each `addresses: {pool}` and ASN `{pool}` gives one entry per
 *   member host. Entries in `allocations` (from the previous plan) are kept as long as the
 *   host is still a member and the entry still lies in the pool; new members take the
 *   lowest free entry in host-name order. So an address or ASN never moves when other
 *   hosts join or leave; an offline plan without allocations is ordered by host name.
 *   Entries of hosts that left are released.
 * - Scale: a VXLAN full mesh of N hosts has N·(N−1) FDB entries. One immutable entry object
 *   per member is built and SHARED by every other member's list (each list is the sorted
 *   member list minus the host itself), so the work beyond the inherent output is O(N log N)
 *   and the output is pointer arrays. Rendered texts that are the same for every host (the
 *   sysctl.d file) are rendered once per intent.
 * - Ownership marks: links get alias `fleetnet:<Kind>/<intent>`, routes protocol 250.
 * - BGP: a host in a BgpMultipath gets `net.ipv4.ip_forward=1` (it routes between its
 *   peers' paths) unless a SysctlBaseline for that host names the key itself.
 */
import {
  type BgpMultipath,
  type Bridge,
  type EcmpRoute,
  formatCidr,
  formatIp,
  type Intent,
  type Inventory,
  type InventoryHost,
  type KeepalivedPair,
  overlayMtu,
  parseAsnRange,
  parseCidr,
  parseIp,
  prefixSize,
  type SysctlBaseline,
  selectHosts,
  type Vlan,
  type VxlanOverlay,
} from "@fleetnet/intent";
import { sha256Text } from "./canonical.js";
import { NetstateError } from "./errors.js";
import {
  type Address,
  type FdbEntry,
  FLEETNET_ROUTE_PROTOCOL,
  type HostState,
  type Link,
  MAIN_TABLE,
  type ManagedFile,
  markCanonical,
  ORDER,
  ownerAlias,
  type Port,
  type Route,
  type Service,
  type Sysctl,
  ZERO_MAC,
} from "./model.js";
import {
  type FrrNeighbor,
  PATHS,
  renderFrr,
  renderKeepalived,
  renderSysctlConf,
  sysctlConfPath,
  type VrrpInstanceInput,
} from "./render.js";

/**
 * IPAM state carried from plan to plan. `addresses[<Kind>/<intent>][host] = "ip/len"`,
 * `asns[BgpMultipath/<intent>][host] = asn`.
 */
export interface Allocations {
  addresses: Record<string, Record<string, string>>;
  asns: Record<string, Record<string, number>>;
}

/** Output of {@link compile}. */
export interface CompileResult {
  /** Desired state of EVERY inventory host (hosts no intent selects get an empty state), by name. */
  hosts: Map<string, HostState>;
  /** Allocations to keep for the next plan. */
  allocations: Allocations;
}

/** Address of an inventory host's underlay without prefix length. */
export function underlayIp(h: InventoryHost): string {
  const text = h.underlay.address;
  let ip = underlayCache.get(text);
  if (ip === undefined) {
    const slash = text.indexOf("/");
    // Validated IPv4 text (no leading zeros) is already canonical; anything else is reformatted.
    if (/^[0-9.]+$/.test(text.slice(0, slash))) ip = text.slice(0, slash);
    else {
      const p = parseCidr(text);
      ip = p ? formatIp(p) : (text.split("/")[0] ?? text);
    }
    underlayCache.set(text, ip);
  }
  return ip;
}
/** Canonical underlay IPs by address text (bounded: cleared when large). */
const underlayCache = new Map<string, string>();
const UNDERLAY_CACHE_MAX = 100_000;
function trimUnderlayCache(): void {
  if (underlayCache.size > UNDERLAY_CACHE_MAX) underlayCache.clear();
}

// ---------------------------------------------------------------------------------------
// IPAM
// ---------------------------------------------------------------------------------------

/**
 * Sticky allocation of `pool` entries to `members` (names). `kept(h)` returns a previous
 * entry as an index into the pool, or undefined. Returns index per member.
 */
function allocateIndexes(
  members: readonly string[],
  size: number,
  kept: (h: string) => number | undefined,
  what: string,
): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>();
  for (const h of members) {
    const k = kept(h);
    if (k !== undefined && k >= 0 && k < size && !used.has(k)) {
      out.set(h, k);
      used.add(k);
    }
  }
  let cursor = 0;
  for (const h of [...members].sort()) {
    if (out.has(h)) continue;
    while (cursor < size && used.has(cursor)) cursor++;
    if (cursor >= size) {
      throw new NetstateError("POOL_EXHAUSTED", `${what} has no free entry left for host ${h}`, { host: h });
    }
    out.set(h, cursor);
    used.add(cursor);
  }
  return out;
}

/**
 * Addresses from `pool` (CIDR) for `members`, keeping `previous` entries that still fit.
 * IPv4 skips the network and broadcast address (except /31, /32); IPv6 skips the
 * subnet-router anycast address (except /127, /128).
 */
export function allocate(
  pool: string,
  members: readonly string[],
  previous: Readonly<Record<string, string>> | undefined,
  what = `pool ${pool}`,
): Record<string, string> {
  const p = parseCidr(pool);
  if (!p) throw new NetstateError("COMPILE_UNRESOLVED", `${what}: "${pool}" is not a CIDR prefix`);
  const bits = p.family === 4 ? 32 : 128;
  const hostBits = BigInt(bits - p.prefixLength);
  const net = (p.value >> hostBits) << hostBits;
  const total = prefixSize(p);
  const small = p.family === 4 ? p.prefixLength >= 31 : p.prefixLength >= 127;
  const first = small ? net : net + 1n;
  const countBig = small ? total : p.family === 4 ? total - 2n : total - 1n;
  const size = countBig > 1_000_000n ? 1_000_000 : Number(countBig);
  const kept = (h: string): number | undefined => {
    const prev = previous?.[h];
    if (prev === undefined) return undefined;
    const a = parseCidr(prev);
    if (!a || a.family !== p.family || a.prefixLength !== p.prefixLength) return undefined;
    const idx = a.value - first;
    return idx >= 0n && idx < BigInt(size) ? Number(idx) : undefined;
  };
  const idx = allocateIndexes(members, size, kept, what);
  const out: Record<string, string> = {};
  for (const h of members) {
    const i = idx.get(h) as number;
    out[h] = `${formatIp({ family: p.family, value: first + BigInt(i) })}/${p.prefixLength}`;
  }
  return out;
}

/** ASNs from `"first-last"` for `members`, keeping `previous` entries that still fit. */
export function allocateAsns(
  pool: string,
  members: readonly string[],
  previous: Readonly<Record<string, number>> | undefined,
  what = `ASN pool ${pool}`,
): Record<string, number> {
  const r = parseAsnRange(pool);
  if (!r) throw new NetstateError("COMPILE_UNRESOLVED", `${what}: "${pool}" is not an ASN range`);
  const size = Math.min(r[1] - r[0] + 1, 1_000_000);
  const kept = (h: string) => {
    const a = previous?.[h];
    return a === undefined ? undefined : a - r[0];
  };
  const idx = allocateIndexes(members, size, kept, what);
  const out: Record<string, number> = {};
  for (const h of members) out[h] = r[0] + (idx.get(h) as number);
  return out;
}

// ---------------------------------------------------------------------------------------
// Per-host accumulation
// ---------------------------------------------------------------------------------------

interface Builder {
  host: InventoryHost;
  links: Map<string, { link: Link; from: string }>;
  ports: Port[];
  addresses: Address[];
  routes: Map<string, { route: Route; from: string }>;
  /** FDB lists per device (each already sorted by dst). */
  fdb: { dev: string; entries: readonly FdbEntry[] }[];
  sysctls: Map<string, { s: Sysctl; from: string }>;
  files: ManagedFile[];
  services: Service[];
  bgp?: string;
}

const ref = (i: { kind: string; metadata: { name: string } }) => `${i.kind}/${i.metadata.name}`;

function conflict(b: Builder, message: string): never {
  throw new NetstateError("COMPILE_CONFLICT", `host ${b.host.name}: ${message}`, { host: b.host.name });
}

function addLink(b: Builder, link: Link, from: string): void {
  const prev = b.links.get(link.name);
  if (!prev) {
    b.links.set(link.name, { link, from });
    return;
  }
  // Two intents may share a bridge (e.g. a VLAN attached to a Bridge intent's bridge).
  const p = prev.link;
  if (p.kind === "bridge" && link.kind === "bridge") {
    if (p.mtu !== undefined && link.mtu !== undefined && p.mtu !== link.mtu) {
      conflict(b, `bridge ${link.name} has mtu ${p.mtu} in ${prev.from} but ${link.mtu} in ${from}`);
    }
    if (p.mtu === undefined && link.mtu !== undefined)
      b.links.set(link.name, { link: { ...p, mtu: link.mtu }, from: prev.from });
    return;
  }
  conflict(b, `interface ${link.name} is created by both ${prev.from} and ${from}`);
}

function addSysctl(b: Builder, s: Sysctl, from: string): void {
  const prev = b.sysctls.get(s.key);
  if (prev && prev.s.value !== s.value) {
    conflict(b, `sysctl ${s.key} is "${prev.s.value}" in ${prev.from} but "${s.value}" in ${from}`);
  }
  if (!prev || (s.persist && !prev.s.persist)) b.sysctls.set(s.key, { s, from });
}

function finish(b: Builder): HostState {
  const lists = [...b.fdb].sort((x, y) => (x.dev < y.dev ? -1 : x.dev > y.dev ? 1 : 0));
  let fdb: FdbEntry[];
  if (lists.length === 1) fdb = lists[0]?.entries as FdbEntry[];
  else {
    fdb = [];
    for (const l of lists) for (const e of l.entries) fdb.push(e);
  }
  // A bridge port that fleetnet itself creates on this host is enslaved through its link;
  // `ports` only lists foreign interfaces.
  const ports: Port[] = [];
  const seenPorts = new Map<string, string>();
  for (const p of b.ports) {
    const other = seenPorts.get(p.dev);
    if (other !== undefined && other !== p.master) {
      conflict(b, `interface ${p.dev} is a port of both ${other} and ${p.master}`);
    }
    if (other !== undefined) continue;
    seenPorts.set(p.dev, p.master);
    const own = b.links.get(p.dev);
    if (!own) ports.push(p);
    else if (own.link.master === undefined)
      b.links.set(p.dev, { ...own, link: { ...own.link, master: p.master } });
    else if (own.link.master !== p.master) {
      conflict(b, `interface ${p.dev} (${own.from}) is enslaved to ${own.link.master}, not ${p.master}`);
    }
  }
  return markCanonical({
    links: [...b.links.values()].map((x) => x.link).sort(ORDER.links),
    ports: ports.sort(ORDER.ports),
    addresses: b.addresses.sort(ORDER.addresses),
    routes: [...b.routes.values()].map((x) => x.route).sort(ORDER.routes),
    fdb,
    sysctls: [...b.sysctls.values()].map((x) => x.s).sort(ORDER.sysctls),
    files: b.files.sort(ORDER.files),
    services: b.services.sort(ORDER.services),
  });
}

// ---------------------------------------------------------------------------------------
// compile
// ---------------------------------------------------------------------------------------

/** Options of {@link compile}. */
export interface CompileOptions {
  /**
   * The previous compile's states. Objects that compile to the same value are reused from
   * it (FDB entries), so that `diff` against a converged fleet compares them by identity:
   * the fast path for "one host joins a 1000-host overlay".
   */
  previous?: ReadonlyMap<string, HostState>;
}

/**
 * Desired state per host. `allocations` (from the previous plan) keeps IPAM stable.
 * @throws NetstateError COMPILE_CONFLICT / COMPILE_UNRESOLVED / POOL_EXHAUSTED on input
 *   that validation should have refused.
 */
export function compile(
  inventory: Inventory,
  intents: readonly Intent[],
  allocations?: Allocations,
  opts: CompileOptions = {},
): CompileResult {
  const hosts = inventory.spec.hosts;
  trimUnderlayCache();
  const builders = new Map<string, Builder>();
  for (const h of hosts) {
    builders.set(h.name, {
      host: h,
      links: new Map(),
      ports: [],
      addresses: [],
      routes: new Map(),
      fdb: [],
      sysctls: new Map(),
      files: [],
      services: [],
    });
  }
  const builder = (name: string): Builder => {
    const b = builders.get(name);
    if (!b)
      throw new NetstateError("COMPILE_UNRESOLVED", `host ${name} is not in the inventory`, { host: name });
    return b;
  };
  const out: Allocations = { addresses: {}, asns: {} };
  const pool = (intent: Intent, cidr: string, members: readonly InventoryHost[]) => {
    const key = ref(intent);
    const got = allocate(
      cidr,
      members.map((m) => m.name),
      allocations?.addresses[key],
      `${key} addresses pool ${cidr}`,
    );
    out.addresses[key] = got;
    return got;
  };

  const sorted = [...intents].sort((a, b) => (ref(a) < ref(b) ? -1 : ref(a) > ref(b) ? 1 : 0));
  const ofKind = <K extends Intent["kind"]>(k: K) =>
    sorted.filter((i): i is Extract<Intent, { kind: K }> => i.kind === k);

  for (const i of ofKind("Bridge")) compileBridge(i, selectHosts(i.spec.hosts, hosts), builder, pool);
  for (const i of ofKind("Vlan")) compileVlan(i, selectHosts(i.spec.hosts, hosts), builder, pool);
  for (const i of ofKind("VxlanOverlay"))
    compileVxlan(i, selectHosts(i.spec.hosts, hosts), builder, pool, opts.previous);
  for (const i of ofKind("EcmpRoute")) compileEcmp(i, selectHosts(i.spec.hosts, hosts), builder);
  for (const i of ofKind("SysctlBaseline")) compileSysctl(i, selectHosts(i.spec.hosts, hosts), builder);
  compileBgp(ofKind("BgpMultipath"), hosts, builder, allocations, out);
  compileKeepalived(ofKind("KeepalivedPair"), builder);

  const result = new Map<string, HostState>();
  for (const h of hosts) result.set(h.name, finish(builder(h.name)));
  return { hosts: result, allocations: out };
}

type PoolFn = (intent: Intent, cidr: string, members: readonly InventoryHost[]) => Record<string, string>;

function compileBridge(i: Bridge, members: InventoryHost[], builder: (n: string) => Builder, pool: PoolFn) {
  const s = i.spec;
  const alias = ownerAlias(i.kind, i.metadata.name);
  const addrs = s.addresses ? pool(i, s.addresses.pool, members) : undefined;
  const link: Link = { kind: "bridge", name: s.name, alias, up: true };
  if (s.mtu !== undefined) link.mtu = s.mtu;
  for (const h of members) {
    const b = builder(h.name);
    addLink(b, link, ref(i));
    for (const p of s.ports ?? []) b.ports.push({ dev: p, master: s.name });
    const a = addrs?.[h.name];
    if (a) b.addresses.push({ dev: s.name, address: a });
  }
}

function compileVlan(i: Vlan, members: InventoryHost[], builder: (n: string) => Builder, pool: PoolFn) {
  const s = i.spec;
  const alias = ownerAlias(i.kind, i.metadata.name);
  const addrs = s.addresses ? pool(i, s.addresses.pool, members) : undefined;
  const vlan: Link = { kind: "vlan", name: s.name, id: s.id, parent: s.parent, alias, up: true };
  if (s.mtu !== undefined) vlan.mtu = s.mtu;
  if (s.bridge !== undefined) vlan.master = s.bridge;
  const bridge: Link | undefined = s.bridge ? { kind: "bridge", name: s.bridge, alias, up: true } : undefined;
  if (bridge && s.mtu !== undefined) bridge.mtu = s.mtu;
  for (const h of members) {
    const b = builder(h.name);
    if (bridge) addLink(b, bridge, ref(i));
    addLink(b, vlan, ref(i));
    const a = addrs?.[h.name];
    if (a) b.addresses.push({ dev: s.bridge ?? s.name, address: a });
  }
}

function compileVxlan(
  i: VxlanOverlay,
  members: InventoryHost[],
  builder: (n: string) => Builder,
  pool: PoolFn,
  previous: ReadonlyMap<string, HostState> | undefined,
) {
  const s = i.spec;
  const alias = ownerAlias(i.kind, i.metadata.name);
  const addrs = s.addresses ? pool(i, s.addresses.pool, members) : undefined;
  // One shared FDB entry per member, sorted by dst (canonical order within the device).
  let shared: { host: string; entry: FdbEntry }[] = [];
  if (s.replication.mode === "unicast") {
    const reuse = previousFdb(previous, members, s.device);
    const entry = (dst: string): FdbEntry => {
      const e = reuse.get(dst);
      return e && e.mac === ZERO_MAC ? e : { dev: s.device, mac: ZERO_MAC, dst };
    };
    shared = members.map((h) => ({ host: h.name, entry: entry(underlayIp(h)) }));
    shared.sort((a, b) => (a.entry.dst < b.entry.dst ? -1 : a.entry.dst > b.entry.dst ? 1 : 0));
  }
  const entries = shared.map((x) => x.entry);
  const position = new Map(shared.map((x, k) => [x.host, k]));
  const bridges = new Map<number, Link>();
  for (const h of members) {
    const b = builder(h.name);
    const mtu = overlayMtu(s, h);
    let bridge = bridges.get(mtu);
    if (!bridge) {
      bridge = { kind: "bridge", name: s.bridge, mtu, alias, up: true };
      bridges.set(mtu, bridge);
    }
    const vx: Link = {
      kind: "vxlan",
      name: s.device,
      vni: s.vni,
      local: underlayIp(h),
      port: s.port,
      dev: h.underlay.interface,
      learning: false,
      mtu,
      master: s.bridge,
      alias,
      up: true,
    };
    if (s.replication.mode === "multicast") vx.group = s.replication.group;
    addLink(b, bridge, ref(i));
    addLink(b, vx, ref(i));
    if (entries.length > 1) {
      // Every other member: the shared sorted list without this host's own entry.
      const k = position.get(h.name) as number;
      // Builtins (memcpy-like), fast even before the JIT has warmed up.
      const list = entries.slice();
      list.splice(k, 1);
      b.fdb.push({ dev: s.device, entries: list });
    }
    const a = addrs?.[h.name];
    if (a) b.addresses.push({ dev: s.bridge, address: a });
  }
}

/**
 * FDB entries of device `dev` in the previous states, by dst. Two members' lists together
 * hold every member's entry (each list lacks only its own host's).
 */
function previousFdb(
  previous: ReadonlyMap<string, HostState> | undefined,
  members: readonly InventoryHost[],
  dev: string,
): Map<string, FdbEntry> {
  const out = new Map<string, FdbEntry>();
  if (!previous) return out;
  let seen = 0;
  for (const m of members) {
    const st = previous.get(m.name);
    if (!st) continue;
    let found = false;
    for (const e of st.fdb) {
      if (e.dev !== dev) {
        if (found) break;
        continue;
      }
      found = true;
      if (!out.has(e.dst)) out.set(e.dst, e);
    }
    if (found && ++seen >= 2) break;
  }
  return out;
}

/** Routing table id of an EcmpRoute (`main` = 254). */
export function tableId(table: EcmpRoute["spec"]["table"]): number {
  return table === undefined || table === "main" ? MAIN_TABLE : table;
}

function compileEcmp(i: EcmpRoute, members: InventoryHost[], builder: (n: string) => Builder) {
  const s = i.spec;
  const dst = parseCidr(s.destination);
  const route: Route = {
    destination: dst ? formatCidr(dst, true) : s.destination,
    table: tableId(s.table),
    protocol: FLEETNET_ROUTE_PROTOCOL,
    nexthops: s.nexthops.map((n) => ({ via: n.via, weight: n.weight })),
  };
  const key = `${route.table} ${route.destination}`;
  for (const h of members) {
    const b = builder(h.name);
    const prev = b.routes.get(key);
    if (prev)
      conflict(
        b,
        `route ${route.destination} (table ${route.table}) is set by both ${prev.from} and ${ref(i)}`,
      );
    b.routes.set(key, { route, from: ref(i) });
  }
}

function compileSysctl(i: SysctlBaseline, members: InventoryHost[], builder: (n: string) => Builder) {
  const s = i.spec;
  const from = ref(i);
  const sysctls = Object.keys(s.settings)
    .sort()
    .map((key) => ({ key, value: s.settings[key] as string, persist: s.persist }));
  const file: ManagedFile | undefined = s.persist
    ? {
        path: sysctlConfPath(i.metadata.name),
        content: renderSysctlConf(i.metadata.name, s.settings),
        mode: 0o644,
      }
    : undefined;
  for (const h of members) {
    const b = builder(h.name);
    for (const x of sysctls) addSysctl(b, x, from);
    if (file) b.files.push(file);
  }
}

function compileBgp(
  intents: BgpMultipath[],
  hosts: readonly InventoryHost[],
  builder: (n: string) => Builder,
  allocations: Allocations | undefined,
  out: Allocations,
) {
  // Pass 1: members and ASN of every BGP host.
  const asnOf = new Map<string, number>();
  const membersOf = new Map<BgpMultipath, InventoryHost[]>();
  for (const i of intents) {
    const members = selectHosts(i.spec.hosts, hosts);
    membersOf.set(i, members);
    const asn = i.spec.asn;
    let got: Record<string, number>;
    if (typeof asn === "number") got = Object.fromEntries(members.map((m) => [m.name, asn]));
    else {
      const key = ref(i);
      got = allocateAsns(
        asn.pool,
        members.map((m) => m.name),
        allocations?.asns[key],
        `${key} ASN pool ${asn.pool}`,
      );
      out.asns[key] = got;
    }
    for (const m of members) {
      const b = builder(m.name);
      if (b.bgp) conflict(b, `host runs one BGP instance but is in ${b.bgp} and ${ref(i)}`);
      b.bgp = ref(i);
      asnOf.set(m.name, got[m.name] as number);
    }
  }
  // Pass 2: neighbors and config.
  for (const i of intents) {
    const s = i.spec;
    const members = membersOf.get(i) ?? [];
    const hostPeers = s.peers.flatMap((p) => ("hosts" in p ? selectHosts(p.hosts, hosts) : []));
    for (const h of members) {
      const b = builder(h.name);
      const own = underlayIp(h);
      const neighbors: FrrNeighbor[] = [];
      const seen = new Set<string>();
      for (const p of s.peers) {
        if ("address" in p) {
          if (seen.has(p.address)) continue;
          seen.add(p.address);
          neighbors.push({ address: p.address, remoteAs: p.remoteAs });
        }
      }
      for (const ph of hostPeers) {
        if (ph.name === h.name) continue;
        const addr = underlayIp(ph);
        if (seen.has(addr)) continue;
        const remoteAs = asnOf.get(ph.name);
        if (remoteAs === undefined) {
          throw new NetstateError(
            "COMPILE_UNRESOLVED",
            `${ref(i)}: peer host ${ph.name} is in no BgpMultipath intent, so its ASN is unknown`,
            { host: ph.name },
          );
        }
        seen.add(addr);
        neighbors.push({ address: addr, remoteAs, description: `fleetnet-host-${ph.name}` });
      }
      const routerId = s.routerId === "underlay" ? own : s.routerId;
      const content = renderFrr({
        hostname: h.name,
        intent: i.metadata.name,
        asn: asnOf.get(h.name) as number,
        routerId,
        neighbors,
        maximumPaths: s.maximumPaths,
        multipathRelax: s.multipathRelax,
        advertise: (s.advertise ?? []).map((p) => {
          const c = parseCidr(p);
          return c ? formatCidr(c, true) : p;
        }),
        redistribute: s.redistribute ?? [],
        ...(s.timers ? { timers: s.timers } : {}),
        updateSource: own,
      });
      // Readable by the daemons, which drop to user frr (the file is written by root and holds
      // no secret: BGP passwords are not part of the model).
      b.files.push({ path: PATHS.frr, content, mode: 0o644 });
      b.services.push({
        name: "frr",
        running: true,
        configHash: sha256Text(content),
        configPaths: [PATHS.frr],
      });
      if (!b.sysctls.has("net.ipv4.ip_forward") && parseIp(own)?.family !== 6) {
        addSysctl(b, { key: "net.ipv4.ip_forward", value: "1", persist: false }, ref(i));
      }
    }
  }
}

function compileKeepalived(intents: KeepalivedPair[], builder: (n: string) => Builder) {
  const perHost = new Map<string, VrrpInstanceInput[]>();
  const secrets = new Map<string, NonNullable<ManagedFile["secrets"]>>();
  const addressOn = (b: Builder, dev: string): string | undefined => {
    if (dev === b.host.underlay.interface) return underlayIp(b.host);
    const a = b.addresses.find((x) => x.dev === dev);
    return a ? a.address.split("/")[0] : undefined;
  };
  for (const i of intents) {
    const s = i.spec;
    const pb = builder(s.primary);
    const bb = builder(s.backup);
    const pAddr = addressOn(pb, s.interface);
    const bAddr = addressOn(bb, s.interface);
    const secretId = s.authPassword && s.version === 2 ? `vrrp-${i.metadata.name}` : undefined;
    for (const [b, role, mine, peer] of [
      [pb, "primary", pAddr, bAddr],
      [bb, "backup", bAddr, pAddr],
    ] as const) {
      const v: VrrpInstanceInput = {
        name: `fn_${i.metadata.name.replaceAll("-", "_")}`,
        state: role === "primary" ? "MASTER" : "BACKUP",
        interface: s.interface,
        vrid: s.vrid,
        priority: s.priority[role],
        advertInterval: s.advertInterval,
        version: s.version,
        preempt: s.preempt,
        vips: s.vips,
      };
      if (mine && peer) v.unicast = { src: mine, peer };
      if (secretId && s.authPassword) {
        v.authSecretId = secretId;
        const m = secrets.get(b.host.name) ?? {};
        m[secretId] = s.authPassword;
        secrets.set(b.host.name, m);
      }
      const list = perHost.get(b.host.name) ?? [];
      list.push(v);
      perHost.set(b.host.name, list);
    }
  }
  for (const [host, instances] of perHost) {
    const b = builder(host);
    const content = renderKeepalived(host, instances);
    const file: ManagedFile = { path: PATHS.keepalived, content, mode: 0o600 };
    const sec = secrets.get(host);
    if (sec) file.secrets = sec;
    b.files.push(file);
    b.services.push({
      name: "keepalived",
      running: true,
      configHash: sha256Text(content + JSON.stringify(sec ?? {})),
      configPaths: [PATHS.keepalived],
    });
  }
}
