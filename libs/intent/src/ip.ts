/**
 * IP address and prefix arithmetic for validation (pure, IPv4 and IPv6).
 *
 * Addresses are held as `bigint` so that one code path serves both families. Parsing is
 * strict: IPv4 is dotted quad without leading zeros (an `010` octet is ambiguous between
 * octal and decimal in other tools, so it is refused); IPv6 follows RFC 4291 text form
 * including `::` compression and an embedded IPv4 tail; zone ids (`%eth0`) are refused.
 */

/** Address family: 4 or 6. */
export type IpFamily = 4 | 6;

/** A parsed IP address. */
export interface IpAddress {
  readonly family: IpFamily;
  /** The address as an unsigned integer (32 or 128 bits). */
  readonly value: bigint;
}

/** A parsed prefix `address/len`; `address` keeps the host bits as written. */
export interface IpPrefix extends IpAddress {
  readonly prefixLength: number;
}

/**
 * Strict dotted quad: four decimal octets 0-255, no leading zeros, nothing else. A char loop
 * (no split, regex or per-octet bigint): addresses are parsed hundreds of thousands of times
 * per fleet rollout (message schemas, renderers).
 */
function parseIpv4(text: string): bigint | undefined {
  let v = 0;
  let octet = -1; // -1: no digit yet in this octet
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (octet < 0 || dots === 3) return undefined;
      v = v * 256 + octet;
      octet = -1;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (octet === 0 || digits === 3) return undefined; // leading zero, or a fourth digit
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return undefined;
      digits++;
    } else return undefined;
  }
  if (octet < 0 || dots !== 3) return undefined;
  return BigInt(v * 256 + octet);
}

function parseIpv6(text: string): bigint | undefined {
  if (text.length === 0 || text.length > 45 || text.includes("%")) return undefined;
  let head = text;
  let tail4: bigint | undefined;
  // An embedded IPv4 tail counts as two groups.
  const lastColon = text.lastIndexOf(":");
  if (lastColon >= 0 && text.slice(lastColon + 1).includes(".")) {
    tail4 = parseIpv4(text.slice(lastColon + 1));
    if (tail4 === undefined) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
    // `::1.2.3.4` style: the head now ends in "::0:0" which is fine.
  }
  const dbl = head.indexOf("::");
  if (dbl !== head.lastIndexOf("::")) return undefined;
  let groups: string[];
  if (dbl >= 0) {
    const left = head.slice(0, dbl);
    const right = head.slice(dbl + 2);
    const l = left === "" ? [] : left.split(":");
    const r = right === "" ? [] : right.split(":");
    const missing = 8 - l.length - r.length;
    if (missing < 1) return undefined;
    groups = [...l, ...Array<string>(missing).fill("0"), ...r];
  } else {
    groups = head.split(":");
  }
  if (groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(Number.parseInt(g, 16));
  }
  if (tail4 !== undefined) v = (v & ~0xffffffffn) | tail4;
  return v;
}

function parseIpUncached(text: string): IpAddress | undefined {
  if (text.includes(":")) {
    const v = parseIpv6(text);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseIpv4(text);
  return v === undefined ? undefined : { family: 4, value: v };
}

/**
 * Recent answers of {@link parseIp} (`null`: not an address). A fleet's messages repeat the
 * same few hundred addresses (every host's job lists its peers); results are immutable, so
 * they are shared. Bounded: cleared when full.
 */
const parsed = new Map<string, IpAddress | null>();
const PARSED_MAX = 8192;

/** Parse an IPv4 or IPv6 address (no prefix). Returns `undefined` when it is not one. */
export function parseIp(text: string): IpAddress | undefined {
  if (typeof text !== "string") return undefined;
  const hit = parsed.get(text);
  if (hit !== undefined) return hit ?? undefined;
  const r = parseIpUncached(text);
  if (parsed.size >= PARSED_MAX) parsed.clear();
  parsed.set(text, r ?? null);
  return r;
}

/** Bits in an address of this family. */
export function familyBits(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

/** Parse `address/len`. The prefix length is required; host bits may be set. */
export function parseCidr(text: string): IpPrefix | undefined {
  if (typeof text !== "string") return undefined;
  const slash = text.indexOf("/");
  if (slash < 0 || slash !== text.lastIndexOf("/")) return undefined;
  const addr = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!addr || !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  if (prefixLength > familyBits(addr.family)) return undefined;
  return { ...addr, prefixLength };
}

/** Network mask of a prefix as an integer. */
function mask(family: IpFamily, len: number): bigint {
  const bits = BigInt(familyBits(family));
  const all = (1n << bits) - 1n;
  return all ^ ((1n << (bits - BigInt(len))) - 1n);
}

/** The network address of a prefix (host bits cleared). */
export function networkOf(p: IpPrefix): IpPrefix {
  return { family: p.family, value: p.value & mask(p.family, p.prefixLength), prefixLength: p.prefixLength };
}

/** Number of addresses a prefix spans. */
export function prefixSize(p: IpPrefix): bigint {
  return 1n << BigInt(familyBits(p.family) - p.prefixLength);
}

/** Whether the prefix has host bits set (e.g. `10.0.0.1/24` is not a network). */
export function hasHostBits(p: IpPrefix): boolean {
  return (p.value & ~mask(p.family, p.prefixLength)) !== 0n;
}

/** Whether `addr` lies inside prefix `p`. */
export function prefixContains(p: IpPrefix, addr: IpAddress): boolean {
  if (p.family !== addr.family) return false;
  const m = mask(p.family, p.prefixLength);
  return (p.value & m) === (addr.value & m);
}

/** Whether two prefixes share any address. */
export function prefixesOverlap(a: IpPrefix, b: IpPrefix): boolean {
  if (a.family !== b.family) return false;
  const len = Math.min(a.prefixLength, b.prefixLength);
  const m = mask(a.family, len);
  return (a.value & m) === (b.value & m);
}

/**
 * Host addresses a pool can hand out: all addresses minus network and broadcast for IPv4
 * prefixes up to /30 (a /31 or /32 gives every address, RFC 3021), minus the subnet-router
 * anycast address for IPv6 up to /127.
 */
export function usableHosts(p: IpPrefix): bigint {
  const size = prefixSize(p);
  if (p.family === 4) return p.prefixLength >= 31 ? size : size - 2n;
  return p.prefixLength >= 127 ? size : size - 1n;
}

/**
 * Whether `addr` (with its own prefix length) is the network or IPv4 broadcast address of its
 * subnet, i.e. not usable as an interface address.
 */
export function isNetworkOrBroadcast(p: IpPrefix): boolean {
  const bits = familyBits(p.family);
  if (p.family === 4 && p.prefixLength >= 31) return false;
  if (p.family === 6 && p.prefixLength >= 127) return false;
  const hostMask = (1n << BigInt(bits - p.prefixLength)) - 1n;
  const host = p.value & hostMask;
  return host === 0n || (p.family === 4 && host === hostMask);
}

/** Canonical text of an address (IPv4 dotted quad; IPv6 lower-case, RFC 5952 compression). */
export function formatIp(a: IpAddress): string {
  if (a.family === 4) {
    const v = a.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join(".");
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((a.value >> BigInt(i * 16)) & 0xffffn));
  // Longest run of zero groups (length >= 2) becomes "::".
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  const left = hex.slice(0, bestStart).join(":");
  const right = hex.slice(bestStart + bestLen).join(":");
  return `${left}::${right}`;
}

/** Canonical text of a prefix (`network/len` when `asNetwork`, else address as written). */
export function formatCidr(p: IpPrefix, asNetwork = false): string {
  const a = asNetwork ? networkOf(p) : p;
  return `${formatIp(a)}/${p.prefixLength}`;
}
