/**
 * Public API of @fleetnet/runtime: what every fleetnet process shares — configuration from the
 * environment (errors are `FleetnetError`s of @fleetnet/protocol), NATS/JetStream and Redis connections, graceful shutdown, logging
 * and OpenTelemetry.
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
