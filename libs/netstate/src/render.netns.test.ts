/**
 * Rendered daemon configs checked by the real tools: `vtysh -C -f` (FRR 8.4, rc 0 = ok) and
 * `keepalived -t -f` run INSIDE a network namespace that has the VRRP interface (rc 0 = ok).
 * Namespaces use the prefix `fnp-` and are always deleted in afterAll.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateText } from "@fleetnet/intent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile, PATHS, renderFrr, resolveSecrets } from "./index.js";
import { BGP_LEAVES, BGP_SPINE, KEEPALIVED_GW } from "./testlib/fixtures.testlib.js";
import { must, run } from "./testlib/run.testlib.js";

const NS = `fnp-ka-${process.pid}`;
let dir = "";

const INVENTORY = `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: lab}
spec:
  hosts:
    - {name: h001, labels: {role: hypervisor}, underlay: {interface: veth0, address: 10.250.0.1/16}, transport: {driver: netns, namespace: fnp-h1}}
    - {name: h002, labels: {role: hypervisor}, underlay: {interface: veth0, address: 10.250.0.2/16}, transport: {driver: netns, namespace: fnp-h2}}
    - {name: s001, labels: {role: spine}, underlay: {interface: veth0, address: 10.250.0.11/16}, transport: {driver: netns, namespace: fnp-s1}}
`;

const YAML = `${INVENTORY}${BGP_LEAVES}${BGP_SPINE}${KEEPALIVED_GW}---
apiVersion: fleetnet/v1
kind: KeepalivedPair
metadata: {name: gw-fast}
spec:
  primary: h002
  backup: h001
  interface: veth0
  vrid: 52
  vips: [10.250.0.101/16]
  advertInterval: 0.5
  preempt: false
`;

const parsed = validateText(YAML);
if (!parsed.valid || !parsed.inventory) throw new Error(JSON.stringify(parsed.errors));
const { hosts } = compile(parsed.inventory, parsed.intents);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "fnp-render-"));
  must(["ip", "netns", "add", NS]);
  must(["ip", "-n", NS, "link", "add", "veth0", "type", "veth", "peer", "name", "veth0p"]);
  must(["ip", "-n", NS, "addr", "add", "10.250.0.1/16", "dev", "veth0"]);
  must(["ip", "-n", NS, "link", "set", "veth0", "up"]);
});

afterAll(() => {
  run(["ip", "netns", "del", NS]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function fileOf(host: string, path: string) {
  const f = hosts.get(host)?.files.find((x) => x.path === path);
  if (!f) throw new Error(`no ${path} on ${host}`);
  return f;
}

describe("FRR config passes vtysh -C", () => {
  for (const host of ["h001", "h002", "s001"]) {
    it(`frr.conf of ${host}`, () => {
      const p = join(dir, `${host}-frr.conf`);
      writeFileSync(p, fileOf(host, PATHS.frr).content);
      const r = run(["vtysh", "-C", "-f", p]);
      expect(r.out).toBe("");
      expect(r.rc).toBe(0);
    });
  }

  it("IPv6 neighbors and prefixes pass too", () => {
    const p = join(dir, "v6-frr.conf");
    writeFileSync(
      p,
      renderFrr({
        hostname: "h6",
        intent: "v6",
        asn: 65010,
        routerId: "10.0.0.6",
        neighbors: [
          { address: "fd00::1", remoteAs: 65011 },
          { address: "10.0.0.1", remoteAs: 65011 },
        ],
        maximumPaths: 64,
        multipathRelax: false,
        advertise: ["fd00:10::/64", "10.20.0.0/24"],
        redistribute: ["static", "kernel"],
        updateSource: "fd00::6",
      }),
    );
    expect(run(["vtysh", "-C", "-f", p]).rc).toBe(0);
  });

  it("the check is real: a broken config fails", () => {
    const p = join(dir, "bad-frr.conf");
    writeFileSync(p, `${fileOf("h001", PATHS.frr).content.replace("maximum-paths 4", "maximum-paths 400")}`);
    expect(run(["vtysh", "-C", "-f", p]).rc).not.toBe(0);
  });
});

describe("keepalived config passes keepalived -t inside a namespace with the interface", () => {
  for (const host of ["h001", "h002"]) {
    it(`keepalived.conf of ${host} (secret resolved as the executor does)`, () => {
      const f = fileOf(host, PATHS.keepalived);
      expect(f.content).not.toContain("s3cret");
      const p = join(dir, `${host}-keepalived.conf`);
      writeFileSync(p, resolveSecrets(f.content, { "vrrp-gw": "s3cret" }), { mode: 0o600 });
      const r = run(["ip", "netns", "exec", NS, "keepalived", "-t", "-f", p]);
      expect(r.out).toBe("");
      expect(r.rc).toBe(0);
    });
  }

  it("the check is real: an unknown interface fails", () => {
    const f = fileOf("h001", PATHS.keepalived);
    const p = join(dir, "bad-keepalived.conf");
    writeFileSync(p, resolveSecrets(f.content, { "vrrp-gw": "s3cret" }).replaceAll("veth0", "nosuch0"));
    expect(run(["ip", "netns", "exec", NS, "keepalived", "-t", "-f", p]).rc).not.toBe(0);
  });
});
