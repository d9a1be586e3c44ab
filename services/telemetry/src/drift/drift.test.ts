import { type SysctlBaseline, SysctlBaselineSchema } from "@fleetnet/intent";
import type { SysctlReading } from "@fleetnet/protocol";
import { describe, expect, it } from "vitest";
import { evaluateDrift, LearnedCounts, learnBaseline, type SysctlSnapshot } from "./drift.js";

const ok = (value: string): SysctlReading => ({ status: "ok", value });

function baseline(name: string, spec: Record<string, unknown>): SysctlBaseline {
  return SysctlBaselineSchema.parse({
    apiVersion: "fleetnet/v1",
    kind: "SysctlBaseline",
    metadata: { name },
    spec,
  });
}

function snaps(at: string, per: Record<string, Record<string, SysctlReading>>): Map<string, SysctlSnapshot> {
  return new Map(Object.entries(per).map(([host, sysctls]) => [host, { host, at, sysctls }]));
}

const hosts: { name: string; labels: Record<string, string> }[] = [
  { name: "a", labels: { role: "web" } },
  { name: "b", labels: { role: "web" } },
  { name: "c", labels: { role: "web" } },
  { name: "d", labels: { role: "db" } },
  { name: "e", labels: { role: "db" } },
  { name: "f", labels: {} },
];

describe("learnBaseline", () => {
  it.each<{ name: string; per: Record<string, Record<string, SysctlReading>>; want: unknown }>([
    {
      name: "majority wins",
      per: { a: { k: ok("1") }, b: { k: ok("1") }, c: { k: ok("0") } },
      want: { web: { k: "1" } },
    },
    {
      name: "tie gives no expectation",
      per: { d: { k: ok("1") }, e: { k: ok("0") } },
      want: { db: {} },
    },
    {
      name: "absent and read-only do not vote",
      per: {
        a: { k: ok("1") },
        b: { k: { status: "read-only", value: "0" } as SysctlReading },
        c: { k: { status: "absent" } as SysctlReading },
      },
      want: { web: { k: "1" } },
    },
    {
      name: "roles are separate; unlabelled hosts ignored",
      per: { a: { k: ok("1") }, d: { k: ok("2") }, f: { k: ok("3") } },
      want: { web: { k: "1" }, db: { k: "2" } },
    },
    {
      name: "whitespace is normalised before voting",
      per: {
        a: { k: ok("4096\t87380\t6291456") },
        b: { k: ok("4096 87380 6291456") },
        c: { k: ok("1 2 3") },
      },
      want: { web: { k: "4096 87380 6291456" } },
    },
  ])("$name", ({ per, want }) => {
    expect(learnBaseline(hosts, snaps("2026-11-29T00:00:00.000Z", per))).toEqual(want);
  });
});

describe("evaluateDrift", () => {
  const fwd = baseline("fwd", {
    hosts: { matchLabels: { role: "web" } },
    settings: { "net.ipv4.ip_forward": 1 },
  });
  const heal = baseline("heal", {
    hosts: { names: ["d"] },
    settings: { "net.core.somaxconn": 4096, "net.ipv4.ip_forward": "1" },
    drift: "heal",
  });

  it("reports intent drift with expected, actual, source and action", () => {
    const r = evaluateDrift({
      hosts,
      baselines: [fwd, heal],
      snapshots: snaps("2026-11-29T00:00:01.000Z", {
        a: { "net.ipv4.ip_forward": ok("1") },
        b: { "net.ipv4.ip_forward": ok("0") },
        d: { "net.core.somaxconn": ok("128"), "net.ipv4.ip_forward": ok("1") },
      }),
    });
    expect(r.findings).toEqual([
      {
        host: "b",
        key: "net.ipv4.ip_forward",
        expected: "1",
        actual: "0",
        since: "2026-11-29T00:00:01.000Z",
        source: "baseline",
        intent: "fwd",
        action: "alert",
      },
      {
        host: "d",
        key: "net.core.somaxconn",
        expected: "4096",
        actual: "128",
        since: "2026-11-29T00:00:01.000Z",
        source: "baseline",
        intent: "heal",
        action: "heal",
      },
    ]);
  });

  it("absent, read-only and unreported keys are not drift", () => {
    const r = evaluateDrift({
      hosts,
      baselines: [heal],
      snapshots: snaps("2026-11-29T00:00:01.000Z", {
        d: {
          "net.core.somaxconn": { status: "read-only", value: "128" },
          "net.ipv4.ip_forward": { status: "absent" },
        },
      }),
    });
    expect(r.findings).toEqual([]);
    expect(r.unavailable.map((u) => [u.host, u.key, u.status])).toEqual([
      ["d", "net.core.somaxconn", "read-only"],
      ["d", "net.ipv4.ip_forward", "absent"],
    ]);
    const r2 = evaluateDrift({
      hosts,
      baselines: [heal],
      snapshots: snaps("2026-11-29T00:00:01.000Z", { d: {} }),
    });
    expect(r2.unavailable.map((u) => u.status)).toEqual(["unreported", "unreported"]);
  });

  it("the learned majority per role flags the odd host out; a tie flags nobody", () => {
    const r = evaluateDrift({
      hosts,
      baselines: [],
      snapshots: snaps("2026-11-29T00:00:01.000Z", {
        a: { "net.core.somaxconn": ok("4096") },
        b: { "net.core.somaxconn": ok("4096") },
        c: { "net.core.somaxconn": ok("128") },
        d: { "net.core.somaxconn": ok("1") },
        e: { "net.core.somaxconn": ok("2") },
      }),
    });
    expect(r.findings).toEqual([
      {
        host: "c",
        key: "net.core.somaxconn",
        expected: "4096",
        actual: "128",
        since: "2026-11-29T00:00:01.000Z",
        source: "learned",
        action: "alert",
      },
    ]);
  });

  it("an intent overrides the learned value for its hosts", () => {
    // The whole web role drifted away from the intent: the learned majority would call it
    // normal, the intent does not.
    const r = evaluateDrift({
      hosts,
      baselines: [fwd],
      snapshots: snaps("2026-11-29T00:00:01.000Z", {
        a: { "net.ipv4.ip_forward": ok("0") },
        b: { "net.ipv4.ip_forward": ok("0") },
        c: { "net.ipv4.ip_forward": ok("1") },
      }),
    });
    expect(r.findings.map((f) => [f.host, f.source, f.expected])).toEqual([
      ["a", "baseline", "1"],
      ["b", "baseline", "1"],
    ]);
  });

  it("keeps since across reports and forgets it once the key is back", () => {
    const base = { hosts, baselines: [fwd] };
    const r1 = evaluateDrift({
      ...base,
      snapshots: snaps("2026-11-29T00:00:01.000Z", { a: { "net.ipv4.ip_forward": ok("0") } }),
    });
    const r2 = evaluateDrift({
      ...base,
      memory: r1.memory,
      snapshots: snaps("2026-11-29T00:00:11.000Z", { a: { "net.ipv4.ip_forward": ok("0") } }),
    });
    expect(r2.findings[0]?.since).toBe("2026-11-29T00:00:01.000Z");
    const r3 = evaluateDrift({
      ...base,
      memory: r2.memory,
      snapshots: snaps("2026-11-29T00:00:21.000Z", { a: { "net.ipv4.ip_forward": ok("1") } }),
    });
    expect(r3.findings).toEqual([]);
    const r4 = evaluateDrift({
      ...base,
      memory: r3.memory,
      snapshots: snaps("2026-11-29T00:00:31.000Z", { a: { "net.ipv4.ip_forward": ok("0") } }),
    });
    expect(r4.findings[0]?.since).toBe("2026-11-29T00:00:31.000Z");
  });
});

describe("LearnedCounts", () => {
  it("matches a full recount after every one of 2000 random reports (incl. role changes and forgotten hosts)", () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const names = ["a", "b", "c", "d", "e", "f", "g"];
    const labels = new Map<string, Record<string, string>>();
    const snapshots = new Map<string, SysctlSnapshot>();
    const lc = new LearnedCounts();
    for (let i = 0; i < 2000; i++) {
      const host = names[rnd(names.length)] as string;
      if (rnd(10) === 0) {
        snapshots.delete(host);
        lc.update(host, undefined, undefined);
      } else {
        const role = rnd(5) === 0 ? undefined : `r${rnd(2)}`;
        labels.set(host, role === undefined ? {} : { role });
        const sysctls: Record<string, SysctlReading> = {};
        for (const k of ["k1", "k2", "k3"]) {
          const x = rnd(4);
          if (x === 3) sysctls[k] = { status: "absent" };
          else if (x > 0) sysctls[k] = ok(String(rnd(3)));
        }
        snapshots.set(host, { host, at: "t", sysctls });
        lc.update(host, role, sysctls);
      }
      const hostsNow = [...snapshots.keys()].map((n) => ({ name: n, labels: labels.get(n) ?? {} }));
      expect(lc.baseline()).toEqual(learnBaseline(hostsNow, snapshots));
    }
  });
});
