/**
 * zod schemas for every document kind of the fleetnet intent format v1 (INTENTS.md).
 *
 * Design:
 * - Every object is `z.strictObject`: unknown fields are errors (a typo must never be
 *   silently ignored in network config).
 * - Field-level format rules (interface names, CIDRs, DNS labels, sysctl keys, secret refs)
 *   are custom checks that carry a stable error `code` in `params.code`; `validate.ts`
 *   turns them into {@link ValidationError}s. The same rules are exposed to editors as
 *   `pattern`/`description` metadata in the JSON Schema.
 * - Defaults that INTENTS.md states are applied by the schemas (the parsed output type has
 *   them filled in); defaults that depend on the fleet (overlay MTU = underlay − 50, router
 *   id = underlay address) stay optional and are resolved by the consumers with the helpers
 *   exported here.
 * - Rules that need more than one field or document (collisions, host references, pools)
 *   live in `semantic.ts`.
 */
import { z } from "zod";
import { isNetworkOrBroadcast, parseCidr, parseIp } from "./ip.js";

/** The only supported `apiVersion`. */
export const API_VERSION = "fleetnet/v1";

/** `metadata.name`, host names: a DNS label (RFC 1123). */
export const DNS_LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Kernel interface name: 1–15 bytes of `[A-Za-z0-9_.-]`, and not `.` or `..`. */
export const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
/** A sysctl key as a dot path of `[a-z0-9_-]` segments, e.g. `net.ipv4.ip_forward`. */
export const SYSCTL_KEY_RE = /^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/;
/** Top-level directories of /proc/sys. */
export const SYSCTL_ROOTS: readonly string[] = [
  "abi",
  "crypto",
  "debug",
  "dev",
  "fs",
  "kernel",
  "net",
  "sunrpc",
  "user",
  "vm",
];
/** Label key (`rack`, `example.com/role`) and label value. */
export const LABEL_KEY_RE =
  /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
/** Label value: empty, or up to 63 of `[A-Za-z0-9_.-]` starting and ending alphanumeric. */
export const LABEL_VALUE_RE = /^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$/;
/** Environment variable name for `{fromEnv}` secrets. */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Durations: `500ms`, `10s`, `1m30s`, `2h`. */
export const DURATION_RE = /^([0-9]+(ms|s|m|h))+$/;

/** Why a kernel would refuse this interface name, or `undefined` when it is acceptable. */
export function ifnameProblem(name: string): string | undefined {
  if (name.length === 0) return "it is empty";
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > 15) return `it is ${bytes} bytes long (the kernel allows at most 15)`;
  if (name === "." || name === "..") return `"${name}" is reserved`;
  const bad = [...name].find((c) => !/[A-Za-z0-9_.-]/.test(c));
  if (bad !== undefined) {
    const shown = /\s/.test(bad) ? "whitespace" : `"${bad}"`;
    return `it contains ${shown} (allowed: letters, digits, "_", ".", "-")`;
  }
  return undefined;
}

/** A string checked by `check`; a failure is an issue with a stable `params.code`. */
function coded(
  code: string,
  check: (v: string) => string | undefined,
  meta: { description: string; pattern?: string },
) {
  return z
    .string()
    .check((ctx) => {
      const problem = check(ctx.value);
      if (problem !== undefined) {
        ctx.issues.push({ code: "custom", message: problem, input: ctx.value, params: { code } });
      }
    })
    .meta(meta);
}

/** DNS label (`metadata.name`, host names). */
export const DnsLabelSchema = coded(
  "BAD_NAME",
  (v) =>
    DNS_LABEL_RE.test(v)
      ? undefined
      : `"${v}" is not a DNS label (1–63 lower-case letters, digits and "-", starting and ending with a letter or digit)`,
  { description: "DNS label", pattern: DNS_LABEL_RE.source },
);

/** Kernel interface name. */
export const IfNameSchema = coded(
  "BAD_IFNAME",
  (v) => {
    const p = ifnameProblem(v);
    return p === undefined ? undefined : `interface name "${v}" is refused by the kernel: ${p}`;
  },
  { description: "kernel interface name: 1-15 characters of [A-Za-z0-9_.-]", pattern: IFNAME_RE.source },
);

/** An IPv4 or IPv6 address without prefix. */
export const IpAddressSchema = coded(
  "BAD_ADDRESS",
  (v) => (parseIp(v) ? undefined : `"${v}" is not an IPv4 or IPv6 address`),
  { description: "IPv4 or IPv6 address" },
);

/** A prefix `network/len` (host bits allowed, they are ignored where a network is meant). */
export const CidrSchema = coded(
  "BAD_CIDR",
  (v) => (parseCidr(v) ? undefined : `"${v}" is not a CIDR prefix like 10.0.0.0/24 or fd00::/64`),
  { description: "CIDR prefix, e.g. 10.20.0.0/24" },
);

/** An interface address `address/len`: a CIDR whose address is a usable host address. */
export const InterfaceAddressSchema = coded(
  "BAD_CIDR",
  (v) => {
    const p = parseCidr(v);
    if (!p) return `"${v}" is not an interface address like 10.250.0.1/16`;
    if (isNetworkOrBroadcast(p))
      return `"${v}" is the network or broadcast address of its subnet, not a host address`;
    return undefined;
  },
  { description: "interface address with prefix length, e.g. 10.250.0.1/16" },
);

/** A sysctl key. */
export const SysctlKeySchema = coded(
  "BAD_SYSCTL_KEY",
  (v) => {
    if (!SYSCTL_KEY_RE.test(v)) {
      return `"${v}" is not a sysctl key (a dot path of [a-z0-9_-] segments like net.ipv4.ip_forward)`;
    }
    const root = v.slice(0, v.indexOf("."));
    if (!SYSCTL_ROOTS.includes(root)) {
      return `"${v}" is not a sysctl key: there is no /proc/sys/${root} (known roots: ${SYSCTL_ROOTS.join(", ")})`;
    }
    return undefined;
  },
  { description: "sysctl key", pattern: SYSCTL_KEY_RE.source },
);

const LabelKeySchema = coded(
  "BAD_LABEL",
  (v) => (LABEL_KEY_RE.test(v) ? undefined : `"${v}" is not a valid label key`),
  { description: "label key", pattern: LABEL_KEY_RE.source },
);
const LabelValueSchema = coded(
  "BAD_LABEL",
  (v) =>
    LABEL_VALUE_RE.test(v)
      ? undefined
      : `"${v}" is not a valid label value (up to 63 letters, digits, "_", ".", "-")`,
  { description: "label value", pattern: LABEL_VALUE_RE.source },
);

/** `labels: {key: value}`. */
export const LabelsSchema = z.record(LabelKeySchema, LabelValueSchema);

const DurationSchema = coded(
  "BAD_DURATION",
  (v) => (DURATION_RE.test(v) ? undefined : `"${v}" is not a duration like 500ms, 10s, 1m30s or 2h`),
  { description: "duration: 500ms, 10s, 1m30s, 2h", pattern: DURATION_RE.source },
);

/** Milliseconds of a duration string (`10s` → 10000). Throws on a malformed duration. */
export function durationMs(text: string): number {
  if (!DURATION_RE.test(text)) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  let total = 0;
  for (const m of text.matchAll(/([0-9]+)(ms|s|m|h)/g))
    total += Number(m[1]) * unit[m[2] as keyof typeof unit];
  return total;
}

const mtu = () => z.number().int().min(68).max(65535);

/** Document metadata. */
export const MetadataSchema = z.strictObject({ name: DnsLabelSchema });
/** Parsed (defaults applied) form of `MetadataSchema`. */
export type Metadata = z.infer<typeof MetadataSchema>;

// ---------------------------------------------------------------------------------------
// Host selectors
// ---------------------------------------------------------------------------------------

/** `{key, operator, values}` of a `matchExpressions` selector. */
export const SelectorExpressionSchema = z
  .strictObject({
    key: LabelKeySchema,
    operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
    values: z.array(LabelValueSchema).optional(),
  })
  .check((ctx) => {
    const { operator, values } = ctx.value;
    const needs = operator === "In" || operator === "NotIn";
    if (needs && (values === undefined || values.length === 0)) {
      ctx.issues.push({
        code: "custom",
        input: ctx.value,
        path: ["values"],
        message: `operator ${operator} needs a non-empty "values" list`,
        params: { code: "BAD_SELECTOR" },
      });
    } else if (!needs && values !== undefined) {
      ctx.issues.push({
        code: "custom",
        input: ctx.value,
        path: ["values"],
        message: `operator ${operator} takes no "values"`,
        params: { code: "BAD_SELECTOR" },
      });
    }
  });
/** Parsed (defaults applied) form of `SelectorExpressionSchema`. */
export type SelectorExpression = z.infer<typeof SelectorExpressionSchema>;

/** `hosts: {names: [...]}`. */
export const NamesSelectorSchema = z.strictObject({ names: z.array(DnsLabelSchema).min(1) });
/** `hosts: {matchLabels: {...}}` — all must match; `{}` matches every host. */
export const LabelSelectorSchema = z.strictObject({ matchLabels: LabelsSchema });
/** `hosts: {matchExpressions: [...]}` — all expressions must hold. */
export const ExpressionSelectorSchema = z.strictObject({
  matchExpressions: z.array(SelectorExpressionSchema).min(1),
});

/** One of the three selector forms (exactly one key). */
export const HostSelectorSchema = z
  .union([NamesSelectorSchema, LabelSelectorSchema, ExpressionSelectorSchema])
  .meta({
    id: "HostSelector",
    description: "hosts: {names: [...]} | {matchLabels: {...}} | {matchExpressions: [...]}",
  });
/** Parsed (defaults applied) form of `HostSelectorSchema`. */
export type HostSelector = z.infer<typeof HostSelectorSchema>;

/** The keys that decide a selector's form. */
export const SELECTOR_FORMS = ["names", "matchLabels", "matchExpressions"] as const;

// ---------------------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------------------

const AbsPathSchema = coded(
  "BAD_PATH",
  (v) => (v.startsWith("/") && !v.includes("\0") ? undefined : `"${v}" is not an absolute file path`),
  { description: "absolute file path" },
);

const HostnameOrIp = coded(
  "BAD_ADDRESS",
  (v) =>
    parseIp(v) ||
    /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
      v,
    )
      ? undefined
      : `"${v}" is neither an IP address nor a host name`,
  { description: "IP address or DNS host name" },
);

/** Key types OpenSSH puts first on a known_hosts / .pub line. */
const SSH_KEY_TYPE_RE =
  /^(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com|rsa-sha2-(256|512)) \S+( .*)?$/;

const SshHostKey = coded(
  "BAD_HOST_KEY",
  (v) =>
    SSH_KEY_TYPE_RE.test(v)
      ? undefined
      : `host key must be "<type> <key>" as in known_hosts (e.g. "ssh-ed25519 AAAAC3..."), got "${v.slice(0, 40)}"`,
  { description: 'pinned host public key, "ssh-ed25519 AAAA..."' },
);

/** Reach the host inside a network namespace of this machine (the lab). */
export const NetnsTransportSchema = z.strictObject({
  driver: z.literal("netns"),
  namespace: coded(
    "BAD_NAMESPACE",
    (v) =>
      /^[A-Za-z0-9_.-]{1,64}$/.test(v) && v !== "." && v !== ".."
        ? undefined
        : `"${v}" is not a usable network namespace name (1-64 characters of [A-Za-z0-9_.-])`,
    { description: "network namespace name (ip netns)" },
  ),
});
/** The executor runs on the host itself. */
export const LocalTransportSchema = z.strictObject({ driver: z.literal("local") });
/** Reach the host over SSH with key auth and a pinned host key. */
export const SshTransportSchema = z.strictObject({
  driver: z.literal("ssh"),
  host: HostnameOrIp,
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().check((ctx) => {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(ctx.value)) {
      ctx.issues.push({
        code: "custom",
        input: ctx.value,
        message: `"${ctx.value}" is not a valid user name`,
        params: { code: "BAD_USER" },
      });
    }
  }),
  hostKey: SshHostKey,
  knownHostsFile: AbsPathSchema.optional(),
  privateKeyFile: AbsPathSchema,
});
/** How the executor reaches a host; discriminated on `driver`. */
export const TransportSchema = z.discriminatedUnion("driver", [
  NetnsTransportSchema,
  LocalTransportSchema,
  SshTransportSchema,
]);
/** Parsed (defaults applied) form of `TransportSchema`. */
export type Transport = z.infer<typeof TransportSchema>;
/** Parsed (defaults applied) form of `NetnsTransportSchema`. */
export type NetnsTransport = z.infer<typeof NetnsTransportSchema>;
/** Parsed (defaults applied) form of `LocalTransportSchema`. */
export type LocalTransport = z.infer<typeof LocalTransportSchema>;
/** Parsed (defaults applied) form of `SshTransportSchema`. */
export type SshTransport = z.infer<typeof SshTransportSchema>;

/** The underlay: the VTEP / BGP source interface of a host. */
export const UnderlaySchema = z.strictObject({
  interface: IfNameSchema,
  address: InterfaceAddressSchema,
  mtu: mtu().default(1500),
});
/** Parsed (defaults applied) form of `UnderlaySchema`. */
export type Underlay = z.infer<typeof UnderlaySchema>;

/** One host of the fleet. */
export const InventoryHostSchema = z.strictObject({
  name: DnsLabelSchema,
  labels: LabelsSchema.default({}),
  underlay: UnderlaySchema,
  transport: TransportSchema,
});
/** Parsed (defaults applied) form of `InventoryHostSchema`. */
export type InventoryHost = z.infer<typeof InventoryHostSchema>;

/** `Inventory.spec`: the hosts of the fleet (names unique — checked semantically). */
export const InventorySpecSchema = z.strictObject({ hosts: z.array(InventoryHostSchema) });
/** Parsed (defaults applied) form of `InventorySpecSchema`. */
export type InventorySpec = z.infer<typeof InventorySpecSchema>;

// ---------------------------------------------------------------------------------------
// Intent kinds
// ---------------------------------------------------------------------------------------

/** `addresses: {pool: CIDR}`: one address per selected host from the pool. */
export const AddressPoolSchema = z.strictObject({ pool: CidrSchema });
/** Parsed (defaults applied) form of `AddressPoolSchema`. */
export type AddressPool = z.infer<typeof AddressPoolSchema>;

/** `Bridge.spec`: a Linux bridge on each selected host, optionally with ports and a per-host address. */
export const BridgeSpecSchema = z.strictObject({
  hosts: HostSelectorSchema,
  name: IfNameSchema,
  mtu: mtu().optional(),
  ports: z.array(IfNameSchema).optional(),
  addresses: AddressPoolSchema.optional(),
});
/** Parsed (defaults applied) form of `BridgeSpecSchema`. */
export type BridgeSpec = z.infer<typeof BridgeSpecSchema>;

/** `Vlan.spec`: an 802.1Q interface on `parent`; `name` defaults to `<parent>.<id>` (applied here). */
export const VlanSpecSchema = z
  .strictObject({
    hosts: HostSelectorSchema,
    id: z.number().int().min(1).max(4094),
    parent: IfNameSchema,
    name: IfNameSchema.optional().meta({ description: "default <parent>.<id>; must fit 15 characters" }),
    bridge: IfNameSchema.optional(),
    mtu: mtu().optional(),
    addresses: AddressPoolSchema.optional(),
  })
  .transform((s) => ({ ...s, name: s.name ?? `${s.parent}.${s.id}` }));
/** Parsed (defaults applied) form of `VlanSpecSchema`. */
export type VlanSpec = z.infer<typeof VlanSpecSchema>;

/** How BUM traffic reaches the other VTEPs: unicast head-end replication or a multicast group. */
export const ReplicationSchema = z.discriminatedUnion("mode", [
  z.strictObject({ mode: z.literal("unicast") }),
  z.strictObject({
    mode: z.literal("multicast"),
    group: coded(
      "BAD_ADDRESS",
      (v) => {
        const a = parseIp(v);
        if (!a) return `"${v}" is not an IP address`;
        const isMc = a.family === 4 ? a.value >> 28n === 0xen : a.value >> 120n === 0xffn;
        return isMc ? undefined : `"${v}" is not a multicast address (224.0.0.0/4 or ff00::/8)`;
      },
      { description: "multicast group address" },
    ),
  }),
]);
/** Parsed (defaults applied) form of `ReplicationSchema`. */
export type Replication = z.infer<typeof ReplicationSchema>;

/** `VxlanOverlay.spec`; `device`/`bridge` default to `vx<vni>`/`br<vni>` (applied here), MTU via {@link overlayMtu}. */
export const VxlanOverlaySpecSchema = z
  .strictObject({
    hosts: HostSelectorSchema,
    vni: z.number().int().min(1).max(16777215),
    port: z.number().int().min(1).max(65535).default(4789),
    device: IfNameSchema.optional().meta({ description: "default vx<vni>" }),
    bridge: IfNameSchema.optional().meta({ description: "default br<vni>" }),
    mtu: mtu().optional().meta({ description: "default: underlay mtu - 50" }),
    replication: ReplicationSchema.default({ mode: "unicast" }),
    addresses: AddressPoolSchema.optional(),
  })
  .transform((s) => ({ ...s, device: s.device ?? `vx${s.vni}`, bridge: s.bridge ?? `br${s.vni}` }));
/** Parsed (defaults applied) form of `VxlanOverlaySpecSchema`. */
export type VxlanOverlaySpec = z.infer<typeof VxlanOverlaySpecSchema>;

/** VXLAN over IPv4 adds 50 bytes (outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8). */
export const VXLAN_OVERHEAD = 50;
/** VXLAN over IPv6 adds 70 bytes (the outer IPv6 header is 40 instead of 20). */
export const VXLAN_OVERHEAD_V6 = 70;

/** Bytes VXLAN adds on this host's underlay: 50 over IPv4, 70 over IPv6 (what the kernel enforces). */
export function vxlanOverhead(host: Pick<InventoryHost, "underlay">): number {
  return parseCidr(host.underlay.address)?.family === 6 ? VXLAN_OVERHEAD_V6 : VXLAN_OVERHEAD;
}

/** The overlay MTU on `host`: the spec's, else underlay MTU − {@link vxlanOverhead} (50 on IPv4). */
export function overlayMtu(spec: Pick<VxlanOverlaySpec, "mtu">, host: InventoryHost): number {
  return spec.mtu ?? host.underlay.mtu - vxlanOverhead(host);
}

const AsnSchema = z.number().int().min(1).max(4294967295);

/** `"65001-65100"`: an inclusive range of ASNs. */
export const AsnPoolSchema = z.strictObject({
  pool: coded(
    "BAD_ASN_POOL",
    (v) => {
      const r = parseAsnRange(v);
      return r ? undefined : `"${v}" is not an ASN range like "65001-65100" (1-4294967295, first <= last)`;
    },
    { description: 'ASN range "first-last"', pattern: "^[0-9]+-[0-9]+$" },
  ),
});

/** Parse `"65001-65100"` into `[first, last]`, or `undefined` when malformed. */
export function parseAsnRange(text: string): [number, number] | undefined {
  const m = /^([0-9]{1,10})-([0-9]{1,10})$/.exec(text);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = Number(m[2]);
  if (a < 1 || b > 4294967295 || a > b) return undefined;
  return [a, b];
}

/** A peer at a fixed address with its ASN. */
export const BgpPeerAddressSchema = z.strictObject({ address: IpAddressSchema, remoteAs: AsnSchema });
/** Fleet hosts as peers (their underlay address and assigned ASN). */
export const BgpPeerHostsSchema = z.strictObject({ hosts: HostSelectorSchema });
/** A BGP peer: a fixed address with its ASN, or fleet hosts (their underlay address and ASN). */
export const BgpPeerSchema = z.union([BgpPeerAddressSchema, BgpPeerHostsSchema]);
/** Parsed (defaults applied) form of `BgpPeerSchema`. */
export type BgpPeer = z.infer<typeof BgpPeerSchema>;

/** `BgpMultipath.spec` (realised with FRR: `maximum-paths`, `bgp bestpath as-path multipath-relax`). */
export const BgpMultipathSpecSchema = z.strictObject({
  hosts: HostSelectorSchema,
  asn: z.union([AsnSchema, AsnPoolSchema]),
  routerId: z
    .union([
      z.literal("underlay"),
      coded(
        "BAD_ADDRESS",
        (v) => (parseIp(v)?.family === 4 ? undefined : `"${v}" is not an IPv4 router id`),
        {
          description: "IPv4 router id",
        },
      ),
    ])
    .default("underlay"),
  peers: z.array(BgpPeerSchema),
  maximumPaths: z.number().int().min(1).max(64).default(4),
  multipathRelax: z.boolean().default(true),
  advertise: z.array(CidrSchema).optional(),
  redistribute: z.array(z.enum(["connected", "static", "kernel"])).optional(),
  timers: z
    .strictObject({ keepalive: z.number().int().min(0).max(65535), hold: z.number().int().min(0).max(65535) })
    .optional(),
});
/** Parsed (defaults applied) form of `BgpMultipathSpecSchema`. */
export type BgpMultipathSpec = z.infer<typeof BgpMultipathSpecSchema>;

/** One nexthop of an ECMP route; `weight` 1-256, default 1. */
export const EcmpNexthopSchema = z.strictObject({
  via: IpAddressSchema,
  weight: z.number().int().min(1).max(256).default(1),
});
/** Parsed (defaults applied) form of `EcmpNexthopSchema`. */
export type EcmpNexthop = z.infer<typeof EcmpNexthopSchema>;

/** `EcmpRoute.spec`: a multipath route (at least 2 nexthops) on each selected host. */
export const EcmpRouteSpecSchema = z.strictObject({
  hosts: HostSelectorSchema,
  destination: CidrSchema,
  nexthops: z.array(EcmpNexthopSchema).min(2),
  table: z.union([z.literal("main"), z.number().int().min(1).max(4294967294)]).optional(),
});
/** Parsed (defaults applied) form of `EcmpRouteSpecSchema`. */
export type EcmpRouteSpec = z.infer<typeof EcmpRouteSpecSchema>;

/**
 * A secret reference. Secrets are never written inline: they come from an environment
 * variable or a file read by the executor at apply time, so plans and logs never hold them.
 */
export const SecretRefSchema = z.union([
  z.strictObject({
    fromEnv: coded(
      "BAD_SECRET_REF",
      (v) =>
        ENV_NAME_RE.test(v)
          ? undefined
          : "not an environment variable name ([A-Za-z_][A-Za-z0-9_]*; the value is not shown in case it is the secret itself)",
      { description: "environment variable holding the secret", pattern: ENV_NAME_RE.source },
    ),
  }),
  z.strictObject({ fromFile: AbsPathSchema }),
]);
/** Parsed (defaults applied) form of `SecretRefSchema`. */
export type SecretRef = z.infer<typeof SecretRefSchema>;

const PrioritySchema = z.number().int().min(1).max(254);

/** `KeepalivedPair.spec`: a VRRP instance on two hosts; defaults priority 150/100, advert 1 s, version 3, preempt. */
export const KeepalivedPairSpecSchema = z.strictObject({
  primary: DnsLabelSchema,
  backup: DnsLabelSchema,
  interface: IfNameSchema,
  vrid: z.number().int().min(1).max(255),
  vips: z
    .array(
      coded(
        "BAD_CIDR",
        (v) => (parseCidr(v) || parseIp(v) ? undefined : `"${v}" is not a VIP like 10.250.0.100/16`),
        { description: "virtual IP, address/len" },
      ),
    )
    .min(1),
  priority: z
    .strictObject({ primary: PrioritySchema, backup: PrioritySchema })
    .default({ primary: 150, backup: 100 }),
  advertInterval: z.number().min(0.01).max(255).default(1),
  version: z.literal([2, 3]).default(3),
  preempt: z.boolean().default(true),
  authPassword: SecretRefSchema.optional(),
});
/** Parsed (defaults applied) form of `KeepalivedPairSpecSchema`. */
export type KeepalivedPairSpec = z.infer<typeof KeepalivedPairSpecSchema>;

/** `SysctlBaseline.spec`: sysctl values per selected host (numbers are turned into strings). */
export const SysctlBaselineSpecSchema = z.strictObject({
  hosts: HostSelectorSchema,
  settings: z.record(
    SysctlKeySchema,
    z
      .union([z.string(), z.number()])
      .transform((v) => String(v))
      .check((ctx) => {
        if (/[\n\r\0]/.test(ctx.value) || ctx.value.trim() === "") {
          ctx.issues.push({
            code: "custom",
            input: ctx.value,
            message: `sysctl value ${JSON.stringify(ctx.value)} is empty or has a line break or NUL`,
            params: { code: "BAD_SYSCTL_VALUE" },
          });
        }
      }),
  ),
  persist: z.boolean().default(true),
  drift: z.enum(["alert", "heal"]).default("alert"),
});
/** Parsed (defaults applied) form of `SysctlBaselineSpecSchema`. */
export type SysctlBaselineSpec = z.infer<typeof SysctlBaselineSpecSchema>;

const PercentSchema = z.number().min(0).max(100);
/** `{hosts: N}` or `{percent: P}`. */
export const CountOrPercentSchema = z.union([
  z.strictObject({ hosts: z.number().int().min(0) }),
  z.strictObject({ percent: PercentSchema }),
]);
/** Parsed (defaults applied) form of `CountOrPercentSchema`. */
export type CountOrPercent = z.infer<typeof CountOrPercentSchema>;

/** `maxUnavailable`: a count (`3`) or a percentage (`"25%"`). */
export const CountOrPercentValueSchema = z.union([
  z.number().int().min(1),
  coded(
    "BAD_PERCENT",
    (v) => (/^([1-9][0-9]?|100)%$/.test(v) ? undefined : `"${v}" is not a count or a percentage like "25%"`),
    { description: 'percentage like "25%"', pattern: "^([1-9][0-9]?|100)%$" },
  ),
]);

/** Health gates a rollout can wait for between waves. */
export const ROLLOUT_GATES = [
  "hostsHealthy",
  "bgpEstablished",
  "vrrpSingleMaster",
  "overlayReachable",
] as const;

/** `RolloutPolicy.spec` with every default of INTENTS.md applied. */
export const RolloutPolicySpecSchema = z.strictObject({
  waves: z
    .array(
      z.union([
        z.strictObject({ hosts: z.number().int().min(1) }),
        z.strictObject({ percent: z.number().gt(0).max(100) }),
      ]),
    )
    .min(1)
    .default([{ hosts: 1 }, { percent: 25 }, { percent: 100 }]),
  maxUnavailable: CountOrPercentValueSchema.default("25%"),
  failureThreshold: CountOrPercentSchema.default({ hosts: 1 }).meta({
    description:
      "failed hosts tolerated; the rollout stops when more fail (like SSM MaxErrors, Ansible max_fail_percentage): {hosts: 0} or {percent: 0} stops at the first failure; a percent counts the selected hosts, rounded down; a rollout that runs every wave with tolerated failures ends failed",
  }),
  soak: DurationSchema.default("10s"),
  confirmTimeout: DurationSchema.default("60s"),
  spreadBy: LabelKeySchema.optional(),
  maxPerDomain: z.number().int().min(1).default(1),
  autoRollback: z.enum(["none", "wave", "rollout"]).default("wave"),
  gates: z.array(z.enum(ROLLOUT_GATES)).default(["hostsHealthy"]),
});
/** Parsed (defaults applied) form of `RolloutPolicySpecSchema`. */
export type RolloutPolicySpec = z.infer<typeof RolloutPolicySpecSchema>;

/** The rollout policy used when no RolloutPolicy document is given. */
export function defaultRolloutPolicy(): RolloutPolicySpec {
  return RolloutPolicySpecSchema.parse({});
}

/**
 * Resolve a count-or-percentage against `total` hosts: percentages round up so that a
 * non-zero percentage of a non-empty fleet is at least one host.
 */
export function resolveCount(value: number | string | CountOrPercent, total: number): number {
  if (typeof value === "number") return Math.min(value, total);
  if (typeof value === "string") return Math.min(total, Math.ceil((Number.parseFloat(value) / 100) * total));
  if ("hosts" in value) return Math.min(value.hosts, total);
  return Math.min(total, Math.ceil((value.percent / 100) * total));
}

// ---------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------

function doc<K extends string, S extends z.ZodType>(kind: K, spec: S, description: string) {
  return z
    .strictObject({
      apiVersion: z.literal(API_VERSION),
      kind: z.literal(kind),
      metadata: MetadataSchema,
      spec,
    })
    .meta({ title: kind, description });
}

/** A whole document of kind Inventory (one per apply). */
export const InventorySchema = doc(
  "Inventory",
  InventorySpecSchema,
  "The hosts of the fleet: name, labels, underlay (VTEP/BGP source) and how the executor reaches them. Exactly one per apply.",
);
/** A whole Bridge document. */
export const BridgeSchema = doc(
  "Bridge",
  BridgeSpecSchema,
  "A Linux bridge on the selected hosts, optionally with ports and one address per host from a pool.",
);
/** A whole Vlan document. */
export const VlanSchema = doc(
  "Vlan",
  VlanSpecSchema,
  "An 802.1Q VLAN interface on a parent, optionally attached to a bridge.",
);
/** A whole VxlanOverlay document. */
export const VxlanOverlaySchema = doc(
  "VxlanOverlay",
  VxlanOverlaySpecSchema,
  "A VXLAN overlay across the selected hosts (VTEPs on their underlay), with a bridge per host.",
);
/** A whole BgpMultipath document. */
export const BgpMultipathSchema = doc(
  "BgpMultipath",
  BgpMultipathSpecSchema,
  "BGP with ECMP (FRR): ASN per host or pool, peers by address or by host selector, maximum-paths.",
);
/** A whole EcmpRoute document. */
export const EcmpRouteSchema = doc(
  "EcmpRoute",
  EcmpRouteSpecSchema,
  "A static multipath route with at least two weighted nexthops.",
);
/** A whole KeepalivedPair document. */
export const KeepalivedPairSchema = doc(
  "KeepalivedPair",
  KeepalivedPairSpecSchema,
  "A VRRP (keepalived) primary/backup pair holding virtual IPs on one L2 segment.",
);
/** A whole SysctlBaseline document. */
export const SysctlBaselineSchema = doc(
  "SysctlBaseline",
  SysctlBaselineSpecSchema,
  "sysctl values the selected hosts must keep; drift raises an alert or is healed.",
);
/** A whole RolloutPolicy document (at most one per apply). */
export const RolloutPolicySchema = doc(
  "RolloutPolicy",
  RolloutPolicySpecSchema,
  "How a plan is rolled out: waves, maxUnavailable, failure threshold, soak, gates. At most one per apply.",
);

/** Parsed (defaults applied) form of `InventorySchema`. */
export type Inventory = z.infer<typeof InventorySchema>;
/** Parsed (defaults applied) form of `BridgeSchema`. */
export type Bridge = z.infer<typeof BridgeSchema>;
/** Parsed (defaults applied) form of `VlanSchema`. */
export type Vlan = z.infer<typeof VlanSchema>;
/** Parsed (defaults applied) form of `VxlanOverlaySchema`. */
export type VxlanOverlay = z.infer<typeof VxlanOverlaySchema>;
/** Parsed (defaults applied) form of `BgpMultipathSchema`. */
export type BgpMultipath = z.infer<typeof BgpMultipathSchema>;
/** Parsed (defaults applied) form of `EcmpRouteSchema`. */
export type EcmpRoute = z.infer<typeof EcmpRouteSchema>;
/** Parsed (defaults applied) form of `KeepalivedPairSchema`. */
export type KeepalivedPair = z.infer<typeof KeepalivedPairSchema>;
/** Parsed (defaults applied) form of `SysctlBaselineSchema`. */
export type SysctlBaseline = z.infer<typeof SysctlBaselineSchema>;
/** Parsed (defaults applied) form of `RolloutPolicySchema`. */
export type RolloutPolicy = z.infer<typeof RolloutPolicySchema>;

/** Schema of each kind, by `kind`. */
export const KIND_SCHEMAS = {
  Inventory: InventorySchema,
  Bridge: BridgeSchema,
  Vlan: VlanSchema,
  VxlanOverlay: VxlanOverlaySchema,
  BgpMultipath: BgpMultipathSchema,
  EcmpRoute: EcmpRouteSchema,
  KeepalivedPair: KeepalivedPairSchema,
  SysctlBaseline: SysctlBaselineSchema,
  RolloutPolicy: RolloutPolicySchema,
} as const;

/** Every document kind. */
export type Kind = keyof typeof KIND_SCHEMAS;
/** Every kind, in the order of INTENTS.md. */
export const KINDS = Object.keys(KIND_SCHEMAS) as Kind[];

/** Any document of the format, discriminated on `kind`. */
export const IntentDocumentSchema = z.discriminatedUnion("kind", [
  InventorySchema,
  BridgeSchema,
  VlanSchema,
  VxlanOverlaySchema,
  BgpMultipathSchema,
  EcmpRouteSchema,
  KeepalivedPairSchema,
  SysctlBaselineSchema,
  RolloutPolicySchema,
]);
/** Any document (Inventory, RolloutPolicy or a network intent), discriminated on `kind`. */
export type IntentDocument = z.infer<typeof IntentDocumentSchema>;

/** The network intents that `compile` turns into host state (not Inventory/RolloutPolicy). */
export type Intent =
  | Bridge
  | Vlan
  | VxlanOverlay
  | BgpMultipath
  | EcmpRoute
  | KeepalivedPair
  | SysctlBaseline;
/** Kinds of {@link Intent}. */
export type IntentKind = Intent["kind"];
/** The kinds of {@link Intent}. */
export const INTENT_KINDS: readonly IntentKind[] = [
  "Bridge",
  "Vlan",
  "VxlanOverlay",
  "BgpMultipath",
  "EcmpRoute",
  "KeepalivedPair",
  "SysctlBaseline",
];
