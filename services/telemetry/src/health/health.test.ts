import { describe, expect, it } from "vitest";
import {
  bgpEstablished,
  duplicateMacs,
  evaluateHealth,
  type HealthInput,
  overlayReachable,
  vrrpSingleMaster,
} from "./health.js";

const NOW = Date.parse("2026-11-29T12:00:00.000Z");
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();

const all = { bgp: [], vrrp: [], overlay: [], macs: [], flows: [] } as const;

function input(over: Partial<HealthInput> = {}): HealthInput {
  return {
    now: NOW,
    hosts: ["a", "b"],
    heartbeats: new Map([
      ["a", ago(1)],
      ["b", ago(2)],
    ]),
    heartbeatIntervalMs: 5_000,
    ...all,
    ...over,
  };
}

describe("evaluateHealth", () => {
  it("a fleet with fresh heartbeats and nothing wrong is healthy", () => {
    const r = evaluateHealth(input({ overlay: [{ host: "a", overlay: "o", peer: "b", reachable: true }] }));
    expect(r).toEqual({
      healthy: true,
      hosts: {
        a: { healthy: true, heartbeatAgeS: 1, drift: 0, findings: 0 },
        b: { healthy: true, heartbeatAgeS: 2, drift: 0, findings: 0 },
      },
      findings: [],
    });
  });

  it.each([
    {
      name: "stale heartbeat (older than 3 intervals)",
      over: {
        heartbeats: new Map([
          ["a", ago(1)],
          ["b", ago(16)],
        ]),
      },
      code: "heartbeat-stale",
      host: "b",
    },
    {
      name: "missing heartbeat",
      over: { heartbeats: new Map([["a", ago(1)]]) },
      code: "heartbeat-missing",
      host: "b",
    },
    {
      name: "BGP session down",
      over: {
        bgp: [
          { host: "a", peer: "10.0.0.2", state: "Established" },
          { host: "b", peer: "10.0.0.1", state: "Active" },
        ],
      },
      code: "bgp-down",
      host: "b",
    },
    {
      name: "split brain: two masters for one VRID",
      over: {
        vrrp: [
          { host: "a", segment: "vip", vrid: 51, state: "MASTER" },
          { host: "b", segment: "vip", vrid: 51, state: "MASTER" },
        ],
      },
      code: "split-brain",
      host: undefined,
    },
    {
      name: "no master for a VRID",
      over: {
        vrrp: [
          { host: "a", segment: "vip", vrid: 51, state: "BACKUP" },
          { host: "b", segment: "vip", vrid: 51, state: "FAULT" },
        ],
      },
      code: "no-master",
      host: undefined,
    },
    {
      name: "duplicate MAC on managed links of two hosts",
      over: {
        macs: [
          { host: "a", link: "vx0", mac: "02:00:00:00:00:01", managed: true },
          { host: "b", link: "vx0", mac: "02:00:00:00:00:01", managed: true },
        ],
      },
      code: "duplicate-mac",
      host: undefined,
    },
    {
      name: "overlay peer unreachable",
      over: { overlay: [{ host: "a", overlay: "o", peer: "b", reachable: false }] },
      code: "overlay-unreachable",
      host: "a",
    },
    {
      name: "drift",
      over: {
        drift: [
          {
            host: "a",
            key: "net.ipv4.ip_forward",
            expected: "1",
            actual: "0",
            since: ago(30),
            source: "baseline" as const,
            action: "alert" as const,
          },
        ],
      },
      code: "drift",
      host: "a",
    },
    {
      name: "flow rate doubled",
      over: { flows: [{ host: "a", bytesPerS: 2000, baselineBytesPerS: 900 }] },
      code: "flow-rate-change",
      host: "a",
    },
  ])("$name → unhealthy with $code", ({ over, code, host }) => {
    const r = evaluateHealth(input(over as Partial<HealthInput>));
    expect(r.healthy).toBe(false);
    const f = r.findings.filter((x) => x.severity !== "info");
    expect(f.map((x) => [x.code, x.host])).toEqual([[code, host]]);
    if (host) expect(r.hosts[host]?.healthy).toBe(false);
  });

  it("unreported categories and unavailable keys are info, not failures", () => {
    const r = evaluateHealth({
      now: NOW,
      hosts: ["a"],
      heartbeats: new Map([["a", ago(0)]]),
      heartbeatIntervalMs: 5_000,
      unavailable: [
        { host: "a", key: "net.core.rmem_max", expected: "1", status: "read-only", source: "baseline" },
      ],
    });
    expect(r.healthy).toBe(true);
    expect(r.findings.map((f) => [f.severity, f.code])).toEqual([
      ["info", "sysctl-unavailable"],
      ["info", "not-reported"],
      ["info", "not-reported"],
      ["info", "not-reported"],
      ["info", "not-reported"],
      ["info", "not-reported"],
    ]);
  });
});

describe("gates", () => {
  it("bgpEstablished: every session up, every wave host seen", () => {
    const s = [
      { host: "a", peer: "p", state: "Established" },
      { host: "b", peer: "p", state: "established" },
    ];
    expect(bgpEstablished(s).pass).toBe(true);
    expect(bgpEstablished(s, ["a", "c"]).findings.map((f) => f.host)).toEqual(["c"]);
    expect(bgpEstablished([])).toEqual({ pass: false, reason: "no observations", findings: [] });
  });

  it("vrrpSingleMaster: separate VRIDs and segments are judged apart", () => {
    const r = vrrpSingleMaster([
      { host: "a", segment: "s1", vrid: 1, state: "MASTER" },
      { host: "b", segment: "s1", vrid: 1, state: "BACKUP" },
      { host: "a", segment: "s2", vrid: 1, state: "MASTER" },
      { host: "c", segment: "s1", vrid: 2, state: "MASTER" },
    ]);
    expect(r).toEqual({ pass: true, findings: [] });
    expect(vrrpSingleMaster([]).pass).toBe(false);
  });

  it("overlayReachable and duplicateMacs ignore what they must", () => {
    expect(overlayReachable([{ host: "a", overlay: "o", peer: "b", reachable: true }]).pass).toBe(true);
    expect(overlayReachable([]).pass).toBe(false);
    expect(
      duplicateMacs([
        { host: "a", link: "eth0", mac: "02:00:00:00:00:01", managed: false },
        { host: "b", link: "vx0", mac: "02:00:00:00:00:01", managed: true },
        { host: "b", link: "vx1", mac: "02:00:00:00:00:01", managed: true },
      ]),
    ).toEqual([]);
  });
});
