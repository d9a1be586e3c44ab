// bench/health-observations/observations.bench.mjs [HOSTS] [ROUNDS]
//
// What the executor's state-report observations (services/executor/src/service/observations.ts:
// BGP via vtysh when FRR runs, VRRP from the keepalived config + VIPs held, managed links' MACs,
// ping of ≤ 3 overlay peers) add to a state report, per host, on a lab of HOSTS namespaces
// (default 4, prefix fnh) with one VXLAN full mesh applied by the engine. Per round and host:
// `observe` (what every report already did) vs `collectObservations` with live peers only, and
// with one dead peer among the probed (the 1 s ping timeout is the bound). Medians in ms.
// Build first: pnpm exec tsc -b services/executor libs/testkit
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

const { testLab } = await import("../../libs/testkit/dist/index.js");
const { netnsDriver, applyHost, observe, serviceManager } = await import(
  "../../services/executor/dist/index.js"
);
const { collectObservations } = await import("../../services/executor/dist/service/observations.js");
const { labDesiredState } = await import("../lib/lab.mjs");

const N = Number(process.argv[2] ?? 4);
const ROUNDS = Number(process.argv[3] ?? 10);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const dir = mkdtempSync(join(tmpdir(), "fnh-obs-"));
const lab = await testLab({ prefix: "fnh", hosts: N });
try {
  const { names, desired, nsOf } = labDesiredState(lab, dir, { sysctl: false });
  const driver = (n) => netnsDriver({ host: n, netns: nsOf.get(n), stateDir: join(dir, "state") });
  await Promise.all(
    names.map(async (n) => {
      const r = await applyHost(
        { host: n, serviceMode: "direct", connect: async () => driver(n) },
        desired.get(n),
        { confirm: "auto" },
      ).catch((e) => ({ result: "failed", error: e }));
      if (r.result !== "applied") throw new Error(`${n}: ${r.result} ${JSON.stringify(r.error)}`);
    }),
  );
  const t = { observe: [], live: [], dead: [] };
  let sample;
  let deadSample;
  const deadAddr = lab.hosts[0].address.split(".").slice(0, 3).concat("250").join(".");
  for (let round = 0; round < ROUNDS; round++) {
    for (const n of names) {
      const d = driver(n);
      const sm = serviceManager(d, "direct");
      let t0 = performance.now();
      const o = await observe(d, sm, { desired: desired.get(n) });
      t.observe.push(performance.now() - t0);
      t0 = performance.now();
      sample = await collectObservations({ d, services: sm, state: o.state, desired: desired.get(n) });
      t.live.push(performance.now() - t0);
      const withDead = {
        ...desired.get(n),
        fdb: [{ dev: desired.get(n).fdb[0].dev, mac: "00:00:00:00:00:00", dst: deadAddr }],
      };
      t0 = performance.now();
      deadSample = await collectObservations({ d, services: sm, state: o.state, desired: withDead });
      t.dead.push(performance.now() - t0);
      await d.close();
    }
  }
  console.log(
    JSON.stringify({
      hosts: N,
      rounds: ROUNDS,
      observeMs: Math.round(median(t.observe)),
      observationsLiveMs: Math.round(median(t.live)),
      observationsOneDeadPeerMs: Math.round(median(t.dead)),
      probes: sample.probes?.length,
      reachable: sample.probes?.filter((p) => p.reachable).length,
      macs: sample.macs?.length,
      deadProbe: deadSample.probes?.[0],
    }),
  );
} finally {
  await lab.dispose();
  rmSync(dir, { recursive: true, force: true });
}
