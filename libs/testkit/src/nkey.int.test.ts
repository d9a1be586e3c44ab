/**
 * The runtime connects with the credentials `fleetnet nats-config` generates (nkey seed file
 * + per-user inbox prefix) to a real nats-server running the generated config.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateNatsConfig, subjects } from "@fleetnet/protocol";
import { connectNats, createLogger, loadConfig } from "@fleetnet/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PrivateServer, startNatsServer } from "./services.js";

const silent = createLogger({ level: "silent", serviceName: "fleetnet-test" });
const generated = generateNatsConfig({ hosts: ["h1", "h2"] });
const user = (name: string) => {
  const u = generated.users.find((x) => x.name === name);
  if (!u) throw new Error(`generator made no user ${name}`);
  return u;
};

describe("runtime with nats-config credentials", () => {
  let server: PrivateServer;
  let dir: string;
  beforeAll(async () => {
    const existingSeeds = Object.fromEntries(generated.users.map((u) => [u.name, u.seed]));
    server = await startNatsServer({
      config: (_port, storeDir) =>
        generateNatsConfig({ hosts: ["h1", "h2"], storeDir, existingSeeds }).config,
    });
    dir = await mkdtemp(join(tmpdir(), "fleetnet-nkey-"));
  });
  afterAll(async () => {
    await server?.[Symbol.asyncDispose]();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function connectAs(name: string, seed = user(name).seed) {
    const file = join(dir, `${name}.nk`);
    await writeFile(file, `${seed}\n`, { mode: 0o600 });
    const config = loadConfig({
      NATS_URL: server.url,
      NATS_NKEY_SEED_FILE: file,
      NATS_INBOX_PREFIX: user(name).inboxPrefix,
      NATS_RECONNECT_WAIT_MS: "50",
    });
    return connectNats(config, { logger: silent });
  }

  it("a host publishes its heartbeat and the planner, with its own inbox prefix, receives it", async () => {
    const planner = await connectAs("planner");
    const host = await connectAs(user("host-h1").name);
    try {
      const sub = planner.subscribe(subjects.allHeartbeats(), { max: 1 });
      await planner.flush();
      host.publish(subjects.heartbeat("h1"), "beat");
      for await (const m of sub) expect(m.subject).toBe(subjects.heartbeat("h1"));
      // A JetStream API request the host may make: the reply only reaches it on its own inbox prefix.
      const reply = await host.request("$JS.API.CONSUMER.INFO.FLEET_JOBS.exec-h1", "", { timeout: 3_000 });
      expect(reply.string()).toMatch(/stream not found|"error"/);
    } finally {
      await host.close();
      await planner.close();
    }
  });

  it("a seed the server does not know is refused", async () => {
    const stranger = generateNatsConfig({ hosts: ["h1"] }).users[0];
    if (!stranger) throw new Error("no user generated");
    await expect(connectAs("host-h1", stranger.seed)).rejects.toThrow(
      /Authorization|NATS_UNAVAILABLE|cannot connect/i,
    );
  });
});
