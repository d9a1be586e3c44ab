/**
 * Redis (ioredis) for fleetnet processes.
 *
 * Design: the connection retries forever with capped exponential backoff plus jitter once it has been
 * established; commands issued while disconnected wait in the offline queue (`maxRetriesPerRequest: null`,
 * which BullMQ workers require too). The first connection is awaited so a wrong `REDIS_URL` fails start-up
 * with a clear `REDIS_UNAVAILABLE` instead of hanging.
 */
import { readFile } from "node:fs/promises";
import { FleetnetError } from "@fleetnet/protocol";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { RuntimeConfig } from "./config.js";

export type { Redis } from "ioredis";

/** Options of {@link connectRedis}. */
export interface ConnectRedisOptions {
  logger: Logger;
  /** `CLIENT SETNAME` value; default the service name. */
  name?: string;
}

/** Reconnect delay for the n-th attempt: 100 ms doubling to 5 s, plus up to 25 % jitter. */
function backoff(times: number): number {
  const base = Math.min(100 * 2 ** Math.min(times - 1, 6), 5_000);
  return Math.round(base + Math.random() * base * 0.25);
}

/**
 * Connects to Redis and waits until it is ready.
 * @throws FleetnetError `REDIS_UNAVAILABLE` (retryable) when the first connection fails;
 * `CONFIG_INVALID` when `REDIS_PASSWORD_FILE` cannot be read.
 */
export async function connectRedis(
  config: Pick<RuntimeConfig, "redis" | "otel">,
  options: ConnectRedisOptions,
): Promise<Redis> {
  const log = options.logger.child({ component: "redis" });
  let password: string | undefined;
  if (config.redis.passwordFile !== undefined) {
    try {
      password = (await readFile(config.redis.passwordFile, "utf8")).trim();
    } catch (err) {
      throw new FleetnetError(
        "CONFIG_INVALID",
        `REDIS_PASSWORD_FILE: cannot read ${config.redis.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        {
          details: { variable: "REDIS_PASSWORD_FILE", file: config.redis.passwordFile },
          cause: err,
        },
      );
    }
  }
  const redis = new Redis(config.redis.url, {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    retryStrategy: backoff,
    connectionName: options.name ?? config.otel.serviceName,
    ...(password === undefined ? {} : { password }),
  });
  let ready = false;
  redis.on("error", (err: Error) => {
    if (ready) log.warn({ err: err.message }, "Redis connection error");
  });
  redis.on("reconnecting", (ms: number) => log.info({ inMs: ms }, "Redis reconnecting"));
  redis.on("ready", () => {
    if (ready) log.info("Redis reconnected");
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    const safeUrl = new URL(config.redis.url);
    safeUrl.password = "";
    throw new FleetnetError(
      "REDIS_UNAVAILABLE",
      `REDIS_URL: cannot connect to ${safeUrl.href}: ${(err as Error).message}`,
      {
        retryable: true,
        details: { url: safeUrl.href },
        cause: err,
      },
    );
  }
  ready = true;
  log.info("connected to Redis");
  return redis;
}
