/**
 * Sequence accounting across workers: runs coalesced per worker, merged by the primary; reordering
 * between workers is not loss, real gaps are (after the grace), the counter never goes back.
 */
import { describe, expect, it } from "vitest";
import { SequenceLedger, SequenceRuns, UNKNOWN_ADVANCE } from "./seqledger.js";

const K = "192.0.2.1|9|0";

describe("SequenceRuns (worker side)", () => {
  it("coalesces consecutive packets per domain into runs and starts afresh after take()", () => {
    const r = new SequenceRuns();
    for (const s of [10, 11, 12, 20, 21]) r.note(K, s, 1);
    r.note("other|10|5", 100, 30);
    r.note("other|10|5", 130, 25);
    r.note(K, 22, 1);
    expect(r.take()).toEqual([
      [K, [10, 3, 20, 3]],
      ["other|10|5", [100, 55]],
    ]);
    expect(r.take()).toEqual([]);
  });

  it("an unknown advance closes the run; wrapping sequence numbers stay one run", () => {
    const r = new SequenceRuns();
    r.note(K, 5, 10);
    r.note(K, 15, UNKNOWN_ADVANCE);
    r.note(K, 40, 1);
    r.note(K, 0xffffffff, 1);
    r.note(K, 0, 1);
    expect(r.take()).toEqual([[K, [5, UNKNOWN_ADVANCE, 40, 1, 0xffffffff, 2]]]);
  });
});

describe("SequenceLedger (primary side)", () => {
  it("two workers' interleaved shares of one exporter: no loss, whatever the report order", () => {
    const l = new SequenceLedger({ graceMs: 1000 });
    const a = new SequenceRuns();
    const b = new SequenceRuns();
    // bursts of 1..7 packets alternate between the workers
    let seq = 1000;
    let t = 0;
    for (let i = 0; i < 500; i++) {
      const w = i % 2 === 0 ? a : b;
      for (let k = 0; k < 1 + (i % 7); k++) w.note(K, seq++, 1);
      if (i % 50 === 49) {
        // b's report of the same period comes 900 ms after a's (within the 1 s grace)
        l.add(a.take(), t);
        l.add(b.take(), t + 900);
        t += 1000;
      }
    }
    l.add(a.take(), t);
    l.add(b.take(), t);
    l.settle(t + 10_000, true);
    expect(l.lost).toBe(0);
    expect(l.late).toBe(0);
  });

  it("a real gap counts once the grace has passed (monotonic), not before", () => {
    const l = new SequenceLedger({ graceMs: 1000 });
    l.add([[K, [1, 10]]], 0);
    l.add([[K, [15, 5]]], 1500); // 11..14 missing
    l.settle(1600);
    expect(l.lost).toBe(0); // the run after the gap waited 100 ms only
    l.add([[K, [20, 5]]], 1700);
    l.settle(2600);
    expect(l.lost).toBe(4);
    // the missing packets arriving now are late, not "un-lost"
    l.add([[K, [11, 4]]], 2700);
    expect(l.lost).toBe(4);
    expect(l.late).toBe(1);
  });

  it("v5/IPFIX units (records), wrap-around at 2^32, and a final settle", () => {
    const l = new SequenceLedger({ graceMs: 1000 });
    const top = 0xffffffff - 59;
    l.add([[K, [top, 30, top + 30, 30]]], 0); // ends exactly at 2^32 = 0
    l.add([[K, [30, 30]]], 10); // 0..29 missing across the wrap
    l.settle(20, true);
    expect(l.lost).toBe(30);
  });

  it("an exporter restart (sequence back to the start) is not loss; an open end resynchronises", () => {
    const l = new SequenceLedger({ graceMs: 100 });
    l.add([[K, [50_000_000, 100]]], 0);
    l.settle(200);
    l.add([[K, [1, 10]]], 300); // exporter restarted
    l.settle(500);
    l.add([[K, [11, UNKNOWN_ADVANCE]]], 600);
    l.add([[K, [400, 10]]], 600); // after an unknown advance: no gap counted
    l.settle(10_000, true);
    expect(l.lost).toBe(0);
    expect(l.restarts).toBe(1);
  });

  it("the waiting runs of a domain stay bounded: past maxPending the oldest gaps settle at once", () => {
    const l = new SequenceLedger({ graceMs: 60_000, maxPending: 8 });
    const runs: number[] = [];
    for (let i = 0; i < 20; i++) runs.push(i * 10, 5); // 5 of every 10 missing
    l.add([[K, runs]], 0);
    l.settle(0, false);
    // before the grace and with nothing final: only the overflow was forced
    expect(l.lost).toBe(5 * 11);
    l.settle(0, true);
    expect(l.lost).toBe(5 * 19);
  });
});
