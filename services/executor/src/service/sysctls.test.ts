import { emptyHostState } from "@fleetnet/netstate";
import { describe, expect, it } from "vitest";
import { readingsFrom } from "./sysctls.js";

describe("readingsFrom", () => {
  it("answers the keys an observation covers and leaves the rest to be read", () => {
    const o = {
      state: {
        ...emptyHostState(),
        sysctls: [
          { key: "net.ipv4.ip_forward", value: "1", persist: false },
          { key: "net.core.rmem_max", value: "212992", persist: false },
        ],
      },
      missingSysctls: ["net.core.netdev_max_backlog"],
      readOnlySysctls: ["net.core.rmem_max"],
    };
    const keys = [
      "net.ipv4.ip_forward",
      "net.core.rmem_max",
      "net.core.netdev_max_backlog",
      "net.ipv4.tcp_syncookies",
      "net.ipv4.ip_forward",
    ];
    expect(readingsFrom(o, keys)).toEqual({
      readings: {
        "net.ipv4.ip_forward": { status: "ok", value: "1" },
        "net.core.rmem_max": { status: "read-only", value: "212992" },
        "net.core.netdev_max_backlog": { status: "absent" },
      },
      rest: ["net.ipv4.tcp_syncookies"],
    });
  });
});
