import { createServer as createHttpServer } from "node:http";
import { createServer, type Server } from "node:net";
import { FleetnetError } from "@fleetnet/protocol";
import { describe, expect, it } from "vitest";
import { inSpan, startTelemetry } from "./telemetry.js";

/** A port nobody listens on right now (the OS picks it). */
async function listenAnywhere(): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}
const portOf = (s: Server) => (s.address() as { port: number }).port;

describe("Prometheus endpoint", () => {
  it("serves a metric registered on the service meter", async () => {
    const probe = await listenAnywhere();
    const port = portOf(probe);
    await new Promise((r) => probe.close(r));
    const telemetry = await startTelemetry({
      metrics: { port, host: "127.0.0.1" },
      otel: { serviceName: "runtime-metrics-test", otlpEndpoint: undefined },
    });
    try {
      expect(telemetry.metricsUrl).toBe(`http://127.0.0.1:${port}/metrics`);
      const jobs = telemetry.meter.createCounter("fleetnet_test_jobs", {
        description: "jobs seen by the test",
      });
      jobs.add(3, { host: "h1" });
      jobs.add(1, { host: "h2" });
      const res = await fetch(telemetry.metricsUrl ?? "");
      expect(res.status).toBe(200);
      const body = await res.text();
      expect(body).toContain("# HELP fleetnet_test_jobs_total jobs seen by the test");
      expect(body).toMatch(/^fleetnet_test_jobs_total\{[^}]*host="h1"[^}]*\} 3\b/m);
      expect(body).toMatch(/^fleetnet_test_jobs_total\{[^}]*host="h2"[^}]*\} 1\b/m);
      expect(body).toMatch(/service_name="runtime-metrics-test"/);
    } finally {
      await telemetry.shutdown();
    }
    // The endpoint is gone after shutdown.
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it("fails with METRICS_UNAVAILABLE naming METRICS_PORT when the port is taken", async () => {
    const busy = await listenAnywhere();
    try {
      const err = await startTelemetry({
        metrics: { port: portOf(busy), host: "127.0.0.1" },
        otel: { serviceName: "runtime-metrics-test", otlpEndpoint: undefined },
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FleetnetError);
      expect(err).toMatchObject({ code: "METRICS_UNAVAILABLE", retryable: false });
      expect((err as Error).message).toMatch(
        new RegExp(
          `^METRICS_PORT: cannot serve Prometheus metrics on 127\\.0\\.0\\.1:${portOf(busy)}: .*EADDRINUSE`,
        ),
      );
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });
});

describe("OTLP export", () => {
  it("sends traces and metrics to OTEL_EXPORTER_OTLP_ENDPOINT", async () => {
    const received: { url: string; type: string; body: string }[] = [];
    const collector = createHttpServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString("latin1");
      });
      req.on("end", () => {
        received.push({ url: req.url ?? "", type: String(req.headers["content-type"]), body });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const { port } = collector.address() as { port: number };
    try {
      const telemetry = await startTelemetry({
        metrics: { port: 0, host: "127.0.0.1" },
        otel: { serviceName: "runtime-otlp-test", otlpEndpoint: `http://127.0.0.1:${port}/` },
      });
      await inSpan("otlp-span", () => undefined, { tracer: telemetry.tracer });
      telemetry.meter.createCounter("fleetnet_otlp_test").add(2);
      await telemetry.shutdown(); // flushes the batch span processor and the periodic metric reader
      const traces = received.filter((r) => r.url === "/v1/traces");
      const metrics = received.filter((r) => r.url === "/v1/metrics");
      expect(traces.length).toBeGreaterThan(0);
      expect(metrics.length).toBeGreaterThan(0);
      expect(traces.map((t) => t.body).join()).toContain("otlp-span");
      expect(traces.map((t) => t.body).join()).toContain("runtime-otlp-test");
      expect(metrics.map((t) => t.body).join()).toContain("fleetnet_otlp_test");
    } finally {
      await new Promise((r) => collector.close(r));
    }
  });
});
