/**
 * `fleetnet flows decode PCAP [--json]`: decode the NetFlow v5/v9/IPFIX export packets of a
 * pcap/pcapng capture offline (no services needed).
 *
 * `--json`: one JSON object per line per record, keys exactly
 * `exporter, version, domain, templateId, kind, srcAddr, dstAddr, srcPort, dstPort, protocol,
 * bytes, packets, start, end, samplingRate, inputIf, outputIf, fields` — bytes/packets as exported
 * (not scaled by sampling). Without `--json`: a compact table and a summary line on stderr.
 * Exit status: 0 decoded (even if some packets were malformed: they are counted in the summary),
 * 2 the file is missing/unreadable or not a capture.
 */
import { decodeCapture, type FlowRecord, NetflowError, readCaptureFile } from "@fleetnet/netflow";
import type { Command } from "commander";
import { colour, EXIT_OK, UsageError } from "../io.js";

/** Where a handler writes; defaults to the process streams. */
export interface FlowsOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processOutput: FlowsOutput = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Options of `fleetnet flows decode`. */
export interface DecodeOptions {
  json?: boolean;
  /** Only datagrams to these UDP ports (default: every UDP datagram). */
  port?: string[];
}

function jsonLine(r: FlowRecord): string {
  // Fixed key order (the documented line format), whatever the record object's order.
  return JSON.stringify({
    exporter: r.exporter,
    version: r.version,
    domain: r.domain,
    templateId: r.templateId,
    kind: r.kind,
    srcAddr: r.srcAddr,
    dstAddr: r.dstAddr,
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    protocol: r.protocol,
    bytes: r.bytes,
    packets: r.packets,
    start: r.start,
    end: r.end,
    samplingRate: r.samplingRate,
    inputIf: r.inputIf,
    outputIf: r.outputIf,
    fields: r.fields,
  });
}

const PROTO: Record<number, string> = {
  1: "icmp",
  6: "tcp",
  17: "udp",
  47: "gre",
  50: "esp",
  58: "icmp6",
  132: "sctp",
};

function endpoint(addr: string | null, port: number | null): string {
  if (addr === null) return "-";
  const a = addr.includes(":") ? `[${addr}]` : addr;
  return port === null ? a : `${a}:${port}`;
}

function table(records: readonly FlowRecord[]): string {
  const head = [
    "VER",
    "EXPORTER",
    "DOMAIN",
    "TPL",
    "KIND",
    "SOURCE",
    "DESTINATION",
    "PROTO",
    "BYTES",
    "PKTS",
    "RATE",
    "START",
  ];
  const rows = records.map((r) => [
    String(r.version),
    r.exporter,
    String(r.domain),
    String(r.templateId),
    r.kind,
    endpoint(r.srcAddr, r.srcPort),
    endpoint(r.dstAddr, r.dstPort),
    r.protocol === null ? "-" : (PROTO[r.protocol] ?? String(r.protocol)),
    r.bytes === null ? "-" : String(r.bytes),
    r.packets === null ? "-" : String(r.packets),
    r.samplingRate === null ? "-" : `1:${r.samplingRate}`,
    r.start === null ? "-" : r.start.replace("T", " ").replace("Z", ""),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i >= 8 && i <= 10 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  return `${[colour.bold(fmt(head)), ...rows.map(fmt)].join("\n")}\n`;
}

/**
 * Decode a capture and print its records. Returns the exit status.
 * @throws UsageError (exit 2) when the file is unreadable or not a pcap/pcapng capture, or a port is invalid.
 */
export function runDecode(file: string, opts: DecodeOptions, out: FlowsOutput = processOutput): number {
  const ports = (opts.port ?? []).map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      throw new UsageError(`flows decode: --port ${p}: not a UDP port (1-65535)`);
    return n;
  });
  let decoded: ReturnType<typeof decodeCapture>;
  try {
    decoded = decodeCapture(readCaptureFile(file), { ports });
  } catch (e) {
    if (e instanceof NetflowError) throw new UsageError(`flows decode: ${e.message} [${e.code}]`);
    throw e;
  }
  const { records, stats, datagrams } = decoded;
  if (opts.json) {
    // Chunked so large captures do not build one giant string.
    for (let i = 0; i < records.length; i += 1000) {
      out.stdout(
        `${records
          .slice(i, i + 1000)
          .map(jsonLine)
          .join("\n")}\n`,
      );
    }
  } else {
    if (records.length > 0) out.stdout(table(records));
    const errs = Object.entries(stats.errors).map(([k, v]) => `${k}=${v}`);
    out.stderr(
      `${records.length} records from ${datagrams} datagrams` +
        (stats.templateMisses > 0 ? `, ${stats.templateMisses} data sets without template` : "") +
        (errs.length > 0 ? `, errors: ${errs.join(" ")}` : "") +
        "\n",
    );
  }
  return EXIT_OK;
}

/** Registers `fleetnet flows …`. */
export function registerFlows(program: Command): void {
  const flows = program.command("flows").description("NetFlow v5/v9/IPFIX flows");
  flows
    .command("decode")
    .description("decode the NetFlow/IPFIX export packets of a pcap/pcapng capture")
    .argument("<pcap>", "capture file (pcap or pcapng)")
    .option("--json", "one JSON object per line per record")
    .option("--port <port...>", "only UDP datagrams to these destination ports")
    .action((file: string, opts: DecodeOptions) => {
      process.exitCode = runDecode(file, opts);
    });
}
