import { randomUUID } from "node:crypto";
import { FleetnetError } from "@fleetnet/protocol";
import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { connectRedis } from "./redis.js";

const config = loadConfig(process.env, { serviceName: "runtime-redis-test" });
const logger = createLogger({ level: "silent", serviceName: "runtime-redis-test" });

describe("connectRedis", () => {
  it("connects with the service name and BullMQ-compatible options", async () => {
    const redis = await connectRedis(config, { logger });
    try {
      const key = `rt:redis:${randomUUID()}`;
      await redis.set(key, "v", "EX", 30);
      expect(await redis.get(key)).toBe("v");
      await redis.del(key);
      expect(await redis.client("GETNAME")).toBe("runtime-redis-test");
      expect(redis.options.maxRetriesPerRequest).toBeNull();
    } finally {
      await redis.quit();
    }
  });

  it("fails start-up with a retryable REDIS_UNAVAILABLE and hides the URL's password", async () => {
    const bad = { ...config, redis: { url: "redis://:hunter2@127.0.0.1:1", passwordFile: undefined } };
    const started = Date.now();
    const err = await connectRedis(bad, { logger }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toBeInstanceOf(FleetnetError);
    expect(err).toMatchObject({ code: "REDIS_UNAVAILABLE", retryable: true });
    expect((err as Error).message).toMatch(/^REDIS_URL: cannot connect to redis:\/\/127\.0\.0\.1:1/);
    expect((err as Error).message).not.toContain("hunter2");
  });

  it("reports an unreadable REDIS_PASSWORD_FILE as CONFIG_INVALID", async () => {
    const bad = { ...config, redis: { url: config.redis.url, passwordFile: "/nonexistent/redis.pass" } };
    await expect(connectRedis(bad, { logger })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: "REDIS_PASSWORD_FILE: cannot read /nonexistent/redis.pass: ENOENT",
    });
  });
});
