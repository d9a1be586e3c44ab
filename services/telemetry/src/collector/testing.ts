/** Helpers shared by the collector's tests (not part of the package API). */
import { execFileSync, spawn } from "node:child_process";
import { createSocket } from "node:dgram";

/** Whether `cmd` is on the PATH (tests that need a real daemon skip without it). */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync("which", [cmd], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** A UDP port that was free a moment ago on `host` (the kernel picks it). */
export async function freeUdpPort(host = "127.0.0.1"): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Send datagrams to 127.0.0.1:`port`; with `burst`, a 2 ms pause after every `burst` (all workers wake). */
export async function sendUdp(port: number, pkts: readonly Uint8Array[], burst = 0): Promise<void> {
  const s = createSocket("udp4");
  for (const [i, p] of pkts.entries()) {
    await new Promise<void>((res, rej) => s.send(p, port, "127.0.0.1", (e) => (e ? rej(e) : res())));
    if (burst > 0 && i % burst === burst - 1) await new Promise((r) => setTimeout(r, 2));
  }
  s.close();
}

/** What {@link runCollectBin} saw: the SIGTERM line, stderr and the exit status. */
export interface CollectRun {
  report: Record<string, unknown>;
  stderr: string;
  code: number | null;
}

/**
 * Run `fleetnet-telemetry collect` (the built `bin`) on 127.0.0.1 with `env` (PORT required),
 * send `pkts` once it listens, wait 500 ms, call `during`, then SIGTERM it and parse its last
 * stdout line. The process is killed by PID if anything fails.
 */
export async function runCollectBin(
  bin: string,
  env: Record<string, string>,
  pkts: readonly Uint8Array[],
  opts: { burst?: number; during?: () => Promise<void> } = {},
): Promise<CollectRun> {
  const child = spawn(process.execPath, [bin, "collect"], {
    env: { ...process.env, BIND: "127.0.0.1", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  try {
    const end = Date.now() + 20_000;
    while (!err.includes("collecting on") && child.exitCode === null) {
      if (Date.now() > end) throw new Error(`collector did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await sendUdp(Number(env.PORT), pkts, opts.burst);
    await new Promise((r) => setTimeout(r, 500));
    await opts.during?.();
    const exited = new Promise<number | null>((r) => child.on("exit", r));
    child.kill("SIGTERM");
    const code = await exited;
    const last = out.trim().split("\n").pop() ?? "";
    return { report: JSON.parse(last === "" ? "{}" : last) as Record<string, unknown>, stderr: err, code };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}
