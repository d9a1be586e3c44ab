import { createServer } from "node:net";
import { FleetnetError } from "@fleetnet/protocol";
import { describe, expect, it } from "vitest";
import { ConfigError } from "./config.js";
import { startService } from "./service.js";

/** A loopback port free right now. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}
async function canBind(port: number): Promise<boolean> {
  const s = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (ok) await new Promise((r) => s.close(r));
  return ok;
}

describe("startService", () => {
  it("opens config, logger, metrics, NATS/JetStream and Redis, and SIGTERM closes them all", async () => {
    const port = await freePort();
    const env = { ...process.env, METRICS_PORT: String(port), LOG_LEVEL: "silent", OTEL_SERVICE_NAME: "" };
    const listenersBefore = process.listenerCount("SIGTERM");
    const svc = await startService({
      name: "fleetnet-rt-svc",
      env,
      redis: true,
      exitOnSignal: "resolve",
    });
    expect(process.listenerCount("SIGTERM")).toBe(listenersBefore + 1);
    expect(svc.config.otel.serviceName).toBe("fleetnet-rt-svc");
    expect(await svc.nats.rtt()).toBeGreaterThanOrEqual(0);
    expect((await svc.jsm.getAccountInfo()).streams).toBeGreaterThanOrEqual(0);
    expect(await svc.redis?.ping()).toBe("PONG");
    svc.telemetry.meter.createCounter("fleetnet_rt_svc_starts").add(1);
    expect(await (await fetch(svc.telemetry.metricsUrl ?? "")).text()).toContain(
      "fleetnet_rt_svc_starts_total",
    );

    process.emit("SIGTERM", "SIGTERM");
    expect(await svc.stopped).toBe(0);
    expect(svc.nats.isClosed()).toBe(true);
    expect(svc.redis?.status).toBe("end");
    expect(await canBind(port)).toBe(true);
    // The handlers are removed once the service has shut down: nothing listens any more.
    expect(process.listenerCount("SIGTERM")).toBe(listenersBefore);
  });

  it("closes what it opened when a later dependency fails, and the error says which", async () => {
    const port = await freePort();
    const env = {
      ...process.env,
      METRICS_PORT: String(port),
      LOG_LEVEL: "silent",
      REDIS_URL: "redis://127.0.0.1:1",
    };
    const err = await startService({ name: "fleetnet-rt-svc", env, redis: true, exitOnSignal: false }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FleetnetError);
    expect(err).toMatchObject({ code: "REDIS_UNAVAILABLE", retryable: true });
    expect(await canBind(port)).toBe(true); // the metrics endpoint was closed again
  });

  it("rejects invalid configuration before touching anything", async () => {
    const err = await startService({ name: "x", env: { NATS_URL: "foo" }, exitOnSignal: false }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(
      'NATS_URL: expected a nats:// URL (or several, comma-separated), got "foo"',
    );
  });
});
