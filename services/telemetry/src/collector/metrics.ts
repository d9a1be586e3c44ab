/**
 * The collector's Prometheus metrics. Observable counters read the collector's own counters
 * when the endpoint is scraped, so the decode hot path pays nothing for them. Names (Prometheus
 * adds `_total`): `fleetnet_flow_records` (records decoded; records/s = `rate()`),
 * `fleetnet_flow_packets` (export packets received), `fleetnet_flow_kernel_drops` (datagrams the
 * kernel dropped on the collector's socket, from /proc/net/udp{,6}), `fleetnet_flow_sequence_lost`
 * (exporter sequence gaps), `fleetnet_flow_template_misses` (data sets without a template),
 * `fleetnet_flow_decode_errors` (malformed packets/sets), `fleetnet_flow_rollup_minutes`
 * (host-minutes closed). With several workers the counters are the primary's sums of the
 * workers' reports (at most ~100 ms old) and sequence loss is the primary's own ledger.
 */
import type { Telemetry } from "@fleetnet/runtime";
import type { CollectorCounts } from "./collector.js";

/** The runtime's OpenTelemetry meter (this package does not depend on the OTel API itself). */
type Meter = Telemetry["meter"];

/** Where kernel drops come from: a function returning the socket's drop count, or null if unknown. */
export type DropsSource = () => number | null;

/** Where the counters come from: a collector (`{counts}`) or the primary's sums over its workers. */
export interface CountsSource {
  counts(): CollectorCounts;
}

/**
 * Register the collector's counters on `meter` (once per collector and meter).
 * @param drops the socket's kernel drop counter (e.g. `() => udpDrops(port, ownSocketInodes())`).
 */
export function registerCollectorMetrics(meter: Meter, collector: CountsSource, drops?: DropsSource): void {
  const counter = (name: string, description: string, read: () => number | null) =>
    meter.createObservableCounter(name, { description }).addCallback((r) => {
      const v = read();
      if (v !== null) r.observe(v);
    });
  counter("fleetnet_flow_records", "flow records decoded", () => collector.counts().records);
  counter("fleetnet_flow_packets", "NetFlow/IPFIX export packets received", () => collector.counts().packets);
  counter(
    "fleetnet_flow_sequence_lost",
    "export packets/records missing by the exporters' sequence numbers",
    () => collector.counts().sequenceLost,
  );
  counter(
    "fleetnet_flow_template_misses",
    "data sets that arrived without a known template",
    () => collector.counts().templateMisses,
  );
  counter(
    "fleetnet_flow_decode_errors",
    "malformed export packets or sets",
    () => collector.counts().decodeErrors,
  );
  counter("fleetnet_flow_rollup_minutes", "host-minutes closed", () => collector.counts().rollupMinutes);
  if (drops)
    counter("fleetnet_flow_kernel_drops", "datagrams dropped by the kernel on the collector socket", drops);
}
