/**
 * `fleetnet-telemetry collect`: the collector on its own, for measurement. Reads PORT, BIND,
 * RCVBUF (0 = kernel default) and WORKERS from the environment, decodes everything it receives
 * into rollups, and on SIGTERM/SIGINT prints one JSON line
 * `{"records": N, "packets": M, "drops": K, …}` and exits 0. With REDIS_URL (and NATS_URL) set,
 * templates and host-minute rollups are persisted (see `persistence()` below; with WORKERS > 1
 * by the primary); ROLLUP_OUT=FILE writes the host-minutes left at exit as JSON lines (lab
 * tests, debugging).
 * METRICS_PORT (non-zero) serves the collector's counters on the runtime's Prometheus endpoint
 * (`metrics.ts`) — with WORKERS > 1 from the primary, which sums the workers' counters.
 *
 * Beyond one event loop: Node 20's dgram has no SO_REUSEPORT, so WORKERS > 1 uses node:cluster,
 * whose workers share ONE socket (the primary owns it and hands the descriptor to every worker;
 * the kernel gives each datagram to whichever worker is reading). A template (or sampler options
 * record) seen by one worker reaches the others as the raw packet through the primary, and
 * `learn()` there applies it without counting its records twice; data that beat its template
 * to a worker waits in that decoder's buffer until then.
 *
 * Counters with several workers: every worker sends its counters and its sequence runs (see
 * `seqledger.ts`: per exporter/domain, coalesced per burst) to the primary every
 * {@link TICK_MS}; the primary keeps the latest counters per worker and sums them for
 * /metrics, and tracks every exporter's sequence itself from the runs — a worker alone cannot
 * tell loss from its siblings' share. On SIGTERM the primary asks each worker for its final
 * counters and runs, settles the sequences (every remaining gap is loss) and prints the sums.
 *
 * Persistence with several workers: the primary restores the templates from Redis and hands
 * them to each worker before it listens (so a restart decodes at once whichever worker gets a
 * packet), keeps a template-only decoder fed by the forwarded template packets to save new ones,
 * and stores the host-minutes the workers close (sent with their reports); the workers' parts of
 * one host-minute are merged on write (`FlowStore.writeMinutes`).
 */
import cluster, { type Worker } from "node:cluster";
import { readFileSync, writeFileSync } from "node:fs";
import { NetflowDecoder, type TemplateSnapshot } from "@fleetnet/netflow";
import { FleetnetError } from "@fleetnet/protocol";
import {
  connectNats,
  connectRedis,
  createLogger,
  loadConfig,
  type NatsConnection,
  type Redis,
  startTelemetry,
  type Telemetry,
} from "@fleetnet/runtime";
import {
  type CollectorConfig,
  type CollectorCounts,
  collectorConfigFromEnv,
  FlowCollector,
} from "./collector.js";
import { registerCollectorMetrics } from "./metrics.js";
import { mergeMinutes, type RollupMinute } from "./rollup.js";
import { SequenceLedger, type SequenceReport, SequenceRuns } from "./seqledger.js";
import { FlowPersistence, type FlowSource, FlowStore } from "./store.js";
import { ownSocketInodes, udpDrops } from "./udpdrops.js";

type WorkerMsg =
  /** The worker listens for the primary's messages: send it {@link StartMsg}. */
  | { kind: "hello" }
  | { kind: "ready"; port: number; rcvbuf: number }
  | { kind: "learn"; packet: Uint8Array; exporter: string; port: number }
  /**
   * Periodic (`tick`) and final (`counts`, the answer to `report`): counters, sequence runs and
   * the host-minutes closed since the last one (when the primary asked for them).
   */
  | { kind: "tick" | "counts"; counts: CollectorCounts; seq: SequenceReport; minutes: RollupMinute[] };

/** Primary → worker: templates to start with (restored from Redis), then listen. */
interface StartMsg {
  kind: "start";
  templates: TemplateSnapshot[];
  /** Send closed host-minutes to the primary (it persists them or writes ROLLUP_OUT). */
  minutes: boolean;
}

/** How often a worker reports its counters and sequence runs to the primary (ms). */
const TICK_MS = 100;

/** The final line printed on SIGTERM. */
export interface CollectReport extends CollectorCounts {
  /** Kernel drops of the socket (/proc/net/udp), null if the socket was not found. */
  drops: number | null;
  workers: number;
  rcvbuf: number;
  /** With WORKERS > 1: export packets each worker received (how the kernel spread them). */
  workerPackets?: number[];
}

/** The workers' counters summed; sequence loss is the primary's ledger (workers report 0). */
function sum(all: Iterable<CollectorCounts>, sequenceLost: number): CollectorCounts {
  const z: CollectorCounts = {
    packets: 0,
    records: 0,
    templateMisses: 0,
    sequenceLost,
    decodeErrors: 0,
    rollupMinutes: 0,
    templates: 0,
    pendingSets: 0,
  };
  for (const c of all) {
    z.packets += c.packets;
    z.records += c.records;
    z.templateMisses += c.templateMisses;
    z.decodeErrors += c.decodeErrors;
    z.rollupMinutes += c.rollupMinutes;
    z.templates += c.templates;
    z.pendingSets += c.pendingSets;
  }
  return z;
}

/** ROLLUP_OUT=file: the closed host-minutes not sent elsewhere, one JSON object per line (lab/debug). */
function writeRollups(path: string | undefined, c: { drainRollups(): RollupMinute[] }): void {
  if (path === undefined || path === "") return;
  const lines = c.drainRollups().map((m) => `${JSON.stringify(m)}\n`);
  try {
    writeFileSync(path, lines.join(""));
  } catch (e) {
    process.stderr.write(`fleetnet-telemetry: ROLLUP_OUT=${path}: ${(e as Error).message}\n`);
  }
}

function finish(report: CollectReport): never {
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}

function onStop(fn: () => void): void {
  let done = false;
  const once = () => {
    if (!done) {
      done = true;
      fn();
    }
  };
  process.on("SIGTERM", once);
  process.on("SIGINT", once);
}

/**
 * With REDIS_URL set: templates restored before listening and saved when they change, closed
 * host-minutes written to Redis (retention FLOWS_RETENTION_S, default 7 days; keys under
 * FLOWS_REDIS_PREFIX, default `fleetnet:flows`); with NATS_URL
 * also set they are published on `fleet.v1.events.telemetry.flows`. Without REDIS_URL the
 * collector keeps everything in memory (the measurement setup).
 */
async function persistence(
  c: FlowCollector | FlowSource,
  env: Record<string, string | undefined>,
): Promise<{ close: () => Promise<void> } | null> {
  if (env.REDIS_URL === undefined || env.REDIS_URL === "") return null;
  const rt = loadConfig(env, { serviceName: "fleetnet-telemetry" });
  const logger = createLogger({
    level: rt.logLevel,
    serviceName: rt.otel.serviceName,
    destination: process.stderr,
  });
  const retention = env.FLOWS_RETENTION_S;
  const retentionS = retention === undefined || retention === "" ? undefined : Number(retention);
  if (retentionS !== undefined && (!Number.isInteger(retentionS) || retentionS < 60)) {
    throw new FleetnetError(
      "CONFIG_INVALID",
      `FLOWS_RETENTION_S=${JSON.stringify(retention)}: not a whole number of seconds >= 60`,
    );
  }
  const redis: Redis = await connectRedis(rt, { logger });
  let nc: NatsConnection | null = null;
  if (env.NATS_URL !== undefined && env.NATS_URL !== "") nc = await connectNats(rt, { logger });
  const p = new FlowPersistence(
    c,
    new FlowStore(redis, {
      ...(retentionS === undefined ? {} : { retentionS }),
      ...(env.FLOWS_REDIS_PREFIX ? { prefix: env.FLOWS_REDIS_PREFIX } : {}),
    }),
    nc,
  );
  const n = await p.restore();
  logger.info({ templates: n }, "templates restored from Redis");
  p.start();
  return {
    close: async () => {
      await p.stop();
      await nc?.close();
      redis.disconnect();
    },
  };
}

async function runSingle(cfg: CollectorConfig, env: Record<string, string | undefined>): Promise<void> {
  const c = new FlowCollector();
  // METRICS_PORT (runtime configuration, 0 = off): the collector's counters on /metrics.
  // Started before listening: a taken metrics port fails start-up with nothing bound.
  let telemetry: Telemetry | null = null;
  let bound = -1;
  if (env.METRICS_PORT !== undefined && env.METRICS_PORT !== "" && env.METRICS_PORT !== "0") {
    telemetry = await startTelemetry(loadConfig(env, { serviceName: "fleetnet-telemetry" }));
    registerCollectorMetrics(telemetry.meter, c, () =>
      bound < 0 ? null : udpDrops(bound, ownSocketInodes()),
    );
  }
  const persisted = await persistence(c, env);
  const { port, rcvbuf } = await c.listen(cfg.port, cfg.bind, cfg.rcvbuf);
  bound = port;
  const extra =
    (persisted === null ? "" : ", Redis") + (telemetry ? `, metrics ${telemetry.metricsUrl}` : "");
  process.stderr.write(
    `fleetnet-telemetry: collecting on ${cfg.bind}:${port} (rcvbuf ${rcvbuf}, 1 process${extra})\n`,
  );
  warnIfCapped(cfg.rcvbuf, rcvbuf);
  onStop(() => {
    const drops = udpDrops(port, ownSocketInodes());
    void c.close().then(async () => {
      try {
        await persisted?.close();
      } catch (e) {
        process.stderr.write(`fleetnet-telemetry: final flush failed: ${(e as Error).message}\n`);
      }
      await telemetry?.shutdown().catch(() => {});
      const counts = c.counts(true);
      writeRollups(env.ROLLUP_OUT, c);
      finish({ ...counts, drops, workers: 1, rcvbuf });
    });
  });
}

/**
 * The primary as a {@link FlowSource}: templates in a decoder fed only with the template packets
 * the workers forward (`learn`), host-minutes as the workers close them. Parts of one
 * host-minute from several workers are merged when stored (`FlowStore.writeMinutes`).
 */
function primarySource(): FlowSource & { add(minutes: readonly RollupMinute[]): void } {
  let pending: RollupMinute[] = [];
  return {
    decoder: new NetflowDecoder({ trackSequence: false }),
    add: (minutes) => {
      for (const m of minutes) pending.push(m);
    },
    drainRollups: () => {
      const out = pending;
      pending = [];
      return out;
    },
    // The workers close their minutes when asked for their final report.
    closeAll: () => {},
  };
}

/** ROLLUP_OUT with workers: the parts of each host-minute merged, oldest first. */
function mergedParts(minutes: readonly RollupMinute[]): RollupMinute[] {
  const groups = new Map<string, RollupMinute[]>();
  for (const m of minutes) {
    const k = `${m.minute} ${m.host}`;
    groups.set(k, [...(groups.get(k) ?? []), m]);
  }
  return [...groups.keys()].sort().map((k) => mergeMinutes(groups.get(k) ?? []));
}

async function runPrimary(cfg: CollectorConfig, env: Record<string, string | undefined>): Promise<void> {
  const latest = new Map<number, CollectorCounts>();
  const finals = new Map<number, CollectorCounts>();
  const ledger = new SequenceLedger();
  const totals = { counts: () => sum(latest.values(), ledger.lost) };
  let bound = -1;
  // Started before any worker binds: a taken metrics port fails start-up with nothing bound.
  let telemetry: Telemetry | null = null;
  if (env.METRICS_PORT !== undefined && env.METRICS_PORT !== "" && env.METRICS_PORT !== "0") {
    telemetry = await startTelemetry(loadConfig(env, { serviceName: "fleetnet-telemetry" }));
    // The primary holds the shared socket: its inode identifies our line in /proc/net/udp.
    registerCollectorMetrics(telemetry.meter, totals, () =>
      bound < 0 ? null : udpDrops(bound, ownSocketInodes()),
    );
  }
  // REDIS_URL: templates restored here (and handed to every worker before it listens), saved
  // as the workers forward new ones; the workers' closed minutes stored from here.
  const source = primarySource();
  const persisted = await persistence(source, env);
  const rollupOut = env.ROLLUP_OUT !== undefined && env.ROLLUP_OUT !== "";
  const start: StartMsg = {
    kind: "start",
    templates: source.decoder.exportTemplates(),
    minutes: persisted !== null || rollupOut,
  };
  // Gaps settle on time too, when no report comes (an exporter that went quiet after a loss).
  const settler = setInterval(() => ledger.settle(), 500);
  settler.unref();
  cluster.setupPrimary({ serialization: "advanced" });
  const workers: Worker[] = [];
  let rcvbuf = 0;
  let ready = 0;
  for (let i = 0; i < cfg.workers; i++) {
    const w = cluster.fork({ FLEETNET_COLLECT_WORKER: String(i) });
    workers.push(w);
    w.on("message", (m: WorkerMsg) => {
      if (m.kind === "hello") {
        w.send(start);
      } else if (m.kind === "learn") {
        source.decoder.learn(m.packet, m.exporter, m.port, () => {});
        for (const o of workers) if (o !== w && o.isConnected()) o.send(m);
      } else if (m.kind === "tick" || m.kind === "counts") {
        latest.set(i, m.counts);
        ledger.add(m.seq);
        source.add(m.minutes);
        if (m.kind === "counts") finals.set(i, m.counts);
      } else if (m.kind === "ready") {
        rcvbuf = m.rcvbuf;
        bound = m.port;
        if (++ready === cfg.workers) {
          const extra =
            (persisted === null ? "" : ", Redis") + (telemetry ? `, metrics ${telemetry.metricsUrl}` : "");
          process.stderr.write(
            `fleetnet-telemetry: collecting on ${cfg.bind}:${m.port} (rcvbuf ${rcvbuf}, ${cfg.workers} workers, one shared socket${extra})\n`,
          );
          warnIfCapped(cfg.rcvbuf, rcvbuf);
        }
      }
    });
    w.on("exit", (code) => {
      if (code !== 0 && !stopping) {
        process.stderr.write(`fleetnet-telemetry: worker ${i} exited with ${code}\n`);
        process.exit(1);
      }
    });
  }
  let stopping = false;
  onStop(() => {
    stopping = true;
    const drops = udpDrops(cfg.port, ownSocketInodes());
    for (const w of workers) w.send({ kind: "report" });
    const deadline = Date.now() + 60_000;
    const poll = setInterval(() => {
      if (finals.size < workers.length && Date.now() < deadline) return;
      clearInterval(poll);
      clearInterval(settler);
      for (const w of workers) w.process.kill("SIGKILL");
      // Every report is in: whatever gap is left is loss.
      ledger.settle(Date.now(), true);
      const counts = sum(finals.values(), ledger.lost);
      const workerPackets = workers.map((_, i) => finals.get(i)?.packets ?? 0);
      void (async () => {
        try {
          await persisted?.close();
        } catch (e) {
          process.stderr.write(`fleetnet-telemetry: final flush failed: ${(e as Error).message}\n`);
        }
        await telemetry?.shutdown().catch(() => {});
        if (rollupOut)
          writeRollups(env.ROLLUP_OUT, { drainRollups: () => mergedParts(source.drainRollups()) });
        finish({ ...counts, drops, workers: cfg.workers, rcvbuf, workerPackets });
      })();
    }, 20);
  });
}

async function runWorker(cfg: CollectorConfig): Promise<void> {
  const send = (m: WorkerMsg) => process.send?.(m);
  const runs = new SequenceRuns();
  const c = new FlowCollector({
    trackSequence: false,
    onLearn: (packet, exporter, port) => send({ kind: "learn", packet, exporter, port }),
    onSequence: (key, seq, advance) => runs.note(key, seq, advance),
  });
  let wantMinutes = false;
  const minutes = () => (wantMinutes ? c.drainRollups() : []);
  // Counters, sequence runs and closed minutes to the primary while anything changes.
  let sent = "";
  const tick = setInterval(() => {
    const counts = c.counts();
    const sig = `${counts.packets}/${counts.records}/${counts.templateMisses}/${counts.rollupMinutes}`;
    if (sig === sent) return;
    sent = sig;
    send({ kind: "tick", counts, seq: runs.take(), minutes: minutes() });
  }, TICK_MS);
  tick.unref();
  // The primary coordinates shutdown; a signal to the whole process group must not kill us first.
  process.on("SIGTERM", () => {});
  process.on("SIGINT", () => {});
  const started = new Promise<StartMsg>((resolve) => {
    process.on("message", (m: { kind: string; packet?: Uint8Array; exporter?: string; port?: number }) => {
      if (m.kind === "start") resolve(m as StartMsg);
      else if (m.kind === "learn" && m.packet !== undefined)
        c.learnFrom(m.packet, m.exporter ?? "", m.port ?? 0);
      else if (m.kind === "report") {
        clearInterval(tick);
        const counts = c.counts(true);
        send({ kind: "counts", counts, seq: runs.take(), minutes: minutes() });
      }
    });
  });
  send({ kind: "hello" });
  // Templates first: data that arrives at once decodes with them.
  const start = await started;
  c.decoder.importTemplates(start.templates);
  wantMinutes = start.minutes;
  const { port, rcvbuf } = await c.listen(cfg.port, cfg.bind, cfg.rcvbuf);
  send({ kind: "ready", port, rcvbuf });
}

/**
 * Say so when the kernel granted less receive buffer than RCVBUF asked for: Linux caps
 * SO_RCVBUF at net.core.rmem_max (and reports twice the size it keeps), so a 16 MiB request on
 * a default system silently stays ~416 KiB — and bursts are dropped at a fraction of the rate
 * the operator sized for.
 */
export function rcvbufWarning(
  requested: number,
  granted: number,
  rmemMax: number | undefined,
): string | undefined {
  if (requested <= 0 || granted >= requested) return undefined;
  const cap = rmemMax === undefined ? "" : ` (net.core.rmem_max is ${rmemMax})`;
  return `fleetnet-telemetry: warning: RCVBUF=${requested} asked, the kernel granted ${granted}${cap}; raise it: sysctl -w net.core.rmem_max=${requested * 2}\n`;
}

function warnIfCapped(requested: number, granted: number): void {
  let max: number | undefined;
  try {
    max = Number(readFileSync("/proc/sys/net/core/rmem_max", "utf8").trim());
  } catch {
    max = undefined;
  }
  const w = rcvbufWarning(requested, granted, Number.isFinite(max) ? max : undefined);
  if (w) process.stderr.write(w);
}

/**
 * Entry point of `fleetnet-telemetry collect`. Returns an exit status for start-up failures
 * (2: bad environment, 1: cannot bind); on success it keeps running until SIGTERM.
 */
export async function runCollect(env: Record<string, string | undefined> = process.env): Promise<number> {
  let cfg: CollectorConfig;
  try {
    cfg = collectorConfigFromEnv(env);
  } catch (e) {
    if (e instanceof FleetnetError) {
      process.stderr.write(`fleetnet-telemetry collect: ${e.message} [${e.code}]\n`);
      return 2;
    }
    throw e;
  }
  try {
    if (cfg.workers <= 1) await runSingle(cfg, env);
    else if (cluster.isPrimary) await runPrimary(cfg, env);
    else await runWorker(cfg);
  } catch (e) {
    if (e instanceof FleetnetError) {
      process.stderr.write(`fleetnet-telemetry collect: ${e.message} [${e.code}]\n`);
      return e.code === "CONFIG_INVALID" ? 2 : 1;
    }
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(
      `fleetnet-telemetry collect: cannot listen on ${cfg.bind}:${cfg.port}: ${err.message} [${err.code ?? "LISTEN_FAILED"}]\n`,
    );
    return 1;
  }
  return 0;
}
