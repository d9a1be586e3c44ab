/**
 * The rendered FRR config, run for real: three lab hosts (network namespaces on one fabric
 * bridge) start zebra + bgpd with the frr.conf `compile` produced. Two leaves (ASNs from a pool)
 * originate the same prefix; the spine must learn it over eBGP from both and install ONE kernel
 * route with TWO nexthops (ECMP needs `maximum-paths` and, across different AS paths,
 * `bgp bestpath as-path multipath-relax`). Namespaces use the prefix `fnp-`; daemons are
 * killed by PID and everything is removed in afterAll.
 */
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateText } from "@fleetnet/intent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile, PATHS } from "./index.js";
import { must, run } from "./testlib/run.testlib.js";

const tag = `${process.pid % 100000}`;
const FAB = `fnp-fab${tag}`;
const HOSTS = [
  { name: "leaf1", ns: `fnp-l1-${tag}`, ip: "10.253.0.1" },
  { name: "leaf2", ns: `fnp-l2-${tag}`, ip: "10.253.0.2" },
  { name: "spine", ns: `fnp-sp-${tag}`, ip: "10.253.0.9" },
];
let dir = "";
const pids: number[] = [];

const YAML = `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: lab}
spec:
  hosts:
${HOSTS.map((h) => `    - {name: ${h.name}, labels: {role: ${h.name === "spine" ? "spine" : "leaf"}}, underlay: {interface: veth0, address: ${h.ip}/24}, transport: {driver: netns, namespace: ${h.ns}}}`).join("\n")}
---
apiVersion: fleetnet/v1
kind: BgpMultipath
metadata: {name: leaves}
spec:
  hosts: {matchLabels: {role: leaf}}
  asn: {pool: "65101-65110"}
  peers: [{hosts: {matchLabels: {role: spine}}}]
  advertise: [10.254.7.0/24]
  timers: {keepalive: 1, hold: 3}
---
apiVersion: fleetnet/v1
kind: BgpMultipath
metadata: {name: spine}
spec:
  hosts: {matchLabels: {role: spine}}
  asn: 65100
  peers: [{hosts: {matchLabels: {role: leaf}}}]
  maximumPaths: 8
  timers: {keepalive: 1, hold: 3}
`;

function cleanup(): void {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  for (const h of HOSTS) run(["ip", "netns", "del", h.ns]);
  run(["ip", "netns", "del", FAB]);
  if (dir) rmSync(dir, { recursive: true, force: true });
}

const frrUser = run(["id", "-u", "frr"]);
const noFrr = frrUser.rc !== 0 || !existsSync("/usr/lib/frr/bgpd");

beforeAll(() => {
  if (noFrr) return;
  const r = validateText(YAML);
  if (!r.valid || !r.inventory) throw new Error(JSON.stringify(r.errors));
  const { hosts } = compile(r.inventory, r.intents);
  dir = mkdtempSync(join(tmpdir(), "fnp-frr-"));
  chownSync(dir, Number(frrUser.out.trim()), Number(must(["id", "-g", "frr"]).trim()));
  try {
    must(["ip", "netns", "add", FAB]);
    must(["ip", "-n", FAB, "link", "add", "br0", "type", "bridge"]);
    must(["ip", "-n", FAB, "link", "set", "br0", "up"]);
    HOSTS.forEach((h, i) => {
      must(["ip", "netns", "add", h.ns]);
      must(["ip", "-n", h.ns, "link", "set", "lo", "up"]);
      must(["ip", "-n", h.ns, "link", "add", "veth0", "type", "veth", "peer", "name", `p${i}`, "netns", FAB]);
      must(["ip", "-n", FAB, "link", "set", `p${i}`, "master", "br0", "up"]);
      must(["ip", "-n", h.ns, "addr", "add", `${h.ip}/24`, "dev", "veth0"]);
      must(["ip", "-n", h.ns, "link", "set", "veth0", "up"]);
      const d = join(dir, h.name);
      must(["install", "-d", "-o", "frr", "-g", "frr", d]);
      const conf = join(d, "frr.conf");
      writeFileSync(conf, hosts.get(h.name)?.files.find((f) => f.path === PATHS.frr)?.content ?? "");
      must(["chown", "frr:frr", conf]);
      for (const daemon of ["zebra", "bgpd"]) {
        const pidFile = join(d, `${daemon}.pid`);
        // -d daemonizes; the PID file names the process to kill.
        must([
          "ip",
          "netns",
          "exec",
          h.ns,
          `/usr/lib/frr/${daemon}`,
          "-d",
          "-u",
          "frr",
          "-g",
          "frr",
          "-f",
          conf,
          "-i",
          pidFile,
          "-z",
          join(d, "zserv.api"),
          "--vty_socket",
          d,
          "-A",
          "127.0.0.1",
          "-P",
          "0",
        ]);
        for (let k = 0; k < 50 && !existsSync(pidFile); k++) spawnSync("sleep", ["0.1"]);
        pids.push(Number(readFileSync(pidFile, "utf8").trim()));
      }
    });
  } catch (e) {
    cleanup();
    throw e;
  }
});

afterAll(cleanup);

function spineRoute(): { nexthops?: { gateway: string }[]; protocol?: string } | undefined {
  const out = run(["ip", "-n", HOSTS[2]?.ns ?? "", "-j", "route", "show", "10.254.7.0/24"]).out;
  try {
    return (JSON.parse(out || "[]") as { nexthops?: { gateway: string }[]; protocol?: string }[])[0];
  } catch {
    return undefined;
  }
}

describe("rendered FRR config in real bgpd", () => {
  it.skipIf(noFrr)(
    "spine installs the leaves' prefix as one ECMP route with both leaves as nexthops (skipped without FRR)",
    async () => {
      let route = spineRoute();
      for (let k = 0; k < 300 && (route?.nexthops?.length ?? 0) < 2; k++) {
        await new Promise((r) => setTimeout(r, 100));
        route = spineRoute();
      }
      expect(route?.protocol).toBe("bgp");
      expect(route?.nexthops?.map((n) => n.gateway).sort()).toEqual(["10.253.0.1", "10.253.0.2"]);
      const summary = JSON.parse(
        must(["vtysh", "--vty_socket", join(dir, "spine"), "-c", "show bgp ipv4 unicast summary json"]),
      ) as { peers: Record<string, { state: string; remoteAs: number }> };
      expect(summary.peers["10.253.0.1"]).toMatchObject({ state: "Established", remoteAs: 65101 });
      expect(summary.peers["10.253.0.2"]).toMatchObject({ state: "Established", remoteAs: 65102 });
    },
  );
});
