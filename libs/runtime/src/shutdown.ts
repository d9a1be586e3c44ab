/**
 * Graceful shutdown with a deadline.
 *
 * Design: shutting down happens in three steps, so that work already accepted finishes while the
 * connections it needs are still open:
 *   1. `signal` aborts and closers of stage `"intake"` run (newest first): stop pulling from consumers,
 *      drain subscriptions, stop listeners. Messages already delivered keep being handled.
 *   2. Wait for every promise passed to {@link Shutdown.track} (in-flight work) to settle.
 *   3. Closers of stage `"resources"` run (newest first): drain NATS, quit Redis, flush telemetry.
 *      Registering a connection first and its users later therefore closes the users first.
 * The whole sequence is bounded by `timeoutMs`; past it, the remaining steps are still started but not
 * awaited, and the result says what was cut short. SIGINT/SIGTERM handlers ({@link Shutdown.handleSignals})
 * run the sequence, then exit; a second signal exits at once.
 */
import type { Logger } from "pino";

/** When a closer runs; see the module header. */
export type ShutdownStage = "intake" | "resources";

/** What happened during {@link Shutdown.shutdown}. */
export interface ShutdownResult {
  /** Why shutdown started (e.g. `SIGTERM`). */
  reason: string;
  /** True when the deadline passed before everything finished. */
  timedOut: boolean;
  /** In-flight operations still running when shutdown ended. */
  pendingInFlight: number;
  /** Closers that threw or did not finish, by name. */
  failed: { name: string; error: string }[];
  durationMs: number;
}

interface Closer {
  name: string;
  close: () => unknown;
}

/** Options of {@link Shutdown}. */
export interface ShutdownOptions {
  logger: Logger;
  /** Deadline for the whole sequence, ms (config `FLEETNET_SHUTDOWN_TIMEOUT_MS`). */
  timeoutMs: number;
}

const TIMED_OUT = Symbol("timed out");

/** Coordinates graceful shutdown of one process: closers, in-flight work and signal handling. */
export class Shutdown {
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #closers: Record<ShutdownStage, Closer[]> = { intake: [], resources: [] };
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #abort = new AbortController();
  #result: Promise<ShutdownResult> | undefined;

  constructor(options: ShutdownOptions) {
    this.#logger = options.logger;
    this.#timeoutMs = options.timeoutMs;
  }

  /** Aborted when shutdown starts: loops that accept new work must stop when it fires. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** True once shutdown has started. */
  get shuttingDown(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Number of tracked operations still running. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Registers a closer. Closers of a stage run newest first; a closer that throws is logged and the
   * sequence goes on. Registering after shutdown started runs nothing and logs a warning.
   */
  register(name: string, close: () => unknown, stage: ShutdownStage = "resources"): void {
    if (this.shuttingDown) {
      this.#logger.warn({ closer: name }, "closer registered after shutdown started; ignored");
      return;
    }
    this.#closers[stage].push({ name, close });
  }

  /**
   * Tracks in-flight work: shutdown waits (up to the deadline) for `work` to settle before closing
   * connections. Returns `work` unchanged. Its rejection is the caller's to handle.
   */
  track<T>(work: Promise<T>): Promise<T> {
    const p = work.then(
      () => undefined,
      () => undefined,
    );
    this.#inFlight.add(p);
    void p.then(() => this.#inFlight.delete(p));
    return work;
  }

  /** Runs the shutdown sequence once; later calls return the same result. */
  shutdown(reason = "requested"): Promise<ShutdownResult> {
    this.#result ??= this.#run(reason);
    return this.#result;
  }

  /**
   * Installs SIGINT/SIGTERM handlers: the first signal runs {@link shutdown} and then calls `exit`
   * (0 when clean, 1 when cut short or a closer failed); a second signal during shutdown exits at once
   * with 128+signo. The handlers remove themselves before `exit` is called; the returned function
   * removes them earlier.
   */
  handleSignals(exit: (code: number) => void = (code) => process.exit(code)): () => void {
    const signals = ["SIGINT", "SIGTERM"] as const;
    const onSignal = (sig: NodeJS.Signals) => {
      if (this.shuttingDown) {
        this.#logger.warn({ signal: sig }, "second signal: exiting now");
        exit(128 + (sig === "SIGINT" ? 2 : 15));
        return;
      }
      this.#logger.info({ signal: sig }, "shutting down");
      void this.shutdown(sig).then((r) => {
        remove();
        exit(r.timedOut || r.failed.length > 0 ? 1 : 0);
      });
    };
    const remove = () => {
      for (const s of signals) process.off(s, onSignal);
    };
    for (const s of signals) process.on(s, onSignal);
    return remove;
  }

  async #run(reason: string): Promise<ShutdownResult> {
    const started = Date.now();
    const deadline = started + this.#timeoutMs;
    const failed: ShutdownResult["failed"] = [];
    let timedOut = false;
    this.#abort.abort(new Error(`shutdown: ${reason}`));

    /** Awaits `p` until the deadline; true when it finished in time. */
    const within = async (p: Promise<unknown>): Promise<boolean> => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()), TIMED_OUT);
      });
      try {
        return (await Promise.race([p, timeout])) !== TIMED_OUT;
      } finally {
        clearTimeout(timer);
      }
    };

    const runStage = async (stage: ShutdownStage) => {
      for (const c of [...this.#closers[stage]].reverse()) {
        const p = Promise.resolve()
          .then(c.close)
          .catch((err: unknown) => {
            failed.push({ name: c.name, error: err instanceof Error ? err.message : String(err) });
            this.#logger.error({ err, closer: c.name }, "closer failed");
          });
        if (timedOut) continue; // started, not awaited
        if (!(await within(p))) {
          timedOut = true;
          failed.push({ name: c.name, error: "did not finish before the shutdown deadline" });
        }
      }
    };

    await runStage("intake");
    if (!timedOut && this.#inFlight.size > 0) {
      this.#logger.info({ inFlight: this.#inFlight.size }, "waiting for in-flight work");
      // New work may be tracked while waiting (messages already delivered); wait for it too.
      while (this.#inFlight.size > 0 && !timedOut) {
        if (!(await within(Promise.all([...this.#inFlight])))) timedOut = true;
      }
    }
    const pendingInFlight = this.#inFlight.size;
    await runStage("resources");
    const result: ShutdownResult = {
      reason,
      timedOut,
      pendingInFlight,
      failed,
      durationMs: Date.now() - started,
    };
    (timedOut || failed.length > 0 ? this.#logger.warn : this.#logger.info).call(
      this.#logger,
      { shutdown: result },
      "shutdown complete",
    );
    return result;
  }
}
