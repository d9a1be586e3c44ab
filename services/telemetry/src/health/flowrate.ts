/**
 * Flow-rate baseline per host from the collector's per-minute rollups (pure).
 *
 * Design: a rollup names its exporter by address; the inventory maps underlay addresses to
 * host names. Per host, the latest complete minute's rate (bytes/60 s) is compared with an
 * exponentially weighted mean of the minutes before it (`alpha`, default 0.2 ≈ the last
 * ~10 minutes). A host needs `minHistory` minutes (default 3) before it is judged, so a
 * fresh collector does not flag everything. Minutes arriving out of order or twice are
 * ignored (a minute at or before the last one seen).
 */

/** Per-host state of {@link FlowRateTracker}. */
interface HostRate {
  lastMinute: string;
  lastBytesPerS: number;
  mean: number;
  minutes: number;
}

/** Options of {@link FlowRateTracker}. */
export interface FlowRateOptions {
  alpha?: number;
  minHistory?: number;
}

/** Tracks rates per host; feed it rollup minutes, read {@link FlowRateTracker.rates}. */
export class FlowRateTracker {
  readonly #byAddress: ReadonlyMap<string, string>;
  readonly #hosts = new Map<string, HostRate>();
  readonly #alpha: number;
  readonly #minHistory: number;

  /** @param addressToHost exporter address → inventory host name. */
  constructor(addressToHost: ReadonlyMap<string, string>, o: FlowRateOptions = {}) {
    this.#byAddress = addressToHost;
    this.#alpha = o.alpha ?? 0.2;
    this.#minHistory = o.minHistory ?? 3;
  }

  /** Add one rollup minute (`{host: exporter address, minute, bytes}`); unknown exporters are ignored. */
  add(r: { host: string; minute: string; bytes: number }): void {
    const name = this.#byAddress.get(r.host);
    if (name === undefined || !Number.isFinite(r.bytes) || r.bytes < 0) return;
    const rate = r.bytes / 60;
    const h = this.#hosts.get(name);
    if (!h) {
      this.#hosts.set(name, { lastMinute: r.minute, lastBytesPerS: rate, mean: rate, minutes: 1 });
      return;
    }
    if (r.minute <= h.lastMinute) return;
    // The previous minute joins the mean; the new one is what is compared.
    if (h.minutes > 1) h.mean = this.#alpha * h.lastBytesPerS + (1 - this.#alpha) * h.mean;
    else h.mean = h.lastBytesPerS;
    h.lastMinute = r.minute;
    h.lastBytesPerS = rate;
    h.minutes++;
  }

  /** Current rate vs baseline of every host with enough history. */
  rates(): { host: string; bytesPerS: number; baselineBytesPerS: number }[] {
    const out: { host: string; bytesPerS: number; baselineBytesPerS: number }[] = [];
    for (const [host, h] of [...this.#hosts].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (h.minutes <= this.#minHistory) continue;
      out.push({ host, bytesPerS: h.lastBytesPerS, baselineBytesPerS: h.mean });
    }
    return out;
  }

  /** Whether any rollup of a known exporter has been seen. */
  get seen(): boolean {
    return this.#hosts.size > 0;
  }
}
