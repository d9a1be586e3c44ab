/**
 * The executor SERVICE mode: jobs over NATS JetStream for one host (agent) or many (pool).
 *
 * ```ts
 * const svc = await runExecutorService({ mode: "pool", hosts, nc, js, jsm, logger, publicKeys, stateDir });
 * // … later
 * await svc.close();
 * ```
 * Each host gets a {@link HostWorker} (its durable pull consumer, heartbeats, state
 * reports; see worker.ts for the job flow and crash recovery). `fleetnet-executor run`
 * is {@link runServiceCommand}.
 */
import type { KeyObject } from "node:crypto";
import {
  EVENTS_STREAM,
  eventsStreamConfig,
  JOBS_STREAM,
  jobConsumerConfig,
  jobConsumerName,
  jobsStreamConfig,
} from "@fleetnet/protocol";
import {
  ensureStream,
  type JetStreamClient,
  type JetStreamManager,
  type Logger,
  type NatsConnection,
} from "@fleetnet/runtime";
import type { HostTarget } from "../transaction.js";
import { type ExecutorIdentity, HostWorker } from "./worker.js";

export { runServiceCommand, type ServiceCommandIo } from "./command.js";
export type { HostWorker } from "./worker.js";

/** One host served by the executor. */
export interface ServiceHost {
  /** How to reach the host (from the inventory: `targetFor`). */
  target: HostTarget;
  /** Sysctl keys its intents/baselines name, read in every state report. */
  sysctlKeys?: readonly string[];
}

/** Options of {@link runExecutorService}. */
export interface ExecutorServiceOptions {
  /** `agent`: exactly one host (the machine it runs on); `pool`: any number. */
  mode: "agent" | "pool";
  hosts: readonly ServiceHost[];
  nc: NatsConnection;
  js: JetStreamClient;
  /**
   * Needed with `setup: "ensure"`: creates the streams and the hosts' consumers when
   * missing. A host user with per-host permissions cannot; use `"assume"` then.
   */
  jsm?: JetStreamManager;
  setup?: "ensure" | "assume";
  logger: Logger;
  /** The planner's job-signing public key(s). */
  publicKeys: KeyObject | readonly KeyObject[];
  /** The executor's own state (replay cache, journal): `<stateDir>/executor/<host>/`. */
  stateDir: string;
  /** Heartbeat period, ms (default 10 000). */
  heartbeatMs?: number;
  /** State report period, ms (default 60 000; 0: only on observe jobs). */
  stateReportMs?: number;
  /** Longest wait of one pull request, ms (default 2 000: also bounds how long `close` waits for it). */
  fetchExpiresMs?: number;
  /** In-progress ack interval while a job runs, ms (default 5 000; the consumer's ack_wait is 30 s). */
  workingEveryMs?: number;
  /** Executor id in heartbeats and audit events (default `executor-<hostname>-<pid>`). */
  executorId?: string;
  /** Executor version in heartbeats (default "0.1.0"). */
  version?: string;
  /** Test hook passed to the engine: runs after the ops were applied, before verify. */
  afterApply?: () => Promise<void> | void;
}

/** A running executor service. */
export interface ExecutorService {
  /** Hosts served. */
  readonly hosts: readonly string[];
  /** The worker of one host. */
  worker(host: string): HostWorker | undefined;
  /**
   * Stop pulling jobs, finish the jobs in hand (a job not finished is redelivered to the
   * next executor), stop heartbeats and reports. The NATS connection is the caller's to drain.
   */
  close(): Promise<void>;
}

async function ensureSetup(jsm: JetStreamManager, hosts: readonly string[]): Promise<void> {
  for (const cfg of [jobsStreamConfig, eventsStreamConfig]) {
    try {
      await jsm.streams.info(cfg.name);
    } catch {
      await ensureStream(jsm, cfg as Parameters<typeof ensureStream>[1]);
    }
  }
  for (const host of hosts) {
    try {
      await jsm.consumers.info(JOBS_STREAM, jobConsumerName(host));
    } catch {
      await jsm.consumers.add(
        JOBS_STREAM,
        jobConsumerConfig(host) as Parameters<JetStreamManager["consumers"]["add"]>[1],
      );
    }
  }
}

/**
 * Start serving `hosts`: crash recovery per host, then each host's pull loop, heartbeats
 * and state reports. Throws (having stopped what it started) when a host's consumer
 * cannot be reached.
 */
export async function runExecutorService(o: ExecutorServiceOptions): Promise<ExecutorService> {
  const names = o.hosts.map((h) => h.target.host);
  if (o.mode === "agent" && names.length !== 1)
    throw new RangeError(`agent mode serves exactly one host, got ${names.length}`);
  if (new Set(names).size !== names.length)
    throw new RangeError(`a host is listed twice: ${names.join(", ")}`);
  if ((o.setup ?? "ensure") === "ensure") {
    if (!o.jsm) throw new RangeError('setup "ensure" needs jsm');
    await ensureSetup(o.jsm, names);
  }
  const executor: ExecutorIdentity = {
    id: o.executorId ?? `executor-${(await import("node:os")).hostname()}-${process.pid}`,
    mode: o.mode,
    version: o.version ?? "0.1.0",
  };
  const keys = Array.isArray(o.publicKeys) ? [...o.publicKeys] : [o.publicKeys as KeyObject];
  const workers = o.hosts.map(
    (h) =>
      new HostWorker({
        host: h.target.host,
        target: h.target,
        nc: o.nc,
        js: o.js,
        logger: o.logger,
        publicKeys: keys,
        stateDir: o.stateDir,
        executor,
        heartbeatMs: o.heartbeatMs ?? 10_000,
        stateReportMs: o.stateReportMs ?? 60_000,
        sysctlKeys: h.sysctlKeys ?? [],
        fetchExpiresMs: o.fetchExpiresMs ?? 2_000,
        workingEveryMs: o.workingEveryMs ?? 5_000,
        ...(o.afterApply ? { afterApply: o.afterApply } : {}),
      }),
  );
  const started: HostWorker[] = [];
  try {
    for (const w of workers) {
      await w.start();
      started.push(w);
    }
  } catch (err) {
    await Promise.all(started.map((w) => w.stop()));
    throw err;
  }
  o.logger.info({ mode: o.mode, hosts: names, events: EVENTS_STREAM }, "executor service running");
  const byName = new Map(workers.map((w) => [w.host, w]));
  let closing: Promise<void> | undefined;
  return {
    hosts: names,
    worker: (host) => byName.get(host),
    close() {
      closing ??= Promise.all(workers.map((w) => w.stop())).then(() => undefined);
      return closing;
    },
  };
}
