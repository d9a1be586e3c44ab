import { once } from "node:events";
import { existsSync } from "node:fs";
import { ensureStream, publishDurably } from "@fleetnet/runtime";
import { StorageType } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { uniqueName } from "./netns.js";
import {
  attachNats,
  attachRedis,
  collect,
  privateBackends,
  sharedServices,
  startNatsServer,
  startRedisServer,
} from "./services.js";
import { isAlive, waitFor } from "./wait.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("shared services", () => {
  it("attaches to the shared NATS (JetStream on) and Redis", async () => {
    const { natsUrl, redisUrl } = sharedServices();
    expect(natsUrl).toMatch(/^nats:\/\//);
    await using nats = await attachNats();
    await using redis = await attachRedis();
    expect((await nats.jsm.getAccountInfo()).streams).toBeGreaterThanOrEqual(0);
    expect(await redis.redis.ping()).toBe("PONG");
    expect(redis.url).toBe(redisUrl);
  });
});

describe("private nats-server", () => {
  it("is disposed with await using: process killed, store removed", async () => {
    let pid: number | undefined;
    let dir = "";
    {
      await using server = await startNatsServer();
      pid = server.pid;
      dir = server.dir;
      expect(pid && isAlive(pid)).toBe(true);
      await using nats = await attachNats(server.url);
      expect(await nats.nc.rtt()).toBeGreaterThanOrEqual(0);
    }
    expect(pid && isAlive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it("runtime reconnects after a restart and resumes publishing; nothing acknowledged is lost", async () => {
    await using server = await startNatsServer();
    await using nats = await attachNats(server.url);
    const stream = uniqueName("RESTART");
    const subject = `${stream}.jobs`;
    await ensureStream(nats.jsm, { name: stream, subjects: [subject], storage: StorageType.File });

    const acked = new Map<number, string>(); // stream seq -> payload
    let n = 0;
    const publish = async () => {
      const body = `job-${n++}`;
      const ack = await publishDurably(nats.js, subject, body, {
        msgID: body,
        deadlineMs: 30_000,
        ackTimeoutMs: 500,
      });
      acked.set(ack.seq, body);
    };
    for (let i = 0; i < 20; i++) await publish();

    const statuses: string[] = [];
    void (async () => {
      for await (const s of nats.nc.status()) statuses.push(s.type);
    })();

    await server.stop();
    // Publishes issued while the server is down: they must complete once it is back.
    const during = Array.from({ length: 5 }, () => publish());
    await sleep(300);
    const port = server.port;
    await server.restart();
    expect(server.port).toBe(port);
    await Promise.all(during);
    for (let i = 0; i < 20; i++) await publish();

    expect(statuses).toContain("disconnect");
    expect(statuses).toContain("reconnect");
    expect(acked.size).toBe(45);
    const info = await nats.jsm.streams.info(stream);
    expect(info.state.messages).toBe(45);
    for (const [seq, body] of acked) {
      const m = await nats.jsm.streams.getMessage(stream, { seq });
      expect(m?.string()).toBe(body);
    }
  });
});

describe("private redis-server", () => {
  it("keeps AOF data across restart on the same port; runtime connection rides it out", async () => {
    await using server = await startRedisServer();
    await using conn = await attachRedis(server.url);
    const key = uniqueName("k");
    await conn.redis.set(key, "before");
    const firstPid = server.pid;

    await server.stop();
    // A command issued while Redis is down waits in the offline queue (maxRetriesPerRequest: null).
    const pending = conn.redis.set(`${key}-during`, "queued");
    await sleep(200);
    await server.restart();
    expect(server.pid).not.toBe(firstPid);
    await expect(pending).resolves.toBe("OK");
    expect(await conn.redis.get(key)).toBe("before");
    expect(await conn.redis.get(`${key}-during`)).toBe("queued");
  });

  it("stop() is idempotent and restart() brings a stopped server back", async () => {
    await using server = await startRedisServer();
    await server.stop();
    await server.stop();
    expect(server.pid).toBeUndefined();
    await server.restart();
    await using conn = await attachRedis(server.url);
    expect(await conn.redis.ping()).toBe("PONG");
    const exited = once(conn.redis, "end");
    await conn.redis.quit();
    await exited;
  });
});

describe("privateBackends", () => {
  it("starts nats-server and redis-server with clients attached; disposing stops both (idempotent)", async () => {
    const b = await privateBackends();
    const pids = [b.nats.pid, b.redisServer.pid];
    expect(pids.every((p) => p !== undefined && isAlive(p))).toBe(true);
    expect(b.att.url).toBe(b.nats.url);
    expect(b.red.url).toBe(b.redisServer.url);
    expect(await b.att.nc.rtt()).toBeGreaterThanOrEqual(0);
    expect(await b.red.redis.ping()).toBe("PONG");
    await b[Symbol.asyncDispose]();
    await b[Symbol.asyncDispose]();
    expect(b.att.nc.isClosed()).toBe(true);
    expect(pids.some((p) => p !== undefined && isAlive(p))).toBe(false);
    expect(existsSync(b.nats.dir) || existsSync(b.redisServer.dir)).toBe(false);
  });
});

describe("collect", () => {
  it("appends what parse accepts on the subjects accept lets through, drops the rest", async () => {
    await using a = await attachNats();
    const base = uniqueName("collect");
    const got: number[] = [];
    const parse = (d: Uint8Array) => {
      const n = Number(new TextDecoder().decode(d));
      return Number.isInteger(n) ? { ok: true as const, value: n } : { ok: false as const };
    };
    collect(a.nc, `${base}.>`, parse, got, (s) => s.endsWith(".keep"));
    await a.nc.flush();
    for (const [s, body] of [
      ["keep", "1"],
      ["keep", "not a number"],
      ["skip", "2"],
      ["keep", "3"],
    ])
      a.nc.publish(`${base}.x.${s}`, body);
    await a.nc.flush();
    await waitFor("two numbers", () => (got.length >= 2 ? got : undefined), 2_000, 10);
    await sleep(100);
    expect(got).toEqual([1, 3]);
  });
});
