/** Offline decoding of a whole capture (CLI `flows decode`, tests, benchmarks). */

import type { DecoderStats } from "./decoder.js";
import { NetflowDecoder } from "./decoder.js";
import type { Capture } from "./pcap.js";
import type { FlowRecord } from "./view.js";

/** Records of a capture plus the decoder's counters. */
export interface DecodedCapture {
  records: FlowRecord[];
  stats: DecoderStats;
  /** UDP datagrams handed to the decoder. */
  datagrams: number;
}

/**
 * Decode every UDP datagram of a capture (optionally only those to `ports`) with one decoder,
 * in capture order, using capture time for ageing buffered data. Data still waiting for a
 * template at the end is counted in `stats.templateMisses`.
 */
export function decodeCapture(cap: Capture, opts: { ports?: readonly number[] } = {}): DecodedCapture {
  const dec = new NetflowDecoder();
  const records: FlowRecord[] = [];
  const ports = opts.ports && opts.ports.length > 0 ? new Set(opts.ports) : null;
  let datagrams = 0;
  for (const d of cap.datagrams) {
    if (ports !== null && !ports.has(d.dstPort)) continue;
    datagrams++;
    dec.decode(d.payload, d.src, d.srcPort, (r) => records.push(r.toRecord()), d.tsMs);
  }
  dec.flushPending();
  return { records, stats: dec.stats, datagrams };
}
