import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadUserNkey, NatsUsersManifestSchema, userNkeyFromSeed } from "@fleetnet/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { defaultCredsDir, runNatsConfig } from "./rollout.js";

const dir = mkdtempSync(join(tmpdir(), "fnp-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function inventory(name: string, hosts: string[]): string {
  const path = join(dir, name);
  const body = hosts
    .map(
      (h, i) => `    - name: ${h}
      underlay: {interface: veth0, address: 10.250.0.${i + 1}/16}
      transport: {driver: netns, namespace: fnp-${h}}`,
    )
    .join("\n");
  writeFileSync(
    path,
    `apiVersion: fleetnet/v1\nkind: Inventory\nmetadata: {name: t}\nspec:\n  hosts:\n${body}\n`,
  );
  return path;
}

function run(opts: Parameters<typeof runNatsConfig>[0]) {
  let stdout = "";
  let stderr = "";
  const code = runNatsConfig(opts, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe("fleetnet nats-config", () => {
  const creds = join(dir, "creds");
  const out = join(dir, "etc", "nats.conf");

  it("writes a valid nats-server config and 0600 seed files, printing no seed", () => {
    const r = run({
      file: [inventory("inv.yaml", ["h1", "h2"])],
      out,
      credsDir: creds,
      storeDir: join(dir, "js"),
    });
    expect(r.code).toBe(0);
    const config = readFileSync(out, "utf8");
    expect(readdirSync(creds).sort()).toEqual([
      "host-h1.nk",
      "host-h2.nk",
      "operator.nk",
      "planner.nk",
      "telemetry.nk",
      "users.json",
    ]);
    expect(statSync(creds).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(creds).filter((f) => f.endsWith(".nk"))) {
      expect(statSync(join(creds, f)).mode & 0o777).toBe(0o600);
      const seed = readFileSync(join(creds, f), "utf8");
      const key = userNkeyFromSeed(seed);
      expect(config).toContain(`nkey: "${key.publicKey}"`);
      expect(config).not.toContain(seed.trim());
      expect(r.stdout + r.stderr).not.toContain(seed.trim());
    }
    const { users } = NatsUsersManifestSchema.parse(
      JSON.parse(readFileSync(join(creds, "users.json"), "utf8")),
    );
    for (const u of users) expect(config).toContain(`nkey: "${loadUserNkey(u.seedFile).publicKey}"`);
    expect(users[0]).toMatchObject({ name: "host-h1", role: "host", host: "h1", inboxPrefix: "_INBOX_h1" });
    expect(JSON.stringify(users)).not.toMatch(/"SU[A-Z2-7]{56}"/);
    const check = spawnSync("/usr/sbin/nats-server", ["-t", "-c", out], { encoding: "utf8" });
    expect(check.status, check.stderr + check.stdout).toBe(0);
  });

  it("keeps existing keys on a re-run, removes seeds of hosts gone from the inventory, rotates on request", () => {
    const before = readFileSync(join(creds, "host-h1.nk"), "utf8");
    const r = run({ file: [inventory("inv2.yaml", ["h1", "h3"])], out, credsDir: creds, json: true });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.removed).toEqual(["host-h2.nk"]);
    expect(existsSync(join(creds, "host-h2.nk"))).toBe(false);
    expect(readFileSync(join(creds, "host-h1.nk"), "utf8")).toBe(before);
    expect(
      run({ file: [inventory("inv2.yaml", ["h1", "h3"])], out, credsDir: creds, rotate: true }).code,
    ).toBe(0);
    expect(readFileSync(join(creds, "host-h1.nk"), "utf8")).not.toBe(before);
  });

  it("prints the config when --out is not given", () => {
    const r = run({ file: [inventory("inv3.yaml", ["h9"])], credsDir: join(dir, "creds3") });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# nats-server configuration for fleetnet/);
    expect(r.stdout).toContain('"fleet.v1.events.host.h9.>"');
  });

  it("writes nothing for an invalid inventory (exit 1) or a missing file (exit 2)", () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(
      bad,
      "apiVersion: fleetnet/v1\nkind: Inventory\nmetadata: {name: t}\nspec:\n  hosts:\n    - name: Bad.Host\n",
    );
    const credsBad = join(dir, "creds-bad");
    const outBad = join(dir, "bad.conf");
    const r = run({ file: [bad], out: outBad, credsDir: credsBad });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Bad\.Host/);
    expect(r.stderr).toMatch(/nothing written/);
    expect(existsSync(credsBad) || existsSync(outBad)).toBe(false);
    const missing = run({ file: [join(dir, "nope.yaml")], out: outBad, credsDir: credsBad });
    expect(missing.code).toBe(2);
    expect(existsSync(credsBad) || existsSync(outBad)).toBe(false);
  });

  it("refuses a corrupt existing seed, naming the user, and changes nothing", () => {
    const c = join(dir, "creds-corrupt");
    expect(run({ file: [inventory("inv4.yaml", ["h1"])], credsDir: c, out: join(dir, "c.conf") }).code).toBe(
      0,
    );
    writeFileSync(join(c, "planner.nk"), "SUGARBAGE\n");
    const conf = readFileSync(join(dir, "c.conf"), "utf8");
    const r = run({ file: [inventory("inv4.yaml", ["h1"])], credsDir: c, out: join(dir, "c.conf") });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/KEY_INVALID: existing seed of NATS user planner/);
    expect(readFileSync(join(dir, "c.conf"), "utf8")).toBe(conf);
  });

  it("adds pool users (all hosts, or a list) and refuses a pool naming an unknown host", () => {
    const c = join(dir, "creds-pool");
    const inv = inventory("inv5.yaml", ["h1", "h2", "h3"]);
    const r = run({ file: [inv], credsDir: c, pool: ["lab", "rack1=h1,h2"], json: true });
    expect(r.code).toBe(0);
    const users = JSON.parse(r.stdout).users as Array<{ name: string; hosts?: string[] }>;
    expect(users.filter((u) => u.hosts).map((u) => [u.name, u.hosts])).toEqual([
      ["pool-lab", ["h1", "h2", "h3"]],
      ["pool-rack1", ["h1", "h2"]],
    ]);
    expect(statSync(join(c, "pool-lab.nk")).mode & 0o777).toBe(0o600);
    // dropping a pool removes its seed file
    const again = run({ file: [inv], credsDir: c, pool: ["lab"], json: true });
    expect(JSON.parse(again.stdout).removed).toEqual(["pool-rack1.nk"]);
    const bad = run({ file: [inv], credsDir: join(dir, "creds-pool-bad"), pool: ["x=h1,h9"] });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/pool x names host\(s\) not in the inventory: h9; nothing written/);
    expect(existsSync(join(dir, "creds-pool-bad"))).toBe(false);
  });

  it("adds client TLS that nats-server accepts; --tls-cert and --tls-key go together", () => {
    const cert = join(dir, "server.crt");
    const key = join(dir, "server.key");
    const gen = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ed25519",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        key,
        "-out",
        cert,
      ],
      { encoding: "utf8" },
    );
    expect(gen.status, gen.stderr).toBe(0);
    const out = join(dir, "tls.conf");
    const r = run({
      file: [inventory("inv6.yaml", ["h1"])],
      credsDir: join(dir, "creds-tls"),
      out,
      tlsCert: cert,
      tlsKey: key,
    });
    expect(r.code).toBe(0);
    const config = readFileSync(out, "utf8");
    expect(config).toContain(`cert_file: "${cert}"`);
    const check = spawnSync("/usr/sbin/nats-server", ["-t", "-c", out], { encoding: "utf8" });
    expect(check.status, check.stderr + check.stdout).toBe(0);
    expect(() => run({ file: [inventory("inv6.yaml", ["h1"])], tlsCert: cert })).toThrow(/go together/);
  });

  it("defaults the credentials dir under the state dir", () => {
    expect(defaultCredsDir({ FLEETNET_STATE_DIR: "/s" })).toBe("/s/nats/credentials");
    expect(defaultCredsDir({ HOME: "/home/x" })).toBe("/home/x/.local/state/fleetnet/nats/credentials");
  });
});
