import { describe, expect, it } from "vitest";
import {
  type FleetnetError,
  generateNatsConfig,
  generateUserNkey,
  hostPermissions,
  isUserPublicKey,
  loadUserNkey,
  NatsUsersManifestSchema,
  natsUsersManifest,
  userNkeyFromSeed,
} from "./index.js";
import { codeOf } from "./testlib/errors.testlib.js";

describe("nkeys", () => {
  it("generates user keys in the NATS encoding and derives the public key from the seed", () => {
    const k = generateUserNkey();
    expect(k.publicKey).toMatch(/^U[A-Z2-7]{55}$/);
    expect(k.seed).toMatch(/^SU[A-Z2-7]{56}$/);
    expect(isUserPublicKey(k.publicKey)).toBe(true);
    expect(userNkeyFromSeed(`${k.seed}\n`)).toEqual(k);
    expect(generateUserNkey().seed).not.toBe(k.seed);
  });

  it("refuses a corrupted seed or public key", () => {
    const k = generateUserNkey();
    const flipped = k.seed.slice(0, 10) + (k.seed[10] === "A" ? "B" : "A") + k.seed.slice(11);
    expect(codeOf(() => userNkeyFromSeed(flipped))).toBe("KEY_INVALID");
    expect(codeOf(() => userNkeyFromSeed("not-a-seed"))).toBe("KEY_INVALID");
    expect(codeOf(() => userNkeyFromSeed(k.publicKey))).toBe("KEY_INVALID");
    expect(
      isUserPublicKey(
        k.publicKey.slice(0, 20) + (k.publicKey[20] === "A" ? "B" : "A") + k.publicKey.slice(21),
      ),
    ).toBe(false);
  });
});

describe("generateNatsConfig", () => {
  const out = generateNatsConfig({
    hosts: ["h1", "kvm-a02"],
    inventoryName: "lab",
    port: 4333,
    storeDir: "/tmp/js",
  });

  it("makes one user per host, then planner, telemetry and operator", () => {
    expect(out.users.map((u) => u.name)).toEqual([
      "host-h1",
      "host-kvm-a02",
      "planner",
      "telemetry",
      "operator",
    ]);
    expect(out.users.map((u) => u.inboxPrefix)).toEqual([
      "_INBOX_h1",
      "_INBOX_kvm-a02",
      "_INBOX_PLANNER",
      "_INBOX_TELEMETRY",
      "_INBOX_OPERATOR",
    ]);
    expect(new Set(out.users.map((u) => u.publicKey)).size).toBe(5);
  });

  it("gives a host only its own consumer, events, heartbeat, state and inbox", () => {
    expect(hostPermissions("h1")).toEqual({
      publish: {
        allow: [
          "$JS.API.CONSUMER.MSG.NEXT.FLEET_JOBS.exec-h1",
          "$JS.API.CONSUMER.INFO.FLEET_JOBS.exec-h1",
          "$JS.ACK.FLEET_JOBS.exec-h1.>",
          "fleet.v1.events.host.h1.>",
          "fleet.v1.heartbeat.h1",
          "fleet.v1.state.h1",
        ],
      },
      subscribe: { allow: ["_INBOX_h1.>"] },
    });
    for (const u of out.users.filter((u) => u.role === "host")) {
      const all = [...u.permissions.publish.allow, ...u.permissions.subscribe.allow];
      const other = u.host === "h1" ? "kvm-a02" : "h1";
      expect(all.some((s) => s.includes(other))).toBe(false);
      expect(all.some((s) => s.startsWith("fleet.v1.jobs"))).toBe(false);
    }
  });

  it("forbids the planner to publish as a host", () => {
    const planner = out.users.find((u) => u.name === "planner");
    expect(planner?.permissions.publish.deny).toEqual([
      "fleet.v1.events.host.>",
      "fleet.v1.heartbeat.>",
      "fleet.v1.state.>",
    ]);
    expect(planner?.permissions.allowResponses).toBe(true);
  });

  it("writes public keys only, never a seed, into the config text", () => {
    for (const u of out.users) {
      expect(out.config).toContain(`nkey: "${u.publicKey}"`);
      expect(out.config).not.toContain(u.seed);
    }
    expect(out.config).toContain('store_dir: "/tmp/js"');
    expect(out.config).toContain("port: 4333");
    expect(out.config).toContain("from inventory lab");
    expect(out.config).not.toMatch(/password/);
  });

  it("keeps existing keys when asked (no rotation on re-run)", () => {
    const again = generateNatsConfig({
      hosts: ["h1", "kvm-a02", "h3"],
      existingSeeds: Object.fromEntries(out.users.map((u) => [u.name, u.seed])),
    });
    for (const u of out.users)
      expect(again.users.find((x) => x.name === u.name)?.publicKey).toBe(u.publicKey);
    expect(again.users.find((u) => u.name === "host-h3")?.publicKey).toMatch(/^U/);
  });

  it.each([
    ["no hosts", { hosts: [] }, "NATS_CONFIG_INVALID", /no hosts/],
    ["a duplicate host", { hosts: ["h1", "h1"] }, "NATS_CONFIG_INVALID", /h1 appears twice/],
    ["a host that is not a DNS label", { hosts: ["h1", "evil.>"] }, "INVALID_NAME", /evil/],
    ["a bad port", { hosts: ["h1"], port: 70000 }, "NATS_CONFIG_INVALID", /port 70000/],
    ["a relative store dir", { hosts: ["h1"], storeDir: "js" }, "NATS_CONFIG_INVALID", /absolute/],
    [
      "a quote in the store dir",
      { hosts: ["h1"], storeDir: '/tmp/a"b' },
      "NATS_CONFIG_INVALID",
      /not allowed/,
    ],
    [
      "a bad listen address",
      { hosts: ["h1"], listenHost: "0.0.0.0 ; x" },
      "NATS_CONFIG_INVALID",
      /listen address/,
    ],
    [
      "a corrupt existing seed",
      { hosts: ["h1"], existingSeeds: { "host-h1": "SUXXXX" } },
      "KEY_INVALID",
      /existing seed of NATS user host-h1/,
    ],
  ])("refuses %s", (_why, input, code, message) => {
    try {
      generateNatsConfig(input);
      expect.unreachable();
    } catch (err) {
      expect((err as FleetnetError).code).toBe(code);
      expect((err as Error).message).toMatch(message);
    }
  });
});

describe("users manifest and seed files", () => {
  it("lists every user without secrets and refuses unreadable seed files", () => {
    const gen = generateNatsConfig({ hosts: ["h1"] });
    const manifest = NatsUsersManifestSchema.parse(natsUsersManifest(gen.users, "/etc/fleetnet/nats/"));
    expect(manifest.users[0]).toEqual({
      name: "host-h1",
      role: "host",
      host: "h1",
      publicKey: gen.users[0]?.publicKey,
      inboxPrefix: "_INBOX_h1",
      seedFile: "/etc/fleetnet/nats/host-h1.nk",
    });
    expect(JSON.stringify(manifest)).not.toContain(gen.users[0]?.seed);
    expect(codeOf(() => loadUserNkey("/nonexistent/fnp.nk"))).toBe("KEY_INVALID");
    expect(() => loadUserNkey("/nonexistent/fnp.nk")).toThrow(
      /cannot read nkey seed file \/nonexistent\/fnp.nk: ENOENT/,
    );
  });
});

describe("executor pools", () => {
  it("gives a pool exactly the union of its hosts' rights and its own inbox", () => {
    const gen = generateNatsConfig({
      hosts: ["h1", "h2", "h3"],
      pools: [{ name: "lab", hosts: ["h1", "h2", "h1"] }],
    });
    expect(gen.users.map((u) => u.name)).toEqual([
      "host-h1",
      "host-h2",
      "host-h3",
      "pool-lab",
      "planner",
      "telemetry",
      "operator",
    ]);
    const pool = gen.users.find((u) => u.role === "pool");
    expect(pool?.hosts).toEqual(["h1", "h2"]);
    expect(pool?.inboxPrefix).toBe("_INBOX_POOL_lab");
    expect(pool?.permissions.publish.allow).toEqual([
      ...hostPermissions("h1").publish.allow,
      ...hostPermissions("h2").publish.allow,
    ]);
    expect(pool?.permissions.subscribe.allow).toEqual(["_INBOX_POOL_lab.>"]);
    expect(JSON.stringify(pool?.permissions)).not.toContain("h3");
    expect(NatsUsersManifestSchema.parse(natsUsersManifest(gen.users, "/c")).users[3]).toMatchObject({
      role: "pool",
      hosts: ["h1", "h2"],
    });
  });

  it.each([
    ["an unknown host", [{ name: "lab", hosts: ["h9"] }], /not in the inventory: h9/],
    ["no hosts", [{ name: "lab", hosts: [] }], /serves no hosts/],
    [
      "a duplicate pool",
      [
        { name: "lab", hosts: ["h1"] },
        { name: "lab", hosts: ["h1"] },
      ],
      /defined twice/,
    ],
    ["a bad pool name", [{ name: "Lab_1", hosts: ["h1"] }], /invalid host name "Lab_1"/],
  ])("refuses %s", (_why, pools, message) => {
    expect(() => generateNatsConfig({ hosts: ["h1"], pools })).toThrow(message);
  });
});

describe("TLS", () => {
  it("writes a tls block and refuses relative paths or verify without a CA", () => {
    const out = generateNatsConfig({
      hosts: ["h1"],
      tls: { certFile: "/c.pem", keyFile: "/k.pem", caFile: "/ca.pem", verify: true },
    });
    expect(out.config).toMatch(
      /tls \{\n {2}cert_file: "\/c.pem"\n {2}key_file: "\/k.pem"\n {2}ca_file: "\/ca.pem"\n {2}verify: true/,
    );
    expect(generateNatsConfig({ hosts: ["h1"] }).config).not.toContain("tls {");
    expect(() =>
      generateNatsConfig({ hosts: ["h1"], tls: { certFile: "c.pem", keyFile: "/k.pem" } }),
    ).toThrow(/absolute/);
    expect(() =>
      generateNatsConfig({ hosts: ["h1"], tls: { certFile: "/c.pem", keyFile: "/k.pem", verify: true } }),
    ).toThrow(/needs a CA/);
  });
});
