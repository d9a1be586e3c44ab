/**
 * The validation error shape (INTENTS.md "Validation output") and the catalogue of codes.
 */

/** Where a document came from. */
export interface DocumentRef {
  /** The file as it was named on the command line (or joined with its directory). */
  readonly file: string;
  /** 1-based position of the document in its file (`x.yaml#2`). */
  readonly index: number;
  /** 1-based line where the document starts. */
  readonly line: number;
}

/**
 * One problem in the input. `file`/`document`/`kind`/`name` are absent when the problem is
 * not tied to a document (e.g. no Inventory at all). Validation errors never go away by
 * retrying (`retryable: false`): the input must change.
 */
export interface ValidationError {
  file?: string;
  /** 1-based document index in `file`. */
  document?: number;
  kind?: string;
  name?: string;
  /** Field path inside the document, e.g. `spec.hosts[1].name`; `""` for the whole document. */
  path: string;
  /** Stable UPPER_SNAKE code, see {@link ERROR_CODES}. */
  code: ErrorCode;
  /** A sentence a person understands, naming the offending value. */
  message: string;
  /** 1-based source line of the offending node (or its nearest parent), when known. */
  line?: number;
  retryable: false;
}

/** Every validation error code with what it means. Codes are stable: never rename one. */
export const ERROR_CODES = {
  YAML_SYNTAX: "the file is not well-formed YAML",
  NOT_A_MAPPING: "a document is not a YAML mapping",
  BAD_API_VERSION: "apiVersion is not fleetnet/v1",
  UNKNOWN_KIND: "kind is not one of the known kinds",
  UNKNOWN_FIELD: "a field that the format does not define",
  MISSING_FIELD: "a required field is missing",
  WRONG_TYPE: "a field has the wrong type",
  BAD_VALUE: "a field has a value outside its allowed set",
  OUT_OF_RANGE: "a number or list length is outside its range",
  BAD_NAME: "a name is not a DNS label",
  BAD_IFNAME: "an interface name the kernel refuses",
  BAD_ADDRESS: "not an IP address (or not a usable one)",
  BAD_CIDR: "not a CIDR prefix / interface address",
  BAD_LABEL: "a label key or value is malformed",
  BAD_SELECTOR: "a host selector is malformed",
  BAD_PATH: "a file path is not absolute",
  BAD_NAMESPACE: "a network namespace name is malformed",
  BAD_USER: "an SSH user name is malformed",
  BAD_HOST_KEY: "an SSH host key is not in known_hosts form",
  BAD_DURATION: "a duration is malformed",
  BAD_PERCENT: "a count-or-percentage is malformed",
  BAD_ASN_POOL: "an ASN range is malformed",
  BAD_SYSCTL_KEY: "a sysctl key that is not a [a-z0-9_-] dot path under /proc/sys",
  BAD_SYSCTL_VALUE: "a sysctl value is empty or multi-line",
  BAD_SECRET_REF: "a {fromEnv}/{fromFile} secret reference is malformed",
  SECRET_INLINE: "a secret written inline instead of {fromEnv}/{fromFile}",
  INVENTORY_MISSING: "no Inventory document",
  INVENTORY_MULTIPLE: "more than one Inventory document",
  ROLLOUT_POLICY_MULTIPLE: "more than one RolloutPolicy document",
  DUPLICATE_NAME: "two documents of one kind share metadata.name",
  DUPLICATE_HOST: "two inventory hosts share a name",
  DUPLICATE_ADDRESS: "two inventory hosts share an underlay address",
  DUPLICATE_NAMESPACE: "two netns hosts share a namespace",
  UNKNOWN_HOST: "a host name that is not in the inventory",
  SELECTOR_EMPTY: "a host selector that matches no host",
  IFNAME_CONFLICT: "two intents create the same interface on one host",
  BRIDGE_MTU_CONFLICT: "intents that share a bridge give it different MTUs",
  BRIDGE_PORT_CONFLICT: "a bridge port that is the underlay, a bridge, or another bridge's port",
  VNI_CONFLICT: "two overlays use the same VNI",
  VLAN_CONFLICT: "two VLAN intents use the same id on the same parent of a host",
  VRID_CONFLICT: "two VRRP pairs use the same VRID on one L2 segment",
  MTU_TOO_LARGE: "an MTU above what the underlying link allows",
  POOL_TOO_SMALL: "an address pool has fewer addresses than hosts",
  POOL_OVERLAP: "address pools overlap each other or an underlay subnet",
  ASN_POOL_TOO_SMALL: "an ASN pool has fewer ASNs than hosts",
  ASN_POOL_OVERLAP: "ASN pools of two BGP intents overlap",
  BGP_HOST_CONFLICT: "a host is a member of two BgpMultipath intents",
  MAX_PATHS_RANGE: "BGP maximumPaths outside 1-64",
  BGP_TIMERS: "BGP hold time below 3 s or not above keepalive",
  ROUTER_ID_REQUIRED: "routerId must be given when the underlay is IPv6",
  PEER_UNKNOWN_ADDRESS: "a BGP peer address that no member can reach and no host has",
  PEER_NOT_BGP: "a BGP peer that is a fleet host without a BgpMultipath intent",
  PEER_SELF: "a BGP peer address that is a member's own address",
  ASN_MISMATCH: "a peer's remoteAs differs from the ASN that host is given",
  ECMP_TOO_FEW_NEXTHOPS: "an ECMP route with fewer than 2 distinct nexthops",
  DUPLICATE_NEXTHOP: "an ECMP nexthop listed twice",
  NEXTHOP_UNREACHABLE: "a nexthop outside every subnet of a host",
  FAMILY_MISMATCH: "IPv4 and IPv6 mixed where one family is required",
  ROUTE_CONFLICT: "two ECMP intents route the same destination on one host",
  KEEPALIVED_SAME_HOST: "a VRRP pair whose primary is its backup",
  KEEPALIVED_PRIORITY: "primary priority not above backup priority",
  INTERFACE_NO_SUBNET: "a VRRP interface whose subnet fleetnet does not know",
  KEEPALIVED_SEGMENT_MISMATCH: "primary and backup interfaces are on different subnets",
  VIP_OUTSIDE_SUBNET: "a VIP outside its interface's subnet",
  VIP_CONFLICT: "a VIP used twice or equal to a host address",
  AUTH_REQUIRES_VRRP2: "authPassword with VRRP version 3",
  ADVERT_INTERVAL: "an advertisement interval VRRPv2 cannot express",
  SYSCTL_CONFLICT: "two baselines set one sysctl of a host to different values",
  SPREAD_LABEL_UNKNOWN: "a rollout spreadBy label that no host has",
} as const;

/** A stable validation error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Format a field path: `["spec","hosts",1,"name"]` → `spec.hosts[1].name`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const s = String(seg);
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) out += out === "" ? s : `.${s}`;
      else out += `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}

/** `x.yaml#2 VxlanOverlay/blue spec.vni: message` — the human form of one error. */
export function formatError(e: ValidationError): string {
  const where =
    e.file !== undefined ? `${e.file}${e.document !== undefined ? `#${e.document}` : ""}` : "(input)";
  const what = e.kind !== undefined ? ` ${e.kind}/${e.name ?? "?"}` : "";
  const path = e.path !== "" ? ` ${e.path}` : "";
  return `${where}${what}${path}: ${e.message} [${e.code}]`;
}

/**
 * A problem reading the input (missing file, unreadable directory): a usage/I/O error
 * (exit 2), distinct from invalid content. Retrying may help when the file appears.
 */
export interface LoadIoError {
  code: "FILE_NOT_FOUND" | "IO_ERROR" | "NO_YAML_FILES";
  path: string;
  message: string;
  retryable: boolean;
}
