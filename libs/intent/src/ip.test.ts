import { describe, expect, it } from "vitest";
import {
  formatCidr,
  formatIp,
  isNetworkOrBroadcast,
  parseCidr,
  parseIp,
  prefixesOverlap,
  usableHosts,
} from "./index.js";

describe("ip", () => {
  it.each([
    ["10.0.0.1", "10.0.0.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["fd00::1", "fd00::1"],
    ["FD00:0:0:0:0:0:0:1", "fd00::1"],
    ["::", "::"],
    ["::ffff:10.0.0.1", "::ffff:a00:1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
  ])("parses %s", (text, canonical) => {
    const a = parseIp(text);
    expect(a).toBeDefined();
    expect(formatIp(a as NonNullable<typeof a>)).toBe(canonical);
  });

  it.each([
    "10.0.0.256",
    "10.0.0",
    "010.0.0.1",
    "1.2.3.4.5",
    "fd00:::1",
    "fd00::1::2",
    "1:2:3:4:5:6:7:8:9",
    "fe80::1%eth0",
    "",
    "x",
  ])("refuses %s", (text) => expect(parseIp(text)).toBeUndefined());

  it("handles prefixes", () => {
    expect(parseCidr("10.0.0.0/33")).toBeUndefined();
    expect(parseCidr("10.0.0.0")).toBeUndefined();
    expect(parseCidr("10.0.0.0/08")).toBeUndefined();
    const p = parseCidr("10.20.0.5/24") as NonNullable<ReturnType<typeof parseCidr>>;
    expect(formatCidr(p, true)).toBe("10.20.0.0/24");
    expect(usableHosts(p)).toBe(254n);
    expect(usableHosts(parseCidr("10.0.0.0/31") as never)).toBe(2n);
    expect(usableHosts(parseCidr("fd00::/64") as never)).toBe(2n ** 64n - 1n);
    expect(isNetworkOrBroadcast(parseCidr("10.0.0.255/24") as never)).toBe(true);
    expect(isNetworkOrBroadcast(parseCidr("10.0.0.0/31") as never)).toBe(false);
    expect(prefixesOverlap(parseCidr("10.20.0.0/24") as never, parseCidr("10.20.0.128/25") as never)).toBe(
      true,
    );
    expect(prefixesOverlap(parseCidr("10.20.0.0/25") as never, parseCidr("10.20.0.128/25") as never)).toBe(
      false,
    );
    expect(prefixesOverlap(parseCidr("10.0.0.0/8") as never, parseCidr("fd00::/8") as never)).toBe(false);
  });

  it("answers a repeated address the same way (memoised), valid or not, past the memo's bound", () => {
    const first = parseIp("10.243.0.7");
    expect(parseIp("10.243.0.7")).toBe(first);
    expect(first?.value).toBe(0x0af30007n);
    for (const bad of ["10.243.0.07", "10.243.0.256", "10.243.0", " 10.243.0.7"]) {
      expect(parseIp(bad)).toBeUndefined();
      expect(parseIp(bad)).toBeUndefined();
    }
    // more distinct addresses than the memo holds: answers stay right while it is cleared
    for (let i = 0; i < 20_000; i++) {
      const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      expect(parseIp(a)?.value).toBe(BigInt(0x0a000000 + i));
    }
    expect(parseIp("10.243.0.7")?.value).toBe(0x0af30007n);
  });
});
