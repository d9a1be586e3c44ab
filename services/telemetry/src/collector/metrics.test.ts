/**
 * The collector's counters on a real Prometheus endpoint (runtime `startTelemetry`): softflowd
 * fixture packets over loopback UDP, then a scrape shows records, packets, template misses,
 * sequence loss, decode errors and the socket's kernel drops.
 */
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeCapture, readCaptureFile } from "@fleetnet/netflow";
import { startTelemetry } from "@fleetnet/runtime";
import { describe, expect, it } from "vitest";
import { FlowCollector } from "./collector.js";
import { registerCollectorMetrics } from "./metrics.js";
import { ownSocketInodes, udpDrops } from "./udpdrops.js";

const FIXTURES = fileURLToPath(new URL("../../../../libs/netflow/fixtures/", import.meta.url));
const FILE = join(FIXTURES, "softflowd-v9.pcapng");

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

/** The value of one unlabelled-by-us Prometheus sample (service labels allowed). */
function sample(body: string, name: string): number | undefined {
  const m = body.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, "m"));
  return m ? Number(m[1]) : undefined;
}

describe("collector metrics on the Prometheus endpoint", () => {
  it("counts records, packets, template misses, sequence loss, decode errors and kernel drops", async () => {
    const telemetry = await startTelemetry({
      metrics: { port: await freeTcpPort(), host: "127.0.0.1" },
      otel: { serviceName: "fnf-metrics-test", otlpEndpoint: undefined },
    });
    const c = new FlowCollector();
    const tx = createSocket("udp4");
    try {
      const { port } = await c.listen(0, "127.0.0.1", 0);
      registerCollectorMetrics(telemetry.meter, c, () => udpDrops(port, ownSocketInodes()));
      const pkts = readCaptureFile(FILE).datagrams.map((d) => d.payload);
      // one garbage datagram: a decode error, never a crash
      const all = [...pkts, Uint8Array.from([0, 9, 0, 1, 2, 3])];
      for (const p of all)
        await new Promise<void>((res, rej) => tx.send(p, port, "127.0.0.1", (e) => (e ? rej(e) : res())));
      const want = decodeCapture(readCaptureFile(FILE)).records.length;
      const end = Date.now() + 5000;
      while (c.counts().packets < all.length && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      const res = await fetch(telemetry.metricsUrl ?? "");
      expect(res.status).toBe(200);
      const body = await res.text();
      expect(body).toContain("# HELP fleetnet_flow_records_total flow records decoded");
      expect(sample(body, "fleetnet_flow_records_total")).toBe(want);
      expect(sample(body, "fleetnet_flow_packets_total")).toBe(all.length);
      const counts = c.counts();
      expect(counts.decodeErrors).toBeGreaterThan(0);
      expect(sample(body, "fleetnet_flow_decode_errors_total")).toBe(counts.decodeErrors);
      expect(sample(body, "fleetnet_flow_template_misses_total")).toBe(counts.templateMisses);
      expect(sample(body, "fleetnet_flow_sequence_lost_total")).toBe(counts.sequenceLost);
      expect(sample(body, "fleetnet_flow_kernel_drops_total")).toBe(0);
      expect(body).toMatch(/service_name="fnf-metrics-test"/);
    } finally {
      tx.close();
      await c.close();
      await telemetry.shutdown();
    }
  });
});
