/** Public API of @fleetnet/telemetry. */
export {
  type CollectorConfig,
  type CollectorCounts,
  collectorConfigFromEnv,
  FlowCollector,
  type FlowCollectorOptions,
} from "./collector/collector.js";
export {
  FlowRollup,
  type InterfaceCounters,
  type RollupMinute,
  type RollupOptions,
} from "./collector/rollup.js";
export { type CollectReport, runCollect } from "./collector/standalone.js";
export {
  FLOWS_SUBJECT,
  FlowPersistence,
  FlowStore,
  type FlowStoreOptions,
  type Publisher,
} from "./collector/store.js";
export { ownSocketInodes, udpDrops } from "./collector/udpdrops.js";
