/**
 * Observe: the live state of a host as a netstate `HostState`.
 *
 * Sources: ONE `ip -j -d -N -batch -` process for links, addresses and routes of both
 * families (multipath `nexthops[]`, numeric protocol/table), `bridge -j fdb show` (remote
 * VTEP entries), one process for the sysctls the desired state or the ledger names (values
 * and writability), the files and services the desired state or the ledger names (see
 * ledger.ts). Three processes whatever the size of the host's state (plus one per file
 * stat and service check when there are any).
 *
 * Projection: links of the kinds fleetnet models (bridge, vxlan, vlan, veth) are listed
 * whether fleetnet owns them or not (diff needs foreign ones to refuse name conflicts);
 * interfaces of other kinds appear only as `ports` when enslaved. A route the desired
 * state names is reported with the fields the desired route specifies (the kernel adds
 * `dev` to every gateway route; a desired route without `dev` must not differ for that).
 */

import { readFileSync } from "node:fs";
import {
  type Address,
  type FdbEntry,
  type HostState,
  type Link,
  type ManagedFile,
  normalizeHostState,
  type Port,
  type Route,
  type Service,
  type ServiceName,
  type Sysctl,
  sha256Text,
} from "@fleetnet/netstate";
import type { HostDriver } from "./driver.js";
import { ExecutorError } from "./errors.js";
import { type Ledger, readLedger } from "./ledger.js";
import { keepalivedVips, parsePings } from "./probes.js";
import type { ServiceManager } from "./services.js";

/**
 * Args: N, then N `key path` pairs. Prints `rw KEY` / `ro KEY` for each existing path, a
 * `--` line, then runs `sysctl -e KEY…` (a /proc/sys integer file cannot be read byte by
 * byte, which is how dash's `read` reads; bash's `read` could, but a bash script cost more
 * than the `sysctl` start it saves: bench/RESULTS.md, fifth session). No `exec`: callers
 * append to it. CONSTANT text; keys and paths arrive only as positional arguments
 * ({@link sysctlArgs}).
 */
const SYSCTL_SCRIPT =
  'n=$1; shift; i=0; while [ $i -lt "$n" ]; do k=$1; p=$2; shift 2; ' +
  'if [ -w "$p" ]; then echo "rw $k"; elif [ -e "$p" ]; then echo "ro $k"; fi; ' +
  'set -- "$@" "$k"; i=$((i+1)); done; echo --; if [ "$#" -gt 0 ]; then sysctl -e "$@"; fi';

/** `/proc/sys` path of a sysctl key (sysctl's convention: `.` separates, `/` stands for a `.` in a name). */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key.replace(/[./]/g, (c) => (c === "." ? "/" : "."))}`;
}

/** The positional arguments of {@link SYSCTL_SCRIPT} for `keys`. */
function sysctlArgs(keys: readonly string[]): string[] {
  return [String(keys.length), ...keys.flatMap((k) => [k, sysctlPath(k)])];
}

/**
 * {@link KERNEL_SCRIPT}'s reads as batch lines and the flags they run with, also for an apply
 * batch that ends with them (apply.ts): `ip`'s and `bridge`'s.
 */
export const IP_READ = {
  lines: ["link show", "addr show", "route show table all"],
  flags: ["-j", "-d", "-N"],
};
export const FDB_READ = { lines: ["fdb show"], flags: ["-j"] };

/**
 * What `observe` reads from the kernel, in ONE host process (a process start is most of an
 * observation's cost): `ip -j -d -N -batch -` (`link show`, `addr show`, `route show table
 * all`, piped from `printf` — the script's stdin stays free for apply.ts's staged transaction,
 * and no line break in the script (ssh.ts quotes none);
 * a route listing without `-4`/`-6` holds both families, {@link isV6Route} tells them apart),
 * `bridge -j fdb show` — only when that listing has a VXLAN link: the remote entries observe
 * reports (`dst`) live on VXLAN links only, so a host without one (every host before its first
 * overlay) is spared the program start; `[]` then —, and the sysctl part of {@link SYSCTL_SCRIPT}
 * for the positional arguments. Each section is followed by `@@fleetnet <exit status>`.
 * Args: READ_IP READ_FDB (`1`, or `0` when the caller's apply batch already printed that part:
 * apply.ts), BATCH_FILE (the read's batch lines as a file, {@link readBatchFile}: `ip` reads
 * it in the command substitution's own process; `""` pipes them from `printf`, a process
 * more — on the lab machine every process, even a shell's fork, costs milliseconds), then
 * {@link SYSCTL_SCRIPT}'s. CONSTANT text: keys and paths arrive only as
 * positional arguments.
 */
const KERNEL_SCRIPT =
  'ki=$1; kf=$2; bf=$3; shift 3; vx=1; if [ "$ki" = 1 ]; then ' +
  `if [ -n "$bf" ] && [ -f "$bf" ]; then o=$(ip ${IP_READ.flags.join(" ")} -batch "$bf"); ` +
  `else o=$(printf '%s\\n' ${IP_READ.lines.map((l) => `'${l}'`).join(" ")} | ip ${IP_READ.flags.join(" ")} -batch -); fi; ` +
  `r=$?; printf '%s\\n' "$o"; echo; echo "@@fleetnet $r"; ` +
  `case $o in *'"info_kind":"vxlan"'*) ;; *) vx=0 ;; esac; fi; ` +
  'if [ "$kf" = 1 ]; then if [ "$vx" = 1 ]; then bridge -j fdb show; r=$?; else echo "[]"; r=0; fi; ' +
  `echo; echo "@@fleetnet $r"; fi; ${SYSCTL_SCRIPT}`;

/**
 * Args: NPING, NPING addresses, then {@link KERNEL_SCRIPT}'s. Pings the addresses first
 * (probes.ts's `PING_SCRIPT`, inline: the addresses as words of one variable — IP addresses,
 * checked by {@link kernelReadScript}, globbing off — so no subshell is forked; nothing
 * started when there are none), prints `@@fleetnet-probed`, then
 * reads the kernel: an observation and the probe round that goes with it in ONE host process.
 * CONSTANT text.
 */
const PINGS_THEN_KERNEL =
  'np=$1; shift; if [ "$np" -gt 0 ]; then pa=; c=0; ' +
  'for a; do if [ $c -lt "$np" ]; then pa="$pa $a"; fi; c=$((c+1)); done; set -f; ' +
  "if command -v fping >/dev/null 2>&1; then fping -e -i 1 -t 1000 -r 0 -- $pa </dev/null 2>/dev/null; " +
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion in a constant script
  'else ps=; for a in $pa; do { r=$(ping -n -q -c 1 -W 1 "$a" 2>/dev/null) && echo "$a ${r##*= }"; } </dev/null & ' +
  'ps="$ps $!"; done; wait $ps; fi; set +f; fi; ' +
  `echo "@@fleetnet-probed"; shift "$np"; ${KERNEL_SCRIPT}`;

/** The kernel tables and sysctl readings of one {@link PINGS_THEN_KERNEL} run. */
export interface KernelRead {
  links: IpLink[];
  addrs: IpAddr[];
  routes: IpRoute[];
  fdb: BridgeFdb[];
  /** The sysctl keys that were asked for (absent from `sysctls`: missing on the host). */
  sysctlKeys: readonly string[];
  sysctls: Map<string, { value: string; writable: boolean }>;
  /** The ping round's answers (address → RTT ms when printed); only addresses that answered. */
  pings: Map<string, number | undefined>;
}

/**
 * The ping round + kernel read as a script suffix for a caller that runs it in a host process
 * of its own (the apply transaction's staged script): the CONSTANT text and the positional
 * arguments it takes (it consumes them all: the caller sets its own afterwards).
 */
export function kernelReadScript(
  sysctlKeys: readonly string[],
  pingAddrs: readonly string[] = [],
  printed: { ip?: boolean; fdb?: boolean } = {},
  batchFile = "",
): { script: string; args: string[] } {
  const bad = pingAddrs.find((a) => !/^[0-9A-Fa-f:.]+$/.test(a));
  if (bad !== undefined)
    throw new ExecutorError("UNSAFE_ARGUMENT", `ping address ${JSON.stringify(bad)} is not an IP address`);
  return {
    script: PINGS_THEN_KERNEL,
    args: [
      String(pingAddrs.length),
      ...pingAddrs,
      printed.ip ? "0" : "1",
      printed.fdb ? "0" : "1",
      batchFile,
      ...sysctlArgs(sysctlKeys),
    ],
  };
}

/** Host path of the kernel read's batch lines: a constant file, like revert.sh. */
const READ_BATCH_PATH = "/run/fleetnet/read.batch";
const READ_BATCH = `${IP_READ.lines.join("\n")}\n`;

/**
 * The kernel read's batch file on `d` (written when absent or not as it must be), as the
 * path its commands use; `""` over ssh, where checking it would cost a round trip of its own
 * (the script pipes the lines then). Local and netns hosts keep their files on this machine.
 */
export async function readBatchFile(d: HostDriver): Promise<string> {
  if (d.kind === "ssh") return "";
  const path = d.hostPath(READ_BATCH_PATH);
  try {
    if (readFileSync(path, "utf8") === READ_BATCH) return path;
  } catch {
    /* absent: written below */
  }
  await d.writeFileAtomic(READ_BATCH_PATH, READ_BATCH, 0o644, { scratch: true });
  return path;
}

/**
 * Parts of the kernel read another process already printed (the apply's own `ip -j -batch`
 * and `bridge -j -batch` ending in the read lines): their output, which the read skips.
 */
export interface KernelReadDone {
  /** `ip -j -d -N` output of {@link IP_READ}'s lines: one JSON document per line. */
  ip?: string;
  /** `bridge -j` output of {@link FDB_READ}'s line. */
  fdb?: string;
}

/** Parse {@link kernelReadScript}'s output (`stderr` names the cause when a part failed). */
export function parseKernelRead(
  host: string,
  stdout: string,
  stderr: string,
  sysctlKeys: readonly string[],
  pingAddrs: readonly string[] = [],
  done: KernelReadDone = {},
): KernelRead {
  const fail = (what: string) =>
    new ExecutorError("COMMAND_FAILED", `${what} failed on ${host}: ${stderr.trim()}`, true);
  const cut = stdout.indexOf("@@fleetnet-probed\n");
  if (cut < 0) throw fail("observing the kernel (ping, ip -batch, bridge fdb, sysctl)");
  const parts = stdout.slice(cut + "@@fleetnet-probed\n".length).split(/^@@fleetnet (\d+)$/m);
  // [ip output, ip status, bridge output, bridge status, sysctl part], without the parts done
  if (done.ip !== undefined) parts.unshift(done.ip, "0");
  if (done.fdb !== undefined) parts.splice(2, 0, done.fdb, "0");
  const [ipOut = "", ipRc, fdbOut = "", fdbRc, sysOut = ""] = parts;
  if (parts.length !== 5) throw fail("observing the kernel (ip -batch, bridge fdb, sysctl)");
  if (ipRc !== "0") throw fail("ip -j -d -N -batch - (link show, addr show, route show table all)");
  if (fdbRc !== "0") throw fail("bridge -j fdb show");
  const docs = ipOut.split("\n").filter((l) => l.trim() !== "");
  if (docs.length !== 3) {
    throw new ExecutorError("COMMAND_FAILED", `unexpected output of ip -j -d -N -batch - on ${host}`, true);
  }
  const [links, addrs, routes] = docs.map((t) => JSON.parse(t) as unknown);
  const fdbText = fdbOut.trim();
  return {
    links: links as IpLink[],
    addrs: addrs as IpAddr[],
    routes: routes as IpRoute[],
    fdb: (fdbText === "" ? [] : JSON.parse(fdbText)) as BridgeFdb[],
    sysctlKeys,
    sysctls: parseSysctlOutput(sysOut.replace(/^\n/, "")),
    pings: parsePings(stdout.slice(0, cut), pingAddrs),
  };
}

async function readKernel(
  d: HostDriver,
  sysctlKeys: readonly string[],
  pingAddrs: readonly string[],
): Promise<KernelRead> {
  const k = kernelReadScript(sysctlKeys, pingAddrs, {}, await readBatchFile(d));
  const r = await d.run(
    ["sh", "-c", k.script, "sh", ...k.args],
    pingAddrs.length > 0 ? { timeoutMs: 60_000 } : {},
  );
  return parseKernelRead(d.host, r.stdout, r.stderr, sysctlKeys, pingAddrs);
}

/**
 * Whether a route of a family-less listing is IPv6: the kernel gives every IPv6 route a
 * router preference (`pref`), never an IPv4 one; addresses with `:` are IPv6 too.
 */
export function isV6Route(r: IpRoute): boolean {
  const has6 = (a?: string) => a?.includes(":") ?? false;
  return (
    r.pref !== undefined || has6(r.dst) || has6(r.gateway) || (r.nexthops ?? []).some((n) => has6(n.gateway))
  );
}

interface IpLink {
  ifname: string;
  address?: string;
  link_type?: string;
  link?: string;
  master?: string;
  ifalias?: string;
  mtu?: number;
  flags?: string[];
  linkinfo?: {
    info_kind?: string;
    info_data?: {
      id?: number;
      local?: string;
      link?: string;
      port?: number;
      learning?: boolean;
      group?: string;
    };
  };
}
interface IpAddr {
  ifname: string;
  addr_info?: { local?: string; prefixlen?: number; family?: string }[];
}
/** One entry of `ip -j route show`. */
export interface IpRoute {
  type?: string;
  /** IPv6 router preference (IPv6 routes only). */
  pref?: string;
  dst: string;
  table?: string;
  protocol?: string;
  gateway?: string;
  dev?: string;
  nexthops?: { gateway?: string; dev?: string; weight?: number }[];
}
interface BridgeFdb {
  mac: string;
  ifname: string;
  dst?: string;
  master?: string;
}

/** Parse `ip -j -d link show` into links and ports. */
export function parseLinks(raw: IpLink[]): { links: Link[]; ports: Port[] } {
  const links: Link[] = [];
  const ports: Port[] = [];
  for (const l of raw) {
    const kind = l.linkinfo?.info_kind;
    const common = {
      name: l.ifname,
      up: (l.flags ?? []).includes("UP"),
      ...(l.mtu !== undefined ? { mtu: l.mtu } : {}),
      ...(l.master !== undefined ? { master: l.master } : {}),
      ...(l.ifalias ? { alias: l.ifalias } : {}),
    };
    const data = l.linkinfo?.info_data ?? {};
    if (kind === "bridge") links.push({ kind: "bridge", ...common });
    else if (kind === "veth") {
      const peer = l.link && !/^if\d+$/.test(l.link) ? { peer: l.link } : {};
      links.push({ kind: "veth", ...common, ...peer });
    } else if (kind === "vxlan") {
      links.push({
        kind: "vxlan",
        ...common,
        vni: data.id ?? 0,
        local: data.local ?? "",
        port: data.port ?? 8472,
        dev: data.link ?? "",
        learning: data.learning ?? true,
        ...(data.group !== undefined ? { group: data.group } : {}),
      });
    } else if (kind === "vlan") {
      links.push({ kind: "vlan", ...common, id: data.id ?? 0, parent: l.link ?? "" });
    } else if (l.master !== undefined) ports.push({ dev: l.ifname, master: l.master });
  }
  // foreign modelled links enslaved to a bridge are ports too (diff filters by owned master)
  for (const l of links) {
    if (l.master !== undefined && !(l.alias ?? "").startsWith("fleetnet:"))
      ports.push({ dev: l.name, master: l.master });
  }
  return { links, ports };
}

/** Parse `ip -j addr show`. */
export function parseAddresses(raw: IpAddr[]): Address[] {
  return raw.flatMap((i) =>
    (i.addr_info ?? [])
      .filter((a) => a.local !== undefined && a.prefixlen !== undefined)
      .map((a) => ({ dev: i.ifname, address: `${a.local}/${a.prefixlen}` })),
  );
}

/** Parse `ip -j -N route show table all` (unicast routes only). */
export function parseRoutes(raw: IpRoute[], v6: boolean): Route[] {
  const out: Route[] = [];
  for (const r of raw) {
    if (r.type !== undefined && r.type !== "1" && r.type !== "unicast") continue;
    const table = r.table === undefined ? 254 : Number(r.table);
    if (!Number.isInteger(table) || table === 255) continue;
    const dst =
      r.dst === "default"
        ? v6
          ? "::/0"
          : "0.0.0.0/0"
        : r.dst.includes("/")
          ? r.dst
          : `${r.dst}/${v6 ? 128 : 32}`;
    const route: Route = {
      destination: dst,
      table,
      protocol: r.protocol === undefined ? 3 : Number(r.protocol),
    };
    if (r.nexthops && r.nexthops.length > 0) {
      route.nexthops = r.nexthops.map((n) => ({
        via: n.gateway ?? "",
        weight: n.weight ?? 1,
        ...(n.dev !== undefined ? { dev: n.dev } : {}),
      }));
    } else {
      if (r.gateway !== undefined) route.gateway = r.gateway;
      if (r.dev !== undefined) route.dev = r.dev;
    }
    out.push(route);
  }
  return out;
}

/** Parse `bridge -j fdb show`: remote VTEP entries (`dst`) only. */
export function parseFdb(raw: BridgeFdb[]): FdbEntry[] {
  return raw
    .filter((f) => f.dst !== undefined && f.master === undefined)
    .map((f) => ({ dev: f.ifname, mac: f.mac, dst: f.dst as string }));
}

/** Reports the route as the desired route at the same key specifies it. */
function projectRoute(o: Route, d: Route | undefined): Route {
  if (!d) return o;
  const r: Route = { ...o };
  if (r.gateway !== undefined && d.dev === undefined) delete r.dev;
  if (r.nexthops && d.nexthops) {
    r.nexthops = r.nexthops.map((n, i) => {
      const dn = d.nexthops?.find((x) => x.via === n.via) ?? d.nexthops?.[i];
      if (dn?.dev === undefined) {
        const { dev: _d, ...rest } = n;
        return rest;
      }
      return n;
    });
  }
  return r;
}

/** Normalise whitespace of a sysctl value (the kernel prints tabs). */
export function normSysctl(v: string): string {
  return v.trim().split(/\s+/).join(" ");
}

/** The sysctl keys an observation reads: the desired state's and the ledger's, sorted. */
export function sysctlKeysOf(desired: HostState | undefined, ledger: Ledger): string[] {
  return [...new Set([...(desired?.sysctls ?? []).map((s) => s.key), ...Object.keys(ledger.sysctls)])].sort();
}

/** What observe should look at beyond the kernel's tables. */
export interface ObserveScope {
  desired?: HostState;
  ledger?: Ledger;
  /**
   * An earlier observation whose sysctls / files / services are known to be unchanged
   * (verify after ops that touched none of them): those parts are taken from it instead of
   * being read again.
   */
  reuse?: { from: ObserveResult; sysctls?: boolean; files?: boolean; services?: boolean };
  /**
   * The kernel tables, already read by the caller in a process of its own (see
   * {@link kernelReadScript}); its `sysctlKeys` must be {@link sysctlKeysOf} the desired state
   * and ledger unless `reuse.sysctls`.
   */
  kernel?: KernelRead;
  /**
   * Addresses to ping from the host in the same process as the kernel read, before it (the
   * probe round that goes with the observation): the answers are in {@link ObserveResult.pings}.
   */
  ping?: readonly string[];
}

/** Options. */
export interface ObserveResult {
  state: HostState;
  ledger: Ledger;
  /** Sysctl keys that do not exist on the host. */
  missingSysctls: string[];
  /** Sysctl keys that exist but cannot be written (read-only in this kernel or namespace). */
  readOnlySysctls: string[];
  /**
   * Every link's MAC as the same `ip -j link show` listing gave it (HostState does not model
   * MACs): state reports take the managed links' MACs from here instead of asking again.
   */
  linkMacs: LinkMac[];
  /** The ping round of {@link ObserveScope.ping} (address → RTT ms when printed): the addresses that answered. */
  pings: Map<string, number | undefined>;
}

/** One link's MAC address and what decides whether fleetnet manages it. */
export interface LinkMac {
  ifname: string;
  address?: string;
  link_type?: string;
  ifalias?: string;
}

/**
 * Values and writability of `keys` on the host, read in ONE process (the sysctls of a
 * network namespace can only be read from inside it). Absent keys are not in the map.
 */
async function readSysctls(
  d: HostDriver,
  keys: readonly string[],
): Promise<Map<string, { value: string; writable: boolean }>> {
  const r = await d.run(["sh", "-c", SYSCTL_SCRIPT, "sh", ...sysctlArgs(keys)]);
  return parseSysctlOutput(r.stdout);
}

/** `rw KEY` / `ro KEY` lines, `--`, then `sysctl -e` output → key → value + writable. */
function parseSysctlOutput(stdout: string): Map<string, { value: string; writable: boolean }> {
  const out = new Map<string, { value: string; writable: boolean }>();
  const [head = "", values = ""] = stdout.split(/^--\n/m);
  const writable = new Set(head.split("\n").flatMap((l) => (l.startsWith("rw ") ? [l.slice(3)] : [])));
  for (const line of values.split("\n")) {
    const i = line.indexOf(" = ");
    const [key, value] =
      i > 0 ? [line.slice(0, i), line.slice(i + 3)] : line.endsWith(" =") ? [line.slice(0, -2), ""] : [];
    if (key !== undefined) out.set(key, { value: normSysctl(value ?? ""), writable: writable.has(key) });
  }
  return out;
}

/**
 * The sysctl keys an observation reads with the kernel tables: the desired state's (sorted,
 * once each); the ledger's own ones are read after. A caller that runs the kernel read itself
 * and hands it to {@link observe} (`scope.kernel`) must ask for these.
 */
export function kernelSysctlKeys(desired: HostState | undefined): string[] {
  return [...new Set((desired?.sysctls ?? []).map((s) => s.key))].sort();
}

/** Observe a host. */
export async function observe(
  d: HostDriver,
  services: ServiceManager,
  scope: ObserveScope = {},
): Promise<ObserveResult> {
  const desired = scope.desired;
  const reuse = scope.reuse;
  const desiredSys = new Map((desired?.sysctls ?? []).map((s) => [s.key, s]));
  // the desired state's sysctls are read with the kernel tables; ledger-only ones after
  const [ledger, kernel] = await Promise.all([
    scope.ledger ? Promise.resolve(scope.ledger) : readLedger(d),
    scope.kernel ?? readKernel(d, reuse?.sysctls ? [] : kernelSysctlKeys(desired), scope.ping ?? []),
  ]);
  const { links: rawLinks, addrs: rawAddrs, routes: rawRoutes, fdb: rawFdb } = kernel;
  const { links, ports } = parseLinks(rawLinks);
  const desiredRoutes = new Map((desired?.routes ?? []).map((r) => [`${r.table} ${r.destination}`, r]));
  const rawR6 = rawRoutes.filter(isV6Route);
  const rawR4 = rawRoutes.filter((r) => !isV6Route(r));
  const routes = [...parseRoutes(rawR4, false), ...parseRoutes(rawR6, true)].map((r) =>
    projectRoute(r, desiredRoutes.get(`${r.table} ${r.destination}`)),
  );

  // sysctls named by the desired state or owned per the ledger
  const keys = reuse?.sysctls ? [] : sysctlKeysOf(desired, ledger);
  const sysctls: Sysctl[] = reuse?.sysctls ? [...reuse.from.state.sysctls] : [];
  const missingSysctls: string[] = reuse?.sysctls ? [...reuse.from.missingSysctls] : [];
  const readOnlySysctls: string[] = reuse?.sysctls ? [...reuse.from.readOnlySysctls] : [];
  if (keys.length > 0) {
    const asked = new Set(kernel.sysctlKeys);
    const ledgerOnly = keys.filter((k) => !asked.has(k));
    const values =
      ledgerOnly.length > 0
        ? new Map([...kernel.sysctls, ...(await readSysctls(d, ledgerOnly))])
        : kernel.sysctls;
    for (const key of keys) {
      const v = values.get(key);
      if (v === undefined) {
        missingSysctls.push(key);
        continue;
      }
      if (!v.writable) readOnlySysctls.push(key);
      const owned = ledger.sysctls[key];
      const s: Sysctl = {
        key,
        value: v.value,
        persist: owned?.persist ?? desiredSys.get(key)?.persist ?? false,
      };
      if (owned) s.original = owned.original;
      sysctls.push(s);
    }
  }

  // files
  const paths = reuse?.files
    ? []
    : [...new Set([...(desired?.files ?? []).map((f) => f.path), ...Object.keys(ledger.files)])].sort();
  const files: ManagedFile[] = reuse?.files ? [...reuse.from.state.files] : [];
  if (paths.length > 0) {
    const modes = new Map<string, number>();
    const st = await d.run(["stat", "-c", "%a %n", "--", ...paths.map((p) => d.hostPath(p))]);
    for (const line of st.stdout.split("\n")) {
      const m = /^([0-7]+) (.*)$/.exec(line);
      if (m?.[1] && m[2]) modes.set(m[2], Number.parseInt(m[1], 8));
    }
    for (const path of paths) {
      const mode = modes.get(d.hostPath(path));
      if (mode === undefined) continue;
      const content = await d.readFile(path);
      if (content === undefined) continue;
      const owned = ledger.files[path];
      if (owned && sha256Text(content) === owned.written) {
        const f: ManagedFile = { path, content: owned.content, mode };
        if (owned.secrets !== undefined) f.secrets = owned.secrets as ManagedFile["secrets"];
        files.push(f);
      } else files.push({ path, content, mode });
    }
  }

  // services
  const names = reuse?.services
    ? []
    : [
        ...new Set([
          ...(desired?.services ?? []).map((s) => s.name),
          ...(Object.keys(ledger.services) as ServiceName[]),
        ]),
      ].sort();
  const svc: Service[] = reuse?.services ? [...reuse.from.state.services] : [];
  for (const name of names) {
    const running = await services.running(name);
    const owned = ledger.services[name];
    const want = desired?.services.find((s) => s.name === name);
    if (!owned && !running) continue;
    svc.push({
      name,
      running,
      configHash: owned?.configHash ?? "",
      configPaths: owned?.configPaths ?? want?.configPaths ?? [],
    });
  }

  return {
    state: normalizeHostState({
      links,
      ports,
      addresses: parseAddresses(rawAddrs),
      routes,
      fdb: parseFdb(rawFdb),
      sysctls,
      files,
      services: svc,
    }),
    ledger,
    missingSysctls,
    readOnlySysctls,
    pings: kernel.pings,
    linkMacs: rawLinks.map((l) => ({
      ifname: l.ifname,
      ...(l.address !== undefined ? { address: l.address } : {}),
      ...(l.link_type !== undefined ? { link_type: l.link_type } : {}),
      ...(l.ifalias !== undefined ? { ifalias: l.ifalias } : {}),
    })),
  };
}

/** Live daemon state that HostState does not model: BGP sessions and VRRP VIPs held. */
export interface DaemonState {
  /** `"<afi> <peer>"` → FRR session state (e.g. `Established`), when FRR runs. */
  bgp?: Record<string, string>;
  /** VIPs of the keepalived config and whether this host holds each now. */
  vrrp?: { vip: string; held: boolean }[];
}

/**
 * Daemon state for `observe` output and health: `vtysh … show bgp summary json` when FRR
 * runs; the keepalived config's VIPs and whether the host holds them (its addresses).
 */
export async function observeDaemons(
  d: HostDriver,
  services: ServiceManager,
  state: HostState,
): Promise<DaemonState> {
  const out: DaemonState = {};
  if (state.services.some((s) => s.name === "frr" && s.running)) {
    const r = await d.run(["vtysh", ...services.vtyshArgs(), "-c", "show bgp summary json"], {
      timeoutMs: 10_000,
    });
    if (r.code === 0) {
      out.bgp = {};
      try {
        const j = JSON.parse(r.stdout) as Record<string, { peers?: Record<string, { state?: string }> }>;
        for (const [afi, v] of Object.entries(j)) {
          for (const [peer, p] of Object.entries(v.peers ?? {}))
            out.bgp[`${afi} ${peer}`] = p.state ?? "unknown";
        }
      } catch {
        /* not JSON: no bgpd answering */
      }
    }
  }
  const conf = state.files.find((f) => f.path === "/etc/keepalived/keepalived.conf");
  if (conf) {
    const held = new Set(state.addresses.map((a) => a.address.split("/")[0]));
    out.vrrp = keepalivedVips(conf.content).map((vip) => ({ vip, held: held.has(vip.split("/")[0]) }));
  }
  return out;
}
