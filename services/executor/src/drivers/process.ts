/**
 * Drivers for hosts this machine reaches by starting processes: `local` (the executor
 * runs on the host itself) and `netns` (a host is a network namespace on this machine).
 *
 * The netns driver prefixes commands with `ip netns exec NS`, except `ip`/`bridge`
 * which take `-n NS` directly and fleetnet's own `sh -c` scripts, which run under `nsenter
 * --net` (both save the mount-namespace setup and /sys remount `ip netns exec` does). Its
 * files live under `<stateDir>/hosts/<host>/`, its `/run` under {@link NETNS_RUN_ROOT}`/<netns>/`
 * (tmpfs).
 *
 * Per-host cost: a process start costs the executor several ms of CPU (more under load),
 * and a transaction used to start ~45. The file bookkeeping commands the engine issues
 * (`true`, `mkdir`, `rm -rf`, `ls -1`, `mv`, `kill -TERM -- -PGID`, `kill -USR1 -- PID` — lock,
 * plans, confirm) touch only the machine's filesystem and process table, which both drivers share with
 * this process; {@link inProcess} performs exactly those argv shapes with node:fs and
 * returns what the command would have returned. Any other argv, or one naming a path
 * outside the driver's fsRoot (`/proc/net`, `/sys` differ inside a namespace), still
 * starts the real command.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { dirname } from "node:path";
import type {
  DriverKind,
  HostDriver,
  RunOptions,
  RunResult,
  StagedOptions,
  StagedRun,
  WriteOptions,
} from "../driver.js";
import { joinRoot } from "../driver.js";
import { ExecutorError } from "../errors.js";
import { viaSpawner, viaSpawnerStaged } from "./spawner.js";

/** Run argv on this machine, feeding stdin, collecting output. Never uses a shell. */
export function runProcess(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const spawned = viaSpawner(argv, opts); // the service pool's process starter, when enabled
  if (spawned) return spawned;
  return startProcess(argv, opts);
}

/** {@link runProcess} in this process (what the spawner itself does). */
export function startProcess(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new ExecutorError("UNSAFE_ARGUMENT", "empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = killAfter(child, opts.timeoutMs);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.stdin.on("error", () => {}); // EPIPE when the command does not read stdin
    child.on("error", (e: NodeJS.ErrnoException) => {
      timer.clear();
      // Like a shell: a missing command is exit status 127 (uniform across drivers).
      if (e.code === "ENOENT") resolve({ code: 127, stdout: "", stderr: `${cmd}: not found\n` });
      else
        reject(new ExecutorError("COMMAND_FAILED", `cannot start ${cmd}: ${e.message}`, false, { cause: e }));
    });
    child.on("close", (code, signal) => {
      timer.clear();
      const sig = signal ? ((constants.signals as Record<string, number>)[signal] ?? 0) : 0;
      resolve({
        code: timer.fired ? 124 : (code ?? 128 + sig),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    child.stdin.end(opts.stdin ?? "");
  });
}

/** SIGKILL `child` after `ms` (none when undefined); `fired` tells a timeout (exit 124) apart. */
function killAfter(child: { kill(signal: NodeJS.Signals): boolean }, ms: number | undefined) {
  const t = {
    fired: false,
    handle: undefined as NodeJS.Timeout | undefined,
    clear: () => clearTimeout(t.handle),
  };
  if (ms !== undefined)
    t.handle = setTimeout(() => {
      t.fired = true;
      child.kill("SIGKILL");
    }, ms);
  return t;
}

/**
 * A staged process's output (`HostDriver.runStaged`), shared by the process and ssh drivers:
 * stdout and stderr collected, and split once at the pause line (a line of its own).
 */
export class StagedOutput {
  out = "";
  err = "";
  paused = false;
  readonly #line: string;

  constructor(pause: string) {
    this.#line = `${pause}\n`;
  }

  /** Add stdout; returns the first stage when this chunk completed the pause line. */
  stdout(text: string): (RunResult & { paused: true }) | undefined {
    this.out += text;
    if (this.paused) return undefined;
    // the line's first character: 0, or just after a newline (indexOf -1 → 0: not there)
    const at = this.out.startsWith(this.#line) ? 0 : this.out.indexOf(`\n${this.#line}`) + 1;
    if (at === 0 && !this.out.startsWith(this.#line)) return undefined;
    this.paused = true;
    const first = { code: 0, stdout: this.out.slice(0, at), stderr: this.err, paused: true as const };
    this.out = this.out.slice(at + this.#line.length);
    this.err = "";
    return first;
  }

  stderr(text: string): void {
    this.err += text;
  }
}

/** {@link HostDriver.runStaged} for a process of this machine, via the spawner when enabled. */
export function runStagedProcess(
  argv: readonly string[],
  pause: string,
  opts: StagedOptions = {},
): Promise<StagedRun> {
  return viaSpawnerStaged(argv, pause, opts) ?? startStaged(argv, pause, opts);
}

/** {@link runStagedProcess} in this process (what the spawner itself does). */
export function startStaged(
  argv: readonly string[],
  pause: string,
  opts: StagedOptions = {},
): Promise<StagedRun> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new ExecutorError("UNSAFE_ARGUMENT", "empty argv"));
  return new Promise((resolveFirst, rejectFirst) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    const o = new StagedOutput(pause);
    let finishing: ((r: RunResult) => void) | undefined;
    let ended: RunResult | undefined;
    const timer = killAfter(child, opts.timeoutMs);
    let finished: Promise<RunResult> | undefined;
    const finish = (input: string): Promise<RunResult> => {
      if (ended) return Promise.resolve(o.paused ? ended : { code: ended.code, stdout: "", stderr: "" });
      finished ??= new Promise((resolve) => {
        finishing = resolve;
        child.stdin.end(input);
      });
      return finished;
    };
    child.stdout.on("data", (t: string) => {
      const first = o.stdout(t);
      if (!first) return;
      timer.clear();
      resolveFirst({ first, finish });
    });
    child.stderr.on("data", (t: string) => o.stderr(t));
    child.stdin.on("error", () => {}); // EPIPE when the command ended without reading its input
    child.on("error", (e: NodeJS.ErrnoException) => {
      timer.clear();
      if (e.code === "ENOENT") {
        ended = { code: 127, stdout: "", stderr: `${cmd}: not found\n` };
        resolveFirst({ first: { ...ended, paused: false }, finish });
      } else
        rejectFirst(
          new ExecutorError("COMMAND_FAILED", `cannot start ${cmd}: ${e.message}`, false, { cause: e }),
        );
    });
    child.on("close", (code, signal) => {
      timer.clear();
      const sig = signal ? ((constants.signals as Record<string, number>)[signal] ?? 0) : 0;
      ended = { code: timer.fired ? 124 : (code ?? 128 + sig), stdout: o.out, stderr: o.err };
      if (!o.paused) resolveFirst({ first: { ...ended, paused: false }, finish });
      finishing?.(ended);
    });
  });
}

/** Options shared by the process-based drivers. */
interface ProcessDriverOptions {
  kind: DriverKind;
  host: string;
  fsRoot: string;
  /** The directory that is the host's `/run` (default `<fsRoot>/run`). */
  runRoot?: string;
  /** Prefix for every argv (e.g. `ip netns exec NS`). */
  prefix: readonly string[];
  /** Namespace for the `ip -n` / `bridge -n` fast path. */
  netns?: string;
}

const ok = (stdout = ""): RunResult => ({ code: 0, stdout, stderr: "" });
const failed = (cmd: string, e: unknown): RunResult => ({
  code: 1,
  stdout: "",
  stderr: `${cmd}: ${(e as Error).message}\n`,
});

/**
 * The result of `argv` performed in this process, or `undefined` when argv is not one of
 * the recognised shapes (the caller then starts the real command). `within` tells whether
 * a path may be touched directly (under the driver's fsRoot).
 */
async function inProcess(
  argv: readonly string[],
  within: (path: string) => boolean,
): Promise<RunResult | undefined> {
  const [cmd, ...a] = argv;
  const paths = (xs: readonly string[]) => xs.length > 0 && xs.every((p) => p.startsWith("/") && within(p));
  try {
    if (cmd === "true" && a.length === 0) return ok();
    if (cmd === "mkdir" && a[0] === "-p" && a[1] === "--" && paths(a.slice(2))) {
      for (const p of a.slice(2)) await mkdir(p, { recursive: true });
      return ok();
    }
    if (cmd === "mkdir" && a[0] === "--" && a.length === 2 && paths(a.slice(1))) {
      try {
        await mkdir(a[1] as string);
        return ok();
      } catch (e) {
        return failed("mkdir", e); // EEXIST: the lock is taken
      }
    }
    if (cmd === "rm" && a[0] === "-rf" && a[1] === "--" && paths(a.slice(2))) {
      for (const p of a.slice(2)) await rm(p, { recursive: true, force: true });
      return ok();
    }
    if (cmd === "ls" && a[0] === "-1" && a[1] === "--" && a.length === 3 && paths(a.slice(2))) {
      const p = a[2] as string;
      try {
        if (!(await stat(p)).isDirectory()) return ok(`${p}\n`);
        const names = (await readdir(p)).filter((n) => !n.startsWith(".")).sort();
        return ok(names.map((n) => `${n}\n`).join(""));
      } catch (e) {
        return { ...failed("ls", e), code: 2 };
      }
    }
    if (cmd === "mv" && a[0] === "--" && a.length === 3 && paths(a.slice(1))) {
      try {
        const [from, to] = [a[1] as string, a[2] as string];
        if ((await stat(to).catch(() => undefined))?.isDirectory()) return undefined; // mv into a dir
        await rename(from, to);
        return ok();
      } catch (e) {
        return failed("mv", e);
      }
    }
    if (
      cmd === "kill" &&
      (a[0] === "-TERM" || a[0] === "-USR1") &&
      a[1] === "--" &&
      a.length === 3 &&
      /^-?\d+$/.test(a[2] ?? "")
    ) {
      try {
        process.kill(Number(a[2]), a[0] === "-TERM" ? "SIGTERM" : "SIGUSR1");
        return ok();
      } catch (e) {
        return failed("kill", e);
      }
    }
  } catch (e) {
    return failed(cmd ?? "", e);
  }
  return undefined;
}

/** Where `ip netns` keeps its named namespaces. */
const NETNS_DIR = "/run/netns";
/** util-linux `nsenter`, when this machine has it (else `ip netns exec` for everything). */
const NSENTER = ["/usr/bin/nsenter", "/bin/nsenter", "/usr/sbin/nsenter"].find((p) => existsSync(p));
/** The POSIX shell fleetnet's scripts run under. */
const SH = ["/bin/sh", "/usr/bin/sh"].find((p) => existsSync(p)) ?? "sh";

class ProcessDriver implements HostDriver {
  readonly kind: DriverKind;
  readonly host: string;
  readonly fsRoot: string;
  readonly #runRoot: string;
  readonly #prefix: readonly string[];
  readonly #netns: string | undefined;

  constructor(o: ProcessDriverOptions) {
    this.kind = o.kind;
    this.host = o.host;
    this.fsRoot = o.fsRoot;
    this.#runRoot = (o.runRoot ?? joinRoot(o.fsRoot, "/run")).replace(/\/+$/, "") || "/";
    this.#prefix = o.prefix;
    this.#netns = o.netns;
  }

  #argv(argv: readonly string[]): string[] {
    const [cmd, ...rest] = argv;
    if (this.#netns !== undefined && (cmd === "ip" || cmd === "bridge")) {
      return [cmd, "-n", this.#netns, ...rest];
    }
    // fleetnet's own constant `sh -c` scripts (observe, probes, apply, service pid checks) need
    // the network namespace only: `nsenter --net` skips the mount namespace and /sys remount
    // `ip netns exec` does for every call (~1 ms of a 3 ms start with 200 namespaces mounted)
    if (this.#netns !== undefined && cmd === "sh" && rest[0] === "-c" && NSENTER) {
      // `sh` by its path: nsenter would try every PATH entry before it (~9 execve calls)
      return [NSENTER, `--net=${NETNS_DIR}/${this.#netns}`, "--", SH, ...rest];
    }
    return [...this.#prefix, ...argv];
  }

  async run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    if (opts?.stdin === undefined) {
      const roots = [this.fsRoot, this.#runRoot].map((r) => `${r.replace(/\/+$/, "")}/`);
      const within = (p: string) => roots.some((root) => root === "/" || p.startsWith(root));
      const done = await inProcess(argv, within);
      if (done) return done;
    }
    return runProcess(this.#argv(argv), opts);
  }

  runStaged(argv: readonly string[], pause: string, opts?: StagedOptions): Promise<StagedRun> {
    return runStagedProcess(this.#argv(argv), pause, opts);
  }

  hostPath(path: string): string {
    if (path === "/run") return this.#runRoot;
    if (path.startsWith("/run/")) return joinRoot(this.#runRoot, path.slice(4));
    return joinRoot(this.fsRoot, path);
  }

  async readFile(path: string): Promise<string | undefined> {
    try {
      return await readFile(this.hostPath(path), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async writeFileAtomic(path: string, content: string, mode = 0o644, opts: WriteOptions = {}): Promise<void> {
    const target = this.hostPath(path);
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.fleetnet-tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      await writeFile(tmp, content, { mode, flush: !opts.scratch });
      await chmod(tmp, mode); // umask may have narrowed it
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async removeFile(path: string): Promise<void> {
    await rm(this.hostPath(path), { force: true });
  }

  async spawnDetached(argv: readonly string[]): Promise<void> {
    const [cmd, ...args] = [...this.#prefix, ...argv];
    if (cmd === undefined) throw new ExecutorError("UNSAFE_ARGUMENT", "empty argv");
    await new Promise<void>((resolve, reject) => {
      // detached: setsid() in the child — its own session and process group, so neither
      // SIGKILL of the executor nor its process group's signals reach it.
      const child = spawn(cmd, args, { detached: true, stdio: "ignore" });
      child.once("error", (e) =>
        reject(new ExecutorError("COMMAND_FAILED", `cannot start ${cmd}: ${e.message}`, false, { cause: e })),
      );
      child.once("spawn", () => {
        child.unref();
        resolve();
      });
    });
  }

  async close(): Promise<void> {}
}

/** Options of {@link localDriver}. */
export interface LocalDriverOptions {
  /** Inventory name of this host (default: "local"). */
  host?: string;
  /** Where host paths live (default "/"; tests point it at a temp dir). */
  fsRoot?: string;
  /** The directory that is the host's `/run` (default `<fsRoot>/run`). */
  runRoot?: string;
}

/** A driver for the machine the executor runs on. */
export function localDriver(o: LocalDriverOptions = {}): HostDriver {
  return new ProcessDriver({
    kind: "local",
    host: o.host ?? "local",
    fsRoot: o.fsRoot ?? "/",
    ...(o.runRoot ? { runRoot: o.runRoot } : {}),
    prefix: [],
  });
}

/**
 * Where a network-namespace host's `/run` lives: `<this>/<namespace>`. A real host's /run is
 * a tmpfs (runtime state that must not outlive a boot: the transaction lock, revert plans,
 * the armed marker); /dev/shm is the tmpfs a lab machine has for sure — its own /run may be
 * on disk, where a 200-host rollout's bookkeeping files (a dozen created and deleted per
 * transaction) cost measurable time. Labs remove `<this>/<namespace>` with the namespace.
 */
export const NETNS_RUN_ROOT = "/dev/shm/fleetnet-netns";

/** Options of {@link netnsDriver}. */
export interface NetnsDriverOptions {
  /** Inventory name of the host. */
  host: string;
  /** The network namespace that is the host (default: the host name). */
  netns?: string;
  /** The lab's state dir: the host's files live under `<stateDir>/hosts/<host>/`. */
  stateDir: string;
  /** Override the host's file root (default `<stateDir>/hosts/<host>`). */
  fsRoot?: string;
  /** Override the directory that is the host's `/run` (default {@link NETNS_RUN_ROOT}`/<netns>`). */
  runRoot?: string;
}

const NETNS_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** A driver for a host that is a network namespace on this machine. */
export function netnsDriver(o: NetnsDriverOptions): HostDriver {
  const ns = o.netns ?? o.host;
  if (!NETNS_NAME.test(ns))
    throw new ExecutorError("INVALID_INPUT", `invalid netns name ${JSON.stringify(ns)}`);
  if (!NETNS_NAME.test(o.host))
    throw new ExecutorError("INVALID_INPUT", `invalid host name ${JSON.stringify(o.host)}`);
  return new ProcessDriver({
    kind: "netns",
    host: o.host,
    fsRoot: o.fsRoot ?? `${o.stateDir.replace(/\/+$/, "")}/hosts/${o.host}`,
    runRoot: o.runRoot ?? `${NETNS_RUN_ROOT}/${ns}`,
    prefix: ["ip", "netns", "exec", ns],
    netns: ns,
  });
}
