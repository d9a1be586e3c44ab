/**
 * `fleetnet-telemetry collect`: the collector on its own, for measurement. Reads PORT, BIND,
 * RCVBUF (0 = kernel default) and WORKERS from the environment, decodes everything it receives
 * into rollups, and on SIGTERM/SIGINT prints one JSON line
 * `{"records": N, "packets": M, "drops": K, …}` and exits 0. With REDIS_URL (and NATS_URL) set,
 * one process also persists templates and host-minute rollups (see `persistence()` below);
 * ROLLUP_OUT=FILE writes the host-minutes left at exit as JSON lines (lab tests, debugging).
 * METRICS_PORT (non-zero; one process only) serves the collector's counters on the runtime's
 * Prometheus endpoint (`metrics.ts`); with WORKERS > 1 there is no endpoint (the counters live
 * in the workers).
 *
 * Beyond one event loop: Node 20's dgram has no SO_REUSEPORT, so WORKERS > 1 uses node:cluster,
 * whose workers share ONE socket (the primary owns it and hands the descriptor to every worker;
 * the kernel gives each datagram to whichever worker is reading). A template (or sampler options
 * record) seen by one worker reaches the others as the raw packet through the primary, and
 * `learn()` there applies it without counting its records twice; data that beat its template
 * to a worker waits in that decoder's buffer until then. Sequence tracking is off with
 * several workers (each sees only a share of an exporter's packets).
 */
import cluster, { type Worker } from "node:cluster";
import { writeFileSync } from "node:fs";
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
import { FlowPersistence, FlowStore } from "./store.js";
import { ownSocketInodes, udpDrops } from "./udpdrops.js";

type WorkerMsg =
  | { kind: "ready"; port: number; rcvbuf: number }
  | { kind: "learn"; packet: Uint8Array; exporter: string; port: number }
  | { kind: "counts"; counts: CollectorCounts };

/** The final line printed on SIGTERM. */
export interface CollectReport extends CollectorCounts {
  /** Kernel drops of the socket (/proc/net/udp), null if the socket was not found. */
  drops: number | null;
  workers: number;
  rcvbuf: number;
}

function sum(all: CollectorCounts[], workers: number): CollectorCounts {
  const z: CollectorCounts = {
    packets: 0,
    records: 0,
    templateMisses: 0,
    sequenceLost: 0,
    decodeErrors: 0,
    rollupMinutes: 0,
  };
  for (const c of all) {
    z.packets += c.packets;
    z.records += c.records;
    z.templateMisses += c.templateMisses;
    z.decodeErrors += c.decodeErrors;
    z.rollupMinutes += c.rollupMinutes;
    z.sequenceLost = workers > 1 ? null : (z.sequenceLost ?? 0) + (c.sequenceLost ?? 0);
  }
  return z;
}

/** ROLLUP_OUT=file: the closed host-minutes not sent elsewhere, one JSON object per line (lab/debug). */
function writeRollups(path: string | undefined, c: FlowCollector): void {
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
  c: FlowCollector,
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

function runPrimary(cfg: CollectorConfig): void {
  cluster.setupPrimary({ serialization: "advanced" });
  const workers: Worker[] = [];
  let rcvbuf = 0;
  let ready = 0;
  const reports: CollectorCounts[] = [];
  for (let i = 0; i < cfg.workers; i++) {
    const w = cluster.fork({ FLEETNET_COLLECT_WORKER: String(i) });
    workers.push(w);
    w.on("message", (m: WorkerMsg) => {
      if (m.kind === "learn") {
        for (const o of workers) if (o !== w && o.isConnected()) o.send(m);
      } else if (m.kind === "ready") {
        rcvbuf = m.rcvbuf;
        if (++ready === cfg.workers) {
          process.stderr.write(
            `fleetnet-telemetry: collecting on ${cfg.bind}:${m.port} (rcvbuf ${rcvbuf}, ${cfg.workers} workers, one shared socket)\n`,
          );
        }
      } else if (m.kind === "counts") {
        reports.push(m.counts);
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
    // The primary holds the shared socket: its inode identifies our line in /proc/net/udp.
    const drops = udpDrops(cfg.port, ownSocketInodes());
    for (const w of workers) w.send({ kind: "report" });
    const deadline = Date.now() + 60_000;
    const poll = setInterval(() => {
      if (reports.length < workers.length && Date.now() < deadline) return;
      clearInterval(poll);
      for (const w of workers) w.process.kill("SIGKILL");
      finish({ ...sum(reports, cfg.workers), drops, workers: cfg.workers, rcvbuf });
    }, 20);
  });
}

async function runWorker(cfg: CollectorConfig): Promise<void> {
  const send = (m: WorkerMsg) => process.send?.(m);
  const c = new FlowCollector({
    trackSequence: false,
    onLearn: (packet, exporter, port) => send({ kind: "learn", packet, exporter, port }),
  });
  // The primary coordinates shutdown; a signal to the whole process group must not kill us first.
  process.on("SIGTERM", () => {});
  process.on("SIGINT", () => {});
  process.on("message", (m: { kind: string; packet?: Uint8Array; exporter?: string; port?: number }) => {
    if (m.kind === "learn" && m.packet !== undefined) c.learnFrom(m.packet, m.exporter ?? "", m.port ?? 0);
    else if (m.kind === "report") send({ kind: "counts", counts: c.counts(true) });
  });
  const { port, rcvbuf } = await c.listen(cfg.port, cfg.bind, cfg.rcvbuf);
  send({ kind: "ready", port, rcvbuf });
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
    else if (cluster.isPrimary) runPrimary(cfg);
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
