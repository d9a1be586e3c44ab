/**
 * Writes UDP datagrams as a classic pcap (LINKTYPE_RAW: bare IPv4/IPv6 packets, µs timestamps).
 * Used to record what an exporter sent (fixtures) and to build test/benchmark streams.
 */
import { isIPv4, isIPv6 } from "node:net";
import { NetflowError } from "./errors.js";
import type { UdpDatagram } from "./pcap.js";

function v4bytes(a: string): number[] {
  return a.split(".").map((x) => Number(x));
}

function v6bytes(a: string): number[] {
  const [head = "", tail] = a.split("::");
  const parse = (s: string): number[] => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (g.includes(".")) {
        const [a = 0, b = 0, c = 0, d = 0] = v4bytes(g);
        out.push(a * 256 + b, c * 256 + d);
      } else {
        out.push(Number.parseInt(g, 16));
      }
    }
    return out;
  };
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/**
 * Encode datagrams into pcap bytes. Both ends of a datagram must be the same IP family;
 * otherwise a `NetflowError(PCAP_BAD_FORMAT)` names the datagram.
 */
export function encodePcap(datagrams: readonly UdpDatagram[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const gh = new DataView(new ArrayBuffer(24));
  gh.setUint32(0, 0xa1b2c3d4, true);
  gh.setUint16(4, 2, true);
  gh.setUint16(6, 4, true);
  gh.setUint32(16, 65535, true);
  gh.setUint32(20, 101, true); // LINKTYPE_RAW
  parts.push(new Uint8Array(gh.buffer));
  for (const [i, d] of datagrams.entries()) {
    const six = isIPv6(d.src) && isIPv6(d.dst);
    if (!six && !(isIPv4(d.src) && isIPv4(d.dst))) {
      throw new NetflowError(
        "PCAP_BAD_FORMAT",
        `datagram #${i}: addresses ${d.src} -> ${d.dst} are not one IP family`,
      );
    }
    const ipLen = six ? 40 : 20;
    const udpLen = 8 + d.payload.length;
    const pkt = new Uint8Array(ipLen + udpLen);
    const dv = new DataView(pkt.buffer);
    if (six) {
      dv.setUint32(0, 0x60000000);
      dv.setUint16(4, udpLen);
      pkt[6] = 17;
      pkt[7] = 64;
      pkt.set(v6bytes(d.src), 8);
      pkt.set(v6bytes(d.dst), 24);
    } else {
      pkt[0] = 0x45;
      dv.setUint16(2, ipLen + udpLen);
      pkt[8] = 64;
      pkt[9] = 17;
      pkt.set(v4bytes(d.src), 12);
      pkt.set(v4bytes(d.dst), 16);
      let sum = 0;
      for (let k = 0; k < 20; k += 2) sum += dv.getUint16(k);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      dv.setUint16(10, ~sum & 0xffff);
    }
    dv.setUint16(ipLen, d.srcPort);
    dv.setUint16(ipLen + 2, d.dstPort);
    dv.setUint16(ipLen + 4, udpLen);
    pkt.set(d.payload, ipLen + 8);
    const rh = new DataView(new ArrayBuffer(16));
    const ms = Math.max(0, d.tsMs);
    rh.setUint32(0, Math.floor(ms / 1000), true);
    rh.setUint32(4, Math.floor((ms % 1000) * 1000), true);
    rh.setUint32(8, pkt.length, true);
    rh.setUint32(12, pkt.length, true);
    parts.push(new Uint8Array(rh.buffer), pkt);
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
