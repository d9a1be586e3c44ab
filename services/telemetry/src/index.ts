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
  type TalkerPair,
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
export {
  type DriftFinding,
  type DriftInput,
  type DriftMemory,
  type DriftResult,
  evaluateDrift,
  LearnedCounts,
  learnBaseline,
  normalizeSysctlValue,
  ROLE_LABEL,
  type SysctlSnapshot,
  type UnavailableKey,
} from "./drift/drift.js";
export {
  type BaselineChange,
  captureBaseline,
  diffBaselines,
  type FleetBaseline,
  type HostBaseline,
  hostItems,
  parseBaseline,
} from "./drift/snapshot.js";
export { type FlowRateOptions, FlowRateTracker } from "./health/flowrate.js";
export {
  type BgpSessionObservation,
  bgpEstablished,
  duplicateMacs,
  evaluateHealth,
  type FlowRate,
  type GateResult,
  type HealthFinding,
  type HealthInput,
  type HealthReport,
  type HostHealth,
  type LinkMac,
  type OverlayProbe,
  overlayReachable,
  type Severity,
  type VrrpObservation,
  vrrpSingleMaster,
} from "./health/health.js";
export { runTelemetryService, type TelemetryCommandIo } from "./service/command.js";
export {
  FLOWS_VERB,
  type FlowsAnswer,
  type FlowsHost,
  GATES,
  TELEMETRY_API_VERBS,
  TelemetryErrorCodes,
  TelemetryService,
  type TelemetryServiceOptions,
  telemetryHostKey,
} from "./service/service.js";
