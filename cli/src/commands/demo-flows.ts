/**
 * The NetFlow part of `fleetnet demo`: the demo's own collector (`fleetnet-telemetry collect`
 * on the lab's management address, rollups kept in memory and written to a file at exit),
 * generated traffic between two hypervisors, and "flows top" — a per-host table of the
 * collector's host-minute rollups (flows, packets, bytes, top talker).
 *
 * Design: the collector runs without REDIS_URL on purpose: its final rollups go to
 * `ROLLUP_OUT` (one JSON object per closed host-minute) when it is stopped by PID with SIGTERM,
 * which closes every open minute — so the demo shows flows seconds after the traffic instead
 * of at the next minute boundary. softflowd hands short flows over only on `expire-all`, and
 * libpcap on this kernel only delivers full blocks (infra/lab/README: ~700 packets), hence a
 * one-second iperf3 burst.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Proof, ROOT, run, sleep } from "./demo-exec.js";

/** One closed host-minute as the collector writes it (`RollupMinute` of @fleetnet/telemetry). */
export interface RollupLine {
  host: string;
  minute: string;
  flows: number;
  bytes: number;
  packets: number;
  topTalkers: { addr: string; bytes: number }[];
}

/** A running collector. */
export interface Collector {
  pid: number;
  child: ChildProcess;
  rollupFile: string;
  /** Stop it (SIGTERM by PID), wait for its exit report; null when it was gone already. */
  stop(): Promise<Record<string, unknown> | null>;
}

/** Start `fleetnet-telemetry collect` on `bind:port`, resolve once it listens. */
export async function startCollector(bind: string, port: number, rollupFile: string): Promise<Collector> {
  const bin = join(ROOT, "services", "telemetry", "dist", "bin.js");
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), BIND: bind, ROLLUP_OUT: rollupFile };
  delete env.REDIS_URL; // rollups in memory, written to ROLLUP_OUT at exit (see the header)
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

/** Parse a ROLLUP_OUT file (missing file → no rollups; bad lines are skipped). */
export function readRollups(file: string): RollupLine[] {
  if (!existsSync(file)) return [];
  const out: RollupLine[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    try {
      out.push(JSON.parse(line) as RollupLine);
    } catch {
      // a torn last line: skipped
    }
  }
  return out;
}

/** One row of "flows top": an exporting host summed over its minutes. */
export interface TopRow {
  host: string;
  exporter: string;
  flows: number;
  packets: number;
  bytes: number;
  topTalker: { addr: string; bytes: number } | null;
}

/**
 * Sum rollups per exporter, name the exporter by its underlay address (`names`), sort by
 * bytes (largest first).
 */
export function flowsTop(rollups: readonly RollupLine[], names: ReadonlyMap<string, string>): TopRow[] {
  const by = new Map<string, TopRow & { talkers: Map<string, number> }>();
  for (const m of rollups) {
    let r = by.get(m.host);
    if (!r) {
      r = {
        host: names.get(m.host) ?? m.host,
        exporter: m.host,
        flows: 0,
        packets: 0,
        bytes: 0,
        topTalker: null,
        talkers: new Map(),
      };
      by.set(m.host, r);
    }
    r.flows += m.flows;
    r.packets += m.packets;
    r.bytes += m.bytes;
    for (const t of m.topTalkers) r.talkers.set(t.addr, (r.talkers.get(t.addr) ?? 0) + t.bytes);
  }
  return [...by.values()]
    .map(({ talkers, ...r }) => {
      const top = [...talkers.entries()].sort((a, b) => b[1] - a[1])[0];
      return { ...r, topTalker: top ? { addr: top[0], bytes: top[1] } : null };
    })
    .sort((a, b) => b.bytes - a.bytes || a.host.localeCompare(b.host));
}

/** The "flows top" table as text lines. */
export function formatFlowsTop(rows: readonly TopRow[]): string[] {
  const lines = [
    `${"host".padEnd(6)} ${"exporter".padEnd(15)} ${"flows".padStart(6)} ${"packets".padStart(9)} ${"bytes".padStart(12)}  top talker`,
  ];
  for (const r of rows) {
    const t = r.topTalker ? `${r.topTalker.addr} (${r.topTalker.bytes} B)` : "-";
    lines.push(
      `${r.host.padEnd(6)} ${r.exporter.padEnd(15)} ${String(r.flows).padStart(6)} ${String(r.packets).padStart(9)} ${String(r.bytes).padStart(12)}  ${t}`,
    );
  }
  return lines;
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
  const rows = flowsTop(readRollups(collector.rollupFile), names);
  const seen = (name: string) => rows.find((r) => r.host === name && r.bytes > 0 && r.flows > 0);
  const ok = seen(h.from.name) !== undefined && seen(h.to.name) !== undefined;
  evidence.push(
    ok
      ? `both ${h.from.name} and ${h.to.name} exported flows (rollups in ${collector.rollupFile})`
      : `missing rollups for ${[h.from.name, h.to.name].filter((n) => !seen(n)).join(", ")}`,
  );
  return {
    proof: { name: "flows from generated traffic (flows top)", ok, evidence },
    table: formatFlowsTop(rows),
  };
}
