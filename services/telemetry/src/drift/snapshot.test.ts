import { emptyHostState } from "@fleetnet/netstate";
import type { StateReport } from "@fleetnet/protocol";
import { describe, expect, it } from "vitest";
import { captureBaseline, diffBaselines, parseBaseline } from "./snapshot.js";

const empty = emptyHostState();

function report(host: string, over: Partial<StateReport> = {}): StateReport {
  return { v: 1, host, at: "2026-11-29T00:00:00.000Z", state: { ...empty }, sysctls: {}, ...over };
}

describe("baseline capture and diff", () => {
  const q1 = captureBaseline(
    [
      report("b", { sysctls: { "net.ipv4.ip_forward": { status: "ok", value: "1" } } }),
      report("a", {
        sysctls: {
          "net.core.rmem_max": { status: "read-only", value: "212992" },
          "x.y": { status: "absent" },
        },
        state: {
          ...empty,
          links: [{ kind: "bridge", name: "br0", up: true, mtu: 1500 }],
          addresses: [{ dev: "br0", address: "10.0.0.1/24" }],
        },
      }),
    ],
    new Date("2026-01-01T00:00:00.000Z"),
  );

  it("captures flat items per host, sorted by host", () => {
    expect(Object.keys(q1.hosts)).toEqual(["a", "b"]);
    expect(q1.hosts.a?.items).toEqual({
      "sysctl net.core.rmem_max": "212992 (read-only)",
      "sysctl x.y": "(absent)",
      "link br0": "bridge mtu=1500 up master=-",
      "address br0 10.0.0.1/24": "present",
    });
    expect(parseBaseline(JSON.parse(JSON.stringify(q1)))).toEqual(q1);
  });

  it("diffs changed, added, removed items and hosts", () => {
    const q2 = captureBaseline([
      report("a", {
        sysctls: { "net.core.rmem_max": { status: "read-only", value: "212992" } },
        state: { ...empty, links: [{ kind: "bridge", name: "br0", up: false, mtu: 9000 }] },
      }),
      report("c"),
    ]);
    expect(diffBaselines(q1, q2)).toEqual([
      { host: "a", change: "removed", item: "address br0 10.0.0.1/24", before: "present" },
      {
        host: "a",
        change: "changed",
        item: "link br0",
        before: "bridge mtu=1500 up master=-",
        after: "bridge mtu=9000 down master=-",
      },
      { host: "a", change: "removed", item: "sysctl x.y", before: "(absent)" },
      { host: "b", change: "host-removed", item: "" },
      { host: "c", change: "host-added", item: "" },
    ]);
    expect(diffBaselines(q1, q1)).toEqual([]);
  });

  it.each([
    [null, "(root)"],
    [{ v: 2, capturedAt: "x", hosts: {} }, "v"],
    [{ v: 1, capturedAt: "x", hosts: { a: { at: "t", items: { k: 1 } } } }, "hosts.a.items.k"],
  ])("refuses a malformed snapshot naming the field (%j)", (doc, field) => {
    expect(() => parseBaseline(doc, "q1.json")).toThrow(`q1.json: field ${field}`);
  });
});
