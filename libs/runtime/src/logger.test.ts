import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";
import { inSpan, startTelemetry } from "./telemetry.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, logger: createLogger({ level: "debug", serviceName: "svc-test", destination }) };
}

const telemetry = await startTelemetry({
  metrics: { port: 0, host: "127.0.0.1" },
  otel: { serviceName: "svc-test", otlpEndpoint: undefined },
});
afterAll(() => telemetry.shutdown());

describe("createLogger", () => {
  it("writes JSON lines with service, level label and ISO time", () => {
    const { lines, logger } = capture();
    logger.info({ host: "h1" }, "hello");
    logger.debug("dbg");
    logger.trace("not at this level");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ service: "svc-test", level: "info", host: "h1", msg: "hello" });
    expect(String(lines[0]?.time)).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(lines[0]).not.toHaveProperty("trace_id");
  });

  it("adds trace_id and span_id of the active span, across await", async () => {
    const { lines, logger } = capture();
    let ids: { traceId: string; spanId: string } | undefined;
    await inSpan(
      "work",
      async (span) => {
        ids = span.spanContext();
        await new Promise((r) => setTimeout(r, 5));
        logger.info("inside");
      },
      { tracer: telemetry.tracer },
    );
    logger.info("outside");
    expect(lines[0]).toMatchObject({ msg: "inside", trace_id: ids?.traceId, span_id: ids?.spanId });
    expect(ids?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(lines[1]).not.toHaveProperty("trace_id");
  });

  it("redacts secret-looking fields at any depth, keeps file paths", () => {
    const { lines, logger } = capture();
    const input = {
      password: "p1",
      nats: { token: "t1", tokenFile: "/etc/fleetnet/token", natsPassword: "p2", list: [{ api_key: "k" }] },
      headers: { Authorization: "Bearer x" },
      vrrp: { authPass: "v", priority: 100 },
      sshPrivateKey: "-----BEGIN",
    };
    logger.info(input, "with secrets");
    const line = JSON.stringify(lines[0]);
    for (const secret of ["p1", "t1", "p2", '"k"', "Bearer", "BEGIN", '"v"'])
      expect(line).not.toContain(secret);
    expect(lines[0]).toMatchObject({
      password: "[redacted]",
      nats: { token: "[redacted]", tokenFile: "/etc/fleetnet/token", list: [{ api_key: "[redacted]" }] },
      vrrp: { authPass: "[redacted]", priority: 100 },
    });
    // The caller's object is not modified.
    expect(input.nats.token).toBe("t1");
  });
});
