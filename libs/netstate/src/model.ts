/**
 * The `HostState` model: what fleetnet wants (desired, from `compile`) or sees (observed,
 * from an executor) on one host, restricted to the objects fleetnet deals with.
 *
 * Design:
 * - Plain JSON data (no classes, no Maps) so a state travels in a NATS job unchanged;
 *   {@link HostStateSchema} validates it at the edge.
 * - Every collection has a canonical order ({@link normalizeHostState}); `compile` emits
 *   canonical states and `diff` merge-joins sorted lists, which keeps a 1000-host full mesh
 *   (~1M FDB entries) linear.
 * - Ownership is visible in the data itself:
 *   links carry the alias `fleetnet:<Kind>/<intent>` ({@link ownerAlias}); routes carry
 *   protocol {@link FLEETNET_ROUTE_PROTOCOL}; addresses and FDB entries are owned when
 *   their device is an owned link; `ports` lists foreign interfaces enslaved to an owned
 *   bridge. For sysctls, files and services the executor keeps a host-side ledger: an
 *   OBSERVED state lists (a) every object that ledger says fleetnet set/wrote/started and
 *   (b) the current value of every object the desired state names. An observed sysctl
 *   owned by fleetnet carries `original` (its value before fleetnet first set it).
 * - Paths in `files` are logical absolute paths (`/etc/frr/frr.conf`); a driver that keeps
 *   a host's files elsewhere (the netns driver's per-host root) maps them.
 * - Objects are treated as immutable: `compile` shares identical objects (e.g. one FDB
 *   entry per overlay member) between hosts, and states it returns are remembered as
 *   canonical ({@link markCanonical}) so they are never re-sorted. Do not mutate a state
 *   you got from `compile`, `applyOps` or `normalizeHostState`; copy it.
 */
import { ifnameProblem, parseCidr, parseIp, SecretRefSchema } from "@fleetnet/intent";
import { z } from "zod";

/** Route protocol number that marks fleetnet's routes (`ip route ... proto 250`). */
export const FLEETNET_ROUTE_PROTOCOL = 250;
/** Alias prefix marking links fleetnet created. */
export const OWNER_ALIAS_PREFIX = "fleetnet:";
/** The main routing table id. */
export const MAIN_TABLE = 254;
/** The all-zero MAC of head-end replication FDB entries. */
export const ZERO_MAC = "00:00:00:00:00:00";

/** The alias fleetnet gives a link it creates for an intent: `fleetnet:<Kind>/<name>`. */
export function ownerAlias(kind: string, name: string): string {
  return `${OWNER_ALIAS_PREFIX}${kind}/${name}`;
}

/** Whether a link's alias marks it as fleetnet's. */
export function isOwnedAlias(alias: string | undefined | null): boolean {
  return typeof alias === "string" && alias.startsWith(OWNER_ALIAS_PREFIX);
}

// ---------------------------------------------------------------------------------------
// Field schemas
// ---------------------------------------------------------------------------------------

const IfName = z.string().refine((v) => ifnameProblem(v) === undefined, {
  message: "not a kernel interface name (1-15 chars of [A-Za-z0-9_.-])",
});
const Ip = z.string().refine((v) => parseIp(v) !== undefined, { message: "not an IP address" });
const Cidr = z.string().refine((v) => parseCidr(v) !== undefined, { message: "not a CIDR prefix" });
const Mac = z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, "not a lower-case MAC address");
const Mtu = z.number().int().min(68).max(65535);
/** Link alias: printable, no line breaks (the kernel limit is 255 bytes). */
const Alias = z
  .string()
  .max(255)
  .regex(/^[\x20-\x7e]*$/, "alias must be printable ASCII");

const LinkCommon = {
  name: IfName,
  /** MTU; `undefined` in a desired state means "whatever the kernel picks". */
  mtu: Mtu.optional(),
  /** Bridge this link is enslaved to. */
  master: IfName.optional(),
  /** Link alias; `fleetnet:<Kind>/<name>` marks fleetnet's links. */
  alias: Alias.optional(),
  /** Administrative state (`ip link set X up`). */
  up: z.boolean(),
};

/** A Linux bridge. */
export const BridgeLinkSchema = z.strictObject({ kind: z.literal("bridge"), ...LinkCommon });
/** A VXLAN device (`ip link add NAME type vxlan id VNI local IP dstport PORT dev DEV [no]learning`). */
export const VxlanLinkSchema = z.strictObject({
  kind: z.literal("vxlan"),
  ...LinkCommon,
  vni: z.number().int().min(1).max(16777215),
  /** Local VTEP address (the underlay address, without prefix length). */
  local: Ip,
  /** UDP destination port (`dstport`). */
  port: z.number().int().min(1).max(65535),
  /** Underlay device (`dev`). */
  dev: IfName,
  /** Source-address learning; fleetnet uses `nolearning` with static FDB entries. */
  learning: z.boolean(),
  /** Multicast group (replication mode multicast); absent for unicast head-end replication. */
  group: Ip.optional(),
});
/** An 802.1Q VLAN device (`ip link add link PARENT name NAME type vlan id ID`). */
export const VlanLinkSchema = z.strictObject({
  kind: z.literal("vlan"),
  ...LinkCommon,
  id: z.number().int().min(1).max(4094),
  parent: IfName,
});
/** One end of a veth pair. */
export const VethLinkSchema = z.strictObject({
  kind: z.literal("veth"),
  ...LinkCommon,
  peer: IfName.optional(),
});
/** A link, discriminated on `kind`. */
export const LinkSchema = z.discriminatedUnion("kind", [
  BridgeLinkSchema,
  VxlanLinkSchema,
  VlanLinkSchema,
  VethLinkSchema,
]);
export type BridgeLink = z.infer<typeof BridgeLinkSchema>;
export type VxlanLink = z.infer<typeof VxlanLinkSchema>;
export type VlanLink = z.infer<typeof VlanLinkSchema>;
export type VethLink = z.infer<typeof VethLinkSchema>;
/** A link fleetnet creates or observes. */
export type Link = z.infer<typeof LinkSchema>;
/** Link kinds. */
export type LinkKind = Link["kind"];

/** A foreign interface (not created by fleetnet) enslaved to one of fleetnet's bridges. */
export const PortSchema = z.strictObject({ dev: IfName, master: IfName });
export type Port = z.infer<typeof PortSchema>;

/** An interface address `address/len` on `dev`. */
export const AddressSchema = z.strictObject({ dev: IfName, address: Cidr });
export type Address = z.infer<typeof AddressSchema>;

/** One nexthop of a multipath route. */
export const NexthopSchema = z.strictObject({
  via: Ip,
  /** 1-256 (`ip route ... nexthop via X weight W`). */
  weight: z.number().int().min(1).max(256),
  dev: IfName.optional(),
});
export type Nexthop = z.infer<typeof NexthopSchema>;

/**
 * Fields of a route (shape shared with the route ops). A route: exactly one of `gateway`, `nexthops` (multipath) or `dev` (on-link) gives the
 * path. Identity is (`table`, `destination`).
 */
export const RouteFields = {
  /** Network prefix in canonical form (`10.252.0.0/16`). */
  destination: Cidr,
  /** Routing table id; 254 is main. */
  table: z.number().int().min(1).max(4294967295),
  /** Route protocol; {@link FLEETNET_ROUTE_PROTOCOL} marks fleetnet's routes. */
  protocol: z.number().int().min(0).max(255),
  gateway: Ip.optional(),
  dev: IfName.optional(),
  nexthops: z.array(NexthopSchema).min(1).optional(),
};
export const RouteSchema = z
  .strictObject(RouteFields)
  .refine((r) => (r.gateway !== undefined ? 1 : 0) + (r.nexthops !== undefined ? 1 : 0) <= 1, {
    message: "a route has either gateway or nexthops, not both",
  })
  .refine((r) => r.gateway !== undefined || r.nexthops !== undefined || r.dev !== undefined, {
    message: "a route needs gateway, nexthops or dev",
  });
export type Route = z.infer<typeof RouteSchema>;

/** A bridge FDB entry on a VXLAN device (`bridge fdb append MAC dev DEV dst DST`). */
export const FdbEntrySchema = z.strictObject({ dev: IfName, mac: Mac, dst: Ip });
export type FdbEntry = z.infer<typeof FdbEntrySchema>;

/** A sysctl value fleetnet sets (desired) or sees (observed). */
export const SysctlSchema = z.strictObject({
  key: z.string().regex(/^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/, "not a sysctl key"),
  value: z.string(),
  /**
   * Informational: the intent asks for persistence. Persistence itself is realised by the
   * `/etc/sysctl.d/90-fleetnet-<intent>.conf` entry in `files`; `diff` ignores this flag.
   */
  persist: z.boolean(),
  /**
   * Observed states only: the key's value before fleetnet first set it (`null`: the key could
   * not be read then). Present exactly when the executor's ledger says fleetnet owns the
   * key; `diff` restores it when no intent names the key any more.
   */
  original: z.string().nullable().optional(),
});
export type Sysctl = z.infer<typeof SysctlSchema>;

/**
 * A config file fleetnet writes. `content` may hold secret placeholders
 * (`@@fleetnet-secret:<id>@@`, see `secrets.ts`); `secrets` maps each id to where the
 * executor reads the value ON THE HOST. The plan and the hash only ever see the placeholder.
 */
export const ManagedFileSchema = z.strictObject({
  path: z
    .string()
    .regex(/^\/[^\0]*$/, "not an absolute path")
    .refine((p) => !p.split("/").includes(".."), { message: "path must not contain .." }),
  content: z.string(),
  /** Permission bits, e.g. 0o644 = 420. */
  mode: z.number().int().min(0).max(0o7777),
  secrets: z.record(z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/), SecretRefSchema).optional(),
});
export type ManagedFile = z.infer<typeof ManagedFileSchema>;

/** Daemons fleetnet configures. */
export const ServiceNameSchema = z.enum(["frr", "keepalived"]);
export type ServiceName = z.infer<typeof ServiceNameSchema>;

/** A daemon that should run with a given configuration. */
export const ServiceSchema = z.strictObject({
  name: ServiceNameSchema,
  running: z.boolean(),
  /**
   * `sha256:<hex>` of the service's config files (desired); observed: the hash of the
   * config the running daemon last loaded (executor ledger).
   */
  configHash: z.string(),
  /** The files (paths in `files`) this service reads. */
  configPaths: z.array(z.string()),
});
export type Service = z.infer<typeof ServiceSchema>;

/** Everything fleetnet wants on, or sees on, one host. See the module comment for ownership. */
export const HostStateSchema = z.strictObject({
  links: z.array(LinkSchema),
  ports: z.array(PortSchema),
  addresses: z.array(AddressSchema),
  routes: z.array(RouteSchema),
  fdb: z.array(FdbEntrySchema),
  sysctls: z.array(SysctlSchema),
  files: z.array(ManagedFileSchema),
  services: z.array(ServiceSchema),
});
/** Everything fleetnet wants on, or sees on, one host. */
export type HostState = z.infer<typeof HostStateSchema>;

/** A host state with nothing in it (e.g. `--assume-empty`). */
export function emptyHostState(): HostState {
  return { links: [], ports: [], addresses: [], routes: [], fdb: [], sysctls: [], files: [], services: [] };
}

// ---------------------------------------------------------------------------------------
// Identity keys and canonical order
// ---------------------------------------------------------------------------------------

/** Identity of an address. */
export const addressKey = (a: Address): string => `${a.dev} ${a.address}`;
/** Identity of a route: table and destination. */
export const routeKey = (r: Pick<Route, "table" | "destination">): string => `${r.table} ${r.destination}`;
/** Identity of an FDB entry. */
export const fdbKey = (f: FdbEntry): string => `${f.dev} ${f.mac} ${f.dst}`;

/** Code-unit string comparison (locale-independent, stable across machines). */
export function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Canonical order of each collection. */
export const ORDER = {
  links: (a: Link, b: Link) => cmpStr(a.name, b.name),
  ports: (a: Port, b: Port) => cmpStr(a.dev, b.dev),
  addresses: (a: Address, b: Address) => cmpStr(a.dev, b.dev) || cmpStr(a.address, b.address),
  routes: (a: Route, b: Route) => a.table - b.table || cmpStr(a.destination, b.destination),
  fdb: (a: FdbEntry, b: FdbEntry) => cmpStr(a.dev, b.dev) || cmpStr(a.mac, b.mac) || cmpStr(a.dst, b.dst),
  sysctls: (a: Sysctl, b: Sysctl) => cmpStr(a.key, b.key),
  files: (a: ManagedFile, b: ManagedFile) => cmpStr(a.path, b.path),
  services: (a: Service, b: Service) => cmpStr(a.name, b.name),
} as const;

function sortedIfNeeded<T>(xs: readonly T[], cmp: (a: T, b: T) => number): T[] {
  for (let i = 1; i < xs.length; i++) {
    if (cmp(xs[i - 1] as T, xs[i] as T) > 0) return [...xs].sort(cmp);
  }
  return xs as T[];
}

/** Whether FDB entries are in canonical order (the hot check of a full mesh, kept lean). */
function fdbSorted(xs: readonly FdbEntry[]): boolean {
  for (let i = 1; i < xs.length; i++) {
    const a = xs[i - 1] as FdbEntry;
    const b = xs[i] as FdbEntry;
    if (a.dev !== b.dev) {
      if (a.dev > b.dev) return false;
    } else if (a.mac !== b.mac) {
      if (a.mac > b.mac) return false;
    } else if (a.dst > b.dst) return false;
  }
  return true;
}

/** States known to be in canonical order (outputs of compile/applyOps/normalize). */
const canonicalStates = new WeakSet<HostState>();

/**
 * Record that `s` is already in canonical order, so {@link normalizeHostState} returns it
 * as is. Only for producers that guarantee the order (compile); states are immutable.
 */
export function markCanonical(s: HostState): HostState {
  canonicalStates.add(s);
  return s;
}

/**
 * The state with every collection in canonical order (arrays already in order are reused,
 * so this is O(n); states from `compile`/`applyOps` are returned at once). Does not
 * deduplicate.
 */
export function normalizeHostState(s: HostState): HostState {
  if (canonicalStates.has(s)) return s;
  return markCanonical({
    links: sortedIfNeeded(s.links, ORDER.links),
    ports: sortedIfNeeded(s.ports, ORDER.ports),
    addresses: sortedIfNeeded(s.addresses, ORDER.addresses),
    routes: sortedIfNeeded(s.routes, ORDER.routes),
    fdb: fdbSorted(s.fdb) ? (s.fdb as FdbEntry[]) : [...s.fdb].sort(ORDER.fdb),
    sysctls: sortedIfNeeded(s.sysctls, ORDER.sysctls),
    files: sortedIfNeeded(s.files, ORDER.files),
    services: sortedIfNeeded(s.services, ORDER.services),
  });
}
