/**
 * Minimal pcap / pcapng reader for offline decoding: extracts UDP datagrams carried over
 * Ethernet (with 802.1Q/QinQ tags), Linux cooked capture v1/v2, raw IP, or BSD loopback,
 * on IPv4 or IPv6. Non-UDP frames and IP fragments past the first are skipped (counted).
 * A capture cut short in its last packet still yields everything before it (`truncated`).
 */
import { readFileSync } from "node:fs";
import { ipv4, ipv6 } from "./addr.js";
import { NetflowError } from "./errors.js";

/** One UDP datagram found in a capture. */
export interface UdpDatagram {
  /** Capture time, ms since the epoch. */
  tsMs: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  payload: Uint8Array;
}

/** Result of reading a capture. */
export interface Capture {
  format: "pcap" | "pcapng";
  datagrams: UdpDatagram[];
  /** Frames that were not (first-fragment) UDP over IPv4/IPv6 on a known link type. */
  skipped: number;
  /** The file ended inside a block/packet. */
  truncated: boolean;
}

const LINK_NULL = 0;
const LINK_ETHERNET = 1;
const LINK_RAW = 101;
const LINK_SLL = 113;
const LINK_IPV4 = 228;
const LINK_IPV6 = 229;
const LINK_SLL2 = 276;

/** Parse one link-layer frame into a UDP datagram, or null. */
function frame(link: number, b: Uint8Array, tsMs: number): UdpDatagram | null {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 0;
  let etype = -1;
  if (link === LINK_ETHERNET) {
    if (b.length < 14) return null;
    etype = dv.getUint16(12);
    o = 14;
    while ((etype === 0x8100 || etype === 0x88a8) && o + 4 <= b.length) {
      etype = dv.getUint16(o + 2);
      o += 4;
    }
  } else if (link === LINK_SLL) {
    if (b.length < 16) return null;
    etype = dv.getUint16(14);
    o = 16;
  } else if (link === LINK_SLL2) {
    if (b.length < 20) return null;
    etype = dv.getUint16(0);
    o = 20;
  } else if (link === LINK_NULL) {
    if (b.length < 4) return null;
    const fam = dv.getUint32(0, true);
    etype = fam === 2 ? 0x0800 : fam === 10 || fam === 24 || fam === 28 || fam === 30 ? 0x86dd : -1;
    o = 4;
  } else if (link === LINK_RAW || link === LINK_IPV4 || link === LINK_IPV6) {
    if (b.length < 1) return null;
    const ver = (b[0] as number) >> 4;
    etype = ver === 4 ? 0x0800 : ver === 6 ? 0x86dd : -1;
  } else {
    return null;
  }
  let src: string;
  let dst: string;
  let udp: number;
  let udpEnd = b.length;
  if (etype === 0x0800) {
    if (o + 20 > b.length) return null;
    const ihl = ((b[o] as number) & 0x0f) * 4;
    if ((b[o] as number) >> 4 !== 4 || ihl < 20 || b[o + 9] !== 17) return null;
    if ((dv.getUint16(o + 6) & 0x1fff) !== 0) return null; // later fragment
    udpEnd = Math.min(b.length, o + dv.getUint16(o + 2));
    src = ipv4(dv, o + 12);
    dst = ipv4(dv, o + 16);
    udp = o + ihl;
  } else if (etype === 0x86dd) {
    if (o + 40 > b.length) return null;
    let nh = b[o + 6] as number;
    udpEnd = Math.min(b.length, o + 40 + dv.getUint16(o + 4));
    src = ipv6(dv, o + 8);
    dst = ipv6(dv, o + 24);
    udp = o + 40;
    // Skip hop-by-hop, routing and destination options headers.
    while ((nh === 0 || nh === 43 || nh === 60) && udp + 8 <= b.length) {
      nh = b[udp] as number;
      udp += ((b[udp + 1] as number) + 1) * 8;
    }
    if (nh !== 17) return null;
  } else {
    return null;
  }
  if (udp + 8 > udpEnd) return null;
  const ulen = dv.getUint16(udp + 4);
  const end = ulen >= 8 ? Math.min(udpEnd, udp + ulen) : udpEnd;
  return {
    tsMs,
    src,
    srcPort: dv.getUint16(udp),
    dst,
    dstPort: dv.getUint16(udp + 2),
    payload: b.subarray(udp + 8, end),
  };
}

function readPcap(buf: Uint8Array, dv: DataView): Capture {
  const magic = dv.getUint32(0, false);
  const le = magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1;
  const nanos = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  if (buf.length < 24) throw new NetflowError("PCAP_TRUNCATED", "pcap: file shorter than its 24-byte header");
  const link = dv.getUint32(20, le) & 0x0fffffff;
  const out: Capture = { format: "pcap", datagrams: [], skipped: 0, truncated: false };
  let o = 24;
  while (o < buf.length) {
    if (o + 16 > buf.length) {
      out.truncated = true;
      break;
    }
    const sec = dv.getUint32(o, le);
    const frac = dv.getUint32(o + 4, le);
    const incl = dv.getUint32(o + 8, le);
    o += 16;
    if (o + incl > buf.length) {
      out.truncated = true;
      break;
    }
    const ts = sec * 1000 + (nanos ? frac / 1e6 : frac / 1e3);
    const d = frame(link, buf.subarray(o, o + incl), ts);
    if (d === null) out.skipped++;
    else out.datagrams.push(d);
    o += incl;
  }
  return out;
}

function readPcapng(buf: Uint8Array, dv: DataView): Capture {
  const out: Capture = { format: "pcapng", datagrams: [], skipped: 0, truncated: false };
  let le = true;
  let ifaces: Array<{ link: number; unitsPerMs: number }> = [];
  let o = 0;
  while (o < buf.length) {
    if (o + 12 > buf.length) {
      out.truncated = true;
      break;
    }
    const typeLe = dv.getUint32(o, true);
    if (typeLe === 0x0a0d0d0a) {
      const bom = dv.getUint32(o + 8, true);
      if (bom === 0x1a2b3c4d) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw new NetflowError("PCAP_BAD_FORMAT", `pcapng: bad byte-order magic at offset ${o}`);
      ifaces = [];
    }
    const type = dv.getUint32(o, le);
    const len = dv.getUint32(o + 4, le);
    if (len < 12 || len % 4 !== 0)
      throw new NetflowError("PCAP_BAD_FORMAT", `pcapng: bad block length ${len} at offset ${o}`);
    if (o + len > buf.length) {
      out.truncated = true;
      break;
    }
    const body = o + 8;
    const bend = o + len - 4;
    if (type === 1 && body + 8 <= bend) {
      // Interface description: link type, then options (if_tsresol = 9).
      const link = dv.getUint16(body, le);
      let unitsPerMs = 1000; // default resolution 10^-6 s
      let p = body + 8;
      while (p + 4 <= bend) {
        const code = dv.getUint16(p, le);
        const olen = dv.getUint16(p + 2, le);
        if (code === 0) break;
        if (code === 9 && olen >= 1 && p + 5 <= bend) {
          const r = dv.getUint8(p + 4);
          unitsPerMs = r & 0x80 ? 2 ** (r & 0x7f) / 1000 : 10 ** (r & 0x7f) / 1000;
        }
        p += 4 + Math.ceil(olen / 4) * 4;
      }
      ifaces.push({ link, unitsPerMs });
    } else if ((type === 6 || type === 2) && body + 20 <= bend) {
      const ifid = type === 6 ? dv.getUint32(body, le) : dv.getUint16(body, le);
      const ts = dv.getUint32(body + 4, le) * 4294967296 + dv.getUint32(body + 8, le);
      const cap = dv.getUint32(body + 12, le);
      const iface = ifaces[ifid];
      if (iface === undefined || body + 20 + cap > bend) out.skipped++;
      else {
        const d = frame(iface.link, buf.subarray(body + 20, body + 20 + cap), ts / iface.unitsPerMs);
        if (d === null) out.skipped++;
        else out.datagrams.push(d);
      }
    } else if (type === 3 && body + 4 <= bend) {
      const iface = ifaces[0];
      const orig = dv.getUint32(body, le);
      const d = iface ? frame(iface.link, buf.subarray(body + 4, Math.min(bend, body + 4 + orig)), 0) : null;
      if (d === null) out.skipped++;
      else out.datagrams.push(d);
    }
    o += len;
  }
  return out;
}

/**
 * Read a pcap or pcapng capture held in memory. Throws `NetflowError` (`PCAP_BAD_FORMAT` /
 * `PCAP_TRUNCATED`) when the bytes are not a capture at all.
 */
export function parseCapture(buf: Uint8Array): Capture {
  if (buf.length < 12) throw new NetflowError("PCAP_TRUNCATED", `capture too short (${buf.length} bytes)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const m = dv.getUint32(0, false);
  if (m === 0xa1b2c3d4 || m === 0xd4c3b2a1 || m === 0xa1b23c4d || m === 0x4d3cb2a1) return readPcap(buf, dv);
  if (m === 0x0a0d0d0a) return readPcapng(buf, dv);
  throw new NetflowError(
    "PCAP_BAD_FORMAT",
    `not a pcap/pcapng file (magic 0x${m.toString(16).padStart(8, "0")})`,
  );
}

/** Read a capture file; unreadable files throw `NetflowError(PCAP_UNREADABLE)` with the OS reason. */
export function readCaptureFile(path: string): Capture {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new NetflowError("PCAP_UNREADABLE", `cannot read capture ${path}: ${reason}`);
  }
  try {
    return parseCapture(buf);
  } catch (e) {
    if (e instanceof NetflowError) throw new NetflowError(e.code, `${path}: ${e.message}`);
    throw e;
  }
}
