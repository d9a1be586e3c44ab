/**
 * NATS and JetStream for fleetnet processes.
 *
 * Design: a connection never gives up once established (`maxReconnectAttempts: -1`); it retries every
 * `NATS_RECONNECT_WAIT_MS` plus random jitter so a fleet of executors does not reconnect in lockstep, and
 * every status change (disconnect, reconnect, server error, slow consumer…) is logged. Publishes made
 * while reconnecting are buffered by the client. {@link publishDurably} adds what buffering cannot: it
 * retries a JetStream publish until the server acknowledges it, with a `Nats-Msg-Id` so a retry after a
 * lost ack is stored once. Trace context travels in W3C `traceparent`/`tracestate` message headers.
 */
import { readFile } from "node:fs/promises";
import { FleetnetError } from "@fleetnet/protocol";
import {
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type PubAck,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import {
  type Authenticator,
  ClosedConnectionError,
  connect,
  credsAuthenticator,
  headers,
  type MsgHdrs,
  type NatsConnection,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from "@nats-io/transport-node";
import {
  type Context,
  context,
  propagation,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";
import type { Logger } from "pino";
import type { RuntimeConfig } from "./config.js";

export type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
export type { NatsConnection } from "@nats-io/transport-node";

/** Options of {@link connectNats}. */
export interface ConnectNatsOptions {
  logger: Logger;
  /** Connection name shown by the server (`connz`); default the service name. */
  name?: string;
  /**
   * Keep retrying when no server answers at start-up instead of failing (services started before NATS
   * under systemd). Default false: fail fast with `NATS_UNAVAILABLE`.
   */
  waitOnFirstConnect?: boolean;
}

async function readSecret(variable: string, file: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (err) {
    throw new FleetnetError(
      "CONFIG_INVALID",
      `${variable}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      {
        retryable: false,
        details: { variable, file },
        cause: err,
      },
    );
  }
}

async function authenticator(nats: RuntimeConfig["nats"]): Promise<Authenticator | undefined> {
  if (nats.credsFile !== undefined) {
    try {
      return credsAuthenticator(new Uint8Array(await readFile(nats.credsFile)));
    } catch (err) {
      throw new FleetnetError(
        "CONFIG_INVALID",
        `NATS_CREDS_FILE: cannot read ${nats.credsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        {
          details: { variable: "NATS_CREDS_FILE", file: nats.credsFile },
          cause: err,
        },
      );
    }
  }
  if (nats.user !== undefined && nats.passwordFile !== undefined) {
    return usernamePasswordAuthenticator(
      nats.user,
      await readSecret("NATS_PASSWORD_FILE", nats.passwordFile),
    );
  }
  if (nats.tokenFile !== undefined)
    return tokenAuthenticator(await readSecret("NATS_TOKEN_FILE", nats.tokenFile));
  if (nats.nkeySeedFile !== undefined)
    return nkeyAuthenticator(
      new TextEncoder().encode(await readSecret("NATS_NKEY_SEED_FILE", nats.nkeySeedFile)),
    );
  return undefined;
}

/**
 * Connects to NATS with infinite reconnects, jittered backoff and a status logger.
 * @throws FleetnetError `NATS_UNAVAILABLE` (retryable) when no server answers; `CONFIG_INVALID` when a
 * credentials file named by the config cannot be read.
 */
export async function connectNats(
  config: Pick<RuntimeConfig, "nats" | "otel">,
  options: ConnectNatsOptions,
): Promise<NatsConnection> {
  const log = options.logger.child({ component: "nats" });
  const auth = await authenticator(config.nats);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: config.nats.servers,
      name: options.name ?? config.otel.serviceName,
      maxReconnectAttempts: -1,
      reconnectTimeWait: config.nats.reconnectWaitMs,
      reconnectJitter: config.nats.reconnectJitterMs,
      waitOnFirstConnect: options.waitOnFirstConnect ?? false,
      ...(auth ? { authenticator: auth } : {}),
      ...(config.nats.inboxPrefix !== undefined ? { inboxPrefix: config.nats.inboxPrefix } : {}),
    });
  } catch (err) {
    throw new FleetnetError(
      "NATS_UNAVAILABLE",
      `NATS_URL: cannot connect to ${config.nats.servers.join(", ")}: ${(err as Error).message}`,
      {
        retryable: true,
        details: { servers: config.nats.servers },
        cause: err,
      },
    );
  }
  log.info({ server: nc.getServer() }, "connected to NATS");
  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case "disconnect":
          log.warn({ server: s.server }, "NATS disconnected; reconnecting");
          break;
        case "reconnect":
          log.info({ server: s.server }, "NATS reconnected");
          break;
        case "reconnecting":
        case "ping":
          log.debug({ status: s }, "NATS status");
          break;
        case "error":
          log.error({ err: s.error }, "NATS server error");
          break;
        case "close":
          log.info("NATS connection closed");
          break;
        default:
          log.warn({ status: s }, "NATS status");
      }
    }
  })().catch((err: unknown) => log.error({ err }, "NATS status logger stopped"));
  return nc;
}

/** JetStream client and manager for a connection. */
export async function connectJetStream(
  nc: NatsConnection,
): Promise<{ js: JetStreamClient; jsm: JetStreamManager }> {
  return { js: jetstream(nc), jsm: await jetstreamManager(nc) };
}

/**
 * Creates the stream, or updates it to `config` when it exists (idempotent; run at every start-up).
 * Only fields given in `config` are changed on update.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<StreamInfo> {
  try {
    const info = await jsm.streams.info(config.name);
    const { name, ...rest } = config;
    return await jsm.streams.update(name, { ...info.config, ...rest });
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === 10059) return jsm.streams.add(config);
    throw err;
  }
}

/** Options of {@link publishDurably}. */
export interface PublishDurablyOptions {
  /** `Nats-Msg-Id`: the stream stores a message with the same id once (within its duplicate window). */
  msgID: string;
  headers?: MsgHdrs;
  /** Give up after this long, ms (default 30000). */
  deadlineMs?: number;
  /**
   * Longest wait for one ack, ms (default 5000). Attempts start at 250 ms and double up to this: a
   * publish issued while the client is reconnecting is lost without an error (seen with nats.js 3.4), so
   * a short first wait gets it re-sent soon after the reconnect; a slow but healthy server just sees a
   * few duplicates, which the stream drops by `msgID`.
   */
  ackTimeoutMs?: number;
}

/**
 * Publishes to JetStream and retries until the server acknowledges — across disconnects, server
 * restarts and JetStream start-up — with backoff. The trace context of the active span is added to the
 * headers. Errors the server returns about the message itself (e.g. wrong expected sequence) are not
 * retried.
 * @throws FleetnetError `PUBLISH_FAILED` (retryable) when the deadline passes, or non-retryable when the
 * server refused the message or the connection is closed.
 */
export async function publishDurably(
  js: JetStreamClient,
  subject: string,
  payload: Uint8Array | string,
  options: PublishDurablyOptions,
): Promise<PubAck> {
  const deadline = Date.now() + (options.deadlineMs ?? 30_000);
  const hdrs = injectTraceContext(options.headers ?? headers());
  let delay = 50;
  for (let attempt = 1; ; attempt++) {
    try {
      return await js.publish(subject, payload, {
        msgID: options.msgID,
        headers: hdrs,
        timeout: Math.max(
          50,
          Math.min(
            options.ackTimeoutMs ?? 5_000,
            250 * 2 ** Math.min(attempt - 1, 10),
            deadline - Date.now(),
          ),
        ),
      });
    } catch (err) {
      const refused = err instanceof JetStreamApiError && err.status !== 503;
      const closed = err instanceof ClosedConnectionError;
      if (refused || closed || Date.now() + delay > deadline) {
        throw new FleetnetError(
          "PUBLISH_FAILED",
          `publish to ${subject} (msg id ${options.msgID}) failed after ${attempt} attempt(s): ${(err as Error).message}`,
          {
            retryable: !refused && !closed,
            details: { subject, msgID: options.msgID, attempts: attempt },
            cause: err,
          },
        );
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1_000);
    }
  }
}

const setter: TextMapSetter<MsgHdrs> = { set: (carrier, key, value) => carrier.set(key, value) };
const getter: TextMapGetter<MsgHdrs> = {
  get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
  keys: (carrier) => carrier.keys(),
};

/**
 * Writes the W3C trace context (`traceparent`, `tracestate`, `baggage`) of `ctx` (default: the active
 * context) into NATS headers, creating them when not given. Returns the headers to publish with.
 */
export function injectTraceContext(hdrs: MsgHdrs = headers(), ctx: Context = context.active()): MsgHdrs {
  propagation.inject(ctx, hdrs, setter);
  return hdrs;
}

/**
 * Reads the W3C trace context from a received message's headers; use the result as the parent of the
 * receiver's span (`inSpan(name, fn, { parent })`). Messages without headers yield `base` unchanged.
 */
export function extractTraceContext(hdrs: MsgHdrs | undefined, base: Context = context.active()): Context {
  return hdrs ? propagation.extract(base, hdrs, getter) : base;
}
