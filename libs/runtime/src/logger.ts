/**
 * Structured JSON logging (pino) that joins logs to traces and never prints secrets.
 *
 * - Every line logged inside an active OpenTelemetry span carries `trace_id` and `span_id`, so a log
 *   line can be found from a trace and the other way round.
 * - Values under keys that look secret (`password`, `token`, `secret`, `authorization`, `privateKey`,
 *   `creds`, … and camel-case forms ending so, such as `natsPassword`) are replaced by `[redacted]` at
 *   any depth. Paths of secret files (`tokenFile`) are not secrets and stay visible.
 */
import { context, isSpanContextValid, trace } from "@opentelemetry/api";
import { type DestinationStream, type Logger, pino } from "pino";
import type { LogLevel } from "./config.js";

export type { Logger } from "pino";

/** snake/kebab/plain names (any case) and camelCase suffixes (case-sensitive: `bypass` is no secret). */
const SECRET_NAME =
  /(^|[_-])(pass|passwd|password|secret|token|apikey|api_key|authorization|cookie|privatekey|private_key|creds|credentials|seed)$/i;
const SECRET_SUFFIX = /[a-z0-9](Pass|Passwd|Password|Secret|Token|ApiKey|PrivateKey|Creds|Credentials|Seed)$/;
const CENSOR = "[redacted]";
const MAX_DEPTH = 8;

/** True when a field of this name must never be logged. */
function isSecretKey(key: string): boolean {
  return SECRET_NAME.test(key) || SECRET_SUFFIX.test(key);
}

function redact(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== "object" || depth > MAX_DEPTH || seen.has(value)) return value;
  if (value instanceof Error || ArrayBuffer.isView(value) || value instanceof Date) return value;
  seen.add(value);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((v, i) => {
      const r = redact(v, depth + 1, seen);
      if (r !== v) {
        copy ??= [...value];
        copy[i] = r;
      }
    });
    return copy ?? value;
  }
  let copy: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const r = isSecretKey(k) && v !== undefined && v !== null ? CENSOR : redact(v, depth + 1, seen);
    if (r !== v) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[k] = r;
    }
  }
  return copy ?? value;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level: LogLevel;
  /** `service` field on every line. */
  serviceName: string;
  /** Where lines go; default stdout. */
  destination?: DestinationStream;
}

/**
 * Creates the process logger. Use `logger.child({ host })` for per-component fields.
 * Logs are JSON lines (`level` as a label, `time` in ISO 8601) ready for any log shipper.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: options.serviceName, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => redact(obj, 0, new WeakSet()) as Record<string, unknown>,
      },
      mixin() {
        const span = trace.getSpan(context.active());
        if (!span) return {};
        const sc = span.spanContext();
        return isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
      },
    },
    options.destination ?? pino.destination(1),
  );
}
