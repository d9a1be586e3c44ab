/**
 * Runtime configuration from the environment — the ONE place that lists every variable a fleetnet
 * process reads, with its default and meaning ({@link CONFIG_VARIABLES}; docs are generated from it).
 *
 * Design: each variable is parsed on its own with a zod schema, so an error names exactly the variable,
 * the expected form and the value seen (`NATS_URL: expected a nats:// URL, got "foo"`); all problems are
 * reported at once in one {@link ConfigError} (code `CONFIG_INVALID`). An empty value counts as unset.
 * Parsing does no I/O: files named by `*_FILE` variables are read when a connection is made, so a
 * missing secret file is reported by the connector, again naming the variable.
 */
import { isAbsolute } from "node:path";
import { FleetnetError } from "@fleetnet/protocol";
import { z } from "zod";

/** pino log levels accepted by `LOG_LEVEL`. */
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
/** A pino log level, or `silent`. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Typed configuration of a fleetnet process. */
export interface RuntimeConfig {
  nats: {
    /** Server URLs (`NATS_URL`, comma-separated for a cluster). */
    servers: string[];
    /** `.creds` file (JWT + nkey seed). */
    credsFile: string | undefined;
    user: string | undefined;
    /** File holding the password of `user`. */
    passwordFile: string | undefined;
    /** File holding a bearer token. */
    tokenFile: string | undefined;
    /** File holding a user nkey seed (`SU…`), as `fleetnet nats-config` writes them. */
    nkeySeedFile: string | undefined;
    /** Reply inbox prefix this user is allowed to receive on (e.g. `_INBOX_h001`). */
    inboxPrefix: string | undefined;
    /** Base wait between reconnect attempts, ms. */
    reconnectWaitMs: number;
    /** Random extra wait added to each reconnect attempt, ms (spreads a fleet's reconnect storm). */
    reconnectJitterMs: number;
  };
  redis: {
    url: string;
    /** File holding the Redis password (AUTH). */
    passwordFile: string | undefined;
  };
  /** Directory for durable local state (revert plans, caches). */
  stateDir: string;
  /** Ed25519 key file used to sign (planner) or verify (executor) job envelopes. */
  signingKeyFile: string | undefined;
  logLevel: LogLevel;
  metrics: {
    /** Prometheus endpoint port; 0 disables it. */
    port: number;
    host: string;
  };
  otel: {
    serviceName: string;
    /** OTLP/HTTP base URL; traces go to `/v1/traces`, metrics to `/v1/metrics`. Unset: no OTLP export. */
    otlpEndpoint: string | undefined;
  };
  /** How long graceful shutdown may take before the process exits anyway, ms. */
  shutdownTimeoutMs: number;
}

/** One documented environment variable. */
export interface ConfigVariable {
  name: string;
  /** Default as it would be written in the environment; undefined when the variable is optional. */
  default: string | undefined;
  description: string;
  /** The accepted form, as used in error messages. */
  expected: string;
}

interface VarSpec<T> extends ConfigVariable {
  schema: z.ZodType<T, string>;
}

function spec<T>(s: VarSpec<T>): VarSpec<T> {
  return s;
}

function urlWithScheme(schemes: readonly string[]) {
  return (value: string): boolean => {
    try {
      return schemes.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  };
}

const natsUrl = urlWithScheme(["nats:", "tls:"]);
const integer = (min: number, max: number) =>
  z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(min).max(max));
const path = z.string().refine(isAbsolute);
const text = z.string().regex(/^[^\s]+$/);

const VARS = {
  NATS_URL: spec({
    name: "NATS_URL",
    default: "nats://127.0.0.1:4222",
    description: "NATS server URL; several comma-separated URLs for a cluster.",
    expected: "a nats:// URL (or several, comma-separated)",
    schema: z
      .string()
      .transform((s) => s.split(",").map((u) => u.trim()))
      .refine((urls) => urls.every(natsUrl)),
  }),
  NATS_CREDS_FILE: spec({
    name: "NATS_CREDS_FILE",
    default: undefined,
    description:
      "Absolute path of a NATS .creds file (user JWT + nkey seed). Excludes NATS_USER and NATS_TOKEN_FILE.",
    expected: "an absolute file path",
    schema: path,
  }),
  NATS_USER: spec({
    name: "NATS_USER",
    default: undefined,
    description: "NATS user name; its password comes from NATS_PASSWORD_FILE.",
    expected: "a user name without spaces",
    schema: text,
  }),
  NATS_PASSWORD_FILE: spec({
    name: "NATS_PASSWORD_FILE",
    default: undefined,
    description: "Absolute path of a file holding the password of NATS_USER.",
    expected: "an absolute file path",
    schema: path,
  }),
  NATS_TOKEN_FILE: spec({
    name: "NATS_TOKEN_FILE",
    default: undefined,
    description: "Absolute path of a file holding a NATS auth token.",
    expected: "an absolute file path",
    schema: path,
  }),
  NATS_NKEY_SEED_FILE: spec({
    name: "NATS_NKEY_SEED_FILE",
    default: undefined,
    description:
      "Absolute path of a NATS user nkey seed file (`SU…`, as written by `fleetnet nats-config`). Excludes the other NATS credentials.",
    expected: "an absolute file path",
    schema: path,
  }),
  NATS_INBOX_PREFIX: spec({
    name: "NATS_INBOX_PREFIX",
    default: undefined,
    description:
      "Inbox prefix for replies (e.g. `_INBOX_h001`); users made by `fleetnet nats-config` may only receive replies on their own prefix.",
    expected: "a subject token such as _INBOX_h001",
    schema: z.string().regex(/^[A-Za-z0-9_-]+$/),
  }),
  NATS_RECONNECT_WAIT_MS: spec({
    name: "NATS_RECONNECT_WAIT_MS",
    default: "1000",
    description: "Wait between NATS reconnect attempts, in ms (the client retries forever).",
    expected: "an integer between 10 and 600000",
    schema: integer(10, 600_000),
  }),
  NATS_RECONNECT_JITTER_MS: spec({
    name: "NATS_RECONNECT_JITTER_MS",
    default: "500",
    description:
      "Random extra wait added to each reconnect attempt, in ms, so a fleet does not reconnect in lockstep.",
    expected: "an integer between 0 and 600000",
    schema: integer(0, 600_000),
  }),
  REDIS_URL: spec({
    name: "REDIS_URL",
    default: "redis://127.0.0.1:6379",
    description: "Redis URL (redis:// or rediss:// for TLS; optional /db number).",
    expected: "a redis:// or rediss:// URL",
    schema: z.string().refine(urlWithScheme(["redis:", "rediss:"])),
  }),
  REDIS_PASSWORD_FILE: spec({
    name: "REDIS_PASSWORD_FILE",
    default: undefined,
    description: "Absolute path of a file holding the Redis password (instead of putting it in REDIS_URL).",
    expected: "an absolute file path",
    schema: path,
  }),
  FLEETNET_STATE_DIR: spec({
    name: "FLEETNET_STATE_DIR",
    default: "/var/lib/fleetnet",
    description: "Directory for durable local state (executor journals and replay caches, template caches).",
    expected: "an absolute directory path",
    schema: path,
  }),
  FLEETNET_SIGNING_KEY_FILE: spec({
    name: "FLEETNET_SIGNING_KEY_FILE",
    default: undefined,
    description:
      "Absolute path of the Ed25519 key (PEM) that signs (planner) or verifies (executor) job envelopes.",
    expected: "an absolute file path",
    schema: path,
  }),
  FLEETNET_SHUTDOWN_TIMEOUT_MS: spec({
    name: "FLEETNET_SHUTDOWN_TIMEOUT_MS",
    default: "10000",
    description: "Deadline for graceful shutdown (finish in-flight work, drain NATS, close Redis), in ms.",
    expected: "an integer between 0 and 3600000",
    schema: integer(0, 3_600_000),
  }),
  LOG_LEVEL: spec({
    name: "LOG_LEVEL",
    default: "info",
    description: "Log level of the JSON logs on stdout.",
    expected: `one of ${LOG_LEVELS.join(", ")}`,
    schema: z.enum(LOG_LEVELS),
  }),
  METRICS_PORT: spec({
    name: "METRICS_PORT",
    default: "0",
    description: "TCP port of the Prometheus /metrics endpoint; 0 turns it off.",
    expected: "a port number between 0 and 65535",
    schema: integer(0, 65_535),
  }),
  METRICS_HOST: spec({
    name: "METRICS_HOST",
    default: "127.0.0.1",
    description: "Address the Prometheus endpoint listens on (0.0.0.0 to be scraped from other machines).",
    expected: "an IP address or host name",
    schema: text,
  }),
  OTEL_SERVICE_NAME: spec({
    name: "OTEL_SERVICE_NAME",
    default: "fleetnet",
    description:
      "Service name in traces, metrics and logs (each service passes its own default, e.g. fleetnet-planner).",
    expected: "a name without spaces",
    schema: text,
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: spec({
    name: "OTEL_EXPORTER_OTLP_ENDPOINT",
    default: undefined,
    description:
      "OTLP/HTTP collector base URL (e.g. http://127.0.0.1:4318); traces and metrics are exported there when set.",
    expected: "an http:// or https:// URL",
    schema: z.string().refine(urlWithScheme(["http:", "https:"])),
  }),
} as const;

type Vars = typeof VARS;
type Parsed = { [K in keyof Vars]: Vars[K] extends VarSpec<infer T> ? T : never };

/** Every environment variable fleetnet reads: name, default, description and accepted form. */
export const CONFIG_VARIABLES: readonly ConfigVariable[] = Object.values(VARS).map(
  ({ name, default: def, description, expected }) => ({ name, default: def, description, expected }),
);

/** One problem found in the environment. */
export interface ConfigIssue {
  variable: string;
  expected: string;
  /** The value seen (omitted for cross-variable problems). */
  got?: string;
}

/** Invalid configuration: code `CONFIG_INVALID`, not retryable; `details.issues` lists every problem. */
export class ConfigError extends FleetnetError {
  override name = "ConfigError";
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(
      "CONFIG_INVALID",
      issues
        .map(
          (i) =>
            `${i.variable}: expected ${i.expected}${i.got === undefined ? "" : `, got ${JSON.stringify(i.got)}`}`,
        )
        .join("\n"),
      { retryable: false, details: { issues: issues.map((i) => ({ ...i })) } },
    );
    this.issues = issues;
  }
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Default of `OTEL_SERVICE_NAME` for this program, e.g. `fleetnet-executor`. */
  serviceName?: string;
}

/**
 * Reads and validates the configuration.
 * @param env the environment (default `process.env`); unset or empty variables take their default.
 * @throws {@link ConfigError} listing every invalid variable with the expected form.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: LoadConfigOptions = {},
): RuntimeConfig {
  const issues: ConfigIssue[] = [];
  const out: Partial<Record<keyof Vars, unknown>> = {};
  for (const key of Object.keys(VARS) as (keyof Vars)[]) {
    const v: VarSpec<unknown> = VARS[key];
    const raw = env[key];
    const def =
      key === "OTEL_SERVICE_NAME" && options.serviceName !== undefined ? options.serviceName : v.default;
    const value = raw === undefined || raw === "" ? def : raw;
    if (value === undefined) continue;
    const r = v.schema.safeParse(value);
    if (r.success) out[key] = r.data;
    else issues.push({ variable: key, expected: v.expected, got: value });
  }
  const p = out as Parsed;
  const natsAuth = (
    ["NATS_CREDS_FILE", "NATS_USER", "NATS_TOKEN_FILE", "NATS_NKEY_SEED_FILE"] as const
  ).filter((k) => p[k] !== undefined);
  if (natsAuth.length > 1) {
    issues.push({
      variable: natsAuth.join("+"),
      expected: "at most one of NATS_CREDS_FILE, NATS_USER, NATS_TOKEN_FILE, NATS_NKEY_SEED_FILE",
    });
  }
  if ((p.NATS_USER === undefined) !== (p.NATS_PASSWORD_FILE === undefined)) {
    issues.push({
      variable: p.NATS_USER === undefined ? "NATS_PASSWORD_FILE" : "NATS_USER",
      expected: "NATS_USER and NATS_PASSWORD_FILE to be set together",
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return {
    nats: {
      servers: p.NATS_URL,
      credsFile: p.NATS_CREDS_FILE,
      user: p.NATS_USER,
      passwordFile: p.NATS_PASSWORD_FILE,
      tokenFile: p.NATS_TOKEN_FILE,
      nkeySeedFile: p.NATS_NKEY_SEED_FILE,
      inboxPrefix: p.NATS_INBOX_PREFIX,
      reconnectWaitMs: p.NATS_RECONNECT_WAIT_MS,
      reconnectJitterMs: p.NATS_RECONNECT_JITTER_MS,
    },
    redis: { url: p.REDIS_URL, passwordFile: p.REDIS_PASSWORD_FILE },
    stateDir: p.FLEETNET_STATE_DIR,
    signingKeyFile: p.FLEETNET_SIGNING_KEY_FILE,
    logLevel: p.LOG_LEVEL,
    metrics: { port: p.METRICS_PORT, host: p.METRICS_HOST },
    otel: { serviceName: p.OTEL_SERVICE_NAME, otlpEndpoint: p.OTEL_EXPORTER_OTLP_ENDPOINT },
    shutdownTimeoutMs: p.FLEETNET_SHUTDOWN_TIMEOUT_MS,
  };
}
