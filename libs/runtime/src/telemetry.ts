/**
 * OpenTelemetry for a fleetnet process: traces and metrics, a Prometheus endpoint, optional OTLP export.
 *
 * Design: one {@link startTelemetry} call per process registers the global context manager
 * (AsyncLocalStorage, so the active span follows `await`), the W3C trace-context + baggage propagator,
 * a tracer provider and a meter provider. Metric readers: the Prometheus exporter when `METRICS_PORT` is
 * non-zero, and a periodic OTLP/HTTP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (traces then go
 * there too, batched). `shutdown()` flushes what is buffered and unregisters the globals, so a later
 * `startTelemetry` (tests) starts clean.
 */

import { FleetnetError } from "@fleetnet/protocol";
import {
  type Context,
  context,
  type Meter,
  metrics,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { IMetricReader } from "@opentelemetry/sdk-metrics";
import type { SpanProcessor } from "@opentelemetry/sdk-trace";
import type { RuntimeConfig } from "./config.js";

/** Options of {@link startTelemetry}. */
export interface TelemetryOptions {
  /** Extra span processors (e.g. an in-memory exporter in tests), added before the OTLP one. */
  spanProcessors?: SpanProcessor[];
  /** Interval of OTLP metric export, ms (default 15000). */
  otlpMetricIntervalMs?: number;
}

/** The process's telemetry, from {@link startTelemetry}. */
export interface Telemetry {
  /** Tracer named after the service. */
  readonly tracer: Tracer;
  /** Meter named after the service; instruments created here appear on `/metrics`. */
  readonly meter: Meter;
  /** `http://host:port/metrics` when the Prometheus endpoint is on, else undefined. */
  readonly metricsUrl: string | undefined;
  /** Flushes spans and metrics, stops the endpoint and unregisters the global providers. */
  shutdown(): Promise<void>;
}

function otlpUrl(base: string, signal: "traces" | "metrics"): string {
  return `${base.replace(/\/+$/, "")}/v1/${signal}`;
}

/**
 * Starts tracing and metrics for this process and registers them globally (so `@opentelemetry/api`
 * calls anywhere, including `trace.getActiveSpan()` in the logger, see them).
 * @throws FleetnetError `METRICS_UNAVAILABLE` when the Prometheus port cannot be bound.
 */
export async function startTelemetry(
  config: Pick<RuntimeConfig, "metrics" | "otel">,
  options: TelemetryOptions = {},
): Promise<Telemetry> {
  // The SDK is loaded here, not with this module: every CLI command imports this package
  // (NATS helpers, logger) and loading the SDK and its exporters cost each ~0.3 s of start-up.
  const [
    { AsyncLocalStorageContextManager },
    { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator },
    { OTLPMetricExporter },
    { PrometheusExporter },
    { OTLPTraceExporter },
    { resourceFromAttributes },
    { MeterProvider, PeriodicExportingMetricReader },
    { BatchSpanProcessor, TracerProvider },
  ] = await Promise.all([
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/core"),
    import("@opentelemetry/exporter-metrics-otlp-http"),
    import("@opentelemetry/exporter-prometheus"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-metrics"),
    import("@opentelemetry/sdk-trace"),
  ]);
  const resource = resourceFromAttributes({ "service.name": config.otel.serviceName });
  const endpoint = config.otel.otlpEndpoint;

  const spanProcessors = [...(options.spanProcessors ?? [])];
  if (endpoint !== undefined) {
    spanProcessors.push(
      new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: otlpUrl(endpoint, "traces") }) }),
    );
  }
  const tracerProvider = new TracerProvider({ resource, spanProcessors });

  const readers: IMetricReader[] = [];
  let metricsUrl: string | undefined;
  if (config.metrics.port !== 0) {
    const { host, port } = config.metrics;
    try {
      await new Promise<void>((resolve, reject) => {
        readers.push(new PrometheusExporter({ host, port }, (err) => (err ? reject(err) : resolve())));
      });
    } catch (err) {
      // The listener never opened, so there is nothing to stop.
      throw new FleetnetError(
        "METRICS_UNAVAILABLE",
        `METRICS_PORT: cannot serve Prometheus metrics on ${host}:${port}: ${(err as Error).message}`,
        {
          retryable: false,
          details: { host, port },
          cause: err,
        },
      );
    }
    metricsUrl = `http://${host.includes(":") ? `[${host}]` : host}:${port}/metrics`;
  }
  if (endpoint !== undefined) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: otlpUrl(endpoint, "metrics") }),
        exportIntervalMillis: options.otlpMetricIntervalMs ?? 15_000,
      }),
    );
  }
  const meterProvider = new MeterProvider({ resource, readers });

  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);

  let done: Promise<void> | undefined;
  return {
    tracer: tracerProvider.getTracer(config.otel.serviceName),
    meter: meterProvider.getMeter(config.otel.serviceName),
    metricsUrl,
    shutdown() {
      done ??= (async () => {
        await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
        trace.disable();
        metrics.disable();
        propagation.disable();
        context.disable();
      })();
      return done;
    },
  };
}

/**
 * Runs `fn` inside a new span (child of the active one). The span records a thrown error and always
 * ends. Use for units of work worth seeing in a trace (a plan, a host apply, a NATS request).
 */
export async function inSpan<T>(
  name: string,
  fn: (span: Span) => Promise<T> | T,
  options: { kind?: SpanKind; parent?: Context; tracer?: Tracer } = {},
): Promise<T> {
  const tracer = options.tracer ?? trace.getTracer("fleetnet");
  const parent = options.parent ?? context.active();
  return tracer.startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: err instanceof Error ? err.message : String(err),
      });
      throw err;
    } finally {
      span.end();
    }
  });
}
