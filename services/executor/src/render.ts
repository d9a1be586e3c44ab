/**
 * Ops → commands. Every value that reaches a command line is parsed first (interface
 * names, addresses, prefixes, MACs, integers, sysctl keys) and refused with
 * `UNSAFE_ARGUMENT` otherwise, even though ops were schema-checked at the edge: the
 * executor trusts nothing it did not parse itself.
 *
 * Commands are grouped into *segments*: consecutive ops of one tool become one process —
 * `ip -batch -` (links, addresses, routes), `bridge -batch -` (FDB), one `sysctl -w`
 * with every key — so an apply costs a handful of processes whatever its size. `diff`
 * emits deletes before creates, so a typical transaction has at most two `ip` and two
 * `bridge` segments. File and service ops are their own segments (driver calls).
 */
import { parseCidr, parseIp } from "@fleetnet/intent";
import type { LinkAddOp, LinkChanges, Op, RouteDelOp, RouteReplaceOp } from "@fleetnet/netstate";
import { ExecutorError } from "./errors.js";

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const SYSCTL_KEY = /^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/;
/** Characters iproute2's batch tokenizer passes through unchanged (no quotes, `#`, spaces). */
const ALIAS = /^[A-Za-z0-9:/_.@=+,-]+$/;

function unsafe(what: string, v: unknown): never {
  throw new ExecutorError("UNSAFE_ARGUMENT", `${what} ${JSON.stringify(v)} is not valid`);
}

/** An interface name the kernel accepts. */
function ifname(v: unknown): string {
  return typeof v === "string" && IFNAME.test(v) && v !== "." && v !== ".." ? v : unsafe("interface name", v);
}
/** An IP address (v4 or v6). */
export function ip(v: unknown): string {
  return typeof v === "string" && parseIp(v) !== undefined ? v : unsafe("IP address", v);
}
/** An address/prefix. */
function cidr(v: unknown): string {
  return typeof v === "string" && parseCidr(v) !== undefined ? v : unsafe("prefix", v);
}
/** A MAC address (lower case). */
function mac(v: unknown): string {
  return typeof v === "string" && MAC.test(v) ? v : unsafe("MAC address", v);
}
/** An integer within bounds, as text. */
function int(v: unknown, min: number, max: number, what = "number"): string {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max ? String(v) : unsafe(what, v);
}
/** A sysctl key (dotted). */
function sysctlKey(v: unknown): string {
  return typeof v === "string" && SYSCTL_KEY.test(v) ? v : unsafe("sysctl key", v);
}
/** A sysctl value: printable, one line, not empty. */
function sysctlValue(v: unknown): string {
  return typeof v === "string" && /^[\x20-\x7e\t]+$/.test(v) ? v : unsafe("sysctl value", v);
}
/** A link alias usable in a batch line (`""` clears). */
function alias(v: string | null): string {
  if (v === null || v === "") return '""';
  return ALIAS.test(v) && v.length <= 255 ? v : unsafe("link alias", v);
}

/** Which process an op goes to. */
type Tool = "ip" | "bridge" | "sysctl" | "file" | "service";

/** The tool of an op. */
function toolOf(op: Op): Tool {
  switch (op.op) {
    case "fdb.append":
    case "fdb.del":
      return "bridge";
    case "sysctl.set":
      return "sysctl";
    case "file.write":
    case "file.remove":
      return "file";
    case "service.reload":
    case "service.start":
    case "service.stop":
      return "service";
    default:
      return "ip";
  }
}

function linkAddLines(op: LinkAddOp): string[] {
  const name = ifname(op.name);
  let add: string;
  switch (op.kind) {
    case "bridge":
      add = `link add ${name} type bridge`;
      break;
    case "vxlan":
      add =
        `link add ${name} type vxlan id ${int(op.vni, 1, 16777215, "VNI")} local ${ip(op.local)}` +
        ` dstport ${int(op.port, 1, 65535, "port")} dev ${ifname(op.dev)} ${op.learning ? "learning" : "nolearning"}` +
        (op.group !== undefined ? ` group ${ip(op.group)}` : "");
      break;
    case "vlan":
      add = `link add link ${ifname(op.parent)} name ${name} type vlan id ${int(op.id, 1, 4094, "VLAN id")}`;
      break;
    case "veth":
      add = `link add ${name} type veth${op.peer !== undefined ? ` peer name ${ifname(op.peer)}` : ""}`;
      break;
  }
  const set: LinkChanges = { up: op.up };
  if (op.mtu !== undefined) set.mtu = op.mtu;
  if (op.master !== undefined) set.master = op.master;
  if (op.alias !== undefined) set.alias = op.alias;
  return [add, ...linkSetLines(name, set)];
}

function linkSetLines(nameIn: string, set: LinkChanges): string[] {
  const name = ifname(nameIn);
  const attrs: string[] = [];
  if (set.mtu !== undefined) attrs.push(`mtu ${int(set.mtu, 68, 65535, "MTU")}`);
  if (set.master !== undefined) attrs.push(set.master === null ? "nomaster" : `master ${ifname(set.master)}`);
  if (set.alias !== undefined) attrs.push(`alias ${alias(set.alias)}`);
  const lines = attrs.length > 0 ? [`link set ${name} ${attrs.join(" ")}`] : [];
  // up last: a port joins its bridge before it comes up
  if (set.up !== undefined) lines.push(`link set ${name} ${set.up ? "up" : "down"}`);
  return lines;
}

function routePath(op: RouteReplaceOp | RouteDelOp): string {
  if (op.nexthops !== undefined) {
    return op.nexthops
      .map(
        (n) =>
          `nexthop via ${ip(n.via)}${n.dev !== undefined ? ` dev ${ifname(n.dev)}` : ""} weight ${int(n.weight, 1, 256, "weight")}`,
      )
      .join(" ");
  }
  const parts: string[] = [];
  if (op.gateway !== undefined) parts.push(`via ${ip(op.gateway)}`);
  if (op.dev !== undefined) parts.push(`dev ${ifname(op.dev)}`);
  return parts.join(" ");
}

function routeHead(op: RouteReplaceOp | RouteDelOp): string {
  const dst = cidr(op.destination);
  const v6 = dst.includes(":") ? "-6 " : "";
  return `${v6}route ${op.op === "route.del" ? "del" : "replace"} ${dst} table ${int(op.table, 1, 4294967295, "table")} proto ${int(op.protocol, 0, 255, "protocol")}`;
}

/** The `ip -batch` lines of one ip op. */
export function ipLines(op: Op): string[] {
  switch (op.op) {
    case "link.add":
      return linkAddLines(op);
    case "link.set":
      return linkSetLines(op.name, op.set);
    case "link.del":
      return [`link del ${ifname(op.name)}`];
    case "addr.add":
      return [`addr add ${cidr(op.address)} dev ${ifname(op.dev)}`];
    case "addr.del":
      return [`addr del ${cidr(op.address)} dev ${ifname(op.dev)}`];
    case "route.replace":
      return [`${routeHead(op)} ${routePath(op)}`];
    case "route.del":
      return [`${routeHead(op)} ${routePath(op)}`.trimEnd()];
    default:
      throw new ExecutorError("UNSAFE_ARGUMENT", `${op.op} is not an ip op`);
  }
}

/** The `bridge -batch` line of one FDB op. */
export function bridgeLine(op: Op): string {
  if (op.op !== "fdb.append" && op.op !== "fdb.del") {
    throw new ExecutorError("UNSAFE_ARGUMENT", `${op.op} is not a bridge op`);
  }
  return `fdb ${op.op === "fdb.append" ? "append" : "del"} ${mac(op.mac)} dev ${ifname(op.dev)} dst ${ip(op.dst)}`;
}

/** `key=value` for `sysctl -w`. */
export function sysctlAssignment(key: string, value: string): string {
  return `${sysctlKey(key)}=${sysctlValue(value)}`;
}

/** Consecutive ops of one tool. */
export interface Segment {
  tool: Tool;
  ops: Op[];
}

/** Split ops into segments (order kept). */
export function segments(ops: readonly Op[]): Segment[] {
  const out: Segment[] = [];
  for (const op of ops) {
    const tool = toolOf(op);
    const last = out[out.length - 1];
    if (last && last.tool === tool && tool !== "service") last.ops.push(op);
    else out.push({ tool, ops: [op] });
  }
  return out;
}

/** Validate every value of every op (throws `UNSAFE_ARGUMENT`), without running anything. */
export function checkOps(ops: readonly Op[]): void {
  for (const op of ops) {
    const tool = toolOf(op);
    if (tool === "ip") ipLines(op);
    else if (tool === "bridge") bridgeLine(op);
    else if (op.op === "sysctl.set") {
      sysctlKey(op.key);
      sysctlValue(op.value);
    }
  }
}
