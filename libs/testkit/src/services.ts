/**
 * Test helpers for NATS and Redis.
 *
 * Two ways to get a server:
 * - attach to the shared one ({@link attachNats}, {@link attachRedis}; URLs from `NATS_URL`/`REDIS_URL`
 *   or the defaults, via the runtime's config) — for tests that only use it. Never stop or restart it.
 * - start a PRIVATE one ({@link startNatsServer}, {@link startRedisServer}) on a free loopback port with
 *   its own store directory — for tests that stop, restart or break the server. `restart()` reuses the
 *   port and the store (JetStream file store, Redis AOF), as a real server restart would.
 *
 * Everything is disposable with `await using`: connections drain, private servers are stopped by PID
 * (SIGTERM, then SIGKILL after 5 s) and their directory removed. A process-exit hook kills any private
 * server a crashed test left behind. For per-test stream/queue/subject names use `uniqueName(prefix)`
 * (from ./netns.js; keep the prefix to `[A-Za-z0-9_-]` so the name is also a single subject token).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  connectJetStream,
  connectNats,
  connectRedis,
  createLogger,
  loadConfig,
  type RuntimeConfig,
} from "@fleetnet/runtime";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Redis } from "ioredis";

/** A TCP port on `host` that was free a moment ago (the kernel picks it). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runtime config for a test connection to `nats`/`redis`: quick reconnects, silent logs. */
function testConfig(urls: { nats?: string; redis?: string }): RuntimeConfig {
  const base = loadConfig(process.env, { serviceName: "fleetnet-test" });
  return loadConfig({
    NATS_URL: urls.nats ?? base.nats.servers.join(","),
    REDIS_URL: urls.redis ?? base.redis.url,
    NATS_RECONNECT_WAIT_MS: "100",
    NATS_RECONNECT_JITTER_MS: "50",
    OTEL_SERVICE_NAME: "fleetnet-test",
  });
}

const silent = createLogger({ level: "silent", serviceName: "fleetnet-test" });

/** URLs of the shared NATS and Redis (`NATS_URL`/`REDIS_URL`, else the defaults). */
export function sharedServices(): { natsUrl: string; redisUrl: string } {
  const c = testConfig({});
  return { natsUrl: c.nats.servers.join(","), redisUrl: c.redis.url };
}

/** A NATS connection for a test, with JetStream; disposing drains it. */
export interface NatsAttachment extends AsyncDisposable {
  readonly url: string;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
}

/**
 * Connects to NATS through the runtime (infinite reconnects, 100 ms wait) — to the shared server by
 * default, or to `url` (e.g. a private server's).
 */
export async function attachNats(url = sharedServices().natsUrl): Promise<NatsAttachment> {
  const nc = await connectNats(testConfig({ nats: url }), { logger: silent });
  const { js, jsm } = await connectJetStream(nc);
  return {
    url,
    nc,
    js,
    jsm,
    async [Symbol.asyncDispose]() {
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
}

/** A Redis connection for a test; disposing closes it. */
export interface RedisAttachment extends AsyncDisposable {
  readonly url: string;
  readonly redis: Redis;
}

/** Connects to Redis through the runtime — the shared server by default, or `url`. */
export async function attachRedis(url = sharedServices().redisUrl): Promise<RedisAttachment> {
  const redis = await connectRedis(testConfig({ redis: url }), { logger: silent });
  return {
    url,
    redis,
    async [Symbol.asyncDispose]() {
      if (redis.status === "ready") await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}

/** A server process owned by one test. */
export interface PrivateServer extends AsyncDisposable {
  /** `nats://127.0.0.1:<port>` or `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Store directory (JetStream store / Redis AOF), kept across restarts, removed on dispose. */
  readonly dir: string;
  /** PID of the running process, undefined while stopped. */
  readonly pid: number | undefined;
  /** Stops the process (SIGTERM, SIGKILL after 5 s) and waits for it to exit. No-op when stopped. */
  stop(): Promise<void>;
  /** Stops (if running) and starts again on the same port with the same store; resolves when ready. */
  restart(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killLeftovers(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}

function findBinary(name: string, candidates: string[]): string {
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `${name} not found (looked in ${candidates.join(", ")}): run infra/dev/services up or apt-get install ${name}`,
    );
  }
  return found;
}

interface ServerSpec {
  kind: "nats" | "redis";
  binary: string;
  args: (port: number, dir: string) => string[];
  /** A log line meaning "accepting clients". */
  ready: RegExp;
}

async function startServer(spec: ServerSpec): Promise<PrivateServer> {
  if (!exitHookInstalled) {
    process.once("exit", killLeftovers);
    exitHookInstalled = true;
  }
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), `fleetnet-${spec.kind}-`));
  let child: ChildProcess | undefined;

  const launch = async () => {
    const proc = spawn(spec.binary, spec.args(port, dir), { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    live.add(proc);
    proc.once("exit", () => live.delete(proc));
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error("did not become ready within 15 s")), 15_000);
      const onData = (b: Buffer) => {
        output = (output + b.toString()).slice(-8_000);
        if (spec.ready.test(output)) {
          done();
          resolve();
        }
      };
      const onExit = (code: number | null, sig: string | null) =>
        fail(new Error(`exited (code ${code}, signal ${sig})`));
      const onError = (err: Error) => fail(err);
      const done = () => {
        clearTimeout(timer);
        proc.stdout?.off("data", onData);
        proc.stderr?.off("data", onData);
        proc.off("exit", onExit);
        proc.off("error", onError);
        // Keep draining the pipes so a chatty server never blocks on a full pipe.
        proc.stdout?.resume();
        proc.stderr?.resume();
      };
      const fail = (err: Error) => {
        done();
        proc.kill("SIGKILL");
        reject(new Error(`private ${spec.kind} server on port ${port}: ${err.message}\n${output}`));
      };
      proc.stdout?.on("data", onData);
      proc.stderr?.on("data", onData);
      proc.once("exit", onExit);
      proc.once("error", onError);
    });
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `${spec.kind}://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child?.pid;
    },
    stop,
    async restart() {
      await stop();
      await launch();
    },
    async [Symbol.asyncDispose]() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Options of {@link startNatsServer}. */
export interface NatsServerOptions {
  /**
   * nats-server config text (e.g. from `generateNatsConfig` of @fleetnet/protocol), given the
   * port and the directory its `jetstream.store_dir` should use; the command line still pins the
   * listen address and port.
   */
  config?: (port: number, dir: string) => string;
}

/**
 * Starts a private `nats-server` with JetStream (file store in its own directory) on a free loopback
 * port. Use it for tests that stop or restart NATS; dispose with `await using`.
 */
export function startNatsServer(options: NatsServerOptions = {}): Promise<PrivateServer> {
  const binary = findBinary("nats-server", [
    "/usr/sbin/nats-server",
    "/usr/bin/nats-server",
    "/usr/local/bin/nats-server",
  ]);
  return startServer({
    kind: "nats",
    binary,
    args: (port, dir) => {
      const listen = ["-a", "127.0.0.1", "-p", String(port)];
      if (options.config === undefined) return [...listen, "-js", "-sd", dir];
      // The file brings its own jetstream block (store it in `dir`); the flags pin address and port.
      const file = join(dir, "nats-server.conf");
      writeFileSync(file, options.config(port, dir), { mode: 0o600 });
      return ["-c", file, ...listen];
    },
    ready: /Server is ready/,
  });
}

/**
 * Starts a private `redis-server` with AOF persistence (no RDB snapshots) in its own directory on a
 * free loopback port. Use it for tests that stop or restart Redis; dispose with `await using`.
 */
export function startRedisServer(): Promise<PrivateServer> {
  const binary = findBinary("redis-server", [
    "/usr/bin/redis-server",
    "/usr/sbin/redis-server",
    "/usr/local/bin/redis-server",
  ]);
  return startServer({
    kind: "redis",
    binary,
    args: (port, dir) => [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--appendonly",
      "yes",
      "--dir",
      dir,
      "--save",
      "",
      "--daemonize",
      "no",
      "--logfile",
      "",
    ],
    ready: /Ready to accept connections/,
  });
}

/** A private nats-server and redis-server with a client attached to each. */
export interface PrivateBackends extends AsyncDisposable {
  readonly nats: PrivateServer;
  readonly redisServer: PrivateServer;
  readonly att: NatsAttachment;
  readonly red: RedisAttachment;
}

/**
 * Starts a private nats-server and redis-server and attaches to both. Disposing closes the
 * clients, then stops the servers (idempotent); when a step fails, what started is stopped.
 */
export async function privateBackends(): Promise<PrivateBackends> {
  const opened: AsyncDisposable[] = [];
  const open = async <T extends AsyncDisposable>(p: Promise<T>): Promise<T> => {
    const r = await p;
    opened.push(r);
    return r;
  };
  const close = async (): Promise<void> => {
    for (const d of opened.splice(0).reverse()) await d[Symbol.asyncDispose]();
  };
  try {
    const nats = await open(startNatsServer());
    const redisServer = await open(startRedisServer());
    const att = await open(attachNats(nats.url));
    const red = await open(attachRedis(redisServer.url));
    return { nats, redisServer, att, red, [Symbol.asyncDispose]: close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Subscribes `nc` to `subject` and appends to `into` every message `parse` accepts (e.g.
 * `(d) => parseMessage(Schema, d)` of @fleetnet/protocol), of the subjects `accept` lets
 * through; malformed messages are dropped. Flush the connection before relying on it.
 */
export function collect<T>(
  nc: NatsConnection,
  subject: string,
  parse: (data: Uint8Array) => { ok: true; value: T } | { ok: false },
  into: T[],
  accept: (subject: string) => boolean = () => true,
): void {
  nc.subscribe(subject, {
    callback: (_e, m) => {
      if (!accept(m.subject)) return;
      const r = parse(m.data);
      if (r.ok) into.push(r.value);
    },
  });
}
