import { randomBytes } from "node:crypto";
import { isFleetnetError, redisKeys } from "@fleetnet/protocol";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireHosts, lockHolders, releaseHosts, renewHosts } from "./locks.js";

const tag = randomBytes(3).toString("hex");
const h = (n: number) => `pl-${tag}-h${n}`;
const r = (n: string) => `r-${tag}-${n}`;
let redis: Redis;

beforeAll(async () => {
  redis = new Redis("redis://127.0.0.1:6379", { lazyConnect: true });
  await redis.connect();
});
afterAll(async () => {
  const keys = Array.from({ length: 10 }, (_, i) => redisKeys.hostLock(h(i)));
  await redis.del(...keys);
  redis.disconnect();
});

async function lockedError(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("host locks (real Redis)", () => {
  it("acquire all-or-nothing; a second rollout is refused with HOST_LOCKED naming the holder", async () => {
    const a = await acquireHosts(redis, r("a"), [h(1), h(2)], 10_000);
    expect(a.hosts).toEqual([h(1), h(2)]);
    const err = await lockedError(acquireHosts(redis, r("b"), [h(3), h(2)], 10_000));
    expect(isFleetnetError(err, "HOST_LOCKED")).toBe(true);
    expect((err as Error).message).toContain(`host ${h(2)} is locked by rollout ${r("a")}`);
    expect((err as { details: unknown }).details).toEqual({ host: h(2), holder: r("a") });
    expect((err as { retryable: boolean }).retryable).toBe(true);
    // nothing of b was taken: h3 is still free
    expect(await lockHolders(redis, [h(1), h(2), h(3)])).toEqual({
      [h(1)]: { rolloutId: r("a"), token: a.token },
      [h(2)]: { rolloutId: r("a"), token: a.token },
    });
    expect(await releaseHosts(redis, a)).toEqual([h(1), h(2)]);
    const b = await acquireHosts(redis, r("b"), [h(3), h(2)], 10_000);
    expect(b.token).toBeGreaterThan(a.token);
    await releaseHosts(redis, b);
  });

  it("fencing tokens are monotonic; re-acquiring by the same rollout fences the old lease", async () => {
    const first = await acquireHosts(redis, r("c"), [h(4)], 10_000);
    const again = await acquireHosts(redis, r("c"), [h(4), h(5)], 10_000);
    expect(again.token).toBeGreaterThan(first.token);
    const err = await lockedError(renewHosts(redis, first));
    expect(isFleetnetError(err, "LOCK_LOST")).toBe(true);
    expect((err as Error).message).toContain(h(4));
    expect(await releaseHosts(redis, first)).toEqual([]); // the stale holder cannot release
    expect((await lockHolders(redis, [h(4)]))[h(4)]?.token).toBe(again.token);
    await renewHosts(redis, again);
    expect(await releaseHosts(redis, again)).toEqual([h(4), h(5)]);
  });

  it("release only by the holder", async () => {
    const a = await acquireHosts(redis, r("d"), [h(6)], 10_000);
    expect(await releaseHosts(redis, { rolloutId: r("x"), token: a.token, hosts: [h(6)] })).toEqual([]);
    expect(await releaseHosts(redis, { ...a, token: a.token + 1 })).toEqual([]);
    expect(Object.keys(await lockHolders(redis, [h(6)]))).toEqual([h(6)]);
    expect(await releaseHosts(redis, a)).toEqual([h(6)]);
    expect(await lockHolders(redis, [h(6)])).toEqual({});
  });

  it("the lease expires without renew, and renew extends it", async () => {
    const a = await acquireHosts(redis, r("e"), [h(7), h(8)], 300);
    await new Promise((res) => setTimeout(res, 150));
    await renewHosts(redis, { ...a, ttlMs: 2_000 });
    expect(await redis.pttl(redisKeys.hostLock(h(7)))).toBeGreaterThan(1_000);
    const b = await acquireHosts(redis, r("f"), [h(9)], 200);
    await new Promise((res) => setTimeout(res, 400));
    expect(await lockHolders(redis, [h(9)])).toEqual({});
    const err = await lockedError(renewHosts(redis, b));
    expect(isFleetnetError(err, "LOCK_LOST")).toBe(true);
    // an expired lock can be taken by another rollout
    const c = await acquireHosts(redis, r("g"), [h(9)], 2_000);
    expect(c.token).toBeGreaterThan(b.token);
    await releaseHosts(redis, a);
    await releaseHosts(redis, c);
  });

  it("racing rollouts over overlapping hosts: exactly one wins each round", async () => {
    for (let round = 0; round < 20; round++) {
      const results = await Promise.allSettled([
        acquireHosts(redis, r(`p${round}`), [h(1), h(2), h(3)], 5_000),
        acquireHosts(redis, r(`q${round}`), [h(3), h(4)], 5_000),
      ]);
      const won = results.filter((x) => x.status === "fulfilled");
      expect(won).toHaveLength(1);
      const held = await lockHolders(redis, [h(1), h(2), h(3), h(4)]);
      const owners = new Set(Object.values(held).map((v) => v.rolloutId));
      expect(owners.size).toBe(1);
      for (const x of won) await releaseHosts(redis, (x as PromiseFulfilledResult<never>).value);
    }
  });

  it("rejects a rollout id that could break the lock value", async () => {
    const err = await lockedError(acquireHosts(redis, "bad:id", [h(1)], 1_000));
    expect(isFleetnetError(err, "INVALID_NAME")).toBe(true);
    expect(await lockHolders(redis, [h(1)])).toEqual({});
  });
});
