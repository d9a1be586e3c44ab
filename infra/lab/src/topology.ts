/**
 * Lab topology planning (pure, no I/O): which namespaces, interfaces, addresses and MACs a
 * lab has, from a host count or from an Inventory, and the `ip`/`bridge` batch lines that
 * build it.
 *
 * Layout (documented contract of the lab):
 * - fabric namespace `<prefix>fabric` with bridge `br0`; host `i` (1-based) is plugged in through
 *   the veth pair `<underlay iface>` (in the host) ↔ `p<i>` (in the fabric);
 * - count mode: hosts `h001…` (namespace `<prefix>h001`), addresses `.1, .2, …` of the subnet
 *   in host order; spines `s01…` (namespace `<prefix>s01`, label `role: spine`) take the
 *   addresses after the hosts; hypervisors get `role: hypervisor` and `rack: r1…rR` in
 *   contiguous blocks (default R = ceil(N / 20));
 * - management: veth `<prefix>mgmt` in the root namespace ↔ `pmgmt` in the fabric. It gets the
 *   highest usable address of each host subnet (10.250.255.254/16 by default), so the root
 *   namespace reaches every host directly;
 * - every underlay interface has a fixed MAC `02:fb:` + the four bytes of its IPv4 address, and
 *   every host has permanent neighbour entries for all other hosts of its subnet and for the
 *   management address; the fabric bridge has static FDB entries for all of them. No ARP and
 *   no unknown-unicast flooding on a cold fabric (LAB-NOTES: pitfalls at 50–200 hosts).
 */
import {
  formatIp,
  type Inventory,
  type IpPrefix,
  isNetworkOrBroadcast,
  networkOf,
  parseCidr,
  prefixContains,
  prefixSize,
} from "@fleetnet/intent";
import { LabError } from "./errors.js";

/** One host of the lab. */
export interface LabHost {
  /** Host name (DNS label), as in the Inventory. */
  name: string;
  /** Network namespace name. */
  namespace: string;
  /** Underlay interface inside the namespace (default `veth0`). */
  iface: string;
  /** Underlay address without prefix length. */
  address: string;
  /** Prefix length of the underlay address. */
  prefixLength: number;
  mtu: number;
  /** Fixed MAC of the underlay interface. */
  mac: string;
  /** Fabric-side veth name (`p<i>`). */
  port: string;
  labels: Record<string, string>;
}

/** A planned lab. */
export interface LabTopology {
  prefix: string;
  /** Fabric namespace. */
  fabric: string;
  /** Bridge in the fabric namespace. */
  bridge: string;
  /** Management veth: root-side name, fabric-side name, its addresses (CIDR) and MAC. */
  mgmt: { iface: string; peer: string; addresses: string[]; mac: string };
  hosts: LabHost[];
}

/** Default namespace prefix of a product lab. */
export const DEFAULT_PREFIX = "fn-";
/** Default lab subnet. */
export const DEFAULT_SUBNET = "10.250.0.0/16";
/** Hosts per rack when `racks` is not given. */
export const HOSTS_PER_RACK = 20;
/** Largest lab this module plans. */
export const MAX_HOSTS = 4000;

/** Options for {@link planFromCount}. */
export interface CountOptions {
  hosts: number;
  racks?: number;
  spines?: number;
  prefix?: string;
  subnet?: string;
}

/** Validate a namespace prefix: it must leave room for interface names derived from it. */
export function checkPrefix(prefix: string): void {
  if (!/^[A-Za-z0-9_.-]{1,11}$/.test(prefix)) {
    throw new LabError(
      "BAD_OPTION",
      `prefix "${prefix}" must be 1-11 characters of [A-Za-z0-9_.-] (the management interface is <prefix>mgmt, at most 15 characters)`,
    );
  }
}

function parseSubnet(subnet: string): IpPrefix {
  const p = parseCidr(subnet);
  if (p?.family !== 4)
    throw new LabError("BAD_OPTION", `subnet "${subnet}" is not an IPv4 CIDR (e.g. 10.250.0.0/16)`);
  if (p.prefixLength < 8 || p.prefixLength > 29) {
    throw new LabError("BAD_OPTION", `subnet "${subnet}": the prefix length must be 8..29`);
  }
  return networkOf(p);
}

/** The MAC `02:fb:` + the four bytes of an IPv4 address (given as an integer). */
export function macFor(value: bigint): string {
  const b = [24n, 16n, 8n, 0n].map((s) =>
    Number((value >> s) & 255n)
      .toString(16)
      .padStart(2, "0"),
  );
  return `02:fb:${b.join(":")}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** The highest usable address of a network (its management address). */
function lastUsable(net: IpPrefix): bigint {
  return net.value + prefixSize(net) - 2n;
}

function mgmtFor(prefix: string, nets: IpPrefix[], used: Set<bigint>): LabTopology["mgmt"] {
  const addresses: string[] = [];
  let first: bigint | undefined;
  for (const net of nets) {
    let v = lastUsable(net);
    while (used.has(v) && v > net.value + 1n) v -= 1n;
    if (used.has(v))
      throw new LabError(
        "BAD_INVENTORY",
        `no free address for the management interface in ${formatIp(net)}/${net.prefixLength}`,
      );
    first ??= v;
    addresses.push(`${formatIp({ family: 4, value: v })}/${net.prefixLength}`);
  }
  return { iface: `${prefix}mgmt`, peer: "pmgmt", addresses, mac: macFor(first ?? 0n) };
}

/** Plan a lab of `hosts` hypervisors (+ `spines`) in `subnet`. */
export function planFromCount(opts: CountOptions): LabTopology {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  checkPrefix(prefix);
  const net = parseSubnet(opts.subnet ?? DEFAULT_SUBNET);
  const n = opts.hosts;
  const spines = opts.spines ?? 0;
  if (!Number.isInteger(n) || n < 1 || n > MAX_HOSTS)
    throw new LabError("BAD_OPTION", `--hosts must be an integer 1..${MAX_HOSTS}, got ${n}`);
  if (!Number.isInteger(spines) || spines < 0 || spines > 99)
    throw new LabError("BAD_OPTION", `--spines must be an integer 0..99, got ${spines}`);
  const racks = opts.racks ?? Math.ceil(n / HOSTS_PER_RACK);
  if (!Number.isInteger(racks) || racks < 1 || racks > n)
    throw new LabError("BAD_OPTION", `--racks must be an integer 1..${n} (the host count), got ${racks}`);
  const capacity = prefixSize(net) - 3n; // minus network, broadcast, management
  if (BigInt(n + spines) > capacity) {
    throw new LabError(
      "BAD_OPTION",
      `subnet ${formatIp(net)}/${net.prefixLength} holds ${capacity} hosts, asked for ${n + spines}`,
    );
  }
  const width = Math.max(3, String(n).length);
  const hosts: LabHost[] = [];
  const add = (name: string, labels: Record<string, string>) => {
    const i = hosts.length + 1;
    const value = net.value + BigInt(i);
    hosts.push({
      name,
      namespace: `${prefix}${name}`,
      iface: "veth0",
      address: formatIp({ family: 4, value }),
      prefixLength: net.prefixLength,
      mtu: 1500,
      mac: macFor(value),
      port: `p${i}`,
      labels,
    });
  };
  for (let i = 0; i < n; i++) {
    add(`h${pad(i + 1, width)}`, { rack: `r${Math.floor((i * racks) / n) + 1}`, role: "hypervisor" });
  }
  for (let i = 0; i < spines; i++) add(`s${pad(i + 1, 2)}`, { role: "spine" });
  const used = new Set(hosts.map((_, i) => net.value + BigInt(i + 1)));
  return { prefix, fabric: `${prefix}fabric`, bridge: "br0", mgmt: mgmtFor(prefix, [net], used), hosts };
}

/**
 * Plan a lab that realises an Inventory: one namespace per host (the transport's `namespace`
 * for `driver: netns`, else `<prefix><name>`), its `underlay.interface` carrying
 * `underlay.address`/`mtu`, all on one fabric.
 */
export function planFromInventory(
  inventories: readonly Inventory[],
  opts: { prefix?: string } = {},
): LabTopology {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  checkPrefix(prefix);
  const hosts: LabHost[] = [];
  const names = new Set<string>();
  const namespaces = new Set<string>();
  const addresses = new Map<bigint, string>();
  const nets: IpPrefix[] = [];
  for (const inv of inventories) {
    inv.spec.hosts.forEach((h, idx) => {
      const where = `Inventory/${inv.metadata.name} spec.hosts[${idx}]`;
      const p = parseCidr(h.underlay.address);
      if (p?.family !== 4) {
        throw new LabError(
          "BAD_INVENTORY",
          `${where}.underlay.address: the lab supports IPv4 underlays only, got "${h.underlay.address}"`,
        );
      }
      if (isNetworkOrBroadcast(p))
        throw new LabError(
          "BAD_INVENTORY",
          `${where}.underlay.address: "${h.underlay.address}" is a network or broadcast address`,
        );
      if (names.has(h.name))
        throw new LabError("BAD_INVENTORY", `${where}.name: host "${h.name}" appears twice`);
      const other = addresses.get(p.value);
      if (other)
        throw new LabError(
          "BAD_INVENTORY",
          `${where}.underlay.address: ${formatIp(p)} is also the address of host "${other}"`,
        );
      const namespace = h.transport.driver === "netns" ? h.transport.namespace : `${prefix}${h.name}`;
      if (namespaces.has(namespace))
        throw new LabError(
          "BAD_INVENTORY",
          `${where}.transport.namespace: "${namespace}" is used by another host`,
        );
      names.add(h.name);
      namespaces.add(namespace);
      addresses.set(p.value, h.name);
      const net = networkOf(p);
      if (!nets.some((n) => n.value === net.value && n.prefixLength === net.prefixLength)) {
        if (nets.some((n) => prefixContains(n, net) || prefixContains(net, n))) {
          throw new LabError(
            "BAD_INVENTORY",
            `${where}.underlay.address: subnet ${formatIp(net)}/${net.prefixLength} overlaps another host subnet with a different prefix length`,
          );
        }
        nets.push(net);
      }
      hosts.push({
        name: h.name,
        namespace,
        iface: h.underlay.interface,
        address: formatIp(p),
        prefixLength: p.prefixLength,
        mtu: h.underlay.mtu ?? 1500,
        mac: macFor(p.value),
        port: `p${hosts.length + 1}`,
        labels: { ...(h.labels ?? {}) },
      });
    });
  }
  if (hosts.length === 0) throw new LabError("BAD_INVENTORY", "the inventory has no hosts");
  if (hosts.length > MAX_HOSTS)
    throw new LabError(
      "BAD_INVENTORY",
      `the lab supports at most ${MAX_HOSTS} hosts, the inventory has ${hosts.length}`,
    );
  const fabric = `${prefix}fabric`;
  if (namespaces.has(fabric))
    throw new LabError(
      "BAD_INVENTORY",
      `namespace "${fabric}" is the lab's fabric namespace; rename the host's namespace`,
    );
  return { prefix, fabric, bridge: "br0", mgmt: mgmtFor(prefix, nets, new Set(addresses.keys())), hosts };
}

/** The IPv4 networks (CIDR) of a topology's hosts. */
export function hostSubnets(t: LabTopology): string[] {
  return t.mgmt.addresses.map((a) => {
    const p = parseCidr(a) as IpPrefix;
    const n = networkOf(p);
    return `${formatIp(n)}/${n.prefixLength}`;
  });
}

const netKeys = new Map<string, string>();

function netKey(address: string, prefixLength: number): string {
  const k = `${address}/${prefixLength}`;
  let v = netKeys.get(k);
  if (v === undefined) {
    const p = parseCidr(k) as IpPrefix;
    v = `${networkOf(p).value}/${prefixLength}`;
    netKeys.set(k, v);
  }
  return v;
}

function sameNet(
  a: { address: string; prefixLength: number },
  b: { address: string; prefixLength: number },
): boolean {
  return netKey(a.address, a.prefixLength) === netKey(b.address, b.prefixLength);
}

/** `ip -batch` lines for the root namespace: every veth pair (ends placed directly) + mgmt. */
export function rootBatch(t: LabTopology): string[] {
  const lines = t.hosts.map(
    (h) =>
      `link add ${h.iface} netns ${h.namespace} address ${h.mac} mtu ${h.mtu} type veth peer name ${h.port} netns ${t.fabric} mtu ${h.mtu}`,
  );
  lines.push(
    `link add ${t.mgmt.iface} address ${t.mgmt.mac} type veth peer name ${t.mgmt.peer} netns ${t.fabric}`,
  );
  for (const a of t.mgmt.addresses) lines.push(`addr add ${a} dev ${t.mgmt.iface}`);
  lines.push(`link set ${t.mgmt.iface} up`);
  for (const h of t.hosts) {
    if (t.mgmt.addresses.some((a) => sameNet(h, splitCidr(a)))) {
      lines.push(`neigh replace ${h.address} lladdr ${h.mac} dev ${t.mgmt.iface} nud permanent`);
    }
  }
  return lines;
}

function splitCidr(cidr: string): { address: string; prefixLength: number } {
  const [address = "", len = "0"] = cidr.split("/");
  return { address, prefixLength: Number(len) };
}

/** `ip -n <fabric> -batch` lines: bridge up, every port enslaved and up. */
export function fabricBatch(t: LabTopology): string[] {
  return [
    "link set lo up",
    `link add ${t.bridge} type bridge`,
    `link set ${t.bridge} up`,
    ...t.hosts.map((h) => `link set ${h.port} master ${t.bridge} up`),
    `link set ${t.mgmt.peer} master ${t.bridge} up`,
  ];
}

/** `bridge -n <fabric> -batch` lines: a static FDB entry per host MAC (and the mgmt MAC). */
export function fdbBatch(t: LabTopology): string[] {
  return [
    ...t.hosts.map((h) => `fdb replace ${h.mac} dev ${h.port} master static`),
    `fdb replace ${t.mgmt.mac} dev ${t.mgmt.peer} master static`,
  ];
}

/**
 * Largest lab that gets a full mesh of permanent neighbour entries (N² entries: 40 000 at 200
 * hosts take ~0.5 s of CPU; 4 000 hosts would need 16 million). Bigger labs keep the static FDB
 * and the management neighbour and resolve peers by ARP.
 */
export const STATIC_NEIGHBOUR_LIMIT = 512;

/**
 * The permanent neighbour entries of one host: every other host of its subnet (up to
 * {@link STATIC_NEIGHBOUR_LIMIT} hosts) and the management address.
 */
export function hostNeighbours(t: LabTopology, h: LabHost): { address: string; mac: string }[] {
  const out: { address: string; mac: string }[] = [];
  if (t.hosts.length <= STATIC_NEIGHBOUR_LIMIT) {
    for (const o of t.hosts) {
      if (o !== h && sameNet(h, o)) out.push({ address: o.address, mac: o.mac });
    }
  }
  for (const a of t.mgmt.addresses) {
    const m = splitCidr(a);
    if (sameNet(h, m)) out.push({ address: m.address, mac: t.mgmt.mac });
  }
  return out;
}

/** `ip -n <host ns> -batch` lines for one host: lo, address, up, permanent neighbours. */
export function hostBatch(t: LabTopology, h: LabHost): string[] {
  return [
    "link set lo up",
    `addr add ${h.address}/${h.prefixLength} dev ${h.iface}`,
    `link set ${h.iface} up`,
    ...hostNeighbours(t, h).map(
      (n) => `neigh replace ${n.address} lladdr ${n.mac} dev ${h.iface} nud permanent`,
    ),
  ];
}
