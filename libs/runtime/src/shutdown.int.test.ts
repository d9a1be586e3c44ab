import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { connectNats } from "./nats.js";
import { connectRedis } from "./redis.js";
import { Shutdown, type ShutdownResult } from "./shutdown.js";

const config = loadConfig(process.env, { serviceName: "runtime-shutdown-test" });
const logger = createLogger({ level: "silent", serviceName: "runtime-shutdown-test" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("graceful shutdown", () => {
  it("on SIGTERM, every message received by a slow subscriber is processed before NATS closes", async () => {
    const subject = `rt.shutdown.${randomUUID().slice(0, 8)}`;
    const shutdown = new Shutdown({ logger, timeoutMs: 20_000 });
    const nc = await connectNats(config, { logger });
    const redis = await connectRedis(config, { logger });
    shutdown.register("nats", () => nc.drain());
    shutdown.register("redis", () => redis.quit());

    // Consumer: handles messages concurrently, each takes 20-120 ms and then reports over NATS and
    // Redis — which fails if either connection were already closed.
    const received: number[] = [];
    const doneKey = `rt:shutdown:${subject}`;
    const sub = nc.subscribe(subject);
    const loop = (async () => {
      for await (const m of sub) {
        const n = Number(m.string());
        received.push(n);
        void shutdown.track(
          (async () => {
            await sleep(20 + (n % 6) * 20);
            await redis.sadd(doneKey, String(n));
            nc.publish(`${subject}.done`, String(n));
          })(),
        );
      }
    })();
    shutdown.register(
      "subscriber",
      async () => {
        await sub.drain();
        await loop;
      },
      "intake",
    );

    // An observer on its own connection counts completion reports.
    const observer = await connectNats(config, { logger });
    const reported = new Set<number>();
    const obsSub = observer.subscribe(`${subject}.done`, {
      callback: (_e, m) => {
        reported.add(Number(m.string()));
      },
    });
    await observer.flush();

    const publisher = await connectNats(config, { logger });
    for (let i = 0; i < 300; i++) publisher.publish(subject, String(i));
    await publisher.flush();
    while (received.length < 50) await sleep(5);

    const exited = new Promise<number>((resolve) => {
      const remove = shutdown.handleSignals((code) => {
        remove();
        resolve(code);
      });
    });
    process.emit("SIGTERM", "SIGTERM");
    const code = await exited;
    const result: ShutdownResult = await shutdown.shutdown();

    expect(code).toBe(0);
    expect(result).toMatchObject({ reason: "SIGTERM", timedOut: false, pendingInFlight: 0, failed: [] });
    expect(nc.isClosed()).toBe(true);
    // quit() resolves on the server's OK; the socket closes right after.
    while (redis.status !== "end") await sleep(5);
    await observer.flush();
    await sleep(50);
    expect(received.length).toBeGreaterThanOrEqual(50);
    expect([...reported].sort((a, b) => a - b)).toEqual([...received].sort((a, b) => a - b));
    const check = await connectRedis(config, { logger });
    try {
      expect((await check.smembers(doneKey)).map(Number).sort((a, b) => a - b)).toEqual(
        [...received].sort((a, b) => a - b),
      );
      await check.del(doneKey);
    } finally {
      check.disconnect();
    }
    obsSub.unsubscribe();
    await Promise.all([observer.drain(), publisher.drain()]);
  });

  it("runs closers newest first per stage and stops at the deadline", async () => {
    const order: string[] = [];
    const shutdown = new Shutdown({ logger, timeoutMs: 300 });
    shutdown.register("conn-a", () => order.push("conn-a"));
    shutdown.register("conn-b", () => order.push("conn-b"));
    shutdown.register("intake", () => order.push(`intake(aborted=${shutdown.signal.aborted})`), "intake");
    shutdown.register("broken", () => {
      throw new Error("boom");
    });
    void shutdown.track(new Promise(() => {})); // never settles
    const started = Date.now();
    const result = await shutdown.shutdown("test");
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(order).toEqual(["intake(aborted=true)", "conn-b", "conn-a"]);
    expect(result.timedOut).toBe(true);
    expect(result.pendingInFlight).toBe(1);
    expect(result.failed).toEqual([{ name: "broken", error: "boom" }]);
    expect(await shutdown.shutdown("again")).toBe(result);
  });

  it("a closer that hangs past the deadline is reported and later closers still start", async () => {
    const order: string[] = [];
    const shutdown = new Shutdown({ logger, timeoutMs: 200 });
    shutdown.register("last", () => order.push("last"));
    shutdown.register("hangs", () => new Promise(() => {}));
    const result = await shutdown.shutdown();
    expect(result.timedOut).toBe(true);
    expect(result.failed).toEqual([{ name: "hangs", error: "did not finish before the shutdown deadline" }]);
    expect(order).toEqual(["last"]);
  });

  it("a second signal during a stuck shutdown exits at once with 128+signo", async () => {
    const shutdown = new Shutdown({ logger, timeoutMs: 5_000 });
    shutdown.register("hangs", () => new Promise(() => {}));
    const codes: number[] = [];
    const remove = shutdown.handleSignals((c) => codes.push(c));
    try {
      process.emit("SIGINT", "SIGINT");
      await sleep(20);
      expect(shutdown.shuttingDown).toBe(true);
      expect(codes).toEqual([]);
      process.emit("SIGINT", "SIGINT");
      expect(codes).toEqual([130]);
    } finally {
      remove();
    }
  });
});
