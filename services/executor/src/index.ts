/**
 * Public API of @fleetnet/executor: host drivers (local, netns, ssh), observe, the apply
 * transaction (commit-confirmed with an on-host revert timer), service managers, and the
 * one-shot engine behind `fleetnet-executor once` / `fleetnet host …`.
 */
export { runOps } from "./apply.js";
export { checkKernel, hasFeature, type KernelFeature, requiredFeatures } from "./capabilities.js";
export type { DriverKind, HostDriver, RunOptions, RunResult } from "./driver.js";
export {
  type LocalDriverOptions,
  localDriver,
  NETNS_RUN_ROOT,
  type NetnsDriverOptions,
  netnsDriver,
  runProcess,
} from "./drivers/process.js";
export { knownHostKeys, parseHostKey, type SshDriverOptions, sshDriver } from "./drivers/ssh.js";
export { asExecutorError, ExecutorError, type ExecutorErrorCode } from "./errors.js";
export { emptyLedger, LEDGER_PATH, type Ledger, parseLedger, readLedger, updateLedger } from "./ledger.js";
export {
  type DaemonState,
  type ObserveResult,
  type ObserveScope,
  observe,
  observeDaemons,
} from "./observe.js";
export { parseDuration, parseOnceArgs, runOnce } from "./once.js";
export type { Probe, ProbeOptions } from "./probes.js";
export { shJoin, shQuote } from "./quote.js";
export { bridgeLine, ipLines, segments } from "./render.js";
export { REVERT_DIR, REVERT_SCRIPT, REVERT_SCRIPT_PATH, type RevertPlan } from "./revert.js";
export {
  type ExecutorService,
  type ExecutorServiceOptions,
  runExecutorService,
  runServiceCommand,
  type ServiceHost,
} from "./service/index.js";
export {
  CONFIG_PATHS,
  type ServiceAction,
  type ServiceManager,
  type ServiceMode,
  serviceManager,
} from "./services.js";
export { defaultLabStateDir, type TargetOptions, targetFor } from "./target.js";
export {
  type ApplyOptions,
  applyHost,
  confirmHost,
  type HostTarget,
  pendingPlans,
  type TxOutcome,
  type TxResult,
} from "./transaction.js";
