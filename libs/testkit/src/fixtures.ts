/** Intent YAML for tests and benches: text only, no product logic. */

/**
 * A VxlanOverlay `name` over `hosts` by name, a full mesh: VNI 5001, port 4789, MTU 1450,
 * unicast replication, overlay addresses from 172.20.0.0/16.
 */
export function meshOverlayYaml(name: string, hosts: readonly string[]): string {
  return `apiVersion: fleetnet/v1
kind: VxlanOverlay
metadata: {name: ${name}}
spec:
  hosts: {names: [${hosts.join(", ")}]}
  vni: 5001
  port: 4789
  mtu: 1450
  replication: {mode: unicast}
  addresses: {pool: 172.20.0.0/16}
`;
}
