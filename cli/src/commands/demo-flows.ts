/**
 * The NetFlow part of `fleetnet demo`: the demo's own collector (`fleetnet-telemetry collect`
 * on the lab's management address, rollups kept in memory and written to a file at exit),
 * generated traffic between two hypervisors, and "flows top" — a per-host table of the
 * collector's host-minute rollups (flows, packets, bytes, top talker).
 *
 * Design: the collector writes its host-minute rollups to Redis (the stack's REDIS_URL; short
 * retention) and, as a record of the run, to `ROLLUP_OUT`; stopping it by PID with SIGTERM
 * closes every open minute — so the demo shows flows seconds after the traffic instead of at
 * the next minute boundary — and then `fleetnet flows top` (the telemetry service reading
 * those rollups) is what the proof and the table come from. softflowd hands short flows over only on `expire-all`, and
 * libpcap on this kernel only delivers full blocks (infra/lab/README: ~700 packets), hence a
 * one-second iperf3 burst.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fleetnet, type Proof, ROOT, run, sleep } from "./demo-exec.js";

/** A running collector. */
export interface Collector {
  pid: number;
  child: ChildProcess;
  rollupFile: string;
  /** Stop it (SIGTERM by PID), wait for its exit report; null when it was gone already. */
  stop(): Promise<Record<string, unknown> | null>;
}

/** Start `fleetnet-telemetry collect` on `bind:port`, resolve once it listens. */
export async function startCollector(
  bind: string,
  port: number,
  rollupFile: string,
  demoEnv: NodeJS.ProcessEnv,
): Promise<Collector> {
  const bin = join(ROOT, "services", "telemetry", "dist", "bin.js");
  const env: NodeJS.ProcessEnv = { ...demoEnv, PORT: String(port), BIND: bind, ROLLUP_OUT: rollupFile };
  // Rollups to the stack's Redis (the runtime default when unset), read back by `flows top`.
  env.REDIS_URL ||= "redis://127.0.0.1:6379";
  env.FLOWS_RETENTION_S = "600";
  delete env.NATS_URL;
  const child = spawn(process.execPath, [bin, "collect"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (b: Buffer) => {
    stdout += b;
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`collector did not start in 10 s: ${stderr.trim()}`)), 10_000);
    child.stderr?.on("data", (b: Buffer) => {
      stderr += b;
      if (stderr.includes("collecting on")) {
        clearTimeout(t);
        res();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(t);
      rej(new Error(`collector exited (${code}): ${stderr.trim()}`));
    });
  });
  const pid = child.pid as number;
  let stopped = false;
  return {
    pid,
    child,
    rollupFile,
    async stop() {
      if (stopped || child.exitCode !== null) return null;
      stopped = true;
      process.kill(pid, "SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
      try {
        return JSON.parse(stdout.trim().split("\n").pop() ?? "") as Record<string, unknown>;
      } catch {
        return {};
      }
    },
  };
}

/** What the traffic step needs to know about the lab. */
export interface FlowHosts {
  /** Sender and receiver: host name, namespace, underlay address. */
  from: { name: string; ns: string; address: string };
  to: { name: string; ns: string; address: string };
  /** softflowd control sockets of every host with flows. */
  controls: string[];
}

/**
 * Generate traffic (a ping, then a one-second iperf3 TCP burst) from `from` to `to`, expire
 * softflowd's flows everywhere, stop the collector and judge its rollups: both hosts must
 * have exported flows with bytes.
 */
export async function proveFlows(
  h: FlowHosts,
  collector: Collector,
  names: ReadonlyMap<string, string>,
  env: NodeJS.ProcessEnv,
): Promise<{ proof: Proof; table: string[] }> {
  const evidence: string[] = [];
  const ping = await run([
    "ip",
    "netns",
    "exec",
    h.from.ns,
    "ping",
    "-c",
    "3",
    "-i",
    "0.2",
    "-W",
    "1",
    h.to.address,
  ]);
  evidence.push(`ping ${h.from.name} → ${h.to.name} (${h.to.address}): exit ${ping.code}`);
  const server = spawn("ip", ["netns", "exec", h.to.ns, "iperf3", "-s", "-1", "-B", h.to.address], {
    stdio: "ignore",
  });
  const serverDone = new Promise<void>((r) => server.once("exit", () => r()));
  try {
    await sleep(500);
    const ip = await run(["ip", "netns", "exec", h.from.ns, "iperf3", "-c", h.to.address, "-t", "1", "-J"], {
      timeoutMs: 20_000,
    });
    let mbps = "?";
    try {
      const j = JSON.parse(ip.stdout) as { end?: { sum_received?: { bits_per_second?: number } } };
      mbps = ((j.end?.sum_received?.bits_per_second ?? 0) / 1e6).toFixed(0);
    } catch {
      // not JSON: iperf3 failed, the exit code says so
    }
    evidence.push(`iperf3 ${h.from.name} → ${h.to.name}: exit ${ip.code}, ${mbps} Mbit/s for 1 s`);
  } finally {
    if (server.exitCode === null && server.pid) process.kill(server.pid, "SIGTERM");
    await Promise.race([serverDone, sleep(3000)]);
  }
  let expired = 0;
  for (const c of h.controls) if ((await run(["softflowctl", "-c", c, "expire-all"])).code === 0) expired++;
  evidence.push(`softflowctl expire-all: ${expired}/${h.controls.length} exporters`);
  await sleep(1500); // the exports' UDP datagrams reach the collector
  const report = await collector.stop();
  evidence.push(
    `collector (pid ${collector.pid}) stopped: ${report?.records ?? "?"} records in ${report?.packets ?? "?"} packets, ${report?.drops ?? "?"} dropped`,
  );
  const top = await fleetnet(["flows", "top", "--minutes", "10", "--json"], env, { timeoutMs: 20_000 });
  let hosts: { host: string; name?: string; bytes: number; flows: number }[] = [];
  try {
    hosts = (JSON.parse(top.stdout) as { hosts?: typeof hosts }).hosts ?? [];
  } catch {
    evidence.push(`fleetnet flows top: exit ${top.code}: ${top.stderr.trim() || top.stdout.trim()}`);
  }
  const seen = (name: string) =>
    hosts.find((r) => (r.name ?? names.get(r.host) ?? r.host) === name && r.bytes > 0 && r.flows > 0);
  const ok = seen(h.from.name) !== undefined && seen(h.to.name) !== undefined;
  evidence.push(
    ok
      ? `fleetnet flows top: both ${h.from.name} and ${h.to.name} exported flows`
      : `fleetnet flows top: missing ${[h.from.name, h.to.name].filter((n) => !seen(n)).join(", ")}`,
  );
  const table = (await fleetnet(["flows", "top", "--minutes", "10"], env, { timeoutMs: 20_000 })).stdout
    .trimEnd()
    .split("\n");
  return {
    proof: { name: "flows from generated traffic (flows top)", ok, evidence },
    table,
  };
}
