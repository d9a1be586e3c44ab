/**
 * Public API of @fleetnet/runtime: what every fleetnet process shares — configuration from the
 * environment, NATS/JetStream and Redis connections, graceful shutdown, logging and OpenTelemetry.
 * Errors are `FleetnetError`s from @fleetnet/protocol (a `ConfigError` has code `CONFIG_INVALID`).
 *
 * A service starts with:
 * ```ts
 * const rt = await startService({ name: "fleetnet-planner", redis: true });
 * const sub = rt.nats.subscribe(subject);
 * rt.shutdown.register("requests", () => sub.drain(), "intake");
 * for await (const m of sub) void rt.shutdown.track(handle(m));
 * ```
 */
export {
  CONFIG_VARIABLES,
  ConfigError,
  type ConfigIssue,
  type ConfigVariable,
  type LoadConfigOptions,
  type LogLevel,
  loadConfig,
  type RuntimeConfig,
} from "./config.js";
export { createLogger, type Logger, type LoggerOptions } from "./logger.js";
export {
  type ConnectNatsOptions,
  connectJetStream,
  connectNats,
  ensureStream,
  extractTraceContext,
  injectTraceContext,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  type PublishDurablyOptions,
  publishDurably,
} from "./nats.js";
export { type ConnectRedisOptions, connectRedis, type Redis } from "./redis.js";
export { type ServiceRuntime, type StartServiceOptions, startService } from "./service.js";
export { Shutdown, type ShutdownOptions, type ShutdownResult, type ShutdownStage } from "./shutdown.js";
export { inSpan, startTelemetry, type Telemetry, type TelemetryOptions } from "./telemetry.js";
