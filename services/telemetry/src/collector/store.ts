/**
 * Where the collector's state lives beyond the process:
 * - templates in one Redis hash, so a restarted collector decodes the first data packet at once
 *   (exporters resend templates only every few minutes);
 * - closed host-minutes (totals, interfaces, top src→dst talker pairs) as JSON under per-minute keys with a
 *   TTL (retention), indexed per host in a sorted set trimmed to the same retention; parts of one
 *   host-minute (several workers, a restart within the minute) are merged on write;
 * - the same host-minutes published on NATS `fleet.v1.events.telemetry.flows`.
 */
import type { NetflowDecoder, TemplateSnapshot } from "@fleetnet/netflow";
import { REDIS_PREFIX, subjects } from "@fleetnet/protocol";
import type { Redis } from "@fleetnet/runtime";
import type { FlowCollector } from "./collector.js";

/**
 * What {@link FlowPersistence} persists: a decoder's templates and closed host-minutes — a
 * {@link FlowCollector}, or the primary of several workers (its templates learned from the
 * workers' template packets, its minutes the workers' closed minutes).
 */
export interface FlowSource {
  readonly decoder: NetflowDecoder;
  drainRollups(): RollupMinute[];
  /** Close the minutes still open (at shutdown). */
  closeAll(): void;
}

/** A collector as a {@link FlowSource}. */
function collectorSource(c: FlowCollector): FlowSource {
  return { decoder: c.decoder, drainRollups: () => c.drainRollups(), closeAll: () => c.rollup.closeAll() };
}

import { mergeMinutes, mergeTalkers, type RollupMinute, type TalkerPair } from "./rollup.js";

/** Options of {@link FlowStore}. */
export interface FlowStoreOptions {
  /** Key prefix (default `fleetnet:flows`). */
  prefix?: string;
  /** How long host-minutes are kept, seconds (default 7 days). */
  retentionS?: number;
}

/** Redis persistence of templates and rollups. */
export class FlowStore {
  readonly prefix: string;
  readonly retentionS: number;

  constructor(
    private readonly redis: Redis,
    opts: FlowStoreOptions = {},
  ) {
    this.prefix = opts.prefix ?? `${REDIS_PREFIX}:flows`;
    this.retentionS = opts.retentionS ?? 7 * 86_400;
  }

  /** Save (replace) all templates of a decoder. */
  async saveTemplates(snaps: readonly TemplateSnapshot[]): Promise<void> {
    if (snaps.length === 0) return;
    const args: string[] = [];
    for (const s of snaps) args.push(`${s.key}#${s.id}`, JSON.stringify(s));
    await this.redis.hset(`${this.prefix}:templates`, ...args);
  }

  /** Templates saved earlier (unparseable entries are skipped and counted). */
  async loadTemplates(): Promise<{ templates: TemplateSnapshot[]; skipped: number }> {
    const h = await this.redis.hgetall(`${this.prefix}:templates`);
    const templates: TemplateSnapshot[] = [];
    let skipped = 0;
    for (const v of Object.values(h)) {
      try {
        templates.push(JSON.parse(v) as TemplateSnapshot);
      } catch {
        skipped++;
      }
    }
    return { templates, skipped };
  }

  /**
   * Store closed host-minutes with the retention TTL and index them per host. A host-minute
   * that is already stored (another worker's part, or the same minute before a restart) is
   * merged with it, never replaced. Returns the host-minutes as stored.
   */
  async writeMinutes(minutes: readonly RollupMinute[], nowMs = Date.now()): Promise<RollupMinute[]> {
    if (minutes.length === 0) return [];
    // Parts of one host-minute in this batch first, then with what Redis holds. Only one
    // process writes a prefix (one collector), so read-then-write does not race.
    const groups = new Map<string, RollupMinute[]>();
    for (const r of minutes) {
      const k = this.minuteKey(r.host, r.minute);
      groups.set(k, [...(groups.get(k) ?? []), r]);
    }
    const keys = [...groups.keys()];
    const stored = await this.redis.mget(...keys);
    const merged = keys.map((k, i) => {
      const parts = groups.get(k) ?? [];
      const old = stored[i];
      if (old !== null && old !== undefined) {
        try {
          parts.unshift(JSON.parse(old) as RollupMinute);
        } catch {
          // an unreadable stored minute is replaced
        }
      }
      return mergeMinutes(parts);
    });
    const m = this.redis.multi();
    const hosts = new Set<string>();
    for (const r of merged) {
      const at = Date.parse(r.minute);
      m.set(this.minuteKey(r.host, r.minute), JSON.stringify(r), "EX", this.retentionS);
      m.zadd(`${this.prefix}:idx:${r.host}`, at, r.minute);
      hosts.add(r.host);
    }
    for (const h of hosts) {
      m.sadd(`${this.prefix}:hosts`, h);
      m.zremrangebyscore(`${this.prefix}:idx:${h}`, "-inf", nowMs - this.retentionS * 1000);
    }
    await m.exec();
    return merged;
  }

  private minuteKey(host: string, minute: string): string {
    return `${this.prefix}:min:${host}:${minute}`;
  }

  /** Host-minutes of `host` from `sinceMs` on (oldest first). */
  async minutes(host: string, sinceMs: number): Promise<RollupMinute[]> {
    const names = await this.redis.zrangebyscore(`${this.prefix}:idx:${host}`, sinceMs, "+inf");
    if (names.length === 0) return [];
    const docs = await this.redis.mget(...names.map((n) => this.minuteKey(host, n)));
    return docs.filter((d): d is string => d !== null).map((d) => JSON.parse(d) as RollupMinute);
  }

  /** Top talker pairs of `host` since `sinceMs`, merged over its minutes (bytes, sampling applied). */
  async topTalkers(host: string, sinceMs: number, n = 10): Promise<TalkerPair[]> {
    return mergeTalkers(
      (await this.minutes(host, sinceMs)).map((m) => m.topTalkers ?? []),
      n,
    );
  }
}

/** Anything that can publish a NATS message (a NatsConnection). */
export interface Publisher {
  publish(subject: string, data: string): void;
}

/** Subject of rollup events. */
export const FLOWS_SUBJECT = subjects.telemetryEvent("flows");

/**
 * Periodically moves a collector's closed minutes to Redis and NATS and saves its templates
 * when they changed; `restore()` loads saved templates into a fresh decoder before it listens.
 */
export class FlowPersistence {
  private savedTemplates = -1;
  private timer: NodeJS.Timeout | null = null;
  /** Flush failures (Redis/NATS errors), kept going: the next flush retries. */
  failures = 0;
  private readonly source: FlowSource;

  constructor(
    collector: FlowCollector | FlowSource,
    private readonly store: FlowStore,
    private readonly nats: Publisher | null = null,
  ) {
    this.source = "rollup" in collector ? collectorSource(collector) : collector;
  }

  /** Load saved templates into the collector's decoder; returns how many. */
  async restore(): Promise<number> {
    const { templates } = await this.store.loadTemplates();
    const dec: NetflowDecoder = this.source.decoder;
    dec.importTemplates(templates);
    this.savedTemplates = dec.stats.templates + dec.stats.templatesWithdrawn;
    return templates.length;
  }

  /** One flush: closed minutes out, templates saved if they changed. */
  async flush(final = false): Promise<number> {
    if (final) this.source.closeAll();
    const minutes = this.source.drainRollups();
    // (a host-minute merged with a part stored earlier is published again, with the sums)
    const stored = await this.store.writeMinutes(minutes);
    if (this.nats !== null) for (const m of stored) this.nats.publish(FLOWS_SUBJECT, JSON.stringify(m));
    const s = this.source.decoder.stats;
    const sig = s.templates + s.templatesWithdrawn;
    if (sig !== this.savedTemplates) {
      await this.store.saveTemplates(this.source.decoder.exportTemplates());
      this.savedTemplates = sig;
    }
    return stored.length;
  }

  /** Flush every `everyMs` until {@link stop}. */
  start(everyMs = 5000): void {
    this.timer = setInterval(() => {
      this.flush().catch(() => {
        this.failures++;
      });
    }, everyMs);
    this.timer.unref();
  }

  /** Stop the timer and flush what is left (closing the current minutes). */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.flush(true);
  }
}
