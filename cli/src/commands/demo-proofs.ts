/**
 * The proofs of `fleetnet demo`: each one looks at the lab's kernels (or asks the stack) and
 * returns a {@link Proof} with the evidence it saw. None of them changes fleetnet's state
 * except the two that are meant to: the sysctl changed by hand (drift → heal) and the
 * primary's keepalived stopped by PID (VIP failover).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NETNS_RUN_ROOT } from "@fleetnet/lab";
import { fleetnet, ipJson, type Proof, poll, run, sleep } from "./demo-exec.js";

/** A lab host as the proofs see it. */
export interface DemoHost {
  name: string;
  ns: string;
  address: string;
  rack: string | undefined;
  role: string | undefined;
}

interface AddrInfo {
  ifname?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

async function ipv4On(ns: string, dev: string): Promise<string[]> {
  const links = (await ipJson(ns, ["addr", "show", "dev", dev])) as AddrInfo[];
  return (links[0]?.addr_info ?? []).filter((a) => a.family === "inet").map((a) => a.local);
}

/** Overlay ping from the first hypervisor to one in another rack, over `br<vni>`. */
export async function proveOverlay(hyps: readonly DemoHost[], vni: number): Promise<Proof> {
  const from = hyps[0] as DemoHost;
  const to = [...hyps].reverse().find((h) => h.rack !== from.rack) ?? (hyps[hyps.length - 1] as DemoHost);
  const evidence: string[] = [];
  const [src] = await ipv4On(from.ns, `br${vni}`);
  const [dst] = await ipv4On(to.ns, `br${vni}`);
  if (!src || !dst) {
    evidence.push(
      `no overlay address on br${vni}: ${from.name}=${src ?? "none"}, ${to.name}=${dst ?? "none"}`,
    );
    return { name: "overlay ping across racks", ok: false, evidence };
  }
  // the first packet may wait for ARP across the VXLAN: three tries, one reply is enough
  let r = await run(["ip", "netns", "exec", from.ns, "ping", "-c", "1", "-W", "1", dst]);
  for (let i = 0; i < 2 && r.code !== 0; i++)
    r = await run(["ip", "netns", "exec", from.ns, "ping", "-c", "1", "-W", "1", dst]);
  const rtt = /time=([\d.]+ ms)/.exec(r.stdout)?.[1];
  evidence.push(
    `ip netns exec ${from.ns} ping -c1 -W1 ${dst}: ${r.code === 0 ? `reply, ${rtt}` : "no reply"}`,
    `${from.name} (${from.rack}) ${src} → ${to.name} (${to.rack}) ${dst} over vx${vni}`,
  );
  return { name: "overlay ping across racks", ok: r.code === 0, evidence };
}

interface RouteJson {
  dst: string;
  protocol?: string;
  gateway?: string;
  nexthops?: { gateway?: string; dev?: string }[];
}

/** Every hypervisor's kernel has `prefix` from BGP with 2 nexthops (waits up to `waitMs`). */
export async function proveBgp(hyps: readonly DemoHost[], prefix: string, waitMs: number): Promise<Proof> {
  const look = async () => {
    const rows: { host: DemoHost; via: string[] }[] = [];
    for (const h of hyps) {
      const routes = (await ipJson(h.ns, ["route", "show", "proto", "bgp"])) as RouteJson[];
      const r = routes.find((x) => x.dst === prefix);
      const via = r?.nexthops?.map((n) => n.gateway ?? "?") ?? (r?.gateway ? [r.gateway] : []);
      rows.push({ host: h, via });
    }
    return rows;
  };
  const rows =
    (await poll(async () => {
      const r = await look();
      return r.every((x) => x.via.length === 2) ? r : undefined;
    }, waitMs)) ?? (await look());
  const ok = rows.every((x) => x.via.length === 2);
  const evidence: string[] = rows.map(
    (x) =>
      `${x.host.name}: ${x.via.length === 0 ? `no ${prefix} proto bgp` : `${prefix} proto bgp via ${x.via.join(", ")}`}`,
  );
  evidence.unshift(
    `ip -n <ns> -j route show proto bgp (${rows.filter((x) => x.via.length === 2).length}/${rows.length} hosts with 2 nexthops)`,
  );
  if (!ok) {
    // say what FRR itself thinks on the first host without the route
    const h = rows.find((x) => x.via.length !== 2)?.host as DemoHost;
    const sock = join(NETNS_RUN_ROOT, h.ns, "fleetnet", "frr");
    const r = await run([
      "ip",
      "netns",
      "exec",
      h.ns,
      "vtysh",
      "--vty_socket",
      sock,
      "-c",
      "show bgp summary",
    ]);
    const said = `${r.stdout}${r.stderr}`.trim().split("\n").filter(Boolean).slice(-3).join(" | ");
    evidence.push(`${h.name} vtysh show bgp summary: ${said || `exit ${r.code}`}`);
  }
  return { name: "BGP multipath: 2 nexthops in the kernel", ok, evidence };
}

/** Where keepalived of a netns host writes its pid (the host's /run, see NETNS_RUN_ROOT). */
function keepalivedPidFile(ns: string): string {
  return join(NETNS_RUN_ROOT, ns, "fleetnet", "keepalived", "keepalived.pid");
}

/**
 * The VIP is held by the primary only; then the primary's keepalived is stopped (SIGTERM to
 * the PID in its pid file, after checking `/proc/<pid>/comm`) and the backup must take it.
 */
export async function proveVipFailover(primary: DemoHost, backup: DemoHost, vip: string): Promise<Proof> {
  const name = "keepalived VIP on the primary, then on the backup";
  const evidence: string[] = [];
  const holds = async (h: DemoHost) => (await ipv4On(h.ns, "veth0")).includes(vip);
  const before = await poll(
    async () => ((await holds(primary)) && !(await holds(backup)) ? true : undefined),
    15_000,
  );
  evidence.push(
    `before: ${vip} on ${primary.name} ${(await holds(primary)) ? "yes" : "no"}, on ${backup.name} ${(await holds(backup)) ? "yes" : "no"}`,
  );
  if (!before) return { name, ok: false, evidence };
  const pidFile = keepalivedPidFile(primary.ns);
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, "utf8").trim());
    const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    if (comm !== "keepalived") throw new Error(`pid ${pid} is ${comm}, not keepalived`);
  } catch (e) {
    evidence.push(`primary's keepalived: ${(e as Error).message}`);
    return { name, ok: false, evidence };
  }
  process.kill(pid, "SIGTERM");
  evidence.push(`stopped ${primary.name}'s keepalived: kill -TERM ${pid} (${pidFile})`);
  const t0 = Date.now();
  const moved = await poll(
    async () => ((await holds(backup)) && !(await holds(primary)) ? true : undefined),
    15_000,
    200,
  );
  evidence.push(
    moved
      ? `after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${vip} on ${backup.name}, gone from ${primary.name}`
      : `after 15 s: ${vip} on ${backup.name} ${(await holds(backup)) ? "yes" : "no"}, on ${primary.name} ${(await holds(primary)) ? "yes" : "no"}`,
  );
  return { name, ok: moved === true, evidence };
}

async function sysctlIn(ns: string, key: string): Promise<string> {
  const r = await run(["ip", "netns", "exec", ns, "sysctl", "-n", key]);
  return r.stdout.trim();
}

/**
 * Change `key` by hand on `host`, wait for `fleetnet drift` to report it, then for the
 * telemetry service's heal (`drift: heal`) to put the baseline value back in the kernel.
 */
export async function proveDriftHeal(
  host: DemoHost,
  key: string,
  bad: string,
  env: NodeJS.ProcessEnv,
  print: (lines: string) => void,
): Promise<Proof> {
  const name = "sysctl changed by hand: caught as drift, healed";
  const evidence: string[] = [];
  const baseline = await sysctlIn(host.ns, key);
  const w = await run(["ip", "netns", "exec", host.ns, "sysctl", "-w", `${key}=${bad}`]);
  evidence.push(`ip netns exec ${host.ns} sysctl -w ${key}=${bad} (was ${baseline}): exit ${w.code}`);
  const t0 = Date.now();
  // `fleetnet drift` as an operator reads it, until it names the host and key
  const caught = await poll(
    async () => {
      const r = await fleetnet(["drift"], env, { timeoutMs: 15_000 });
      const line = r.stdout.split("\n").find((l) => l.startsWith(`${host.name}  ${key}  `));
      return r.code === 1 && line ? { line, out: r.stdout } : undefined;
    },
    30_000,
    1000,
  );
  if (caught) {
    evidence.push(`fleetnet drift after ${((Date.now() - t0) / 1000).toFixed(1)} s (exit 1): ${caught.line}`);
    print(caught.out);
  } else {
    evidence.push("fleetnet drift did not report it within 30 s");
  }
  const healed = await poll(
    async () => ((await sysctlIn(host.ns, key)) === baseline ? true : undefined),
    60_000,
    500,
  );
  evidence.push(
    healed
      ? `healed after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${key} = ${baseline} again in ${host.ns}`
      : `not healed within 60 s: ${key} = ${await sysctlIn(host.ns, key)}`,
  );
  if (!healed) await run(["ip", "netns", "exec", host.ns, "sysctl", "-w", `${key}=${baseline}`]);
  return { name, ok: caught !== undefined && healed === true, evidence };
}

/** `fleetnet health` until it says healthy (up to `waitMs`), printed; what it cannot see said. */
export async function proveHealth(
  env: NodeJS.ProcessEnv,
  waitMs: number,
  print: (text: string) => void,
): Promise<Proof> {
  const t0 = Date.now();
  let last = await fleetnet(["health"], env, { timeoutMs: 15_000 });
  while (last.code !== 0 && Date.now() - t0 < waitMs) {
    await sleep(1000);
    last = await fleetnet(["health"], env, { timeoutMs: 15_000 });
  }
  print(last.stdout + last.stderr);
  return {
    name: "fleetnet health",
    ok: last.code === 0,
    evidence: [
      `exit ${last.code}${last.code === 0 ? " (healthy)" : " (unhealthy or unavailable)"}`,
      "health judges heartbeats, sysctl drift, BGP sessions, VRRP, overlay probes and duplicate MACs from the executors' state reports;",
      "it does not judge the ECMP route",
    ],
  };
}

/** The ECMP route as the kernel of `host` has it: `destination` with its nexthops. */
export async function proveEcmp(host: DemoHost, destination: string, via: readonly string[]): Promise<Proof> {
  const routes = (await ipJson(host.ns, ["route", "show", destination])) as RouteJson[];
  const got = (routes[0]?.nexthops ?? []).map((n) => n.gateway ?? "?").sort();
  const ok = got.join(",") === [...via].sort().join(",");
  return {
    name: "ECMP route",
    ok,
    evidence: [
      `${host.name}: ${destination} via ${got.length ? got.join(", ") : "nothing"} (want ${via.join(", ")})`,
    ],
  };
}

/**
 * The rollout's waves as `fleetnet apply` printed them (`  wave N: a, b (reason)`) keep the
 * policy's constraints: at most one host per rack per wave, the KeepalivedPair's members in
 * different waves, and never both spines (every hypervisor's BGP peers) in one wave.
 */
export function proveWaves(
  applyOutput: string,
  hosts: readonly DemoHost[],
  pair: { primary: string; backup: string },
): Proof {
  const rack = new Map(hosts.map((h) => [h.name, h.rack ?? "-"]));
  const waves = [...applyOutput.matchAll(/^ {2}wave (\d+): ([^(\n]+?)(?: \(.*\))?$/gm)].map((m) => ({
    n: Number(m[1]),
    hosts: (m[2] as string).split(", ").map((s) => s.trim()),
  }));
  const waveOf = (h: string) => waves.find((w) => w.hosts.includes(h))?.n;
  const evidence = waves.map(
    (w) =>
      `wave ${w.n}: ${w.hosts.map((h) => `${h} (${rack.get(h) === "-" ? "spine" : rack.get(h)})`).join(", ")}`,
  );
  const racksOk = waves.every((w) => {
    const r = w.hosts.map((h) => rack.get(h)).filter((x) => x !== "-");
    return new Set(r).size === r.length;
  });
  const [pw, bw] = [waveOf(pair.primary), waveOf(pair.backup)];
  const pairOk = pw !== undefined && bw !== undefined && pw !== bw;
  const spines = hosts.filter((h) => h.role === "spine").map((h) => h.name);
  const spineWaves = spines.map(waveOf);
  const bgpOk = spineWaves.every((w) => w !== undefined) && new Set(spineWaves).size === spineWaves.length;
  evidence.push(
    `spreadBy rack: ${racksOk ? "at most one host per rack in every wave" : "a wave holds two hosts of one rack"}`,
    `KeepalivedPair: ${pair.primary} in wave ${pw ?? "?"}, ${pair.backup} in wave ${bw ?? "?"}`,
    `BGP peers: ${spines.map((s, i) => `${s} in wave ${spineWaves[i] ?? "?"}`).join(", ")} (every hypervisor keeps a session)`,
  );
  return {
    name: "waves: rack spread, pair and BGP-peer separation",
    ok: waves.length > 1 && racksOk && pairOk && bgpOk,
    evidence,
  };
}
