/**
 * services/telemetry drift + health: cost of one fleet-wide evaluation (what the service
 * runs per burst of state reports) for N hosts × 40 sysctl keys, 4 roles, one intent
 * baseline naming 10 keys, 1 % of hosts drifting on one key.
 * Run: pnpm exec vitest bench --run --project unit bench/telemetry-drift.bench.ts
 */
// Relative imports: the workspace root does not depend on @fleetnet/* (as bench/intent.bench.ts).

import { bench, describe, expect } from "vitest";
import { SysctlBaselineSchema } from "../libs/intent/src/index.js";
import {
  evaluateDrift,
  LearnedCounts,
  learnBaseline,
  type SysctlSnapshot,
} from "../services/telemetry/src/drift/drift.js";
import { evaluateHealth } from "../services/telemetry/src/health/health.js";

const KEYS = Array.from({ length: 40 }, (_, i) => `net.bench.key${i}`);

function fleet(n: number) {
  const hosts = Array.from({ length: n }, (_, i) => ({ name: `h${i}`, labels: { role: `r${i % 4}` } }));
  const at = "2026-11-29T00:00:00.000Z";
  const snapshots = new Map<string, SysctlSnapshot>();
  for (const [i, h] of hosts.entries()) {
    const sysctls: Record<string, { status: "ok"; value: string }> = {};
    for (const k of KEYS)
      sysctls[k] = { status: "ok", value: i % 100 === 0 && k === "net.bench.key3" ? "0" : "1" };
    snapshots.set(h.name, { host: h.name, at, sysctls });
  }
  const baselines = [
    SysctlBaselineSchema.parse({
      apiVersion: "fleetnet/v1",
      kind: "SysctlBaseline",
      metadata: { name: "base" },
      spec: {
        hosts: { matchLabels: { role: "r0" } },
        settings: Object.fromEntries(KEYS.slice(0, 10).map((k) => [k, "1"])),
      },
    }),
  ];
  const heartbeats = new Map(hosts.map((h) => [h.name, at]));
  return { hosts, snapshots, baselines, heartbeats };
}

for (const n of [100, 1000, 5000]) {
  describe(`${n} hosts × ${KEYS.length} keys`, () => {
    const f = fleet(n);
    const r = evaluateDrift(f);
    expect(r.findings.length).toBe(Math.ceil(n / 100));
    bench("evaluateDrift (fleet-wide, learned + intent)", () => {
      evaluateDrift({ ...f, memory: r.memory });
    });
    bench("learnBaseline (full recount)", () => {
      learnBaseline(f.hosts, f.snapshots);
    });
    const lc = new LearnedCounts();
    for (const h of f.hosts) lc.update(h.name, h.labels.role, f.snapshots.get(h.name)?.sysctls);
    const one = f.hosts[1] as (typeof f.hosts)[number];
    bench("service pass: LearnedCounts.update (one report) + evaluateDrift with it", () => {
      lc.update(one.name, one.labels.role, f.snapshots.get(one.name)?.sysctls);
      evaluateDrift({ ...f, memory: r.memory, learned: lc.baseline() });
    });
    bench("evaluateHealth", () => {
      evaluateHealth({
        now: Date.parse("2026-11-29T00:00:05.000Z"),
        hosts: f.hosts.map((h) => h.name),
        heartbeats: f.heartbeats,
        heartbeatIntervalMs: 10_000,
        drift: r.findings,
      });
    });
  });
}
