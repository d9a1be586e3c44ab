import { randomUUID } from "node:crypto";
import { FleetnetError } from "@fleetnet/protocol";
import { AckPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import {
  connectJetStream,
  connectNats,
  ensureStream,
  extractTraceContext,
  injectTraceContext,
  type NatsConnection,
  publishDurably,
} from "./nats.js";
import { inSpan, startTelemetry, type Telemetry } from "./telemetry.js";

const config = loadConfig(process.env, { serviceName: "runtime-nats-test" });
const logger = createLogger({ level: "silent", serviceName: "runtime-nats-test" });
const id = () => randomUUID().slice(0, 8);

let nc: NatsConnection;
let telemetry: Telemetry;
const spans = new InMemorySpanExporter();

beforeAll(async () => {
  telemetry = await startTelemetry(
    { metrics: { port: 0, host: "127.0.0.1" }, otel: config.otel },
    {
      spanProcessors: [new SimpleSpanProcessor({ exporter: spans })],
    },
  );
  nc = await connectNats(config, { logger });
});
afterAll(async () => {
  await nc?.drain();
  await telemetry?.shutdown();
});

describe("connectNats", () => {
  it("connects to the configured server", async () => {
    const rtt = await nc.rtt();
    expect(rtt).toBeGreaterThanOrEqual(0);
  });

  it("fails fast with a retryable NATS_UNAVAILABLE naming the URL", async () => {
    const bad = { ...config, nats: { ...config.nats, servers: ["nats://127.0.0.1:1"] } };
    const err = await connectNats(bad, { logger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FleetnetError);
    expect(err).toMatchObject({ code: "NATS_UNAVAILABLE", retryable: true });
    expect((err as Error).message).toMatch(/^NATS_URL: cannot connect to nats:\/\/127\.0\.0\.1:1/);
  });

  it("reports an unreadable credentials file as CONFIG_INVALID naming the variable", async () => {
    const bad = { ...config, nats: { ...config.nats, tokenFile: "/nonexistent/fleetnet-token" } };
    await expect(connectNats(bad, { logger })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: "NATS_TOKEN_FILE: cannot read /nonexistent/fleetnet-token: ENOENT",
    });
  });
});

describe("trace context over NATS", () => {
  it("a span in the receiver has the sender's trace id (core NATS hop)", async () => {
    spans.reset();
    const subject = `rt.test.${id()}`;
    const sub = nc.subscribe(subject, { max: 1 });
    const received = (async () => {
      for await (const m of sub) {
        await inSpan("handle", async () => undefined, {
          parent: extractTraceContext(m.headers),
          kind: SpanKind.CONSUMER,
          tracer: telemetry.tracer,
        });
      }
    })();
    const sender = await connectNats(config, { logger });
    try {
      await inSpan("send", () => sender.publish(subject, "hi", { headers: injectTraceContext() }), {
        kind: SpanKind.PRODUCER,
        tracer: telemetry.tracer,
      });
      await sender.flush();
    } finally {
      await sender.drain();
    }
    await received;
    const send = spans.getFinishedSpans().find((s) => s.name === "send");
    const handle = spans.getFinishedSpans().find((s) => s.name === "handle");
    expect(send && handle).toBeTruthy();
    expect(handle?.spanContext().traceId).toBe(send?.spanContext().traceId);
    expect(handle?.parentSpanContext?.spanId).toBe(send?.spanContext().spanId);
    expect(handle?.parentSpanContext?.isRemote).toBe(true);
  });

  it("without headers the receiver starts a new trace", async () => {
    spans.reset();
    await inSpan("orphan", () => undefined, {
      parent: extractTraceContext(undefined),
      tracer: telemetry.tracer,
    });
    await inSpan(
      "root",
      async () => {
        await inSpan("child", () => undefined, {
          parent: extractTraceContext(undefined),
          tracer: telemetry.tracer,
        });
      },
      { tracer: telemetry.tracer },
    );
    const [orphan, child, root] = spans.getFinishedSpans();
    expect(orphan?.parentSpanContext).toBeUndefined();
    // extract without headers keeps the active context: the child stays in its parent's trace.
    expect(child?.spanContext().traceId).toBe(root?.spanContext().traceId);
  });

  it("publishDurably carries the trace context through JetStream", async () => {
    spans.reset();
    const { js, jsm } = await connectJetStream(nc);
    const stream = `RT_TRACE_${id()}`;
    const subject = `rt.trace.${id()}`;
    await ensureStream(jsm, { name: stream, subjects: [subject], storage: StorageType.Memory });
    try {
      await jsm.consumers.add(stream, { durable_name: "c", ack_policy: AckPolicy.Explicit });
      await inSpan("publish", () => publishDurably(js, subject, "job", { msgID: "m1" }), {
        tracer: telemetry.tracer,
      });
      const msg = await (await js.consumers.get(stream, "c")).next({ expires: 5_000 });
      expect(msg).not.toBeNull();
      await inSpan("consume", () => msg?.ack(), {
        parent: extractTraceContext(msg?.headers),
        tracer: telemetry.tracer,
      });
      const byName = Object.fromEntries(spans.getFinishedSpans().map((s) => [s.name, s]));
      expect(byName.consume?.spanContext().traceId).toBe(byName.publish?.spanContext().traceId);
      expect(msg?.headers?.get("Nats-Msg-Id")).toBe("m1");
    } finally {
      await jsm.streams.delete(stream);
    }
  });
});

describe("JetStream helpers", () => {
  it("ensureStream creates, then updates idempotently", async () => {
    const { jsm } = await connectJetStream(nc);
    const name = `RT_ENSURE_${id()}`;
    try {
      const a = await ensureStream(jsm, {
        name,
        subjects: [`rt.ensure.${name}.>`],
        storage: StorageType.Memory,
      });
      expect(a.config.max_msgs).toBe(-1);
      const b = await ensureStream(jsm, { name, max_msgs: 100 });
      expect(b.config.max_msgs).toBe(100);
      expect(b.config.subjects).toEqual([`rt.ensure.${name}.>`]);
      const c = await ensureStream(jsm, { name, max_msgs: 100, retention: RetentionPolicy.Limits });
      expect(c.config).toEqual(b.config);
    } finally {
      await jsm.streams.delete(name);
    }
  });

  it("publishDurably stores a message once per msgID", async () => {
    const { js, jsm } = await connectJetStream(nc);
    const name = `RT_DEDUP_${id()}`;
    const subject = `rt.dedup.${name}`;
    await ensureStream(jsm, { name, subjects: [subject], storage: StorageType.Memory });
    try {
      const a = await publishDurably(js, subject, "x", { msgID: "same" });
      const b = await publishDurably(js, subject, "x", { msgID: "same" });
      expect(a.duplicate).toBe(false);
      expect(b.duplicate).toBe(true);
      expect((await jsm.streams.info(name)).state.messages).toBe(1);
    } finally {
      await jsm.streams.delete(name);
    }
  });

  it("publishDurably gives up with PUBLISH_FAILED when no stream takes the subject", async () => {
    const { js } = await connectJetStream(nc);
    const err = await publishDurably(js, `rt.nostream.${id()}`, "x", {
      msgID: "a",
      deadlineMs: 400,
      ackTimeoutMs: 100,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "PUBLISH_FAILED", retryable: true });
    expect((err as FleetnetError).details?.attempts).toBeGreaterThan(1);
  });
});
