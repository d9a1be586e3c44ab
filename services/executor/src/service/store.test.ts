import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Op } from "@fleetnet/netstate";
import { afterAll, describe, expect, it } from "vitest";
import { FileReplayCache, HostJournal, OPS_KEPT } from "./store.js";

const dir = mkdtempSync(join(tmpdir(), "fns-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const now = Date.now();
const op = { op: "sysctl.set", key: "net.ipv4.ip_forward", value: "1", persist: false } as unknown as Op;
/** A published result of job `jobId` (with `ops`). */
const result = (jobId: string, ops: Op[] = []) => ({
  v: 1 as const,
  jobId,
  host: "h1",
  rolloutId: "r",
  planHash: "p",
  kind: "apply" as const,
  status: "applied" as const,
  ops,
  at: new Date(now).toISOString(),
  durationMs: 1,
});

describe("FileReplayCache", () => {
  it("refuses a key seen before, also after a restart (file-backed)", async () => {
    const path = join(dir, "r1.jsonl");
    const c = new FileReplayCache(path);
    expect(await c.checkAndRecord(["job:a", "nonce:x"], now + 60_000, now, now)).toBe(true);
    expect(await c.checkAndRecord(["job:a", "nonce:y"], now + 60_000, now, now)).toBe(false);
    expect(await c.checkAndRecord(["job:b", "nonce:x"], now + 60_000, now, now)).toBe(false);
    const again = new FileReplayCache(path);
    expect(await again.checkAndRecord(["job:a", "nonce:z"], now + 60_000, now, now)).toBe(false);
    expect(await again.checkAndRecord(["job:c", "nonce:w"], now + 60_000, now, now)).toBe(true);
  });

  it("lets a redelivery of the same stream message through, but not a re-publish", async () => {
    const c = new FileReplayCache(join(dir, "r2.jsonl"));
    const keys = ["job:a", "nonce:x"];
    expect(await c.forMessage(7, false).checkAndRecord(keys, now + 60_000, now, now)).toBe(true);
    expect(await c.forMessage(7, true).checkAndRecord(keys, now + 60_000, now, now)).toBe(true);
    expect(await c.forMessage(8, true).checkAndRecord(keys, now + 60_000, now, now)).toBe(false);
    expect(await c.forMessage(7, false).checkAndRecord(keys, now + 60_000, now, now)).toBe(false);
  });

  it("forgets expired keys and, when full, refuses jobs issued at or before what it evicted", async () => {
    const c = new FileReplayCache(join(dir, "r3.jsonl"), 4);
    expect(await c.checkAndRecord(["job:old"], now - 1, now - 10_000, now - 5_000)).toBe(true);
    expect(await c.checkAndRecord(["job:old"], now + 60_000, now - 10_000, now)).toBe(true); // expired entry
    for (const [i, k] of ["a", "b", "c", "d", "e"].entries())
      expect(await c.checkAndRecord([`job:${k}`], now + 60_000, now + i, now)).toBe(true);
    expect(c.size).toBeLessThanOrEqual(4);
    expect(await c.checkAndRecord(["job:late"], now + 60_000, now - 10_000, now)).toBe(false);
    expect(await c.checkAndRecord(["job:new"], now + 60_000, now + 100, now)).toBe(true);
  });
});

describe("HostJournal", () => {
  it("keeps the in-flight job, results and apply records across instances", async () => {
    const path = join(dir, "j.jsonl");
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
    await again.finish(result("j1"));
    expect(again.inflight).toBeUndefined();
    for (const id of ["j2", "j3"]) await again.finish(result(id));
    const third = new HostJournal(path, 2);
    expect(third.result("j1")).toBeUndefined(); // bounded: oldest dropped
    expect(third.result("j3")?.status).toBe("applied");
  });
});

describe("HostJournal writes", () => {
  it("land in call order: the file holds the last mutation even when they are not awaited one by one", async () => {
    const path = join(dir, "order.jsonl");
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

describe("HostJournal size", () => {
  it("a staged apply record is on disk with the next write (the job's finish), not before", async () => {
    const path = join(dir, "staged.jsonl");
    const j = new HostJournal(path);
    await j.begin({ jobId: "s1", kind: "apply", streamSeq: 1, startedAt: now });
    j.stageApply({ jobId: "s1", rolloutId: "r", planHash: "p", status: "armed", txId: "t", ops: [op] });
    expect(j.apply("s1")?.status).toBe("armed");
    expect(new HostJournal(path).apply("s1")).toBeUndefined();
    await j.finish(result("s1", [op, op]));
    const again = new HostJournal(path);
    expect(again.apply("s1")?.txId).toBe("t");
    expect(again.inflight).toBeUndefined();
  });

  it("keeps op lists only on the newest entries, so its snapshots stay small", async () => {
    const path = join(dir, "trim.jsonl");
    const j = new HostJournal(path, 64);
    for (let i = 0; i < OPS_KEPT + 5; i++) {
      j.stageApply({ jobId: `a${i}`, rolloutId: "r", planHash: "p", status: "confirmed", ops: [op] });
      await j.finish(result(`a${i}`, [op, op]));
    }
    const again = new HostJournal(path, 64);
    expect(again.result("a0")?.ops).toEqual([]);
    expect(again.apply("a0")?.ops).toEqual([]);
    expect(again.result(`a${OPS_KEPT + 4}`)?.ops).toHaveLength(2);
    expect(again.apply(`a${OPS_KEPT + 4}`)?.ops).toHaveLength(1);
    expect(again.apply(`a${5}`)?.ops).toHaveLength(1); // the newest OPS_KEPT keep theirs
    expect(again.apply(`a${4}`)?.ops).toEqual([]);
  });
});

describe("HostJournal log", () => {
  it("appends a line per change to the same file (no new file per job)", async () => {
    const path = join(dir, "append.jsonl");
    const j = new HostJournal(path);
    await j.begin({ jobId: "a1", kind: "apply", streamSeq: 1, startedAt: now });
    const ino = statSync(path).ino;
    await j.finish(result("a1"));
    await j.begin({ jobId: "a2", kind: "confirm", streamSeq: 2, startedAt: now });
    expect(statSync(path).ino).toBe(ino);
    expect(readFileSync(path, "utf8").trim().split("\n")).toHaveLength(3);
    const again = new HostJournal(path);
    expect(again.result("a1")?.status).toBe("applied");
    expect(again.inflight?.jobId).toBe("a2");
  });

  it("ignores a last line torn by a crash, refuses a damaged earlier one", async () => {
    const path = join(dir, "torn.jsonl");
    const j = new HostJournal(path);
    await j.finish(result("t1"));
    appendFileSync(path, '{"begin":{"jobId":"t2","ki');
    const again = new HostJournal(path);
    expect(again.result("t1")?.status).toBe("applied");
    expect(again.inflight).toBeUndefined();
    writeFileSync(path, `{"begin":{"jobId":"t2"\n${JSON.stringify({ finish: result("t3") })}\n`);
    expect(() => new HostJournal(path)).toThrow(/torn\.jsonl line 1/);
  });

  it("rewrites itself as one snapshot once it has grown", async () => {
    const path = join(dir, "compact.jsonl");
    const j = new HostJournal(path, 4, 2_000);
    for (let i = 0; i < 40; i++) {
      await j.begin({ jobId: `c${i}`, kind: "apply", streamSeq: i, startedAt: now });
      await j.finish(result(`c${i}`));
    }
    expect(statSync(path).size).toBeLessThan(4_000);
    expect(readFileSync(path, "utf8").startsWith('{"snapshot":')).toBe(true);
    const again = new HostJournal(path, 4);
    expect(again.result("c39")?.status).toBe("applied");
    expect(again.result("c30")).toBeUndefined(); // bounded to `keep`
    expect(again.inflight).toBeUndefined();
  });

  it("reads an earlier version's whole-state journal.json when there is no log yet", () => {
    const legacy = join(dir, "journal.json");
    writeFileSync(legacy, JSON.stringify({ v: 1, done: [["old", result("old")]], applies: [] }));
    expect(new HostJournal(join(dir, "journal.jsonl")).result("old")?.status).toBe("applied");
  });
});
