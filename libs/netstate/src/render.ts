/**
 * Renderers for the daemon configs fleetnet writes: FRR (`frr.conf`, integrated config with
 * bgpd), keepalived (`keepalived.conf`) and sysctl.d files. Pure text builders; the tests
 * check their output with the real tools (`vtysh -C -f`, `keepalived -t -f`).
 *
 * Secrets are never rendered: a VRRP password becomes the placeholder
 * `@@fleetnet-secret:<id>@@` (see secrets.ts), resolved by the executor on the host.
 */
import { parseCidr, parseIp } from "@fleetnet/intent";
import { secretPlaceholder } from "./secrets.js";

/** Where fleetnet's files live on a host (logical paths; a driver may re-root them). */
export const PATHS = {
  frr: "/etc/frr/frr.conf",
  keepalived: "/etc/keepalived/keepalived.conf",
  sysctlDir: "/etc/sysctl.d",
} as const;

/** The sysctl.d file of a SysctlBaseline intent. */
export function sysctlConfPath(intentName: string): string {
  return `${PATHS.sysctlDir}/90-fleetnet-${intentName}.conf`;
}

/** Content of a sysctl.d file: `key = value` lines in key order. */
export function renderSysctlConf(intentName: string, settings: Readonly<Record<string, string>>): string {
  const lines = [`# managed by fleetnet (SysctlBaseline/${intentName}); changes are overwritten`];
  for (const k of Object.keys(settings).sort()) lines.push(`${k} = ${settings[k]}`);
  return `${lines.join("\n")}\n`;
}

/** A BGP neighbor of a host. */
export interface FrrNeighbor {
  address: string;
  remoteAs: number;
  /** Where the neighbor came from, for a comment (`10.250.0.254`, `host s001`). */
  description?: string;
}

/** Everything the FRR config of one host needs. */
export interface FrrInput {
  hostname: string;
  intent: string;
  asn: number;
  routerId: string;
  neighbors: readonly FrrNeighbor[];
  maximumPaths: number;
  multipathRelax: boolean;
  advertise: readonly string[];
  redistribute: readonly string[];
  timers?: { keepalive: number; hold: number };
  /** Source address for sessions (the underlay address). */
  updateSource?: string;
}

/**
 * `frr.conf` for bgpd: router-id, neighbors, ECMP (`maximum-paths`, multipath-relax),
 * `no bgp ebgp-requires-policy` (FRR 8.4 refuses to exchange routes over eBGP without
 * policies otherwise) and `no bgp network import-check` (originate `network` prefixes
 * even when they are not in the RIB).
 */
export function renderFrr(i: FrrInput): string {
  const v6 = (a: string) => parseIp(a)?.family === 6;
  const pfx6 = (p: string) => parseCidr(p)?.family === 6;
  const L: string[] = [];
  L.push(`! managed by fleetnet (BgpMultipath/${i.intent}); changes are overwritten`);
  L.push("frr defaults traditional");
  L.push(`hostname ${i.hostname}`);
  L.push("log syslog informational");
  L.push("service integrated-vtysh-config");
  L.push("!");
  L.push(`router bgp ${i.asn}`);
  L.push(` bgp router-id ${i.routerId}`);
  L.push(" no bgp ebgp-requires-policy");
  L.push(" no bgp network import-check");
  if (i.multipathRelax) L.push(" bgp bestpath as-path multipath-relax");
  if (i.timers) L.push(` timers bgp ${i.timers.keepalive} ${i.timers.hold}`);
  for (const n of i.neighbors) {
    L.push(` neighbor ${n.address} remote-as ${n.remoteAs}`);
    if (n.description) L.push(` neighbor ${n.address} description ${n.description}`);
    if (i.updateSource && v6(n.address) === v6(i.updateSource)) {
      L.push(` neighbor ${n.address} update-source ${i.updateSource}`);
    }
  }
  const af = (fam: "ipv4" | "ipv6") => {
    const isV6 = fam === "ipv6";
    L.push(" !");
    L.push(` address-family ${fam} unicast`);
    for (const p of i.advertise) if (pfx6(p) === isV6) L.push(`  network ${p}`);
    for (const r of i.redistribute) L.push(`  redistribute ${r}`);
    if (isV6) for (const n of i.neighbors) if (v6(n.address)) L.push(`  neighbor ${n.address} activate`);
    L.push(`  maximum-paths ${i.maximumPaths}`);
    L.push(`  maximum-paths ibgp ${i.maximumPaths}`);
    L.push(" exit-address-family");
  };
  af("ipv4");
  if (i.neighbors.some((n) => v6(n.address)) || i.advertise.some(pfx6)) af("ipv6");
  L.push("exit");
  L.push("!");
  return `${L.join("\n")}\n`;
}

/** One VRRP instance of a host. */
export interface VrrpInstanceInput {
  /** Instance name (`fn_<pair>`). */
  name: string;
  state: "MASTER" | "BACKUP";
  interface: string;
  vrid: number;
  priority: number;
  advertInterval: number;
  version: 2 | 3;
  preempt: boolean;
  vips: readonly string[];
  /** Own and peer address for unicast VRRP; absent = multicast adverts. */
  unicast?: { src: string; peer: string };
  /** Secret id of the VRRPv2 PASS authentication (never the password itself). */
  authSecretId?: string;
}

/**
 * `keepalived.conf` with one `vrrp_instance` per pair the host is in. With `preempt: false`
 * both members start as BACKUP (keepalived ignores `nopreempt` on a MASTER).
 */
export function renderKeepalived(hostname: string, instances: readonly VrrpInstanceInput[]): string {
  const L: string[] = [];
  L.push("# managed by fleetnet (KeepalivedPair); changes are overwritten");
  L.push("global_defs {");
  L.push(`    router_id ${hostname}`);
  L.push("}");
  for (const v of instances) {
    L.push("");
    L.push(`vrrp_instance ${v.name} {`);
    L.push(`    state ${v.preempt ? v.state : "BACKUP"}`);
    L.push(`    interface ${v.interface}`);
    L.push(`    virtual_router_id ${v.vrid}`);
    L.push(`    priority ${v.priority}`);
    L.push(`    advert_int ${v.advertInterval}`);
    L.push(`    version ${v.version}`);
    if (!v.preempt) L.push("    nopreempt");
    if (v.unicast) {
      L.push(`    unicast_src_ip ${v.unicast.src}`);
      L.push("    unicast_peer {");
      L.push(`        ${v.unicast.peer}`);
      L.push("    }");
    }
    if (v.authSecretId !== undefined && v.version === 2) {
      L.push("    authentication {");
      L.push("        auth_type PASS");
      L.push(`        auth_pass ${secretPlaceholder(v.authSecretId)}`);
      L.push("    }");
    }
    L.push("    virtual_ipaddress {");
    for (const vip of v.vips) L.push(`        ${vip} dev ${v.interface}`);
    L.push("    }");
    L.push("}");
  }
  return `${L.join("\n")}\n`;
}
