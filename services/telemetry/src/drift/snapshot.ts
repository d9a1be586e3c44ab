/**
 * Fleet baselines: a snapshot of every host's sysctls and network settings (from the
 * latest state reports), and the difference between two snapshots (pure).
 *
 * Design: a snapshot keeps, per host, a flat map `item → value` (`sysctl net.ipv4.ip_forward`
 * → `1`, `link br0` → `bridge mtu=1500 up master=-`, `address br0 10.0.0.1/24` → `present`,
 * `route 254 10.9.0.0/16` → `via 10.0.0.1`, `service frr` → `running`). Flat items make the
 * diff one generic merge and its output readable line by line; quarterly re-baselining is
 * "capture, diff against last quarter's file, review". Snapshots are versioned (`v: 1`) JSON.
 */
import { FleetnetError, type StateReport } from "@fleetnet/protocol";
import { normalizeSysctlValue } from "./drift.js";

/** One host in a fleet snapshot. */
export interface HostBaseline {
  /** When the state report this comes from was taken. */
  at: string;
  items: Record<string, string>;
}

/** A fleet snapshot (`fleetnet baseline capture`). */
export interface FleetBaseline {
  v: 1;
  capturedAt: string;
  hosts: Record<string, HostBaseline>;
}

/** One difference between two snapshots. */
export interface BaselineChange {
  host: string;
  /** `host-added`/`host-removed` concern the whole host (`item` is empty). */
  change: "added" | "removed" | "changed" | "host-added" | "host-removed";
  item: string;
  before?: string;
  after?: string;
}

/** Flat items of one state report. */
export function hostItems(report: Pick<StateReport, "state" | "sysctls">): Record<string, string> {
  const items: Record<string, string> = {};
  for (const [key, r] of Object.entries(report.sysctls)) {
    items[`sysctl ${key}`] = r.status === "absent" ? "(absent)" : normalizeSysctlValue(r.value);
    if (r.status === "read-only") items[`sysctl ${key}`] += " (read-only)";
  }
  for (const s of report.state.sysctls) {
    if (items[`sysctl ${s.key}`] === undefined) items[`sysctl ${s.key}`] = normalizeSysctlValue(s.value);
  }
  for (const l of report.state.links) {
    const extra =
      l.kind === "vxlan"
        ? ` vni=${l.vni} local=${l.local} port=${l.port} dev=${l.dev}`
        : l.kind === "vlan"
          ? ` id=${l.id} parent=${l.parent}`
          : "";
    items[`link ${l.name}`] =
      `${l.kind} mtu=${l.mtu ?? "-"} ${l.up ? "up" : "down"} master=${l.master ?? "-"}${extra}`;
  }
  for (const p of report.state.ports) items[`port ${p.dev}`] = `master=${p.master}`;
  for (const a of report.state.addresses) items[`address ${a.dev} ${a.address}`] = "present";
  for (const r of report.state.routes) {
    const path = r.gateway
      ? `via ${r.gateway}`
      : r.nexthops
        ? r.nexthops.map((n) => `nexthop ${n.via} weight ${n.weight}`).join(" ")
        : `dev ${r.dev}`;
    items[`route ${r.table} ${r.destination}`] = `${path} proto ${r.protocol}`;
  }
  for (const s of report.state.services)
    items[`service ${s.name}`] = `${s.running ? "running" : "stopped"} ${s.configHash}`;
  return items;
}

/** Snapshot the fleet from the latest state report per host. */
export function captureBaseline(
  reports: Iterable<Pick<StateReport, "host" | "at" | "state" | "sysctls">>,
  now: Date = new Date(),
): FleetBaseline {
  const hosts: Record<string, HostBaseline> = {};
  const sorted = [...reports].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  for (const r of sorted) hosts[r.host] = { at: r.at, items: hostItems(r) };
  return { v: 1, capturedAt: now.toISOString(), hosts };
}

/**
 * Check that `value` is a {@link FleetBaseline}; throws `BASELINE_INVALID` naming the
 * document and field.
 */
export function parseBaseline(value: unknown, name = "baseline"): FleetBaseline {
  const bad = (field: string, why: string): never => {
    throw new FleetnetError("BASELINE_INVALID", `${name}: field ${field}: ${why}`, {
      retryable: false,
      details: { document: name, field },
    });
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) bad("(root)", "not an object");
  const v = value as Record<string, unknown>;
  if (v.v !== 1) bad("v", `expected 1, got ${JSON.stringify(v.v)}`);
  if (typeof v.capturedAt !== "string") bad("capturedAt", "not a string");
  if (typeof v.hosts !== "object" || v.hosts === null || Array.isArray(v.hosts))
    bad("hosts", "not an object");
  for (const [host, hb] of Object.entries(v.hosts as Record<string, unknown>)) {
    const h = hb as Record<string, unknown> | null;
    if (typeof h !== "object" || h === null) bad(`hosts.${host}`, "not an object");
    const hh = h as Record<string, unknown>;
    if (typeof hh.at !== "string") bad(`hosts.${host}.at`, "not a string");
    if (typeof hh.items !== "object" || hh.items === null) bad(`hosts.${host}.items`, "not an object");
    for (const [item, iv] of Object.entries(hh.items as Record<string, unknown>)) {
      if (typeof iv !== "string") bad(`hosts.${host}.items.${item}`, "not a string");
    }
  }
  return value as FleetBaseline;
}

/** Differences from snapshot `a` to snapshot `b`, sorted by host then item. */
export function diffBaselines(a: FleetBaseline, b: FleetBaseline): BaselineChange[] {
  const out: BaselineChange[] = [];
  const hosts = [...new Set([...Object.keys(a.hosts), ...Object.keys(b.hosts)])].sort();
  for (const host of hosts) {
    const ha = a.hosts[host];
    const hb = b.hosts[host];
    if (!ha) {
      out.push({ host, change: "host-added", item: "" });
      continue;
    }
    if (!hb) {
      out.push({ host, change: "host-removed", item: "" });
      continue;
    }
    const items = [...new Set([...Object.keys(ha.items), ...Object.keys(hb.items)])].sort();
    for (const item of items) {
      const before = ha.items[item];
      const after = hb.items[item];
      if (before === after) continue;
      if (before === undefined) out.push({ host, change: "added", item, after: after as string });
      else if (after === undefined) out.push({ host, change: "removed", item, before });
      else out.push({ host, change: "changed", item, before, after });
    }
  }
  return out;
}
