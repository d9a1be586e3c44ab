/**
 * The host driver contract: how the executor reaches one host. Three implementations
 * (local, netns, ssh) pass one conformance suite (`drivers/conformance.testlib.ts`).
 *
 * Paths: every file path a caller hands to a driver is a *host path* ("/etc/frr/frr.conf").
 * A driver maps it under its `fsRoot` ("/" on a real host; `<stateDir>/hosts/<host>` for
 * a network namespace, which shares the machine's filesystem and must never write the
 * machine's /etc). Commands that name files must use {@link HostDriver.hostPath}.
 */

/** Outcome of one command. `code` is the exit status (128+n when killed by signal n). */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@link HostDriver.run}. */
export interface RunOptions {
  /** Written to the command's stdin, then stdin is closed. */
  stdin?: string;
  /** Kill the command after this many milliseconds (code 124 then). */
  timeoutMs?: number;
}

/** Options of {@link HostDriver.runStaged}. */
export interface StagedOptions {
  /** Kill the command when it has not reached its pause line after this many ms (code 124 then). */
  timeoutMs?: number;
}

/**
 * A host process started by {@link HostDriver.runStaged}: stopped at its pause line (a line
 * of its stdout that is exactly the pause string), waiting for the caller's input on stdin.
 */
export interface StagedRun {
  /**
   * What it printed before the pause line (stdout) and until then (stderr), `code` 0; or, when
   * it ended before pausing, its whole result and `paused: false`.
   */
  readonly first: RunResult & { paused: boolean };
  /**
   * Write `input` to its stdin and close it (`""` only closes it: a staged script must then
   * stop without doing anything); resolves with what it printed after the pause line and its
   * exit status. Call exactly once, also when it did not pause (resolves at once then).
   * Rejects `CONNECTION_LOST` (ssh) or `COMMAND_FAILED` (the process starter died) when the
   * process could not be told or followed.
   */
  finish(input: string): Promise<RunResult>;
}

/** Options of {@link HostDriver.writeFileAtomic}. */
export interface WriteOptions {
  /**
   * No flush to disk: for the transaction's own bookkeeping (revert plan, apply input, lock
   * owner, armed marker), which only a process of the running machine ever reads — the revert
   * timer that would read them after a power cut died with it. Config files and the ledger
   * are never scratch.
   */
  scratch?: boolean;
}

/** Which kind of driver; decides defaults such as how daemons are managed. */
export type DriverKind = "local" | "netns" | "ssh";

/** One reachable host. */
export interface HostDriver {
  readonly kind: DriverKind;
  /** The inventory name of the host. */
  readonly host: string;
  /** Where host paths live on the machine the driver writes to ("/" on real hosts). */
  readonly fsRoot: string;
  /** Run one argv on the host (never through a shell built from input). */
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /**
   * Run one argv on the host in two stages: resolves when the process printed the line
   * `pause` (or ended), and goes on only with the input the caller sends then. One process
   * where two would be needed otherwise: the apply transaction observes the host, diffs in
   * the executor, and applies in the same host process (transaction.ts). If the caller (the
   * executor, or the ssh session) dies meanwhile, the process reads end-of-file.
   */
  runStaged(argv: readonly string[], pause: string, opts?: StagedOptions): Promise<StagedRun>;
  /** Contents of a host file, or `undefined` when it does not exist. */
  readFile(path: string): Promise<string | undefined>;
  /**
   * Write a host file atomically: temp file in the same directory, mode, rename. Creates
   * parents. Durable by default (flushed to disk before the rename where the driver can);
   * `scratch` skips the flush for files whose loss in a power cut changes nothing.
   */
  writeFileAtomic(path: string, content: string, mode?: number, opts?: WriteOptions): Promise<void>;
  /** Remove a host file; absent is fine. */
  removeFile(path: string): Promise<void>;
  /**
   * Start a process on the host that outlives this driver, the executor process and (for
   * ssh) the session: own session (setsid), stdio closed. Used for the revert timer.
   */
  spawnDetached(argv: readonly string[]): Promise<void>;
  /** Map a host path to the path the host's commands must use (fsRoot + path). */
  hostPath(path: string): string;
  /** Release the connection (ssh); idempotent. */
  close(): Promise<void>;
}

/** Join fsRoot and a host path ("/" root returns the path unchanged). */
export function joinRoot(fsRoot: string, path: string): string {
  if (!path.startsWith("/")) throw new Error(`host path must be absolute: ${path}`);
  if (path.split("/").includes("..")) throw new Error(`host path must not contain "..": ${path}`);
  if (fsRoot === "/" || fsRoot === "") return path;
  return `${fsRoot.replace(/\/+$/, "")}${path}`;
}
