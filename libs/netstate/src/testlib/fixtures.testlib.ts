/**
 * Intent documents the netstate tests share, each a YAML document starting with `---` so that
 * they append to an inventory (hosts h001/h002 labelled `role: hypervisor`, spines
 * `role: spine`, underlay veth0 in 10.250.0.0/16). Append keys to a document's `spec` by
 * adding `  key: value` lines at its end.
 */

/** BgpMultipath `leaves`: ASNs from a pool, the spines by selector plus one static peer, ECMP 4. */
export const BGP_LEAVES = `---
apiVersion: fleetnet/v1
kind: BgpMultipath
metadata: {name: leaves}
spec:
  hosts: {matchLabels: {role: hypervisor}}
  asn: {pool: "65001-65100"}
  peers:
    - {hosts: {matchLabels: {role: spine}}}
    - {address: 10.250.0.254, remoteAs: 65500}
  maximumPaths: 4
  advertise: [10.10.0.0/24]
  redistribute: [connected]
  timers: {keepalive: 3, hold: 9}
`;

/** BgpMultipath `spine`: AS 65000, the hypervisors by selector, ECMP 8. */
export const BGP_SPINE = `---
apiVersion: fleetnet/v1
kind: BgpMultipath
metadata: {name: spine}
spec:
  hosts: {matchLabels: {role: spine}}
  asn: 65000
  peers:
    - {hosts: {matchLabels: {role: hypervisor}}}
  maximumPaths: 8
`;

/** KeepalivedPair `gw`: h001 primary, h002 backup on veth0, VRID 51, VRRPv2 with a password reference. */
export const KEEPALIVED_GW = `---
apiVersion: fleetnet/v1
kind: KeepalivedPair
metadata: {name: gw}
spec:
  primary: h001
  backup: h002
  interface: veth0
  vrid: 51
  vips: [10.250.0.100/16]
  version: 2
  authPassword: {fromEnv: FLEETNET_VRRP_GW}
`;
