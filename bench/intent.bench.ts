/**
 * @fleetnet/intent: parse + validate (schema and semantic rules) of a generated fleet.
 * Run: pnpm exec vitest bench --run --project unit bench/intent.bench.ts
 *
 * Input per size N: an Inventory of N netns hosts in racks of 40, one VXLAN overlay over all
 * of them with an address pool, a BGP multipath intent with an ASN pool, a sysctl baseline
 * and a keepalived pair — one YAML text, as `fleetnet validate -f` would read it.
 */
// Relative import: the workspace root does not depend on @fleetnet/* (tsconfig.test.json could not resolve it).

import { bench, describe, expect } from "vitest";
import { validateText } from "../libs/intent/src/index.js";

function fleetYaml(n: number): string {
  const hosts: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = `h${String(i + 1).padStart(5, "0")}`;
    const ip = `10.${250 + Math.floor((i + 1) / 65536)}.${Math.floor((i + 1) / 256) % 256}.${(i + 1) % 256}`;
    hosts.push(
      `    - name: ${name}\n      labels: {rack: r${Math.floor(i / 40)}, role: hypervisor}\n      underlay: {interface: veth0, address: ${ip}/14}\n      transport: {driver: netns, namespace: fn-${name}}`,
    );
  }
  return [
    `apiVersion: fleetnet/v1\nkind: Inventory\nmetadata: {name: bench}\nspec:\n  hosts:\n${hosts.join("\n")}\n`,
    "apiVersion: fleetnet/v1\nkind: VxlanOverlay\nmetadata: {name: blue}\nspec: {hosts: {matchLabels: {role: hypervisor}}, vni: 5001, addresses: {pool: 172.16.0.0/16}}\n",
    'apiVersion: fleetnet/v1\nkind: BgpMultipath\nmetadata: {name: fabric}\nspec: {hosts: {matchLabels: {role: hypervisor}}, asn: {pool: "4200000000-4200099999"}, peers: [{address: 10.250.255.254, remoteAs: 65000}], maximumPaths: 8}\n',
    'apiVersion: fleetnet/v1\nkind: SysctlBaseline\nmetadata: {name: base}\nspec: {hosts: {matchLabels: {role: hypervisor}}, settings: {net.ipv4.ip_forward: "1", net.core.somaxconn: "4096"}}\n',
    "apiVersion: fleetnet/v1\nkind: KeepalivedPair\nmetadata: {name: gw}\nspec: {primary: h00001, backup: h00002, interface: veth0, vrid: 51, vips: [10.250.255.100/14]}\n",
  ].join("---\n");
}

for (const n of [100, 1000, 5000]) {
  const text = fleetYaml(n);
  const check = validateText(text, "bench.yaml");
  expect(check.errors).toEqual([]);
  describe(`validate ${n} hosts (${(text.length / 1024).toFixed(0)} KiB YAML)`, () => {
    bench(
      `parse+validate ${n}`,
      () => {
        validateText(text, "bench.yaml");
      },
      { iterations: n >= 5000 ? 3 : 10, warmupIterations: 1 },
    );
  });
}
