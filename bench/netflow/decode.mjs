#!/usr/bin/env node
// In-process decode throughput of @fleetnet/netflow (built dist), single thread.
//   node bench/netflow/decode.mjs [--seconds S] [stream.nfs ...]
// Inputs: every UDP datagram of ../shared/testdata/netflow (manifest) + libs/netflow/fixtures
// ("corpus"), and any .nfs replay streams given (mkstream.py format: synthetic 30-record v9 /
// 25-record IPFIX). Modes per input:
//   summary  decode + read every summary field of each record (addresses, ports, proto,
//            counters, interfaces, times, sampling) — what a collector needs
//   rollup   decode + FlowRollup.add (per host/interface/minute + top talkers), the collector path
//   full     decode + toRecord() (every field materialised as JSON values; the CLI path)
// Prints one JSON line per input x mode: records/s and packets/s.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const { NetflowDecoder, readCaptureFile } = await import(join(ROOT, "libs/netflow/dist/index.js"));
const { FlowRollup } = await import(join(ROOT, "services/telemetry/dist/collector/rollup.js"));

const args = process.argv.slice(2);
let seconds = 3;
const streams = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--seconds") seconds = Number(args[++i]);
  else streams.push(args[i]);
}

function corpus() {
  const out = [];
  const shared = join(ROOT, "../shared/testdata/netflow");
  const files = [];
  if (existsSync(join(shared, "manifest.json"))) {
    for (const e of JSON.parse(readFileSync(join(shared, "manifest.json"), "utf8"))) {
      if (e.file.endsWith(".pcap") && e.ports) files.push([join(shared, e.file), e.ports.map(Number)]);
    }
  }
  const fx = join(ROOT, "libs/netflow/fixtures");
  for (const f of JSON.parse(readFileSync(join(fx, "fixtures.json"), "utf8")))
    files.push([join(fx, f.file), [f.port]]);
  files.forEach(([path, ports], i) => {
    for (const d of readCaptureFile(path).datagrams) {
      // One exporter address per file so files never share template state.
      if (ports.includes(d.dstPort))
        out.push({ payload: d.payload, exporter: `10.77.${i >> 8}.${i & 255}`, port: d.srcPort });
    }
  });
  return out;
}

function nfs(path) {
  const b = readFileSync(path);
  if (b.subarray(0, 8).toString("latin1") !== "NFSTRM1\n") throw new Error(`${path}: not an .nfs stream`);
  const out = [];
  for (let o = 8; o + 16 <= b.length; ) {
    const len = b.readUInt16LE(o);
    out.push({ payload: b.subarray(o + 16, o + 16 + len), exporter: "127.0.0.1", port: 40000 });
    o += 16 + len;
  }
  return out;
}

function run(name, pkts, mode, fresh) {
  let dec = new NetflowDecoder({ trackSequence: false });
  const roll = new FlowRollup();
  let acc = 0;
  const sinks = {
    summary: (v) => {
      acc += (v.bytes ?? 0) + (v.packets ?? 0) + (v.srcPort ?? 0) + (v.dstPort ?? 0) + (v.protocol ?? 0);
      acc +=
        (v.inputIf ?? 0) + (v.outputIf ?? 0) + (v.samplingRate ?? 1) + (v.endMs() ?? 0) - (v.startMs() ?? 0);
      acc += v.srcV4() >= 0 ? v.srcV4() + v.dstV4() : (v.srcAddr()?.length ?? 0) + (v.dstAddr()?.length ?? 0);
    },
    rollup: (v) => roll.add(v),
    full: (v) => {
      acc += Object.keys(v.toRecord().fields).length;
    },
  };
  const sink = sinks[mode];
  // Warm-up pass (learns templates, JIT), then timed passes over the whole input. For the corpus
  // every pass starts a fresh decoder (as offline decoding of each capture would).
  for (const p of pkts) dec.decode(p.payload, p.exporter, p.port, sink);
  let records = 0;
  let packets = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let t = 0;
  while (t < seconds) {
    if (fresh) dec = new NetflowDecoder({ trackSequence: false });
    const r0 = dec.stats.records;
    const p0 = dec.stats.packets;
    for (const p of pkts) dec.decode(p.payload, p.exporter, p.port, sink);
    records += dec.stats.records - r0;
    packets += dec.stats.packets - p0;
    t = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  const line = {
    input: name,
    mode,
    records,
    wall_s: +t.toFixed(2),
    cpu_s: +cpu.toFixed(2),
    // Per CPU-second: robust when other work shares the machine; wall-clock rate alongside.
    records_per_cpu_s: Math.round(records / cpu),
    packets_per_cpu_s: Math.round(packets / cpu),
    records_per_s: Math.round(records / t),
    node: process.version,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
  if (acc === 0.5) process.stdout.write("");
}

const inputs = [["corpus", corpus()], ...streams.map((s) => [s.split("/").pop(), nfs(s)])];
for (const [name, pkts] of inputs)
  for (const mode of ["summary", "rollup", "full"]) run(name, pkts, mode, name === "corpus");
