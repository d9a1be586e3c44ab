import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FileReplayCache, HostJournal } from "./store.js";

const dir = mkdtempSync(join(tmpdir(), "fns-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const now = Date.now();

describe("FileReplayCache", () => {
  it("refuses a key seen before, also after a restart (file-backed)", () => {
    const path = join(dir, "r1.json");
    const c = new FileReplayCache(path);
    expect(c.checkAndRecord(["job:a", "nonce:x"], now + 60_000, now, now)).toBe(true);
    expect(c.checkAndRecord(["job:a", "nonce:y"], now + 60_000, now, now)).toBe(false);
    expect(c.checkAndRecord(["job:b", "nonce:x"], now + 60_000, now, now)).toBe(false);
    const again = new FileReplayCache(path);
    expect(again.checkAndRecord(["job:a", "nonce:z"], now + 60_000, now, now)).toBe(false);
    expect(again.checkAndRecord(["job:c", "nonce:w"], now + 60_000, now, now)).toBe(true);
  });

  it("lets a redelivery of the same stream message through, but not a re-publish", () => {
    const c = new FileReplayCache(join(dir, "r2.json"));
    const keys = ["job:a", "nonce:x"];
    expect(c.forMessage(7, false).checkAndRecord(keys, now + 60_000, now, now)).toBe(true);
    expect(c.forMessage(7, true).checkAndRecord(keys, now + 60_000, now, now)).toBe(true);
    expect(c.forMessage(8, true).checkAndRecord(keys, now + 60_000, now, now)).toBe(false);
    expect(c.forMessage(7, false).checkAndRecord(keys, now + 60_000, now, now)).toBe(false);
  });

  it("forgets expired keys and, when full, refuses jobs issued at or before what it evicted", () => {
    const c = new FileReplayCache(join(dir, "r3.json"), 4);
    expect(c.checkAndRecord(["job:old"], now - 1, now - 10_000, now - 5_000)).toBe(true);
    expect(c.checkAndRecord(["job:old"], now + 60_000, now - 10_000, now)).toBe(true); // expired entry
    for (const [i, k] of ["a", "b", "c", "d", "e"].entries())
      expect(c.checkAndRecord([`job:${k}`], now + 60_000, now + i, now)).toBe(true);
    expect(c.size).toBeLessThanOrEqual(4);
    expect(c.checkAndRecord(["job:late"], now + 60_000, now - 10_000, now)).toBe(false);
    expect(c.checkAndRecord(["job:new"], now + 60_000, now + 100, now)).toBe(true);
  });
});

describe("HostJournal", () => {
  it("keeps the in-flight job, results and apply records across instances", async () => {
    const path = join(dir, "j.json");
    const j = new HostJournal(path, 2);
    await j.begin({ jobId: "j1", kind: "apply", streamSeq: 3, startedAt: now });
    await j.putApply({
      jobId: "j1",
      rolloutId: "r",
      planHash: "p",
      status: "armed",
      txId: "t1",
      deadline: now,
      ops: [],
    });
    const again = new HostJournal(path, 2);
    expect(again.inflight?.jobId).toBe("j1");
    expect(again.apply("j1")?.txId).toBe("t1");
    const result = {
      v: 1 as const,
      jobId: "j1",
      host: "h1",
      rolloutId: "r",
      planHash: "p",
      kind: "apply" as const,
      status: "applied" as const,
      ops: [],
      at: new Date(now).toISOString(),
      durationMs: 1,
    };
    await again.finish(result);
    expect(again.inflight).toBeUndefined();
    for (const id of ["j2", "j3"]) await again.finish({ ...result, jobId: id });
    const third = new HostJournal(path, 2);
    expect(third.result("j1")).toBeUndefined(); // bounded: oldest dropped
    expect(third.result("j3")?.status).toBe("applied");
  });
});

describe("HostJournal writes", () => {
  it("land in call order: the file holds the last mutation even when they are not awaited one by one", async () => {
    const path = join(dir, "order.json");
    const j = new HostJournal(path, 64);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 40; i++)
      writes.push(j.begin({ jobId: `j${i}`, kind: "apply", streamSeq: i, startedAt: now }));
    writes.push(j.clearInflight());
    writes.push(j.begin({ jobId: "last", kind: "confirm", streamSeq: 99, startedAt: now }));
    await Promise.all(writes);
    const again = new HostJournal(path, 64);
    expect(again.inflight).toEqual({ jobId: "last", kind: "confirm", streamSeq: 99, startedAt: now });
  });
});
