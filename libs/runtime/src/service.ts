/**
 * One call that gives a service everything it shares with the others, in the right order, so no service
 * copies the start-up and shutdown wiring.
 *
 * Start: config → logger → telemetry → NATS (+ JetStream) → Redis (optional) → signal handlers.
 * Each resource is registered with the {@link Shutdown} as it opens, so shutdown closes them in the
 * reverse order (Redis, then NATS drained, then telemetry flushed) after the service's own intake
 * closers and in-flight work. If start-up fails half-way, what was opened is closed before the error
 * is rethrown.
 */
import { once } from "node:events";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { loadConfig, type RuntimeConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { connectJetStream, connectNats } from "./nats.js";
import { connectRedis } from "./redis.js";
import { Shutdown } from "./shutdown.js";
import { startTelemetry, type Telemetry, type TelemetryOptions } from "./telemetry.js";

/** Options of {@link startService}. */
export interface StartServiceOptions {
  /** Default service name (`OTEL_SERVICE_NAME` overrides it), e.g. `fleetnet-planner`. */
  name: string;
  /** Environment to read (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Connect to Redis too (default false). */
  redis?: boolean;
  /** Keep retrying NATS at start-up instead of failing (see `ConnectNatsOptions.waitOnFirstConnect`). Default false. */
  waitForNats?: boolean;
  /**
   * Install SIGINT/SIGTERM handlers that shut down and then call this (default `process.exit`).
   * `"resolve"`: do not exit, resolve {@link ServiceRuntime.stopped} with the exit status instead
   * (a `run` command that returns its status to its caller). `false` installs none (tests, or a
   * host program that handles signals itself).
   */
  exitOnSignal?: ((code: number) => void) | "resolve" | false;
  /** Passed to {@link startTelemetry} (e.g. test span processors). */
  telemetry?: TelemetryOptions;
}

/** What a started service uses; `shutdown.shutdown()` (or a signal) closes it all. */
export interface ServiceRuntime {
  readonly config: RuntimeConfig;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly nats: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Present when `redis: true` was asked for. */
  readonly redis: Redis | undefined;
  /** Register the service's own closers here (`"intake"` for consumers and listeners). */
  readonly shutdown: Shutdown;
  /**
   * With `exitOnSignal: "resolve"`: the exit status once a signal's shutdown has finished
   * (0 clean, 1 timed out or a closer failed, 128+n on a second signal). Otherwise never settles.
   */
  readonly stopped: Promise<number>;
}

/**
 * Starts the shared runtime of a service.
 * @throws ConfigError on invalid configuration; FleetnetError `NATS_UNAVAILABLE`/`REDIS_UNAVAILABLE`
 * (retryable) or `METRICS_UNAVAILABLE` when a dependency cannot be reached or bound.
 */
export async function startService(options: StartServiceOptions): Promise<ServiceRuntime> {
  const config = loadConfig(options.env ?? process.env, { serviceName: options.name });
  const logger = createLogger({ level: config.logLevel, serviceName: config.otel.serviceName });
  const shutdown = new Shutdown({ logger, timeoutMs: config.shutdownTimeoutMs });
  try {
    const telemetry = await startTelemetry(config, options.telemetry);
    shutdown.register("telemetry", () => telemetry.shutdown());
    if (telemetry.metricsUrl) logger.info({ url: telemetry.metricsUrl }, "serving Prometheus metrics");

    const nats = await connectNats(config, { logger, waitOnFirstConnect: options.waitForNats ?? false });
    shutdown.register("nats", () => nats.drain());
    const { js, jsm } = await connectJetStream(nats);

    let redis: Redis | undefined;
    if (options.redis) {
      const r = await connectRedis(config, { logger });
      redis = r;
      shutdown.register("redis", async () => {
        const ended = once(r, "end");
        await r.quit();
        await ended;
      });
    }
    let resolveStopped!: (code: number) => void;
    const stopped = new Promise<number>((r) => {
      resolveStopped = r;
    });
    const onSignal = options.exitOnSignal;
    if (onSignal !== false) shutdown.handleSignals(onSignal === "resolve" ? resolveStopped : onSignal);
    return { config, logger, telemetry, nats, js, jsm, redis, shutdown, stopped };
  } catch (err) {
    await shutdown.shutdown("start-up failed");
    throw err;
  }
}
