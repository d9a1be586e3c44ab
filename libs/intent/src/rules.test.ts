/**
 * One table row per validation rule: the input, the expected `code` and field `path`.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, type ErrorCode, validateText } from "./index.js";

const INV = readFileSync(
  fileURLToPath(new URL("../../../examples/kinds/inventory/inventory.yaml", import.meta.url)),
  "utf8",
);

/** A document with a flow-style spec. */
const doc = (kind: string, name: string, spec: string) =>
  `apiVersion: fleetnet/v1\nkind: ${kind}\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
const hv = "{matchLabels: {role: hypervisor}}";
const ssh = (field: string, value: string) =>
  INV.replace(
    "transport: {driver: netns, namespace: fn-h001}",
    `transport: {driver: ssh, host: 10.0.0.1, user: fleet, hostKey: "ssh-ed25519 AAAAC3Nza", privateKeyFile: /k, ${field}: ${value}}`,
  );
const pair = (name: string, extra: string) =>
  doc(
    "KeepalivedPair",
    name,
    `{primary: h001, backup: h002, interface: veth0, vrid: 51, vips: [10.250.0.100/16]${extra}}`,
  );

interface Row {
  code: ErrorCode;
  path: string;
  /** Documents after the inventory. */
  docs: string[];
  /** Replace the inventory text. */
  inv?: string | null;
  /** Expected 1-based document index of the error (default: any). */
  document?: number;
  why: string;
}

const rows: Row[] = [
  {
    why: "malformed YAML",
    code: "YAML_SYNTAX",
    path: "",
    docs: ["apiVersion: [fleetnet/v1\nkind: Bridge\n"],
  },
  { why: "a list document", code: "NOT_A_MAPPING", path: "", docs: ["- 1\n- 2\n"], document: 2 },
  {
    why: "wrong apiVersion",
    code: "BAD_API_VERSION",
    path: "apiVersion",
    docs: [doc("Bridge", "b", `{hosts: ${hv}, name: br0}`).replace("fleetnet/v1", "fleetnet/v2")],
  },
  { why: "unknown kind", code: "UNKNOWN_KIND", path: "kind", docs: [doc("Router", "r", "{}")] },
  {
    why: "unknown field",
    code: "UNKNOWN_FIELD",
    path: "spec.colour",
    docs: [doc("Bridge", "b", `{hosts: ${hv}, name: br0, colour: red}`)],
  },
  {
    why: "unknown top-level field",
    code: "UNKNOWN_FIELD",
    path: "status",
    docs: [`${doc("Bridge", "b", `{hosts: ${hv}, name: br0}`)}status: {}\n`],
  },
  {
    why: "missing field",
    code: "MISSING_FIELD",
    path: "spec.name",
    docs: [doc("Bridge", "b", `{hosts: ${hv}}`)],
  },
  {
    why: "wrong type",
    code: "WRONG_TYPE",
    path: "spec.vni",
    docs: [doc("VxlanOverlay", "o", `{hosts: ${hv}, vni: abc}`)],
  },
  {
    why: "enum value",
    code: "BAD_VALUE",
    path: "spec.drift",
    docs: [doc("SysctlBaseline", "s", `{hosts: ${hv}, settings: {}, drift: sometimes}`)],
  },
  {
    why: "bad transport driver",
    code: "BAD_VALUE",
    path: "spec.hosts[0].transport.driver",
    docs: [],
    inv: INV.replace("driver: netns, namespace: fn-h001", "driver: telnet"),
  },
  {
    why: "VNI out of range",
    code: "OUT_OF_RANGE",
    path: "spec.vni",
    docs: [doc("VxlanOverlay", "o", `{hosts: ${hv}, vni: 16777216}`)],
  },
  {
    why: "VLAN id out of range",
    code: "OUT_OF_RANGE",
    path: "spec.id",
    docs: [doc("Vlan", "v", `{hosts: ${hv}, id: 4095, parent: veth0}`)],
  },
  {
    why: "VRID out of range",
    code: "OUT_OF_RANGE",
    path: "spec.vrid",
    docs: [pair("p", "").replace("vrid: 51", "vrid: 256")],
  },
  {
    why: "metadata name not a DNS label",
    code: "BAD_NAME",
    path: "metadata.name",
    docs: [doc("Bridge", "Blue_1", `{hosts: ${hv}, name: br0}`)],
  },
  {
    why: "host name not a DNS label",
    code: "BAD_NAME",
    path: "spec.hosts[1].name",
    docs: [],
    inv: INV.replace("name: h002", "name: H002"),
  },
  {
    why: "ifname with /",
    code: "BAD_IFNAME",
    path: "spec.name",
    docs: [doc("Bridge", "b", `{hosts: ${hv}, name: br/0}`)],
  },
  {
    why: "ifname over 15 bytes",
    code: "BAD_IFNAME",
    path: "spec.name",
    docs: [doc("Bridge", "b", `{hosts: ${hv}, name: abcdefghijklmnop}`)],
  },
  {
    why: "ifname with space",
    code: "BAD_IFNAME",
    path: "spec.name",
    docs: [doc("Bridge", "b", `{hosts: ${hv}, name: "br 0"}`)],
  },
  {
    why: "ifname with shell chars",
    code: "BAD_IFNAME",
    path: "spec.device",
    docs: [doc("VxlanOverlay", "o", `{hosts: ${hv}, vni: 7, device: "vx$(id)"}`)],
  },
  {
    why: "ifname '..'",
    code: "BAD_IFNAME",
    path: "spec.ports[1]",
    docs: [doc("Bridge", "b", `{hosts: ${hv}, name: br0, ports: [eth1, ".."]}`)],
  },
  {
    why: "multi-byte ifname over 15 bytes",
    code: "BAD_IFNAME",
    path: "spec.interface",
    docs: [pair("p", "").replace("interface: veth0", "interface: ééééééééé")],
  },
  {
    why: "underlay ifname",
    code: "BAD_IFNAME",
    path: "spec.hosts[0].underlay.interface",
    docs: [],
    inv: INV.replace(
      "interface: veth0, address: 10.250.0.1/16",
      "interface: 'veth0;reboot', address: 10.250.0.1/16",
    ),
  },
  {
    why: "default VLAN name too long",
    code: "BAD_IFNAME",
    path: "spec.name",
    docs: [doc("Vlan", "v", `{hosts: ${hv}, id: 1000, parent: abcdefghijkl}`)],
  },
  {
    why: "bad IP",
    code: "BAD_ADDRESS",
    path: "spec.nexthops[0].via",
    docs: [
      doc(
        "EcmpRoute",
        "e",
        `{hosts: ${hv}, destination: 10.9.0.0/16, nexthops: [{via: 10.250.0.256}, {via: 10.250.0.3}]}`,
      ),
    ],
  },
  {
    why: "bad CIDR pool",
    code: "BAD_CIDR",
    path: "spec.addresses.pool",
    docs: [doc("Bridge", "b", `{hosts: ${hv}, name: br0, addresses: {pool: 10.20.0.0/33}}`)],
  },
  {
    why: "bad CIDR destination",
    code: "BAD_CIDR",
    path: "spec.destination",
    docs: [
      doc(
        "EcmpRoute",
        "e",
        `{hosts: ${hv}, destination: 10.300.0.0/16, nexthops: [{via: 10.250.0.2}, {via: 10.250.0.3}]}`,
      ),
    ],
  },
  {
    why: "underlay is a network address",
    code: "BAD_CIDR",
    path: "spec.hosts[0].underlay.address",
    docs: [],
    inv: INV.replace("10.250.0.1/16", "10.250.0.0/16"),
  },
  {
    why: "bad label key",
    code: "BAD_LABEL",
    path: 'spec.hosts.matchLabels["bad key!"]',
    docs: [doc("Bridge", "b", `{hosts: {matchLabels: {"bad key!": x}}, name: br0}`)],
  },
  {
    why: "two selector forms",
    code: "BAD_SELECTOR",
    path: "spec.hosts",
    docs: [doc("Bridge", "b", "{hosts: {names: [h001], matchLabels: {}}, name: br0}")],
  },
  {
    why: "In without values",
    code: "BAD_SELECTOR",
    path: "spec.hosts.matchExpressions[0].values",
    docs: [doc("Bridge", "b", "{hosts: {matchExpressions: [{key: rack, operator: In}]}, name: br0}")],
  },
  {
    why: "relative key file",
    code: "BAD_PATH",
    path: "spec.hosts[0].transport.knownHostsFile",
    docs: [],
    inv: ssh("knownHostsFile", "known_hosts"),
  },
  {
    why: "bad namespace",
    code: "BAD_NAMESPACE",
    path: "spec.hosts[0].transport.namespace",
    docs: [],
    inv: INV.replace("namespace: fn-h001", "namespace: a/b"),
  },
  {
    why: "bad ssh user",
    code: "BAD_USER",
    path: "spec.hosts[0].transport.user",
    docs: [],
    inv: ssh("port", "22").replace("user: fleet", "user: 'x y'"),
  },
  {
    why: "bad host key",
    code: "BAD_HOST_KEY",
    path: "spec.hosts[0].transport.hostKey",
    docs: [],
    inv: ssh("port", "22").replace('"ssh-ed25519 AAAAC3Nza"', "nokey"),
  },
  {
    why: "bad duration",
    code: "BAD_DURATION",
    path: "spec.soak",
    docs: [doc("RolloutPolicy", "r", '{soak: "10 minutes"}')],
  },
  {
    why: "bad percentage",
    code: "BAD_PERCENT",
    path: "spec.maxUnavailable",
    docs: [doc("RolloutPolicy", "r", '{maxUnavailable: "150%"}')],
  },
  {
    why: "reversed ASN pool",
    code: "BAD_ASN_POOL",
    path: "spec.asn.pool",
    docs: [doc("BgpMultipath", "b", `{hosts: ${hv}, asn: {pool: "65100-65001"}, peers: []}`)],
  },
  {
    why: "sysctl key with /",
    code: "BAD_SYSCTL_KEY",
    path: 'spec.settings["net/ipv4/ip_forward"]',
    docs: [doc("SysctlBaseline", "s", `{hosts: ${hv}, settings: {net/ipv4/ip_forward: "1"}}`)],
  },
  {
    why: "sysctl key upper case",
    code: "BAD_SYSCTL_KEY",
    path: 'spec.settings["net.IPv4.ip_forward"]',
    docs: [doc("SysctlBaseline", "s", `{hosts: ${hv}, settings: {net.IPv4.ip_forward: "1"}}`)],
  },
  {
    why: "sysctl key outside /proc/sys",
    code: "BAD_SYSCTL_KEY",
    path: 'spec.settings["foo.bar"]',
    docs: [doc("SysctlBaseline", "s", `{hosts: ${hv}, settings: {foo.bar: "1"}}`)],
  },
  {
    why: "sysctl value multi-line",
    code: "BAD_SYSCTL_VALUE",
    path: 'spec.settings["net.ipv4.ip_forward"]',
    docs: [doc("SysctlBaseline", "s", `{hosts: ${hv}, settings: {net.ipv4.ip_forward: "1\\n2"}}`)],
  },
  {
    why: "bad env name",
    code: "BAD_SECRET_REF",
    path: "spec.authPassword.fromEnv",
    docs: [pair("p", ", version: 2, authPassword: {fromEnv: 1BAD}")],
  },
  {
    why: "inline secret",
    code: "SECRET_INLINE",
    path: "spec.authPassword",
    docs: [pair("p", ", version: 2, authPassword: hunter2")],
  },
  {
    why: "no inventory",
    code: "INVENTORY_MISSING",
    path: "",
    inv: null,
    docs: [doc("Bridge", "b", `{hosts: ${hv}, name: br0}`)],
  },
  {
    why: "two inventories",
    code: "INVENTORY_MULTIPLE",
    path: "kind",
    docs: [INV.replace("name: lab", "name: lab2")],
    document: 2,
  },
  {
    why: "two rollout policies",
    code: "ROLLOUT_POLICY_MULTIPLE",
    path: "kind",
    docs: [doc("RolloutPolicy", "a", "{}"), doc("RolloutPolicy", "b", "{}")],
    document: 3,
  },
  {
    why: "duplicate metadata name",
    code: "DUPLICATE_NAME",
    path: "metadata.name",
    docs: [
      doc("Bridge", "b", `{hosts: {names: [h001]}, name: br0}`),
      doc("Bridge", "b", `{hosts: {names: [h002]}, name: br0}`),
    ],
    document: 3,
  },
  {
    why: "duplicate host",
    code: "DUPLICATE_HOST",
    path: "spec.hosts[1].name",
    docs: [],
    inv: INV.replace("name: h002", "name: h001"),
  },
  {
    why: "duplicate underlay address",
    code: "DUPLICATE_ADDRESS",
    path: "spec.hosts[1].underlay.address",
    docs: [],
    inv: INV.replace("10.250.0.2/16", "10.250.0.1/16"),
  },
  {
    why: "duplicate namespace",
    code: "DUPLICATE_NAMESPACE",
    path: "spec.hosts[1].transport.namespace",
    docs: [],
    inv: INV.replace("fn-h002", "fn-h001"),
  },
  {
    why: "unknown host in names",
    code: "UNKNOWN_HOST",
    path: "spec.hosts.names[1]",
    docs: [doc("Bridge", "b", "{hosts: {names: [h001, h404]}, name: br0}")],
  },
  {
    why: "unknown keepalived backup",
    code: "UNKNOWN_HOST",
    path: "spec.backup",
    docs: [pair("p", "").replace("backup: h002", "backup: h404")],
  },
  {
    why: "selector matches nothing",
    code: "SELECTOR_EMPTY",
    path: "spec.hosts",
    docs: [doc("Bridge", "b", "{hosts: {matchLabels: {role: db}}, name: br0}")],
  },
  {
    why: "expression matches nothing",
    code: "SELECTOR_EMPTY",
    path: "spec.hosts",
    docs: [
      doc("Bridge", "b", "{hosts: {matchExpressions: [{key: rack, operator: In, values: [r9]}]}, name: br0}"),
    ],
  },
  {
    why: "peer selector matches nothing",
    code: "SELECTOR_EMPTY",
    path: "spec.peers[0].hosts",
    docs: [
      doc("BgpMultipath", "b", `{hosts: ${hv}, asn: 65001, peers: [{hosts: {matchLabels: {role: db}}}]}`),
    ],
  },
  {
    why: "same bridge twice on a host",
    code: "IFNAME_CONFLICT",
    path: "spec.name",
    docs: [
      doc("Bridge", "a", `{hosts: ${hv}, name: br0}`),
      doc("Bridge", "b", "{hosts: {names: [h001]}, name: br0}"),
    ],
    document: 3,
  },
  {
    why: "bridge named like the underlay",
    code: "IFNAME_CONFLICT",
    path: "spec.name",
    docs: [doc("Bridge", "a", `{hosts: ${hv}, name: veth0}`)],
  },
  {
    why: "overlay device = another overlay's bridge",
    code: "IFNAME_CONFLICT",
    path: "spec.device",
    docs: [
      doc("VxlanOverlay", "a", `{hosts: ${hv}, vni: 1}`),
      doc("VxlanOverlay", "b", `{hosts: ${hv}, vni: 2, device: br1}`),
    ],
    document: 3,
  },
  {
    why: "two VLANs share a bridge with different MTUs",
    code: "BRIDGE_MTU_CONFLICT",
    path: "spec.bridge",
    docs: [
      doc("Vlan", "a", `{hosts: ${hv}, id: 100, parent: eth1, bridge: brs, mtu: 1500}`),
      doc("Vlan", "b", `{hosts: ${hv}, id: 100, parent: eth2, bridge: brs, mtu: 1400}`),
    ],
    document: 3,
  },
  {
    why: "overlay attached to a VM bridge of another MTU",
    code: "BRIDGE_MTU_CONFLICT",
    path: "spec.bridge",
    docs: [
      doc("Bridge", "a", `{hosts: ${hv}, name: brvm0, mtu: 1500}`),
      doc("VxlanOverlay", "b", `{hosts: ${hv}, vni: 9, bridge: brvm0}`),
    ],
    document: 3,
  },
  {
    why: "underlay enslaved to a bridge",
    code: "BRIDGE_PORT_CONFLICT",
    path: "spec.ports[1]",
    docs: [doc("Bridge", "a", `{hosts: ${hv}, name: br0, ports: [eth1, veth0]}`)],
  },
  {
    why: "one port in two bridges",
    code: "BRIDGE_PORT_CONFLICT",
    path: "spec.ports[0]",
    docs: [
      doc("Bridge", "a", `{hosts: ${hv}, name: br0, ports: [eth1]}`),
      doc("Bridge", "b", `{hosts: ${hv}, name: br1, ports: [eth1]}`),
    ],
    document: 3,
  },
  {
    why: "spreadBy label on no host",
    code: "SPREAD_LABEL_UNKNOWN",
    path: "spec.spreadBy",
    docs: [doc("RolloutPolicy", "r", "{spreadBy: rak}")],
  },
  {
    why: "VNI reused",
    code: "VNI_CONFLICT",
    path: "spec.vni",
    docs: [
      doc("VxlanOverlay", "a", `{hosts: ${hv}, vni: 5001}`),
      doc("VxlanOverlay", "b", `{hosts: ${hv}, vni: 5001, device: vxb, bridge: brb}`),
    ],
    document: 3,
  },
  {
    why: "VLAN id reused on a parent",
    code: "VLAN_CONFLICT",
    path: "spec.id",
    docs: [
      doc("Vlan", "a", `{hosts: ${hv}, id: 100, parent: eth1}`),
      doc("Vlan", "b", "{hosts: {names: [h002]}, id: 100, parent: eth1, name: st100}"),
    ],
    document: 3,
  },
  {
    why: "VRID reused on one segment",
    code: "VRID_CONFLICT",
    path: "spec.vrid",
    docs: [
      pair("a", ""),
      pair("b", "")
        .replace("primary: h001, backup: h002", "primary: h003, backup: s001")
        .replace("10.250.0.100", "10.250.0.101"),
    ],
    document: 3,
  },
  {
    why: "overlay MTU above underlay - 50",
    code: "MTU_TOO_LARGE",
    path: "spec.mtu",
    docs: [doc("VxlanOverlay", "o", `{hosts: ${hv}, vni: 7, mtu: 1460}`)],
  },
  {
    why: "overlay MTU above one member's underlay - 50",
    code: "MTU_TOO_LARGE",
    path: "spec.mtu",
    docs: [doc("VxlanOverlay", "o", `{hosts: ${hv}, vni: 7, mtu: 1450}`)],
    inv: INV.replace("10.250.0.3/16}", "10.250.0.3/16, mtu: 1400}"),
  },
  {
    why: "overlay MTU above an IPv6 underlay - 70",
    code: "MTU_TOO_LARGE",
    path: "spec.mtu",
    docs: [doc("VxlanOverlay", "o", "{hosts: {names: [h001, h002]}, vni: 7, mtu: 1450}")],
    inv: INV.replace("10.250.0.1/16", "fd00::1/64").replace("10.250.0.2/16", "fd00::2/64"),
  },
  {
    why: "VLAN MTU above its parent",
    code: "MTU_TOO_LARGE",
    path: "spec.mtu",
    docs: [doc("Vlan", "v", `{hosts: ${hv}, id: 10, parent: veth0, mtu: 9000}`)],
  },
  {
    why: "pool smaller than hosts",
    code: "POOL_TOO_SMALL",
    path: "spec.addresses.pool",
    docs: [doc("Bridge", "b", `{hosts: ${hv}, name: br0, addresses: {pool: 10.20.0.0/30}}`)],
  },
  {
    why: "pools overlap",
    code: "POOL_OVERLAP",
    path: "spec.addresses.pool",
    docs: [
      doc("Bridge", "a", `{hosts: ${hv}, name: bra, addresses: {pool: 10.20.0.0/24}}`),
      doc("VxlanOverlay", "b", `{hosts: ${hv}, vni: 9, addresses: {pool: 10.20.0.128/25}}`),
    ],
    document: 3,
  },
  {
    why: "pool overlaps the underlay",
    code: "POOL_OVERLAP",
    path: "spec.addresses.pool",
    docs: [doc("Bridge", "a", `{hosts: ${hv}, name: bra, addresses: {pool: 10.250.9.0/24}}`)],
  },
  {
    why: "ASN pool smaller than hosts",
    code: "ASN_POOL_TOO_SMALL",
    path: "spec.asn.pool",
    docs: [doc("BgpMultipath", "b", `{hosts: ${hv}, asn: {pool: "65001-65002"}, peers: []}`)],
  },
  {
    why: "ASN pools overlap",
    code: "ASN_POOL_OVERLAP",
    path: "spec.asn.pool",
    docs: [
      doc("BgpMultipath", "a", `{hosts: {names: [h001]}, asn: {pool: "65001-65010"}, peers: []}`),
      doc("BgpMultipath", "b", `{hosts: {names: [h002]}, asn: {pool: "65010-65020"}, peers: []}`),
    ],
    document: 3,
  },
  {
    why: "fixed ASN inside another intent's pool",
    code: "ASN_POOL_OVERLAP",
    path: "spec.asn",
    docs: [
      doc("BgpMultipath", "a", `{hosts: {names: [h001]}, asn: {pool: "65001-65010"}, peers: []}`),
      doc("BgpMultipath", "b", "{hosts: {names: [h002]}, asn: 65005, peers: []}"),
    ],
    document: 3,
  },
  {
    why: "host in two BGP intents",
    code: "BGP_HOST_CONFLICT",
    path: "spec.hosts",
    docs: [
      doc("BgpMultipath", "a", `{hosts: ${hv}, asn: 65001, peers: []}`),
      doc("BgpMultipath", "b", "{hosts: {names: [h001]}, asn: 65002, peers: []}"),
    ],
    document: 3,
  },
  {
    why: "maximumPaths 0",
    code: "MAX_PATHS_RANGE",
    path: "spec.maximumPaths",
    docs: [doc("BgpMultipath", "b", `{hosts: ${hv}, asn: 65001, peers: [], maximumPaths: 0}`)],
  },
  {
    why: "maximumPaths 65",
    code: "MAX_PATHS_RANGE",
    path: "spec.maximumPaths",
    docs: [doc("BgpMultipath", "b", `{hosts: ${hv}, asn: 65001, peers: [], maximumPaths: 65}`)],
  },
  {
    why: "hold time 2",
    code: "BGP_TIMERS",
    path: "spec.timers.hold",
    docs: [
      doc("BgpMultipath", "b", `{hosts: ${hv}, asn: 65001, peers: [], timers: {keepalive: 1, hold: 2}}`),
    ],
  },
  {
    why: "IPv6 underlay needs router id",
    code: "ROUTER_ID_REQUIRED",
    path: "spec.routerId",
    docs: [doc("BgpMultipath", "b", "{hosts: {names: [h001]}, asn: 65001, peers: []}")],
    inv: INV.replace("10.250.0.1/16", "fd00::1/64"),
  },
  {
    why: "peer nobody can reach",
    code: "PEER_UNKNOWN_ADDRESS",
    path: "spec.peers[0].address",
    docs: [
      doc(
        "BgpMultipath",
        "b",
        `{hosts: ${hv}, asn: 65001, peers: [{address: 192.168.1.1, remoteAs: 65000}]}`,
      ),
    ],
  },
  {
    why: "peer host without BGP",
    code: "PEER_NOT_BGP",
    path: "spec.peers[0].address",
    docs: [
      doc(
        "BgpMultipath",
        "b",
        `{hosts: ${hv}, asn: 65001, peers: [{address: 10.250.0.11, remoteAs: 65000}]}`,
      ),
    ],
  },
  {
    why: "peer selector host without BGP",
    code: "PEER_NOT_BGP",
    path: "spec.peers[0].hosts",
    docs: [doc("BgpMultipath", "b", `{hosts: ${hv}, asn: 65001, peers: [{hosts: {names: [s001]}}]}`)],
  },
  {
    why: "peer is a member",
    code: "PEER_SELF",
    path: "spec.peers[0].address",
    docs: [
      doc("BgpMultipath", "b", `{hosts: ${hv}, asn: 65001, peers: [{address: 10.250.0.2, remoteAs: 65001}]}`),
    ],
  },
  {
    why: "remoteAs differs from the peer host's ASN",
    code: "ASN_MISMATCH",
    path: "spec.peers[0].remoteAs",
    docs: [
      doc(
        "BgpMultipath",
        "leaves",
        `{hosts: ${hv}, asn: {pool: "65001-65010"}, peers: [{hosts: {names: [s001]}}]}`,
      ),
      doc(
        "BgpMultipath",
        "spine",
        "{hosts: {names: [s001]}, asn: 65000, peers: [{address: 10.250.0.1, remoteAs: 65002}]}",
      ),
    ],
    document: 3,
  },
  {
    why: "one nexthop",
    code: "ECMP_TOO_FEW_NEXTHOPS",
    path: "spec.nexthops",
    docs: [doc("EcmpRoute", "e", `{hosts: ${hv}, destination: 10.9.0.0/16, nexthops: [{via: 10.250.0.11}]}`)],
  },
  {
    why: "two equal nexthops",
    code: "ECMP_TOO_FEW_NEXTHOPS",
    path: "spec.nexthops",
    docs: [
      doc(
        "EcmpRoute",
        "e",
        `{hosts: ${hv}, destination: 10.9.0.0/16, nexthops: [{via: 10.250.0.11}, {via: 10.250.0.11}]}`,
      ),
    ],
  },
  {
    why: "duplicate nexthop",
    code: "DUPLICATE_NEXTHOP",
    path: "spec.nexthops[2].via",
    docs: [
      doc(
        "EcmpRoute",
        "e",
        `{hosts: ${hv}, destination: 10.9.0.0/16, nexthops: [{via: 10.250.0.11}, {via: 10.250.0.12}, {via: 10.250.0.11}]}`,
      ),
    ],
  },
  {
    why: "nexthop off-link",
    code: "NEXTHOP_UNREACHABLE",
    path: "spec.nexthops[1].via",
    docs: [
      doc(
        "EcmpRoute",
        "e",
        `{hosts: ${hv}, destination: 10.9.0.0/16, nexthops: [{via: 10.250.0.11}, {via: 192.168.0.1}]}`,
      ),
    ],
  },
  {
    why: "nexthop family",
    code: "FAMILY_MISMATCH",
    path: "spec.nexthops[0].via",
    docs: [
      doc(
        "EcmpRoute",
        "e",
        `{hosts: ${hv}, destination: "fd00:1::/64", nexthops: [{via: 10.250.0.11}, {via: 10.250.0.12}]}`,
      ),
    ],
  },
  {
    why: "route twice",
    code: "ROUTE_CONFLICT",
    path: "spec.destination",
    docs: [
      doc(
        "EcmpRoute",
        "a",
        `{hosts: ${hv}, destination: 10.9.0.0/16, nexthops: [{via: 10.250.0.11}, {via: 10.250.0.12}]}`,
      ),
      doc(
        "EcmpRoute",
        "b",
        "{hosts: {names: [h001]}, destination: 10.9.0.0/16, nexthops: [{via: 10.250.0.11}, {via: 10.250.0.13}]}",
      ),
    ],
    document: 3,
  },
  {
    why: "primary = backup",
    code: "KEEPALIVED_SAME_HOST",
    path: "spec.backup",
    docs: [pair("p", "").replace("backup: h002", "backup: h001")],
  },
  {
    why: "primary priority not above backup",
    code: "KEEPALIVED_PRIORITY",
    path: "spec.priority.primary",
    docs: [pair("p", ", priority: {primary: 100, backup: 100}")],
  },
  {
    why: "interface without known subnet",
    code: "INTERFACE_NO_SUBNET",
    path: "spec.interface",
    docs: [pair("p", "").replace("interface: veth0", "interface: eth9")],
  },
  {
    why: "pair across subnets",
    code: "KEEPALIVED_SEGMENT_MISMATCH",
    path: "spec.interface",
    docs: [pair("p", "")],
    inv: INV.replace("10.250.0.2/16", "10.251.0.2/16"),
  },
  {
    why: "VIP outside the subnet",
    code: "VIP_OUTSIDE_SUBNET",
    path: "spec.vips[1]",
    docs: [pair("p", "").replace("vips: [10.250.0.100/16]", "vips: [10.250.0.100/16, 10.99.0.1/24]")],
  },
  {
    why: "VIP is a host address",
    code: "VIP_CONFLICT",
    path: "spec.vips[0]",
    docs: [pair("p", "").replace("10.250.0.100/16", "10.250.0.11/16")],
  },
  {
    why: "VIP reused by another pair",
    code: "VIP_CONFLICT",
    path: "spec.vips[0]",
    docs: [pair("a", ""), pair("b", "").replace("vrid: 51", "vrid: 52")],
    document: 3,
  },
  {
    why: "authPassword with VRRPv3",
    code: "AUTH_REQUIRES_VRRP2",
    path: "spec.authPassword",
    docs: [pair("p", ", version: 3, authPassword: {fromEnv: GW}")],
  },
  {
    why: "fractional VRRPv2 advert",
    code: "ADVERT_INTERVAL",
    path: "spec.advertInterval",
    docs: [pair("p", ", version: 2, advertInterval: 0.5")],
  },
  {
    why: "VRRPv3 advert beyond 40.95 s",
    code: "ADVERT_INTERVAL",
    path: "spec.advertInterval",
    docs: [pair("p", ", advertInterval: 41")],
  },
  {
    why: "sysctl set twice differently",
    code: "SYSCTL_CONFLICT",
    path: 'spec.settings["net.ipv4.ip_forward"]',
    docs: [
      doc("SysctlBaseline", "a", `{hosts: ${hv}, settings: {net.ipv4.ip_forward: "1"}}`),
      doc("SysctlBaseline", "b", '{hosts: {names: [h001]}, settings: {net.ipv4.ip_forward: "0"}}'),
    ],
    document: 3,
  },
];

function run(row: Row) {
  const parts = row.inv === null ? row.docs : [row.inv ?? INV, ...row.docs];
  return validateText(parts.join("---\n"), "t.yaml");
}

describe("validation rules (table)", () => {
  it.each(rows)("$code at $path: $why", (row) => {
    const r = run(row);
    const hit = r.errors.find((e) => e.code === row.code && e.path === row.path);
    expect(hit, JSON.stringify(r.errors, null, 1)).toBeDefined();
    expect(r.valid).toBe(false);
    expect(r.intents).toEqual([]);
    expect(r.inventory).toBeUndefined();
    expect(hit?.message.length).toBeGreaterThan(10);
    expect(hit?.retryable).toBe(false);
    if (row.code !== "INVENTORY_MISSING") {
      expect(hit?.file).toBe("t.yaml");
      expect(hit?.document).toBeGreaterThanOrEqual(1);
      expect(hit?.line).toBeGreaterThanOrEqual(1);
    } else {
      expect(hit?.file).toBeUndefined();
    }
    if (row.document !== undefined) expect(hit?.document).toBe(row.document);
  });

  it("every documented code except I/O-free catch-alls has a row", () => {
    const covered = new Set(rows.map((r) => r.code));
    const missing = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => !covered.has(c));
    expect(missing).toEqual([]);
  });

  it("the control input (inventory alone) is valid", () => {
    const r = validateText(INV, "t.yaml");
    expect(r.errors).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.inventory?.spec.hosts).toHaveLength(4);
  });

  it("names the value and the document in messages", () => {
    const r = run(rows.find((x) => x.code === "VNI_CONFLICT") as Row);
    const e = r.errors.find((x) => x.code === "VNI_CONFLICT");
    expect(e).toMatchObject({
      file: "t.yaml",
      document: 3,
      kind: "VxlanOverlay",
      name: "b",
      path: "spec.vni",
    });
    expect(e?.message).toContain("5001");
    expect(e?.message).toContain("VxlanOverlay/a");
  });

  it("reports all errors, not only the first", () => {
    const r = validateText(
      [
        INV,
        doc("Bridge", "b", "{hosts: {names: [h404]}, name: br/0, colour: red}"),
        doc("VxlanOverlay", "o", `{hosts: ${hv}, vni: 7, mtu: 1460}`),
        pair("p", "").replace("backup: h002", "backup: h001"),
      ].join("---\n"),
      "t.yaml",
    );
    const codes = r.errors.map((e) => e.code).sort();
    expect(codes).toEqual(["BAD_IFNAME", "KEEPALIVED_SAME_HOST", "MTU_TOO_LARGE", "UNKNOWN_FIELD"]);
  });

  it("lets VLANs and overlays attach to a shared bridge", () => {
    const r = validateText(
      [
        INV,
        doc("Bridge", "vm", `{hosts: ${hv}, name: brvm0, mtu: 1450}`),
        doc("Vlan", "a", `{hosts: ${hv}, id: 100, parent: eth1, bridge: brvm0}`),
        doc("Vlan", "b", `{hosts: ${hv}, id: 100, parent: eth2, bridge: brvm0}`),
        doc("VxlanOverlay", "o", `{hosts: ${hv}, vni: 9, bridge: brvm0}`),
      ].join("---\n"),
      "t.yaml",
    );
    expect(r.errors).toEqual([]);
  });

  it("reports a conflict once per field, not once per host", () => {
    const r = validateText(
      [
        INV,
        doc("Bridge", "a", `{hosts: ${hv}, name: br0}`),
        doc("Bridge", "b", `{hosts: ${hv}, name: br0}`),
      ].join("---\n"),
      "t.yaml",
    );
    expect(r.errors.map((e) => [e.code, e.document, e.path])).toEqual([["IFNAME_CONFLICT", 3, "spec.name"]]);
  });

  it("suggests the field the author probably meant", () => {
    const r = validateText(
      [INV.replace("mtu: 1500}", "MTU: 1500}"), doc("VxlanOverlay", "o", `{hosts: ${hv}, vnid: 7}`)].join(
        "---\n",
      ),
      "t.yaml",
    );
    const msgs = r.errors.filter((e) => e.code === "UNKNOWN_FIELD").map((e) => [e.path, e.message]);
    expect(msgs).toEqual([
      [
        "spec.hosts[0].underlay.MTU",
        expect.stringContaining('did you mean "mtu"? (allowed: interface, address, mtu)'),
      ],
      ["spec.vnid", expect.stringContaining('did you mean "vni"?')],
    ]);
  });

  it("lists the fields of the transport that the driver selects", () => {
    const r = validateText(
      INV.replace("driver: netns, namespace: fn-h001", "driver: netns, namespace: fn-h001, host: x"),
      "t.yaml",
    );
    expect(r.errors[0]?.message).toContain("(allowed: driver, namespace)");
  });

  it.each([
    [
      "{hosts: {names: [h001]}, asn: 1, peers: [{address: 10.250.0.11}]}",
      "MISSING_FIELD",
      "spec.peers[0].remoteAs",
      "is missing",
    ],
    [
      "{hosts: {names: [h001]}, asn: 1, peers: [{hosts: {names: [s001]}, remoteAs: 3}]}",
      "UNKNOWN_FIELD",
      "spec.peers[0].remoteAs",
      "this form",
    ],
    ["{hosts: {nmes: [h001]}, asn: 1, peers: []}", "BAD_SELECTOR", "spec.hosts", 'did you mean "names"'],
    ["{asn: 1, peers: []}", "MISSING_FIELD", "spec.hosts", "is missing"],
    ["{hosts: {names: [h001]}, asn: {pool: 5}, peers: []}", "WRONG_TYPE", "spec.asn.pool", "got 5"],
  ])("union error for %s is %s at %s", (spec, code, path, text) => {
    const r = validateText([INV, doc("BgpMultipath", "b", spec)].join("---\n"), "t.yaml");
    expect(r.errors.map((e) => [e.code, e.path])).toEqual([[code, path]]);
    expect(r.errors[0]?.message).toContain(text);
  });

  it("accepts a host's own address as an ECMP nexthop (the kernel does)", () => {
    const r = validateText(
      [
        INV,
        doc(
          "EcmpRoute",
          "e",
          `{hosts: ${hv}, destination: 10.252.0.0/16, nexthops: [{via: 10.250.0.2}, {via: 10.250.0.3}]}`,
        ),
      ].join("---\n"),
      "t.yaml",
    );
    expect(r.errors).toEqual([]);
  });

  it("accepts the INTENTS.md inventory verbatim", () => {
    const text = `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: lab}
spec:
  hosts:
    - name: h001                       # DNS label, unique
      labels: {rack: r1, role: hypervisor}
      underlay: {interface: veth0, address: 10.250.0.1/16, mtu: 1500}   # VTEP / BGP source; mtu default 1500
      transport: {driver: netns, namespace: fn-h001}                    # netns | local | ssh
    - name: kvm-a02
      underlay: {interface: eth0, address: 10.0.0.12/24}
      transport: {driver: ssh, host: 10.0.0.12, port: 22, user: fleet,
                  hostKey: "ssh-ed25519 AAAAC3...", privateKeyFile: /etc/fleetnet/id_ed25519}
`;
    const r = validateText(text, "t.yaml");
    expect(r.errors).toEqual([]);
    expect(r.inventory?.spec.hosts[1]?.underlay.mtu).toBe(1500);
  });

  it("a binary document is not a mapping", () => {
    const r = validateText(`${INV}---\n!!binary aGVsbG8=\n`, "t.yaml");
    expect(r.errors.map((e) => [e.code, e.document])).toEqual([["NOT_A_MAPPING", 2]]);
  });

  it("still checks intents against the good hosts of a broken inventory", () => {
    const broken = INV.replace(
      "transport: {driver: netns, namespace: fn-h002}",
      "transport: {driver: telnet}",
    );
    const r = validateText(
      [
        broken,
        doc("Bridge", "b", "{hosts: {names: [h001, h002, h404]}, name: br0}"),
        doc("VxlanOverlay", "o", "{hosts: {names: [h002]}, vni: 7}"),
        doc("VxlanOverlay", "p", `{hosts: ${hv}, vni: 8, mtu: 1460}`),
      ].join("---\n"),
      "t.yaml",
    );
    expect(r.errors.map((e) => [e.code, e.document, e.path])).toEqual([
      ["BAD_VALUE", 1, "spec.hosts[1].transport.driver"],
      ["UNKNOWN_HOST", 2, "spec.hosts.names[2]"],
      ["MTU_TOO_LARGE", 4, "spec.mtu"],
    ]);
  });

  it("never echoes an inline secret", () => {
    const r = validateText(
      [INV, pair("p", ", version: 2, authPassword: s3cr3t-Pa55")].join("---\n"),
      "t.yaml",
    );
    expect(r.errors.map((e) => e.code)).toEqual(["SECRET_INLINE"]);
    expect(JSON.stringify(r.errors)).not.toContain("s3cr3t");
  });

  it("narrows union errors to the branch the author meant", () => {
    const r = validateText(
      [INV, doc("Bridge", "b", "{hosts: {names: [h001, 7]}, name: br0}")].join("---\n"),
      "t.yaml",
    );
    expect(r.errors.map((e) => [e.code, e.path])).toEqual([["WRONG_TYPE", "spec.hosts.names[1]"]]);
  });
});
