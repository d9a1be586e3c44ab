/**
 * The fleet plan (INTENTS.md "Plan output"): per host, the ops that turn what is there into
 * what the intents want, plus a hash that identifies the desired state.
 *
 * - `hash` = `sha256:` + hex sha256 of the canonical JSON of `{"hosts": {<name>: HostState}}`
 *   (every inventory host, keys sorted). It is streamed host by host with the canonical
 *   text of shared objects cached, so a 1000-host full mesh hashes without building one
 *   huge string; {@link desiredStateHash} equals `sha256Text(canonicalJson(...))`.
 * - The plan never holds a secret: files carry placeholders and references only.
 * - {@link formatPlan} is the human form: a per-host diff (`+` add, `-` remove, `~` change)
 *   and a terraform-like summary line. Long runs of FDB ops on one device are folded into
 *   one line.
 */
import { createHash, randomUUID } from "node:crypto";
import type { Intent, Inventory } from "@fleetnet/intent";
import { canonicalJson } from "./canonical.js";
import { type Allocations, compile } from "./compile.js";
import { diff } from "./diff.js";
import { NetstateError } from "./errors.js";
import { emptyHostState, type HostState } from "./model.js";
import type { Op } from "./ops.js";

/** The ops of one host. */
export interface HostPlan {
  host: string;
  ops: Op[];
}

/** A plan (INTENTS.md). `allocations` is an added optional field: IPAM to keep for the next plan. */
export interface Plan {
  planId: string;
  hash: string;
  summary: { hosts: number; changedHosts: number; ops: number };
  hosts: HostPlan[];
  allocations?: Allocations;
}

/** Observed state per host, or `"assume-empty"` (hosts with nothing of fleetnet's on them). */
export type Observed = ReadonlyMap<string, HostState> | Readonly<Record<string, HostState>> | "assume-empty";

/** Options of {@link buildPlan}. */
export interface PlanOptions {
  /** Allocations of the previous plan (IPAM stays put). */
  allocations?: Allocations;
  /** Plan id; default a random UUID. */
  planId?: string;
}

function observedOf(observed: Observed, host: string): HostState {
  if (observed === "assume-empty") return emptyHostState();
  const s = observed instanceof Map ? observed.get(host) : (observed as Record<string, HostState>)[host];
  if (!s) {
    throw new NetstateError("COMPILE_UNRESOLVED", `no observed state for host ${host}`, { host });
  }
  return s;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * `sha256:<hex>` of the canonical JSON of `{"hosts": {name: state}}`. Streams per host and
 * caches the canonical text of objects shared between hosts (FDB entries, links).
 */
export function desiredStateHash(desired: ReadonlyMap<string, HostState>): string {
  const h = createHash("sha256");
  const cache = new WeakMap<object, string>();
  const item = (x: object): string => {
    let s = cache.get(x);
    if (s === undefined) {
      s = canonicalJson(x);
      cache.set(x, s);
    }
    return s;
  };
  const list = (xs: readonly object[]): string => {
    const parts = new Array<string>(xs.length);
    for (let i = 0; i < xs.length; i++) parts[i] = item(xs[i] as object);
    return `[${parts.join(",")}]`;
  };
  h.update('{"hosts":{');
  const names = [...desired.keys()].sort(byName);
  names.forEach((name, i) => {
    const s = desired.get(name) as HostState;
    // Keys of HostState in sorted order.
    h.update(
      `${i > 0 ? "," : ""}${JSON.stringify(name)}:{"addresses":${list(s.addresses)},"fdb":${list(s.fdb)},"files":${list(s.files)},"links":${list(s.links)},"ports":${list(s.ports)},"routes":${list(s.routes)},"services":${list(s.services)},"sysctls":${list(s.sysctls)}}`,
    );
  });
  h.update("}}");
  return `sha256:${h.digest("hex")}`;
}

/** A plan from already compiled desired states (the planner keeps `desired` for jobs). */
export function planFromDesired(
  desired: ReadonlyMap<string, HostState>,
  observed: Observed,
  opts: { planId?: string; allocations?: Allocations } = {},
): Plan {
  const hosts: HostPlan[] = [];
  let ops = 0;
  let changedHosts = 0;
  for (const name of [...desired.keys()].sort(byName)) {
    const d = desired.get(name) as HostState;
    let o: Op[];
    try {
      o = diff(d, observedOf(observed, name));
    } catch (e) {
      // name the host: the same conflict reads very differently on h001 and h200
      if (e instanceof NetstateError)
        throw new NetstateError(e.code, `${name}: ${e.message}`, { ...e.details, host: name });
      throw e;
    }
    hosts.push({ host: name, ops: o });
    ops += o.length;
    if (o.length > 0) changedHosts++;
  }
  const plan: Plan = {
    planId: opts.planId ?? randomUUID(),
    hash: desiredStateHash(desired),
    summary: { hosts: hosts.length, changedHosts, ops },
    hosts,
  };
  if (opts.allocations) plan.allocations = opts.allocations;
  return plan;
}

/**
 * Compile the intents and diff every inventory host against `observed`.
 * @throws NetstateError on input validation should have refused (conflicts, exhausted pools).
 */
export function buildPlan(
  inventory: Inventory,
  intents: readonly Intent[],
  observed: Observed,
  opts: PlanOptions = {},
): Plan {
  const c = compile(inventory, intents, opts.allocations);
  return planFromDesired(c.hosts, observed, {
    allocations: c.allocations,
    ...(opts.planId !== undefined ? { planId: opts.planId } : {}),
  });
}

// ---------------------------------------------------------------------------------------
// Human form
// ---------------------------------------------------------------------------------------

/** Colour functions (identity when output is not a terminal). */
export interface Palette {
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const plain: Palette = { green: (s) => s, red: (s) => s, yellow: (s) => s, dim: (s) => s, bold: (s) => s };

/** Whether an op adds (`+`), removes (`-`) or changes (`~`) something. */
export function opSymbol(op: Op): "+" | "-" | "~" {
  switch (op.op) {
    case "link.add":
    case "addr.add":
    case "fdb.append":
    case "service.start":
      return "+";
    case "link.del":
    case "addr.del":
    case "route.del":
    case "fdb.del":
    case "file.remove":
    case "service.stop":
      return "-";
    case "route.replace":
      return op.previous === undefined ? "+" : "~";
    case "file.write":
      return op.previous === null ? "+" : "~";
    case "sysctl.set":
      return op.ownership === "release" ? "-" : op.previous === null ? "+" : "~";
    case "link.set":
    case "service.reload":
      return "~";
  }
}

function lines(text: string): number {
  return text === "" ? 0 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
}

/** One line describing an op (no secrets: file contents are summarised, never shown). */
export function describeOp(op: Op): string {
  switch (op.op) {
    case "link.add":
    case "link.del": {
      const a: string[] = [op.kind];
      if (op.kind === "vxlan") {
        a.push(`id ${op.vni} local ${op.local} dstport ${op.port} dev ${op.dev}`);
        a.push(op.learning ? "learning" : "nolearning");
        if (op.group) a.push(`group ${op.group}`);
      }
      if (op.kind === "vlan") a.push(`id ${op.id} link ${op.parent}`);
      if (op.kind === "veth" && op.peer) a.push(`peer ${op.peer}`);
      if (op.master) a.push(`master ${op.master}`);
      if (op.mtu !== undefined) a.push(`mtu ${op.mtu}`);
      return `link ${op.name} (${a.join(" ")})`;
    }
    case "link.set": {
      const ch = Object.keys(op.set).map((k) => {
        const key = k as keyof typeof op.set;
        const show = (v: unknown) => (v === null || v === undefined ? "none" : String(v));
        return `${k} ${show(op.previous[key])} → ${show(op.set[key])}`;
      });
      return `link ${op.name}: ${ch.join(", ")}`;
    }
    case "addr.add":
    case "addr.del":
      return `address ${op.address} dev ${op.dev}`;
    case "route.replace":
    case "route.del": {
      const via = op.nexthops
        ? op.nexthops.map((n) => `nexthop via ${n.via} weight ${n.weight}`).join(" ")
        : op.gateway
          ? `via ${op.gateway}`
          : `dev ${op.dev ?? "?"}`;
      return `route ${op.destination} table ${op.table} proto ${op.protocol} ${via}`;
    }
    case "fdb.append":
    case "fdb.del":
      return `fdb ${op.mac} dev ${op.dev} dst ${op.dst}`;
    case "sysctl.set":
      return op.ownership === "release"
        ? `sysctl ${op.key}: restore ${JSON.stringify(op.value)} (was ${JSON.stringify(op.previous)})`
        : `sysctl ${op.key}: ${op.previous === null ? "(unset)" : JSON.stringify(op.previous)} → ${JSON.stringify(op.value)}`;
    case "file.write": {
      const mode = `mode ${op.mode.toString(8).padStart(4, "0")}`;
      const sec = op.secrets ? `, secrets from ${Object.keys(op.secrets).length} reference(s)` : "";
      if (op.previous === null) return `file ${op.path} (${lines(op.content)} lines, ${mode}${sec})`;
      return `file ${op.path} (${lines(op.previous.content)} → ${lines(op.content)} lines, ${mode}${sec})`;
    }
    case "file.remove":
      return `file ${op.path}`;
    case "service.start":
      return `service ${op.service} start`;
    case "service.stop":
      return `service ${op.service} stop`;
    case "service.reload":
      return `service ${op.service} reload (config ${op.previousHash.slice(7, 19)} → ${op.configHash.slice(7, 19)})`;
  }
}

/** FDB runs longer than this on one device are folded into one line. */
const FOLD_FDB = 8;

/**
 * Human plan: one block per changed host, a dim line listing unchanged hosts, and the summary
 * line `Plan: N to add, M to change, K to remove on C of H hosts.`
 */
export function formatPlan(plan: Plan, palette: Palette = plain): string {
  const out: string[] = [];
  const paint = { "+": palette.green, "-": palette.red, "~": palette.yellow } as const;
  const count = { "+": 0, "-": 0, "~": 0 };
  const unchanged: string[] = [];
  for (const hp of plan.hosts) {
    if (hp.ops.length === 0) {
      unchanged.push(hp.host);
      continue;
    }
    out.push(palette.bold(`host ${hp.host}: ${hp.ops.length} op(s)`));
    for (let i = 0; i < hp.ops.length; ) {
      const op = hp.ops[i] as Op;
      const sym = opSymbol(op);
      if (op.op === "fdb.append" || op.op === "fdb.del") {
        let j = i;
        while (j < hp.ops.length) {
          const x = hp.ops[j] as Op;
          if (x.op !== op.op || x.dev !== op.dev) break;
          j++;
        }
        if (j - i > FOLD_FDB) {
          const last = hp.ops[j - 1] as typeof op;
          count[sym] += j - i;
          out.push(
            paint[sym](`  ${sym} fdb dev ${op.dev}: ${j - i} entries ${op.mac} dst ${op.dst} … ${last.dst}`),
          );
          i = j;
          continue;
        }
      }
      count[sym]++;
      out.push(paint[sym](`  ${sym} ${describeOp(op)}`));
      i++;
    }
  }
  if (unchanged.length > 0) {
    const shown = unchanged.length > 20 ? `${unchanged.slice(0, 20).join(", ")}, …` : unchanged.join(", ");
    out.push(palette.dim(`no changes on ${unchanged.length} host(s): ${shown}`));
  }
  const s = plan.summary;
  out.push(
    palette.bold(
      s.ops === 0
        ? `No changes. ${s.hosts} host(s) already match the intents. (${plan.hash})`
        : `Plan: ${count["+"]} to add, ${count["~"]} to change, ${count["-"]} to remove on ${s.changedHosts} of ${s.hosts} host(s). (${plan.hash})`,
    ),
  );
  return `${out.join("\n")}\n`;
}

/**
 * The plan as JSON text: pretty at the top, one op per line (valid JSON, readable, and
 * linear for millions of ops).
 */
export function planJson(plan: Plan): string {
  const parts: string[] = [];
  parts.push("{\n");
  parts.push(`  "planId": ${JSON.stringify(plan.planId)},\n`);
  parts.push(`  "hash": ${JSON.stringify(plan.hash)},\n`);
  parts.push(`  "summary": ${JSON.stringify(plan.summary)},\n`);
  parts.push('  "hosts": [');
  plan.hosts.forEach((hp, i) => {
    parts.push(`${i > 0 ? "," : ""}\n    {"host": ${JSON.stringify(hp.host)}, "ops": [`);
    hp.ops.forEach((op, k) => {
      parts.push(`${k > 0 ? "," : ""}\n      ${JSON.stringify(op)}`);
    });
    parts.push(hp.ops.length > 0 ? "\n    ]}" : "]}");
  });
  parts.push(plan.hosts.length > 0 ? "\n  ]" : "]");
  if (plan.allocations) parts.push(`,\n  "allocations": ${JSON.stringify(plan.allocations)}`);
  parts.push("\n}\n");
  return parts.join("");
}
