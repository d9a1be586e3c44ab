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
 *
 * `fleetnet flows top [--host H] [--minutes N] [--json]`: the collector's rollups of the last N
 * minutes (default 5), per host (bytes/packets/flows with sampling applied) and its top talkers —
 * src→dst address pairs with bytes, packets, and the protocol/destination port of the pair's
 * largest record — as the telemetry service reads them from Redis (`fleet.v1.telemetry.flows`).
 * `--json` prints the service's answer: `{since, minutes, hosts: [{host, name?, minutes, flows,
 * bytes, packets, topTalkers: [{src, dst, bytes, packets, flows, protocol, dstPort}]}]}`. Exit status: 0;
 * 2 bad --minutes; 1 the service answered an error or none answered (`TELEMETRY_UNAVAILABLE`,
 * retryable — as `fleetnet health`).
 */
import { decodeCapture, type FlowRecord, NetflowError, readCaptureFile } from "@fleetnet/netflow";
import { isFleetnetError } from "@fleetnet/protocol";
import type { Command } from "commander";
import { colour, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "../io.js";
import { type TelemetryCall, withTelemetry } from "./telemetry.js";

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

/** Options of `fleetnet flows top`. */
export interface TopOptions {
  host?: string;
  /** Window in whole minutes, 1..1440 (default 5); a string as commander passes it. */
  minutes?: string | number;
  json?: boolean;
}

/** One host of the service's `flows` answer. */
interface TopHost {
  host: string;
  name?: string;
  minutes: number;
  flows: number;
  bytes: number;
  packets: number;
  topTalkers: Array<{
    src: string;
    dst: string;
    bytes: number;
    packets: number;
    protocol: number | null;
    dstPort: number | null;
  }>;
}

/** `--minutes` as an integer 1..1440. @throws UsageError naming the value. */
function parseMinutes(v: string | number | undefined): number {
  if (v === undefined) return 5;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1440)
    throw new UsageError(`flows top: --minutes ${JSON.stringify(String(v))}: expected an integer 1..1440`);
  return n;
}

/**
 * `fleetnet flows top`: asks the telemetry service's `flows` verb and prints a per-host table
 * with each host's top talkers (or the answer as JSON). Returns the exit status.
 * @throws UsageError bad --minutes; FleetnetError the service's error or TELEMETRY_UNAVAILABLE.
 */
export async function runTop(
  call: TelemetryCall,
  opts: TopOptions,
  out: FlowsOutput = processOutput,
): Promise<number> {
  const minutes = parseMinutes(opts.minutes);
  const body = { minutes, ...(opts.host !== undefined ? { host: opts.host } : {}) };
  const r = await call("flows", body);
  const { ok: _ok, ...answer } = r;
  if (opts.json) {
    out.stdout(`${JSON.stringify(answer, null, 2)}\n`);
    return EXIT_OK;
  }
  const hosts = (answer.hosts ?? []) as TopHost[];
  if (hosts.length === 0) {
    out.stdout(
      `no flow rollups in the last ${minutes} min${opts.host !== undefined ? ` for ${opts.host}` : ""}\n`,
    );
    return EXIT_OK;
  }
  const head = ["HOST", "EXPORTER", "BYTES", "PACKETS", "FLOWS", "MINUTES"];
  const rows = hosts.map((h) => [
    h.name ?? "-",
    h.host,
    String(h.bytes),
    String(h.packets),
    String(h.flows),
    String(h.minutes),
  ]);
  const widths = head.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] as string).length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join("  ");
  const lines = [
    `flows since ${String(answer.since)} (${minutes} min)`,
    colour.bold(fmt(head)),
    ...rows.map(fmt),
  ];
  for (const h of hosts) {
    lines.push("", colour.bold(`top talkers of ${h.name !== undefined ? `${h.name} (${h.host})` : h.host}`));
    lines.push(...talkerTable(h.topTalkers));
  }
  out.stdout(`${lines.join("\n")}\n`);
  return EXIT_OK;
}

/** Indented table of src → dst pairs: SOURCE, DESTINATION, PROTO/PORT, BYTES, PACKETS. */
function talkerTable(pairs: TopHost["topTalkers"]): string[] {
  if (pairs.length === 0) return ["  (no pairs)"];
  const head = ["SOURCE", "", "DESTINATION", "PROTO/PORT", "BYTES", "PACKETS"];
  const rows = pairs.map((t) => {
    const proto = t.protocol === null ? "-" : (PROTO[t.protocol] ?? String(t.protocol));
    return [
      t.src,
      "→",
      t.dst,
      t.dstPort === null || t.dstPort === 0 ? proto : `${proto}/${t.dstPort}`,
      String(t.bytes),
      String(t.packets),
    ];
  });
  const widths = head.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] as string).length)));
  const fmt = (cells: string[]) =>
    `  ${cells.map((c, i) => (i < 4 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join("  ")}`;
  return [fmt(head), ...rows.map(fmt)];
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
  flows
    .command("top")
    .description("per-host flow totals and top talkers of the last minutes (from the telemetry service)")
    .option("--host <host>", "only this host (exporter)")
    .option("--minutes <n>", "window in minutes, 1..1440", "5")
    .option("--json", "JSON output")
    .action(async (opts: TopOptions) => {
      try {
        parseMinutes(opts.minutes);
        process.exitCode = await withTelemetry((call) => runTop(call, opts));
      } catch (err) {
        process.stderr.write(`${isFleetnetError(err) ? `${err.code}: ` : ""}${(err as Error).message}\n`);
        process.exitCode = err instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
      }
    });
}
