// bench/rollout/engine-cost.bench.mjs [HOSTS]
//
// Per-host cost of the executor engine's transaction (applyHost, self-confirmed, netns
// driver) on a lab of HOSTS namespaces (default 20, prefix fnb): one VXLAN full mesh + a
// 2-key sysctl baseline, every host at once, no NATS. Prints wall, CPU (this process + its
// reaped children) per host, the summed phase timings, and process spawns per transaction
// (counted by wrapping child_process.spawn). Build first: pnpm exec tsc -b services/executor libs/testkit
import childProcess from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

const spawns = new Map();
const origSpawn = childProcess.spawn;
childProcess.spawn = (cmd, args, o) => {
  const key =
    cmd === "ip" && args[0] === "netns"
      ? `ip netns exec ${args[3]}`
      : cmd === "ip" || cmd === "bridge"
        ? `${cmd} -n`
        : cmd;
  spawns.set(key, (spawns.get(key) ?? 0) + 1);
  return origSpawn(cmd, args, o);
};
syncBuiltinESMExports();

const { cpuParts, cpuSeconds, labDesiredState } = await import("../lib/lab.mjs");
const { testLab } = await import("../../libs/testkit/dist/index.js");
const { netnsDriver } = await import("../../services/executor/dist/drivers/process.js");
const { applyHost } = await import("../../services/executor/dist/transaction.js");

const N = Number(process.argv[2] ?? 20);
const dir = mkdtempSync(join(tmpdir(), "fnb-cost-"));
const lab = await testLab({ prefix: "fnb", hosts: N });
try {
  const { names, desired, nsOf } = labDesiredState(lab, dir);
  const target = (n) => ({
    host: n,
    serviceMode: "direct",
    connect: async () => netnsDriver({ host: n, netns: nsOf.get(n), stateDir: join(dir, "state") }),
  });
  for (const pass of ["apply", "unchanged"]) {
    spawns.clear();
    const cpu0 = cpuSeconds();
    const parts0 = cpuParts();
    const t0 = performance.now();
    const tx = await Promise.all(
      names.map((n) => applyHost(target(n), desired.get(n), { confirmTimeoutS: 300 })),
    );
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds() - cpu0;
    const parts1 = cpuParts();
    const bad = tx.filter((r) => r.result !== (pass === "apply" ? "applied" : "unchanged"));
    if (bad.length) throw new Error(JSON.stringify(bad[0]));
    const phases = {};
    for (const r of tx)
      for (const [k, ms] of Object.entries(r.timings ?? {})) phases[k] = (phases[k] ?? 0) + ms / N;
    const sp = [...spawns.entries()].map(([k, c]) => [k.replace(/fnb-\S+/, "NS"), c]);
    const agg = {};
    for (const [k, c] of sp) agg[k] = (agg[k] ?? 0) + c / N;
    console.log(
      `${pass}: ${N} hosts, wall ${wall.toFixed(2)} s, cpu ${cpu.toFixed(2)} s = ${((cpu / N) * 1000).toFixed(0)} ms/host` +
        ` (executor ${(parts1.self - parts0.self).toFixed(2)} s, child processes ${(parts1.children - parts0.children).toFixed(2)} s)`,
    );
    console.log(
      "  mean phase ms/host:",
      Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v)])),
    );
    console.log(
      "  spawns/host:",
      Object.fromEntries(Object.entries(agg).map(([k, v]) => [k, +v.toFixed(1)])),
    );
  }
} finally {
  await lab.dispose();
  rmSync(dir, { recursive: true, force: true });
}
