/** pcap/pcapng reader and writer on hand-built captures: link types, IPv6, VLAN, truncation, garbage. */
import { describe, expect, it } from "vitest";
import { encodePcap, parseCapture } from "./index.js";

const payload = Uint8Array.from([0, 9, 1, 2, 3]);

function pcap(link: number, frames: Uint8Array[], magic = 0xa1b2c3d4): Uint8Array {
  const parts: number[] = [];
  const u32le = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
  parts.push(...u32le(magic), 2, 0, 4, 0, ...u32le(0), ...u32le(0), ...u32le(65535), ...u32le(link));
  for (const f of frames)
    parts.push(...u32le(1_700_000_000), ...u32le(250_000), ...u32le(f.length), ...u32le(f.length), ...f);
  return Uint8Array.from(parts);
}

/** IPv4/UDP packet 192.0.2.1:1000 -> 192.0.2.2:2055 from the writer (raw IP), without pcap headers. */
function rawIpv4(): Uint8Array {
  const b = encodePcap([
    { tsMs: 0, src: "192.0.2.1", srcPort: 1000, dst: "192.0.2.2", dstPort: 2055, payload },
  ]);
  return b.subarray(24 + 16);
}

describe("capture reader", () => {
  it("round-trips IPv4 and IPv6 datagrams through the writer (raw IP link type)", () => {
    const d = [
      { tsMs: 1_700_000_000_250, src: "192.0.2.1", srcPort: 1000, dst: "192.0.2.2", dstPort: 2055, payload },
      {
        tsMs: 1_700_000_001_000,
        src: "2001:db8::1",
        srcPort: 4739,
        dst: "2001:db8::2",
        dstPort: 4739,
        payload,
      },
      { tsMs: 1_700_000_002_000, src: "::ffff:192.0.2.9", srcPort: 1, dst: "fe80::1", dstPort: 2, payload },
    ];
    const cap = parseCapture(encodePcap(d));
    expect(cap).toMatchObject({ format: "pcap", skipped: 0, truncated: false });
    expect(cap.datagrams.map((x) => ({ ...x, payload: [...x.payload] }))).toEqual(
      d.map((x) => ({ ...x, payload: [...payload] })),
    );
    expect(() => encodePcap([{ ...d[0], dst: "2001:db8::2" } as (typeof d)[0]])).toThrow(/datagram #0/);
  });

  it("reads Ethernet with 802.1Q tags, Linux cooked capture, and skips non-UDP frames", () => {
    const ip4 = rawIpv4();
    const eth = Uint8Array.from([...new Array(12).fill(0), 0x81, 0x00, 0x00, 0x64, 0x08, 0x00, ...ip4]);
    const sll = Uint8Array.from([...new Array(14).fill(0), 0x08, 0x00, ...ip4]);
    const arp = Uint8Array.from([...new Array(12).fill(0), 0x08, 0x06, ...new Array(28).fill(0)]);
    const e = parseCapture(pcap(1, [eth, arp]));
    expect(e.datagrams.map((x) => [x.src, x.dstPort, x.tsMs])).toEqual([
      ["192.0.2.1", 2055, 1_700_000_000_250],
    ]);
    expect(e.skipped).toBe(1);
    expect(parseCapture(pcap(113, [sll])).datagrams[0]?.dst).toBe("192.0.2.2");
    // Nanosecond-resolution pcap.
    expect(parseCapture(pcap(101, [ip4], 0xa1b23c4d)).datagrams[0]?.tsMs).toBe(1_700_000_000_000.25);
  });

  it("a file cut inside a packet keeps what came before; garbage is a coded error", () => {
    const full = pcap(101, [rawIpv4(), rawIpv4()]);
    const cut = parseCapture(full.subarray(0, full.length - 5));
    expect(cut).toMatchObject({ truncated: true });
    expect(cut.datagrams).toHaveLength(1);
    expect(() => parseCapture(new TextEncoder().encode("hello, this is text"))).toThrow(
      expect.objectContaining({ code: "PCAP_BAD_FORMAT" }),
    );
    expect(() => parseCapture(Uint8Array.from([1, 2]))).toThrow(
      expect.objectContaining({ code: "PCAP_TRUNCATED" }),
    );
  });
});
