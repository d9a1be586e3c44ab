/**
 * @fleetnet/runtime benchmarks (real NATS: the shared server and a private nats-server).
 * Run: pnpm exec vitest bench --run --project unit bench/runtime.bench.ts
 */
import { Writable } from "node:stream";
import { createLogger, ensureStream, injectTraceContext, publishDurably } from "@fleetnet/runtime";
import { attachNats, startNatsServer, uniqueName } from "@fleetnet/testkit";
import { afterAll, bench, describe } from "vitest";

const shared = await attachNats();
const stream = uniqueName("BENCH");
const subject = `${stream}.x`;
await ensureStream(shared.jsm, { name: stream, subjects: [subject] });

const server = await startNatsServer();
const priv = await attachNats(server.url);
const pstream = uniqueName("BENCHR");
await ensureStream(priv.jsm, { name: pstream, subjects: [`${pstream}.x`] });

afterAll(async () => {
  await shared.jsm.streams.delete(stream);
  await shared[Symbol.asyncDispose]();
  await priv[Symbol.asyncDispose]();
  await server[Symbol.asyncDispose]();
});

let n = 0;
describe("JetStream publish (shared nats-server, file stream, one at a time)", () => {
  bench("js.publish", async () => {
    await shared.js.publish(subject, "payload");
  });
  bench("publishDurably (msgID + trace headers + retry loop)", async () => {
    await publishDurably(shared.js, subject, "payload", { msgID: `m${n++}` });
  });
});

describe("NATS restart: server ready -> first acked publishDurably (reconnect wait 100 ms + jitter 50 ms)", () => {
  bench(
    "restart private nats-server and publish",
    async () => {
      await server.stop();
      await server.restart();
      await publishDurably(priv.js, `${pstream}.x`, "after-restart", { msgID: `r${n++}` });
    },
    { iterations: 10, time: 0, warmupIterations: 1 },
  );
});

const sink = new Writable({ write: (_c, _e, cb) => cb() });
const logger = createLogger({ level: "info", serviceName: "bench", destination: sink });
const record = {
  host: "h17",
  op: "link.add",
  nats: { server: "nats://10.0.0.1:4222", tokenFile: "/etc/t" },
  ops: [1, 2, 3],
};
describe("logging (pino to a null sink)", () => {
  bench("logger.info with a nested object (redaction walk)", () => {
    logger.info(record, "applied");
  });
  bench("injectTraceContext into fresh NATS headers (no active span)", () => {
    injectTraceContext();
  });
});
