/**
 * The rendered keepalived config, run for real: two lab hosts (network namespaces joined by a
 * veth pair) run keepalived with the keepalived.conf `compile` produced (VRRPv2 with a PASS
 * password resolved host-side from its reference, unicast peers). Exactly the primary must
 * hold the VIP; when the primary's keepalived stops, the backup takes it over. Namespaces use
 * the prefix `fnp-`; keepalived runs in the foreground (-n) and is killed by PID in afterAll.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateText } from "@fleetnet/intent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile, PATHS, resolveSecrets } from "./index.js";
import { must, run } from "./testlib/run.testlib.js";

const tag = `${process.pid % 100000}`;
const HOSTS = [
  { name: "ka1", ns: `fnp-ka1-${tag}`, ip: "10.249.0.1" },
  { name: "ka2", ns: `fnp-ka2-${tag}`, ip: "10.249.0.2" },
] as const;
const VIP = "10.249.0.100";
let dir = "";
const procs = new Map<string, ChildProcess>();

const YAML = `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: lab}
spec:
  hosts:
${HOSTS.map((h) => `    - {name: ${h.name}, underlay: {interface: veth0, address: ${h.ip}/24}, transport: {driver: netns, namespace: ${h.ns}}}`).join("\n")}
---
apiVersion: fleetnet/v1
kind: KeepalivedPair
metadata: {name: gw}
spec:
  primary: ka1
  backup: ka2
  interface: veth0
  vrid: 61
  vips: [${VIP}/24]
  advertInterval: 1
  version: 2
  authPassword: {fromEnv: FNP_VRRP_TEST}
`;

const noKeepalived = !existsSync("/usr/sbin/keepalived");

/** SIGTERM the keepalived of `name` (by its PID) and wait for it to exit; SIGKILL after 5 s. */
async function stop(name: string): Promise<void> {
  const p = procs.get(name);
  procs.delete(name);
  if (p?.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.once("exit", () => resolve()));
  p.kill("SIGTERM");
  const timer = setTimeout(() => p.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

beforeAll(() => {
  if (noKeepalived) return;
  const r = validateText(YAML);
  if (!r.valid || !r.inventory) throw new Error(JSON.stringify(r.errors));
  const { hosts } = compile(r.inventory, r.intents);
  dir = mkdtempSync(join(tmpdir(), "fnp-ka-"));
  try {
    for (const h of HOSTS) {
      must(["ip", "netns", "add", h.ns]);
      must(["ip", "-n", h.ns, "link", "set", "lo", "up"]);
    }
    must([
      "ip",
      "-n",
      HOSTS[0].ns,
      "link",
      "add",
      "veth0",
      "type",
      "veth",
      "peer",
      "name",
      "veth0",
      "netns",
      HOSTS[1].ns,
    ]);
    for (const h of HOSTS) {
      must(["ip", "-n", h.ns, "addr", "add", `${h.ip}/24`, "dev", "veth0"]);
      must(["ip", "-n", h.ns, "link", "set", "veth0", "up"]);
      const f = hosts.get(h.name)?.files.find((x) => x.path === PATHS.keepalived);
      if (!f) throw new Error(`no keepalived.conf for ${h.name}`);
      // What the executor does on the host: resolve the secret reference, write 0600.
      expect(f.secrets).toEqual({ "vrrp-gw": { fromEnv: "FNP_VRRP_TEST" } });
      const conf = join(dir, `${h.name}.conf`);
      writeFileSync(conf, resolveSecrets(f.content, { "vrrp-gw": "pa55w0rd" }), { mode: 0o600 });
      const p = (k: string) => join(dir, `${h.name}-${k}.pid`);
      const child = spawn(
        "ip",
        [
          "netns",
          "exec",
          h.ns,
          "keepalived",
          "-f",
          conf,
          "-p",
          p("main"),
          "-r",
          p("vrrp"),
          "-c",
          p("chk"),
          "-b",
          p("bfd"),
          "-n",
          "-l",
          "-D",
          "-G",
        ],
        { stdio: "ignore" },
      );
      procs.set(h.name, child);
    }
  } catch (e) {
    for (const h of HOSTS) void stop(h.name);
    throw e;
  }
});

afterAll(async () => {
  await Promise.all(HOSTS.map((h) => stop(h.name)));
  for (const h of HOSTS) run(["ip", "netns", "del", h.ns]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function hasVip(ns: string): boolean {
  return run(["ip", "-n", ns, "-o", "addr", "show", "dev", "veth0"]).out.includes(`inet ${VIP}/24`);
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

describe("rendered keepalived config in real keepalived", () => {
  it.skipIf(noKeepalived)(
    "the primary holds the VIP, the backup takes over when the primary stops (skipped without keepalived)",
    async () => {
      const [a, b] = HOSTS;
      expect(await until(() => hasVip(a.ns), 15_000)).toBe(true);
      // Stable: the backup does not claim it while the primary advertises.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(hasVip(a.ns)).toBe(true);
      expect(hasVip(b.ns)).toBe(false);
      await stop(a.name);
      expect(await until(() => hasVip(b.ns) && !hasVip(a.ns), 15_000)).toBe(true);
    },
  );
});
