/**
 * A process starter beside the executor pool: `fleetnet-executor spawner` reads commands
 * (argv arrays, never shell text) as JSON lines on stdin, starts each with
 * {@link runProcess} and answers `{id, code, stdout, stderr}` lines on stdout.
 *
 * Why: Node starts a child by forking its own process and waiting for the child's exec,
 * on the event loop. A pool serving hundreds of hosts is a ~200 MiB process that starts
 * thousands of short commands per rollout; each start blocked its event loop for ~2–4 ms
 * (≈ 6 s of a 200-host rollout, measured in bench/RESULTS.md "rollout vs floor"). Started
 * from a small process of its own, the same commands cost the pool one pipe write and one
 * line to parse each, and the forks happen beside it (bench: main-thread CPU per command
 * 2.5 → 1.0 ms, wall per command −25 % with 60 in flight).
 *
 * Staged commands (`HostDriver.runStaged`): a request with `pause` answers twice — `{id,
 * stage: 1, paused, …}` when the process printed its pause line (or ended), then, after the
 * pool's `{id, input}`, the final answer. When the pool's side closes, the spawner closes the
 * stdin of every process still paused (it reads end-of-file: a staged script then stops).
 *
 * Contract: the answer is what {@link runProcess} would have returned (exit 127 for a missing
 * command, 124 after `timeoutMs`). If the spawner cannot start, the command runs directly;
 * if it dies, the commands in flight fail with `COMMAND_FAILED` (retryable: the host's
 * transaction then reverts or the job is redelivered, like a command killed by a signal) and
 * the next command starts a new spawner. It ignores SIGTERM/SIGINT (see {@link spawnerMain})
 * and ends when the pool closes its input. Only the service pool enables it
 * ({@link useSpawner}); one-shot commands and tests start processes directly.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { RunOptions, RunResult, StagedOptions, StagedRun } from "../driver.js";
import { ExecutorError } from "../errors.js";

/** A command to start (`pause`: staged), or `input` for a paused staged command. */
interface Request {
  id: number;
  argv?: string[];
  stdin?: string;
  timeoutMs?: number;
  pause?: string;
  input?: string;
}
type Answer = { id: number } & (
  | { code: number; stdout: string; stderr: string; stage?: 1; paused?: boolean }
  | { error: string }
);

/** The spawner's main loop (the `spawner` subcommand): until stdin closes. */
export async function spawnerMain(
  run: (argv: readonly string[], opts: RunOptions) => Promise<RunResult>,
  stage: (argv: readonly string[], pause: string, opts: StagedOptions) => Promise<StagedRun>,
): Promise<number> {
  // The pool coordinates shutdown: a signal to the whole process group (systemd's default
  // KillMode, a terminal's ^C) must not end the commands of jobs the pool is still draining.
  // The spawner ends when its input closes (the pool exited, however it exited).
  process.on("SIGTERM", () => {});
  process.on("SIGINT", () => {});
  const rl = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  const inFlight = new Set<Promise<void>>();
  const paused = new Map<number, StagedRun>();
  let closed = false;
  const noop = () => {};
  const answer = (id: number, p: Promise<RunResult>) => {
    const done = p
      .then(
        (r): Answer => ({ id, ...r }),
        (e: unknown): Answer => ({ id, error: (e as Error).message }),
      )
      .then((a) => {
        process.stdout.write(`${JSON.stringify(a)}\n`);
        inFlight.delete(done);
      });
    inFlight.add(done);
  };
  for await (const line of rl) {
    let req: Request;
    try {
      req = JSON.parse(line) as Request;
      if (!Number.isInteger(req.id) || !(Array.isArray(req.argv) || typeof req.input === "string"))
        throw new Error("bad request");
    } catch {
      continue; // not from our pool: nothing to answer
    }
    const id = req.id;
    if (req.argv === undefined) {
      const s = paused.get(id);
      paused.delete(id);
      if (s) answer(id, s.finish(req.input ?? ""));
      else answer(id, Promise.reject(new Error(`no paused command ${id}`)));
      continue;
    }
    const timeout = req.timeoutMs !== undefined ? { timeoutMs: req.timeoutMs } : {};
    if (req.pause !== undefined) {
      const first = stage(req.argv, req.pause, timeout).then((s) => {
        if (s.first.paused) {
          if (closed) inFlight.add(s.finish("").then(noop, noop));
          else paused.set(id, s);
        }
        return s.first;
      });
      answer(
        id,
        first.then((f) => ({ ...f, stage: 1 }) as RunResult),
      );
      continue;
    }
    answer(id, run(req.argv, { ...(req.stdin !== undefined ? { stdin: req.stdin } : {}), ...timeout }));
  }
  // the pool is gone: paused commands read end-of-file (and stop), then everything drains
  closed = true;
  for (const s of paused.values()) inFlight.add(s.finish("").then(noop, noop));
  paused.clear();
  while (inFlight.size > 0) await Promise.all(inFlight);
  return 0;
}

type Pending = {
  resolve: (r: RunResult & { stage?: 1; paused?: boolean }) => void;
  reject: (e: Error) => void;
};

/** The pool's side: one spawner process, started on first use (again after it died). */
class Spawner {
  readonly #argv: readonly string[];
  #child: ChildProcessByStdio<Writable, Readable, null> | undefined;
  #nextId = 0;
  readonly #pending = new Map<number, Pending>();

  constructor(argv: readonly string[]) {
    this.#argv = argv;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Commands sent and not answered yet. */
  get inFlight(): number {
    return this.#pending.size;
  }

  #start(): ChildProcessByStdio<Writable, Readable, null> | undefined {
    const [cmd, ...args] = this.#argv;
    if (cmd === undefined) return undefined;
    let child: ChildProcessByStdio<Writable, Readable, null>;
    try {
      child = spawn(cmd, args, { stdio: ["pipe", "pipe", "inherit"] });
    } catch {
      return undefined;
    }
    const gone = (why: string) => {
      if (this.#child !== child) return;
      this.#child = undefined;
      const err = new ExecutorError("COMMAND_FAILED", `the executor's process starter ${why}`, true);
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
    child.on("error", (e) => gone(`failed: ${e.message}`));
    child.on("exit", (code, signal) => gone(`exited (${signal ?? code})`));
    child.stdin.on("error", () => gone("closed its input"));
    createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
      let a: Answer;
      try {
        a = JSON.parse(line) as Answer;
      } catch {
        return;
      }
      const p = this.#pending.get(a.id);
      if (!p) return;
      this.#pending.delete(a.id);
      if ("error" in a) p.reject(new ExecutorError("COMMAND_FAILED", a.error));
      else p.resolve(a);
      this.#idle();
    });
    this.#child = child;
    return child;
  }

  /** With nothing in flight the spawner must not keep the pool's process alive. */
  #idle(): void {
    const c = this.#child;
    if (!c) return;
    const ref = this.#pending.size > 0;
    for (const s of [c, c.stdin, c.stdout] as { ref?: () => void; unref?: () => void }[])
      ref ? s.ref?.() : s.unref?.();
  }

  #send(child: ChildProcessByStdio<Writable, Readable, null>, req: Request) {
    return new Promise<RunResult & { stage?: 1; paused?: boolean }>((resolve, reject) => {
      this.#pending.set(req.id, { resolve, reject });
      this.#idle();
      child.stdin.write(`${JSON.stringify(req)}\n`);
    });
  }

  /** Run argv through the spawner; `undefined` when it cannot be started (run directly then). */
  run(argv: readonly string[], opts: RunOptions): Promise<RunResult> | undefined {
    const child = this.#child ?? this.#start();
    if (!child) return undefined;
    return this.#send(child, {
      id: this.#nextId++,
      argv: [...argv],
      ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    }).then((a) => ({ code: a.code, stdout: a.stdout, stderr: a.stderr }));
  }

  /** A staged command through the spawner; `undefined` when it cannot be started. */
  runStaged(argv: readonly string[], pause: string, opts: StagedOptions): Promise<StagedRun> | undefined {
    const child = this.#child ?? this.#start();
    if (!child) return undefined;
    const id = this.#nextId++;
    const req: Request = {
      id,
      argv: [...argv],
      pause,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    };
    return this.#send(child, req).then((a): StagedRun => {
      const first = { code: a.code, stdout: a.stdout, stderr: a.stderr, paused: a.paused === true };
      let finished: Promise<RunResult> | undefined;
      const finish = (input: string): Promise<RunResult> => {
        if (!first.paused) return Promise.resolve({ code: first.code, stdout: "", stderr: "" });
        // the spawner that holds the paused process must be the one that is told; if it
        // died, the process read end-of-file and stopped
        if (this.#child !== child) {
          const err = new ExecutorError("COMMAND_FAILED", "the executor's process starter exited", true);
          return Promise.reject(err);
        }
        finished ??= this.#send(child, { id, input }).then((r) => ({
          code: r.code,
          stdout: r.stdout,
          stderr: r.stderr,
        }));
        return finished;
      };
      return { first, finish };
    });
  }
}

let active: Spawner[] = [];

/**
 * Start this process's commands through `count` spawners started as `argv` (e.g. `[node,
 * <executor bin>, "spawner"]`); `undefined` starts them directly again. Called once by the
 * service at start-up. More than one: a start blocks its spawner until the child has exec'd,
 * which on a machine busy with hundreds of host commands is a wait for the scheduler, not
 * work — a second spawner starts the next command meanwhile.
 */
export function useSpawner(argv: readonly string[] | undefined, count = 1): void {
  active = argv ? Array.from({ length: Math.max(1, count) }, () => new Spawner(argv)) : [];
}

/** PID of the first running spawner, if any (tests). */
export function spawnerPid(): number | undefined {
  return active[0]?.pid;
}

/** PIDs of the running spawners (tests). */
export function spawnerPids(): number[] {
  return active.flatMap((s) => (s.pid === undefined ? [] : [s.pid]));
}

function leastBusy(): Spawner | undefined {
  let best: Spawner | undefined;
  for (const s of active) if (!best || s.inFlight < best.inFlight) best = s;
  return best;
}

/** The enabled spawners' run (the one with the fewest commands in flight), or `undefined`. */
export function viaSpawner(argv: readonly string[], opts: RunOptions): Promise<RunResult> | undefined {
  return leastBusy()?.run(argv, opts);
}

/** {@link viaSpawner} for a staged command (`HostDriver.runStaged`). */
export function viaSpawnerStaged(
  argv: readonly string[],
  pause: string,
  opts: StagedOptions,
): Promise<StagedRun> | undefined {
  return leastBusy()?.runStaged(argv, pause, opts);
}
