/**
 * Process plumbing for the lab: run argv (never a shell string), feed `ip`/`bridge` batches
 * through stdin, find the processes inside given network namespaces by scanning /proc (one
 * readlink per process instead of one `ip netns pids` spawn per namespace), kill by PID.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { LabError } from "./errors.js";

/** Result of a finished command. */
export interface RunResult {
  /** Exit status (null when killed by a signal). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options for {@link run}. */
export interface RunOptions {
  /** Written to the child's stdin, then stdin is closed. */
  input?: string;
  /** Kill the child (SIGKILL) after this many ms; default 60 s. */
  timeoutMs?: number;
  /** Resolve even when the exit status is not 0 (default: reject with {@link CommandError}). */
  allowFailure?: boolean;
}

/**
 * A command exited non-zero or could not start. Not retryable: the lab only runs local,
 * deterministic commands.
 */
export class CommandError extends LabError {
  override name = "CommandError";
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    const shown = argv.length > 8 ? [...argv.slice(0, 8), "…"] : argv;
    super(
      "COMMAND_FAILED",
      `${shown.join(" ")} exited ${result.code ?? "by signal"}${result.stderr ? `: ${result.stderr.trim().split("\n").slice(0, 5).join("; ")}` : ""}`,
    );
  }
}

/** Run `argv` (no shell) and collect its output. Rejects with {@link CommandError} on failure. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new TypeError("run: empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new CommandError(argv, { code: null, stdout, stderr: stderr + String(err) }));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const result = { code, stdout, stderr };
      if (code === 0 || opts.allowFailure) resolve(result);
      else reject(new CommandError(argv, result));
    });
    child.stdin.on("error", () => {}); // the child may exit before reading all input
    child.stdin.end(opts.input ?? "");
  });
}

/** Run `argv` inside network namespace `ns` (`ip netns exec ns argv…`). */
export function runIn(ns: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(["ip", "netns", "exec", ns, ...argv], opts);
}

/**
 * Feed `lines` to `ip [-force] [-n NS] -batch -` (one process for many steps). Without `force`
 * the batch stops at the first failing line and rejects; with it, failures are reported in the
 * result and the promise resolves.
 */
export function ipBatch(
  lines: readonly string[],
  opts: { ns?: string; force?: boolean } = {},
): Promise<RunResult> {
  const argv = ["ip"];
  if (opts.force) argv.push("-force");
  if (opts.ns) argv.push("-n", opts.ns);
  argv.push("-batch", "-");
  return run(argv, { input: `${lines.join("\n")}\n`, allowFailure: opts.force === true });
}

/** Feed `lines` to `bridge [-n NS] -batch -` (FDB lines cannot go in an `ip` batch). */
export function bridgeBatch(lines: readonly string[], opts: { ns?: string } = {}): Promise<RunResult> {
  const argv = ["bridge"];
  if (opts.ns) argv.push("-n", opts.ns);
  argv.push("-batch", "-");
  return run(argv, { input: `${lines.join("\n")}\n` });
}

/** Names of the network namespaces that exist now (`/run/netns`). */
export function listNamespaces(): string[] {
  try {
    return readdirSync("/run/netns");
  } catch {
    return [];
  }
}

/** Whether the link `name` exists in the root namespace. */
export function rootLinkExists(name: string): boolean {
  try {
    statSync(`/sys/class/net/${name}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * PIDs of every process whose network namespace is one of `names` (by namespace inode, like
 * `ip netns pids`, but one /proc scan for all of them).
 */
export function pidsInNamespaces(names: Iterable<string>): Map<string, number[]> {
  const byInode = new Map<string, string>();
  for (const n of names) {
    try {
      byInode.set(`net:[${statSync(`/run/netns/${n}`).ino}]`, n);
    } catch {
      // namespace not there
    }
  }
  const out = new Map<string, number[]>();
  if (byInode.size === 0) return out;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let link: string;
    try {
      link = readlinkSync(`/proc/${entry}/ns/net`);
    } catch {
      continue; // exited meanwhile, or a kernel thread
    }
    const ns = byInode.get(link);
    if (ns === undefined) continue;
    const list = out.get(ns) ?? [];
    list.push(Number(entry));
    out.set(ns, list);
  }
  return out;
}

/** Whether process `pid` exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  // "pid (comm) S ...": the state follows the last ')'.
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Kill `pids` (SIGTERM, then SIGKILL after `graceMs`), and wait until they are gone. */
export async function killPids(pids: Iterable<number>, graceMs = 2000): Promise<void> {
  const list = [...new Set(pids)].filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
  for (const pid of list) signal(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  let rest = list.filter(pidAlive);
  while (rest.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    rest = rest.filter(pidAlive);
  }
  for (const pid of rest) signal(pid, "SIGKILL");
  const hard = Date.now() + 10_000; // SIGKILL cannot be ignored, but a loaded machine is slow
  while (rest.length > 0 && Date.now() < hard) {
    await new Promise((r) => setTimeout(r, 20));
    rest = rest.filter(pidAlive);
  }
}

/**
 * Start `argv` inside namespace `ns` as a detached daemon (its own process group, no stdio),
 * so it outlives the caller. Resolves with its PID once it has been spawned.
 */
export function spawnDaemon(ns: string, argv: readonly string[], logFd?: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", ns, ...argv], {
      detached: true,
      stdio: ["ignore", logFd ?? "ignore", logFd ?? "ignore"],
    });
    child.once("error", (err) =>
      reject(
        new CommandError(["ip", "netns", "exec", ns, ...argv], {
          code: null,
          stdout: "",
          stderr: String(err),
        }),
      ),
    );
    child.once("spawn", () => {
      child.unref();
      resolve(child.pid as number);
    });
  });
}

/** Run `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  });
  await Promise.all(workers);
  return out;
}
