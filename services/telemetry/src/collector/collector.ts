/**
 * The NetFlow/IPFIX collector: a UDP socket feeding a decoder whose records go straight into
 * the rollups. One instance per process (or per worker when several workers read one socket —
 * see standalone.ts); workers keep their template state in step with {@link FlowCollector.learnFrom}
 * and report their share of each exporter's sequence through `onSequence`.
 */
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { NetflowDecoder, type RecordView } from "@fleetnet/netflow";
import { FleetnetError } from "@fleetnet/protocol";
import { FlowRollup, type RollupMinute } from "./rollup.js";

/** Collector settings (environment of `fleetnet-telemetry collect`). */
export interface CollectorConfig {
  /** UDP port (PORT). */
  port: number;
  /** Local address (BIND); "::" listens on IPv4 and IPv6. */
  bind: string;
  /** SO_RCVBUF bytes (RCVBUF); 0 = kernel default. */
  rcvbuf: number;
  /** Processes reading the socket (WORKERS); 1 = this process only. */
  workers: number;
}

function bad(variable: string, value: string, why: string): FleetnetError {
  return new FleetnetError("CONFIG_INVALID", `${variable}=${JSON.stringify(value)}: ${why}`, {
    retryable: false,
    details: { variable, value },
  });
}

/**
 * Read PORT (default 2055), BIND (default 0.0.0.0), RCVBUF (default 0) and WORKERS (default 1)
 * from an environment. Throws `FleetnetError(CONFIG_INVALID)` naming the variable and value.
 */
export function collectorConfigFromEnv(env: Record<string, string | undefined>): CollectorConfig {
  const int = (name: string, dflt: number, min: number, max: number, what: string): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return dflt;
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
      throw bad(name, raw, what);
    return n;
  };
  const port = int("PORT", 2055, 1, 65535, "not a UDP port (1-65535)");
  const rcvbuf = int("RCVBUF", 0, 0, 2 ** 31 - 1, "not a byte count (0 = kernel default)");
  const workers = int("WORKERS", 1, 1, 64, "not a worker count (1-64)");
  const bind = env.BIND === undefined || env.BIND === "" ? "0.0.0.0" : env.BIND;
  if (!/^[0-9a-fA-F.:]+$/.test(bind) || (!bind.includes(":") && bind.split(".").length !== 4)) {
    throw bad("BIND", bind, "not an IPv4/IPv6 address");
  }
  return { port, bind, rcvbuf, workers };
}

/** Counters reported by a collector (summed over workers by the caller). */
export interface CollectorCounts {
  packets: number;
  records: number;
  templateMisses: number;
  /**
   * Exporter sequence gaps (v9: packets, v5/IPFIX: records). A worker of several reports 0 here
   * (it sees a share of each exporter): the primary counts loss from the workers' sequence
   * reports (`seqledger.ts`).
   */
  sequenceLost: number;
  decodeErrors: number;
  rollupMinutes: number;
  /** Template records received on the wire (restored ones and siblings' not counted). */
  templates: number;
  /** Data sets that had to wait for their template (decoded later or counted as misses). */
  pendingSets: number;
}

/** Options of {@link FlowCollector}. */
export interface FlowCollectorOptions {
  /** Track exporter sequence numbers (turn off when several workers share the socket). */
  trackSequence?: boolean;
  /** Called with a packet that taught this decoder templates/options, for sibling workers. */
  onLearn?: (packet: Uint8Array, exporter: string, port: number) => void;
  /** Per received packet/message: its domain, sequence number and advance (see the decoder). */
  onSequence?: (domainKey: string, seq: number, advance: number) => void;
}

/** A UDP NetFlow/IPFIX listener with decoder and rollups. */
export class FlowCollector {
  readonly decoder: NetflowDecoder;
  readonly rollup = new FlowRollup();
  packets = 0;
  private sock: Socket | null = null;
  private readonly onLearn: FlowCollectorOptions["onLearn"];
  private readonly sink = (v: RecordView) => this.rollup.add(v);
  /** Template records learned from siblings' packets (not received here). */
  private siblingTemplates = 0;

  constructor(opts: FlowCollectorOptions = {}) {
    this.decoder = new NetflowDecoder({
      trackSequence: opts.trackSequence ?? true,
      ...(opts.onSequence ? { onSequence: opts.onSequence } : {}),
    });
    this.onLearn = opts.onLearn;
  }

  /**
   * Bind the UDP socket. Resolves with the bound port and the receive buffer the kernel granted
   * (Linux reports twice the requested size, capped by net.core.rmem_max).
   */
  listen(port: number, bind: string, rcvbuf: number): Promise<{ port: number; rcvbuf: number }> {
    const six = isIPv6(bind);
    const sock = createSocket({
      type: six ? "udp6" : "udp4",
      ...(rcvbuf > 0 ? { recvBufferSize: rcvbuf } : {}),
    });
    this.sock = sock;
    sock.on("message", (buf, rinfo) => this.handle(buf, rinfo.address, rinfo.port));
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      sock.once("error", onError);
      sock.bind({ port, address: bind, exclusive: false }, () => {
        sock.off("error", onError);
        sock.on("error", (e) => process.stderr.write(`fleetnet-telemetry: socket error: ${e.message}\n`));
        resolve({ port: sock.address().port, rcvbuf: sock.getRecvBufferSize() });
      });
    });
  }

  /** Decode one export packet from `exporter`:`port` into the rollups. */
  handle(buf: Uint8Array, exporter: string, port: number): void {
    this.packets++;
    const s = this.decoder.stats;
    const before = s.templates + s.templatesWithdrawn + s.optionRecords;
    this.decoder.decode(buf, exporter, port, this.sink);
    if (this.onLearn !== undefined && s.templates + s.templatesWithdrawn + s.optionRecords !== before) {
      this.onLearn(buf, exporter, port);
    }
  }

  /** Learn templates/options from a packet a sibling worker decoded (records not counted again). */
  learnFrom(buf: Uint8Array, exporter: string, port: number): void {
    const before = this.decoder.stats.templates;
    this.decoder.learn(buf, exporter, port, this.sink);
    this.siblingTemplates += this.decoder.stats.templates - before;
  }

  /** Closed host-minutes since the last call. */
  drainRollups(): RollupMinute[] {
    return this.rollup.drain();
  }

  /** Counters so far; `final` also closes the current minutes. */
  counts(final = false): CollectorCounts {
    if (final) this.rollup.closeAll();
    const s = this.decoder.stats;
    return {
      packets: this.packets,
      records: s.records,
      templateMisses: s.templateMisses,
      sequenceLost: s.sequenceLost,
      decodeErrors: Object.values(s.errors).reduce((a, b) => a + (b ?? 0), 0),
      rollupMinutes: this.rollup.closedTotal,
      templates: s.templates - this.siblingTemplates,
      pendingSets: s.pendingSets,
    };
  }

  /** Stop receiving. */
  close(): Promise<void> {
    const s = this.sock;
    this.sock = null;
    return new Promise((resolve) => (s === null ? resolve() : s.close(() => resolve())));
  }
}
