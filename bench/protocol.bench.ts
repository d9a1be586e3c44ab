/**
 * @fleetnet/protocol: the per-job cost of signed jobs, and NATS config generation.
 * Run: pnpm exec vitest bench --run --project unit bench/protocol.bench.ts
 *
 * Job: an apply job whose desired state is one host of a 200-host VXLAN full mesh (bridge +
 * vxlan + one address + 199 FDB entries + 8 sysctls; ~14 KB on the wire). Sign = validate +
 * strict canonical JSON + Ed25519 + encode (planner); verify = parse + canonical JSON +
 * Ed25519 + schema + host/expiry/replay checks (executor). Config: N host users + 3 services.
 */
import type { HostState } from "@fleetnet/netstate";
import {
  encodeSignedJob,
  generateJobKeyPair,
  generateNatsConfig,
  type Job,
  MemoryReplayCache,
  newJob,
  signJob,
  verifyJob,
} from "@fleetnet/protocol";
import { bench, describe, expect } from "vitest";

const HOSTS = 200;
function desired(i: number): HostState {
  const fdb = [];
  for (let j = 0; j < HOSTS; j++) {
    if (j !== i)
      fdb.push({ dev: "vx100", mac: "00:00:00:00:00:00", dst: `10.250.${j >> 8}.${(j & 255) + 1}` });
  }
  const sysctls = [
    "net.ipv4.ip_forward",
    "net.core.somaxconn",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.fib_multipath_hash_policy",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_congestion_control",
  ].map((key) => ({ key, value: "1", persist: true }));
  return {
    links: [
      { kind: "bridge", name: "br100", up: true, alias: "fleetnet:VxlanOverlay/ov" },
      {
        kind: "vxlan",
        name: "vx100",
        up: true,
        master: "br100",
        alias: "fleetnet:VxlanOverlay/ov",
        vni: 100,
        local: `10.250.0.${i + 1}`,
        port: 4789,
        dev: "veth0",
        learning: false,
      },
    ],
    ports: [],
    addresses: [{ dev: "br100", address: `172.31.${i >> 8}.${(i & 255) + 1}/16` }],
    routes: [],
    fdb,
    sysctls,
    files: [],
    services: [],
  };
}

const keys = generateJobKeyPair();
const jobs: Job[] = Array.from({ length: HOSTS }, (_, i) =>
  newJob({
    kind: "apply",
    host: "h001",
    rolloutId: "r-bench",
    planHash: "p1",
    issuer: "bench",
    payload: { desired: desired(i), confirmTimeoutMs: 60_000, wave: 0 },
  }),
);
const wire = jobs.map((j) => encodeSignedJob(signJob(j, keys.privateKey)));
expect(wire[0]?.length).toBeGreaterThan(10_000);

describe(`signed apply job (${((wire[0]?.length ?? 0) / 1024).toFixed(1)} KiB)`, () => {
  let i = 0;
  bench("sign + encode (planner)", () => {
    encodeSignedJob(signJob(jobs[i++ % HOSTS] as Job, keys.privateKey));
  });
  let cache = new MemoryReplayCache();
  let k = 0;
  bench(
    "verify (executor)",
    async () => {
      const w = wire[k++ % HOSTS] as Uint8Array;
      if (k % HOSTS === 0) cache = new MemoryReplayCache();
      await verifyJob(w, { publicKey: keys.publicKey, host: "h001", replayCache: cache });
    },
    {
      setup: () => {
        cache = new MemoryReplayCache();
      },
    },
  );
});

for (const n of [200, 1000]) {
  const hosts = Array.from({ length: n }, (_, i) => `h${String(i + 1).padStart(4, "0")}`);
  describe(`nats-config ${n} hosts`, () => {
    bench(`generate ${n}`, () => void generateNatsConfig({ hosts }), { iterations: 5, warmupIterations: 1 });
  });
}
