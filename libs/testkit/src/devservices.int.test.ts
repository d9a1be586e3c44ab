/**
 * `infra/dev/services` (the script behind the README's commands): starts private NATS
 * (JetStream) and Redis (AOF) where nothing answers, reuses what answers, and `down` stops
 * only what it started.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, startRedisServer } from "./services.js";

const run = promisify(execFile);
const script = fileURLToPath(new URL("../../../infra/dev/services", import.meta.url));

describe("infra/dev/services", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function services(action: string, env: Record<string, string>) {
    return run("bash", [script, action], { env: { ...process.env, ...env } });
  }

  it("starts private instances where nothing answers, is idempotent, and down stops exactly them", async () => {
    const state = await mkdtemp(join(tmpdir(), "fleetnet-dev-"));
    dirs.push(state);
    const env = {
      NATS_URL: `nats://127.0.0.1:${await freePort()}`,
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      FLEETNET_STATE_DIR: state,
    };
    try {
      await services("up", env);
      const again = await services("up", env);
      expect(again.stderr).toMatch(/answers at .*reusing it/);
      const status = await services("status", env);
      expect(status.stdout).toMatch(/nats: +up at .*started here, pid \d+/);
      expect(status.stdout).toMatch(/redis: up at .*started here, pid \d+/);
      // Redis runs with AOF on, NATS with its JetStream store under the state dir.
      expect(existsSync(join(state, "dev", "nats", "jetstream"))).toBe(true);
      const redisPid = Number(await readFile(join(state, "dev", "redis.pid"), "utf8"));
      const cmdline = await readFile(`/proc/${redisPid}/cmdline`, "utf8");
      expect(cmdline).toContain("redis-server");
    } finally {
      await services("down", env);
    }
    const after = await services("status", env);
    expect(after.stdout).toMatch(/nats: +down/);
    expect(after.stdout).toMatch(/redis: down/);
  });

  it("reuses a server that answers and leaves it running on down", async () => {
    await using redis = await startRedisServer();
    const state = await mkdtemp(join(tmpdir(), "fleetnet-dev-"));
    dirs.push(state);
    const env = {
      NATS_URL: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
      REDIS_URL: redis.url,
      FLEETNET_STATE_DIR: state,
    };
    const up = await services("up", env);
    expect(up.stderr).toMatch(/Redis answers at .*reusing it/);
    await services("down", env);
    const status = await services("status", env);
    expect(status.stdout).toMatch(/redis: up at .*\(external\)/);
    expect(redis.pid).toBeGreaterThan(0);
  });
});
