/**
 * Probes: checks that passed BEFORE a change must still pass after it, or the change is
 * reverted. A probe that already failed before proves nothing about the change and is
 * skipped. Kinds: the session itself (the driver can still run a command: catches a
 * change that cut the executor off), underlay peers (ping: remote VTEPs of the desired
 * state and any extra addresses), BGP sessions (peers Established before stay or come
 * back Established), VRRP VIP ownership (a VIP of the desired keepalived config, or one the
 * caller names, held before is held after; not probed when keepalived is being stopped).
 *
 * Cost: probes run concurrently, and the pings of one round go to the host as ONE process
 * (a constant `sh` script that pings its arguments in parallel and prints those that
 * answered) instead of one process per peer. The remote VTEPs are SAMPLED
 * ({@link UNDERLAY_SAMPLE} per host, spread over the peer list from an offset derived from the
 * host's name, so a 500-host mesh does not ping the same few peers from every host): a change
 * that breaks the underlay (address, route, MTU, link) cuts a host off from its peers as a
 * whole, which a few peers show as well as all of them, and each `ping` is a process start
 * on the host (pinging every peer of a full mesh was most of a transaction's cost). Addresses
 * the caller names (`ping`) are always probed.
 */
import type { HostState } from "@fleetnet/netstate";
import type { HostDriver } from "./driver.js";
import { ip } from "./render.js";
import type { ServiceManager } from "./services.js";

/** One probe. */
export interface Probe {
  /** Human name, e.g. `ping 10.250.0.2`. */
  name: string;
  /** Resolves true when the probe passes. */
  run(): Promise<boolean>;
  /** Ping probes: the address pinged (a caller may ping it itself: {@link PingPrefetch}). */
  pingAddr?: string;
}

/**
 * Ping answers a caller got itself (e.g. in the apply-and-verify host process): the next
 * round of a ping probe whose address is here takes its answer from here (once) instead of
 * pinging. Filled by the caller between rounds.
 */
export type PingPrefetch = PingLog;

/** How many of the desired state's remote VTEPs a transaction pings (and a state report probes). */
const UNDERLAY_SAMPLE = 4;

/** The latest ping result per address (each round overwrites). */
export type PingLog = Map<string, { reachable: boolean; rttMs?: number }>;

/** The results of a ping round for `addrs`, from its answers (address → RTT in ms when printed). */
export function pingResults(
  addrs: Iterable<string>,
  answered: ReadonlyMap<string, number | undefined>,
): PingLog {
  const out: PingLog = new Map();
  for (const addr of addrs) {
    const rtt = answered.get(addr);
    out.set(addr, { reachable: answered.has(addr), ...(rtt !== undefined ? { rttMs: rtt } : {}) });
  }
  return out;
}

/**
 * The remote VTEPs of `desired` (its FDB destinations) that a transaction on `host` pings:
 * a spread sample of {@link UNDERLAY_SAMPLE} (see the module header). State reports probe the
 * same ones, so a report right after a transaction can use the transaction's last round.
 */
export function underlayPeers(desired: HostState, host: string): string[] {
  return samplePeers([...new Set(desired.fdb.map((f) => f.dst))].sort(), UNDERLAY_SAMPLE, host);
}

/**
 * Up to `k` of `peers` (sorted, distinct), spread evenly from an offset that depends on `seed`
 * (the host's name): deterministic per host, different across hosts.
 */
export function samplePeers(peers: readonly string[], k: number, seed: string): string[] {
  if (peers.length <= k) return [...peers];
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619) >>> 0;
  const step = peers.length / k;
  const start = h % peers.length;
  const out: string[] = [];
  for (let i = 0; i < k; i++) out.push(peers[(start + Math.floor(i * step)) % peers.length] as string);
  return out;
}

/** Extra probes asked for by the caller. */
export interface ProbeOptions {
  /** Addresses to ping (besides the desired state's remote VTEPs). */
  ping?: string[];
  /** VIPs (addresses with prefix) whose ownership must not change. */
  vips?: string[];
}

async function bgpEstablished(d: HostDriver, services: ServiceManager): Promise<Set<string>> {
  const r = await d.run(["vtysh", ...services.vtyshArgs(), "-c", "show bgp summary json"], {
    timeoutMs: 10_000,
  });
  const up = new Set<string>();
  if (r.code !== 0) return up;
  try {
    const j = JSON.parse(r.stdout) as Record<string, { peers?: Record<string, { state?: string }> }>;
    for (const [afi, v] of Object.entries(j)) {
      for (const [peer, p] of Object.entries(v.peers ?? {}))
        if (p.state === "Established") up.add(`${afi} ${peer}`);
    }
  } catch {
    /* no bgpd: nothing established */
  }
  return up;
}

/** The VIPs (`addr/len` or `addr`) of a keepalived config's `virtual_ipaddress` blocks. */
export function keepalivedVips(conf: string): string[] {
  const out: string[] = [];
  let inBlock = false;
  for (const raw of conf.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (/^virtual_ipaddress\s*\{/.test(line)) inBlock = true;
    else if (inBlock && line.startsWith("}")) inBlock = false;
    else if (inBlock && line !== "") {
      const first = line.split(/\s+/)[0] ?? "";
      if (/^[0-9a-fA-F:.]+(\/\d+)?$/.test(first)) out.push(first);
    }
  }
  return out;
}

/**
 * Pings its arguments, 1 s timeout each. With `fping` on the host: ONE process for all of
 * them (1 ms between targets: its default 10 ms made a 4-peer round ~35 ms of a transaction),
 * printing `ADDR is alive (0.045 ms)` / `ADDR is unreachable`; without it, one `ping` each in
 * parallel, printing `ADDR RTT-SUMMARY` (`10.0.0.2 0.045/0.045/0.045/0.000 ms`) for
 * each that answered. CONSTANT text: the addresses are positional arguments, never shell text.
 */
const PING_SCRIPT =
  'if command -v fping >/dev/null 2>&1; then fping -e -i 1 -t 1000 -r 0 -- "$@" 2>/dev/null; exit 0; fi; ' +
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion in a constant script
  'for a; do { r=$(ping -n -q -c 1 -W 1 "$a" 2>/dev/null) && echo "$a ${r##*= }"; } & done; wait';

/**
 * The answers in {@link PING_SCRIPT}'s output (either form) among the addresses `asked`:
 * address → RTT in ms (`undefined` when no RTT was printed). Unreachable ones are absent.
 */
export function parsePings(stdout: string, asked: readonly string[]): Map<string, number | undefined> {
  const want = new Set(asked);
  const out = new Map<string, number | undefined>();
  for (const line of stdout.split("\n")) {
    const fp = /^(\S+) is (alive|unreachable)(?: \(([\d.]+) ms\))?/.exec(line);
    if (fp?.[1]) {
      if (fp[2] === "alive" && want.has(fp[1]))
        out.set(fp[1], fp[3] !== undefined ? Number(fp[3]) : undefined);
      continue;
    }
    const [addr, summary] = line.split(" ", 2);
    if (!addr || !want.has(addr)) continue;
    const avg = Number(summary?.split("/")[1]);
    out.set(addr, Number.isFinite(avg) ? avg : undefined);
  }
  return out;
}

/**
 * Ping `addrs` from the host with ONE process on it (plus the pings it starts): the
 * addresses that answered, each with its round-trip time in ms when ping printed one. A
 * lost session answers nothing.
 */
export async function pingMany(
  d: HostDriver,
  addrs: readonly string[],
): Promise<Map<string, number | undefined>> {
  if (addrs.length === 0) return new Map();
  try {
    const r = await d.run(["sh", "-c", PING_SCRIPT, "sh", ...addrs], { timeoutMs: 5000 });
    return parsePings(r.stdout, addrs);
  } catch {
    return new Map(); // session gone: nothing answered
  }
}

/**
 * A pinger that gathers the addresses asked for in the same turn of the event loop and
 * pings them with one process on the host.
 */
function batchPinger(
  d: HostDriver,
  log?: PingLog,
  prefetch?: PingPrefetch,
): (addr: string) => Promise<boolean> {
  let pending: Map<string, ((ok: boolean) => void)[]> | undefined;
  const flush = async (batch: Map<string, ((ok: boolean) => void)[]>) => {
    const results = pingResults(batch.keys(), await pingMany(d, [...batch.keys()]));
    for (const [addr, waiters] of batch) {
      const r = results.get(addr) as { reachable: boolean };
      log?.set(addr, r);
      for (const w of waiters) w(r.reachable);
    }
  };
  return (addr) =>
    new Promise<boolean>((resolve) => {
      const got = prefetch?.get(addr);
      if (got) {
        prefetch?.delete(addr);
        log?.set(addr, got);
        resolve(got.reachable);
        return;
      }
      if (!pending) {
        const batch = new Map<string, ((ok: boolean) => void)[]>();
        pending = batch;
        setImmediate(() => {
          pending = undefined;
          void flush(batch);
        });
      }
      const waiters = pending.get(addr) ?? [];
      waiters.push(resolve);
      pending.set(addr, waiters);
    });
}

/** The probes for a change toward `desired`. */
export function probesFor(
  d: HostDriver,
  services: ServiceManager,
  desired: HostState,
  opts: ProbeOptions = {},
  /** Filled with each ping round's results (the latest per address). */
  log?: PingLog,
  prefetch?: PingPrefetch,
): Probe[] {
  const probes: Probe[] = [
    {
      name: `session to ${d.host}`,
      run: async () => (await d.run(["true"], { timeoutMs: 5000 })).code === 0,
    },
  ];
  const peers = [...new Set([...underlayPeers(desired, d.host), ...(opts.ping ?? [])])].slice(0, 16);
  const ping = batchPinger(d, log, prefetch);
  for (const p of peers) {
    const addr = ip(p);
    probes.push({ name: `ping ${addr}`, run: () => ping(addr), pingAddr: addr });
  }
  if (desired.services.some((s) => s.name === "frr")) {
    let before: Set<string> | undefined;
    probes.push({
      name: "BGP sessions established before stay established",
      run: async () => {
        const now = await bgpEstablished(d, services);
        if (before === undefined) {
          before = now;
          return now.size > 0;
        }
        return [...before].every((p) => now.has(p));
      },
    });
  }
  const keepalived = desired.services.find((s) => s.name === "keepalived" && s.running);
  const vips = new Set(opts.vips ?? []);
  if (keepalived) {
    for (const f of desired.files)
      if (keepalived.configPaths.includes(f.path)) for (const v of keepalivedVips(f.content)) vips.add(v);
  }
  for (const vip of vips) {
    const addr = ip(vip.split("/")[0]);
    probes.push({
      name: `VIP ${addr} held before stays on ${d.host}`,
      run: async () => {
        const r = await d.run(["ip", "-j", "addr", "show"]);
        return r.code === 0 && r.stdout.includes(`"local":"${addr}"`);
      },
    });
  }
  return probes;
}

/** Run probes (concurrently); returns those that passed. */
export async function runProbes(probes: readonly Probe[]): Promise<Set<Probe>> {
  const results = await Promise.all(probes.map((p) => p.run().catch(() => false)));
  return new Set(probes.filter((_, i) => results[i]));
}

/**
 * Re-run the probes that passed before, retrying those still failing every 500 ms for up
 * to `windowMs` (daemons reloading need a few seconds). Returns the first (in probe order)
 * that keeps failing.
 */
export async function recheckProbes(
  passed: ReadonlySet<Probe>,
  windowMs: number,
): Promise<Probe | undefined> {
  const end = Date.now() + windowMs;
  let left = [...passed];
  for (;;) {
    const ok = await runProbes(left);
    left = left.filter((p) => !ok.has(p));
    if (left.length === 0) return undefined;
    if (Date.now() >= end) return left[0];
    await new Promise((r) => setTimeout(r, 500));
  }
}
