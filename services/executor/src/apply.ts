/**
 * Run ops on a host, segment by segment (see render.ts): one `ip -batch -`, one
 * `bridge -batch -`, one `sysctl -w` per run of consecutive ops, files written atomically,
 * daemons through the service manager. Stops at the first failure with `APPLY_FAILED`
 * carrying the tool's own message; the caller reverts.
 *
 * {@link applyAndVerify} is the one-process form for network-only changes (ip, bridge and
 * sysctl ops, the bulk of a fleet rollout): the revert timer (a subshell of it), the apply,
 * the first ping round after it and the verify read of the kernel run in ONE host process — a
 * process start costs more than most of what it does, and a transaction used to start five
 * for these steps. That process is the one that observed the host ({@link observeStaged}): it
 * paused after the observation while the executor diffed and wrote the revert plan, and goes
 * on only when told to (`HostDriver.runStaged`).
 */
import type { Op } from "@fleetnet/netstate";
import type { HostDriver, StagedRun } from "./driver.js";
import { ExecutorError } from "./errors.js";
import {
  FDB_READ,
  IP_READ,
  type KernelRead,
  type KernelReadDone,
  kernelReadScript,
  parseKernelRead,
  readBatchFile,
  sysctlPath,
} from "./observe.js";
import { bridgeLine, ipLines, segments, sysctlAssignment } from "./render.js";
import { argvBlock, batchStep, REVERT_SCRIPT_PATH, type RevertPlan, SCRATCH } from "./revert.js";
import type { ServiceManager } from "./services.js";

/** Options of {@link runOps}. */
export interface ApplyOpsOptions {
  /** File contents to write, secrets resolved (default: the op's content). */
  contents?: ReadonlyMap<string, string>;
  /** Keep going after a failing line (`ip -force`): used for the second revert pass. */
  force?: boolean;
}

function fail(d: HostDriver, what: string, stderr: string): never {
  throw new ExecutorError("APPLY_FAILED", `${what} failed on ${d.host}: ${stderr.trim() || "no message"}`);
}

/** Apply `ops` in order. */
export async function runOps(
  d: HostDriver,
  services: ServiceManager,
  ops: readonly Op[],
  o: ApplyOpsOptions = {},
): Promise<void> {
  const force = o.force ? ["-force"] : [];
  for (const seg of segments(ops)) {
    switch (seg.tool) {
      case "ip": {
        const r = await d.run(["ip", ...force, "-batch", "-"], {
          stdin: `${seg.ops.flatMap(ipLines).join("\n")}\n`,
        });
        if (r.code !== 0 && !o.force) fail(d, "ip -batch", r.stderr);
        break;
      }
      case "bridge": {
        const r = await d.run(["bridge", ...force, "-batch", "-"], {
          stdin: `${seg.ops.map(bridgeLine).join("\n")}\n`,
        });
        if (r.code !== 0 && !o.force) fail(d, "bridge -batch", r.stderr);
        break;
      }
      case "sysctl": {
        const assigns = seg.ops.flatMap((op) =>
          op.op === "sysctl.set" && op.value ? [sysctlAssignment(op.key, op.value)] : [],
        );
        if (assigns.length === 0) break;
        const r = await d.run(["sysctl", "-q", "-w", ...assigns]);
        if (r.code !== 0 && !o.force) fail(d, "sysctl -w", r.stderr);
        break;
      }
      case "file":
        for (const op of seg.ops) {
          if (op.op === "file.write") {
            await d.writeFileAtomic(op.path, o.contents?.get(op.path) ?? op.content, op.mode);
          } else if (op.op === "file.remove") await d.removeFile(op.path);
        }
        break;
      case "service":
        for (const op of seg.ops) {
          if (op.op !== "service.start" && op.op !== "service.stop" && op.op !== "service.reload") continue;
          const action = op.op === "service.start" ? "start" : op.op === "service.stop" ? "stop" : "reload";
          for (const argv of services.commands(op.service, action)) {
            const r = await d.run(argv, { timeoutMs: 30_000 });
            if (r.code !== 0 && !o.force)
              fail(d, `${op.service} ${action} (${argv[0]})`, r.stderr || r.stdout);
          }
        }
        break;
    }
  }
}

/** Whether `ops` can go through {@link applyAndVerify}: ip, bridge and sysctl ops only. */
export function networkOnly(ops: readonly Op[]): boolean {
  return segments(ops).every((s) => s.tool === "ip" || s.tool === "bridge" || s.tool === "sysctl");
}

/**
 * The revert timer as a forked subshell of the apply script: it sleeps DELAY seconds, then runs
 * revert.sh's logic (sourced: `mv armed firing || exit 0`, the plan's commands) — the same
 * timer revert.sh is, without the two program starts (`setsid`, `sh`) a detached one costs
 * (a 200-host rollout: 400 of ~3 000). It outlives the apply script, and the executor:
 *  - HUP, INT and TERM are ignored (by it and its `sleep`): a signal to the process group it
 *    shares with the starter (a terminal's ^C, an SSH session's hang-up) does not end it;
 *    it is no group leader, so nobody signals "its" group either;
 *  - its stdio is /dev/null, so an SSH channel closes when the apply script ends;
 *  - SIGUSR1 ends it and its `sleep` (with SIGKILL: the sleep ignores TERM too); revert.ts
 *    `killTimer` sends it after a confirm or a revert, reading the pid from `timer.sub`.
 *    Ending it is tidiness, not safety: once `armed` is renamed away it does nothing.
 * CONSTANT text (uses $rs, $dir, $delay of {@link APPLY_VERIFY_SCRIPT}).
 */
const TIMER_SUBSHELL =
  "( trap '' HUP INT TERM; trap 'kill -KILL \"$sp\" 2>/dev/null; exit 0' USR1; " +
  'sleep "$delay" & sp=$!; wait "$sp"; set -- "$dir" 0; . "$rs" ) </dev/null >/dev/null 2>&1 & ';

/**
 * Args: REVERT_SCRIPT PLAN_DIR DELAY COMMANDS, then the ping round's and kernel read's
 * arguments (observe.ts `kernelReadScript`). (1) Starts the revert timer: a subshell of this
 * script ({@link TIMER_SUBSHELL}), its pid in PLAN_DIR/timer.sub, (2) runs COMMANDS (revert.sh's
 * format: one argument per line, a blank line ends a command, each run as "$@" — the shell
 * never parses their content; `@@sysctl PATH VALUE…` is written by redirection, `@@read TOOL
 * …` has its output framed by `@@fleetnet-read TOOL` / `@@fleetnet-read-end`) and stops at the
 * first failure, printing `@@fleetnet-apply STATUS COMMAND` (0 when all passed), (3) pings the
 * addresses and reads what the batches did not print (observe.ts's script, last).
 * CONSTANT text: every value arrives as a positional argument or in the plan's files.
 */
const APPLY_VERIFY_SCRIPT =
  "rs=$1; dir=$2; delay=$3; cmds=$4; shift 4; " +
  `${TIMER_SUBSHELL} ` +
  'echo "$!" > "$dir/timer.sub" || { echo "@@fleetnet-apply 1 timer"; exit 0; }; ' +
  // one command: "$@", or `@@sysctl PATH VALUE…` written by redirection (no sysctl process)
  'run() { if [ "$1" = @@sysctl ]; then shift; while [ $# -ge 2 ]; do ' +
  'printf "%s\\n" "$2" > "$1" || { echo "cannot write \\"$2\\" to $1" >&2; echo "@@fleetnet-apply 1 sysctl"; exit 1; }; ' +
  "shift 2; done; " +
  // `@@read TOOL …`: a batch ending in show lines (the verify read): its output framed
  'elif [ "$1" = @@read ]; then shift; echo "@@fleetnet-read $1"; ' +
  '"$@" </dev/null || { r=$?; echo; echo "@@fleetnet-apply $r $1"; exit 1; }; echo "@@fleetnet-read-end"; ' +
  'else "$@" </dev/null || { r=$?; echo "@@fleetnet-apply $r $1"; exit 1; }; fi; }; ' +
  '( set --; while IFS= read -r line || [ -n "$line" ]; do ' +
  'if [ -n "$line" ]; then set -- "$@" "$line"; continue; fi; ' +
  'if [ $# -gt 0 ]; then run "$@"; fi; set --; ' +
  'done < "$cmds"; ' +
  'if [ $# -gt 0 ]; then run "$@"; fi ) || exit 0; ' +
  'echo "@@fleetnet-apply 0"; ';

/** The staged process's pause line, printed after the observation. */
const PAUSE = "@@fleetnet-pause";
/** Ends the apply's arguments on the staged process's stdin. */
const ARGS_END = "@@fleetnet-args-end";

/**
 * The transaction's host process ({@link observeStaged}): the observation (`kernel`, the
 * ping round before the change and the kernel read: observe.ts `kernelReadScript`), the pause
 * line; then, only when stdin brings `apply`, the apply's arguments one per
 * line and {@link ARGS_END}, {@link APPLY_VERIFY_SCRIPT} (+ `kernel` again for the verify read).
 * Anything else, or end-of-file before {@link ARGS_END} (the diff was empty or not
 * network-only; the executor or its ssh session died), ends it having changed nothing.
 * Args: the observation's. CONSTANT text (`kernel` is observe.ts's constant script).
 */
function stagedScript(kernel: string): string {
  return (
    `${kernel}; echo ${PAUSE}; ` +
    'IFS= read -r go || exit 0; [ "$go" = apply ] || exit 0; set --; ok=0; ' +
    `while IFS= read -r a; do if [ "$a" = ${ARGS_END} ]; then ok=1; break; fi; set -- "$@" "$a"; done; ` +
    `[ "$ok" = 1 ] || exit 0; ${APPLY_VERIFY_SCRIPT}${kernel}`
  );
}

/** A transaction's host process, paused after its observation ({@link observeStaged}). */
export interface StagedTx {
  /** The observation: the kernel and the ping round before the change. */
  kernel: KernelRead;
  /**
   * The paused process: {@link applyAndVerify} goes on with it; `finish("")` ends it (it has
   * changed nothing). `finish` is idempotent: the transaction calls it on every way out.
   */
  run: StagedRun;
}

/**
 * Observe a host's kernel (with `sysctlKeys`) and ping `pingAddrs` in a host process that then
 * waits for the executor: the apply of a network-only change continues in it
 * ({@link applyAndVerify}), saving the program starts of a second process
 * (`nsenter` + `sh` on a namespace host, a channel over ssh).
 */
export async function observeStaged(
  d: HostDriver,
  sysctlKeys: readonly string[],
  pingAddrs: readonly string[],
): Promise<StagedTx> {
  const k = kernelReadScript(sysctlKeys, pingAddrs, {}, await readBatchFile(d));
  const run = await d.runStaged(
    ["sh", "-c", stagedScript(k.script), "sh", ...k.args],
    PAUSE,
    pingAddrs.length > 0 ? { timeoutMs: 60_000 } : {},
  );
  if (!run.first.paused) {
    const why = run.first.code === 124 ? "timed out" : `ended (exit status ${run.first.code})`;
    throw new ExecutorError(
      "COMMAND_FAILED",
      `observing ${d.host} (ping, ip -batch, bridge fdb, sysctl) ${why}: ${run.first.stderr.trim() || "no message"}`,
      true,
    );
  }
  try {
    const kernel = parseKernelRead(d.host, run.first.stdout, run.first.stderr, sysctlKeys, pingAddrs);
    return { kernel, run };
  } catch (e) {
    await run.finish("").catch(() => {});
    throw e;
  }
}

/** What {@link applyAndVerify} found. */
export type ApplyVerifyResult =
  | {
      ok: true;
      /** The kernel as the change left it (verify). */
      kernel: KernelRead;
      /** The addresses that answered the ping round after the change (RTT in ms when printed). */
      pings: Map<string, number | undefined>;
    }
  | { ok: false; error: ExecutorError };

/**
 * Apply network-only `ops` ({@link networkOnly}) in `staged`, the host process that observed
 * the host ({@link observeStaged}) and waits at its pause line: start the revert timer
 * of `plan` (already written and marked armed) with `delayS`, apply, ping `pingAddrs`, read
 * the kernel tables and `sysctlKeys`. The batch files and the command list are written into
 * the plan dir first. A failed apply step is `{ ok: false }` with `APPLY_FAILED` and the
 * tool's message (the caller reverts); a lost session throws.
 */
export async function applyAndVerify(
  d: HostDriver,
  plan: RevertPlan,
  delayS: number,
  ops: readonly Op[],
  sysctlKeys: readonly string[],
  pingAddrs: readonly string[],
  staged: StagedRun,
): Promise<ApplyVerifyResult> {
  // in the plan dir itself (a directory more per transaction is measurable on a 200-host lab)
  const at = (name: string) => `${plan.dir}/apply-${name}`;
  const cmds: string[] = [];
  const writes: Promise<void>[] = [];
  let n = 0;
  const segs = segments(ops);
  // The last ip and the last bridge batch end with the verify read's show lines: the same
  // process prints the kernel's tables once its ops went through (bridge ops only touch the
  // FDB, sysctls neither; so nothing after those batches changes what they print) — two
  // program starts fewer than reading them afterwards.
  const lastIp = segs.map((x) => x.tool).lastIndexOf("ip");
  const lastBridge = segs.map((x) => x.tool).lastIndexOf("bridge");
  for (const [i, seg] of segs.entries()) {
    const file = at(`${String(++n).padStart(2, "0")}.${seg.tool}`);
    if (seg.tool === "ip" || seg.tool === "bridge") {
      const read = i === lastIp ? IP_READ : i === lastBridge ? FDB_READ : undefined;
      const step = batchStep(d, seg, file, false, read);
      writes.push(step.write);
      cmds.push(argvBlock(read ? ["@@read", ...step.argv] : step.argv));
    } else if (seg.tool === "sysctl") {
      // `sysctl -w` writes the value to the key's /proc/sys file; the script does the same
      // with a redirection (one process less). The key is checked by sysctlAssignment.
      const pairs = seg.ops.flatMap((op) => {
        if (op.op !== "sysctl.set" || !op.value) return [];
        sysctlAssignment(op.key, op.value);
        return [sysctlPath(op.key), op.value];
      });
      if (pairs.length > 0) cmds.push(argvBlock(["@@sysctl", ...pairs]));
    } else {
      throw new ExecutorError("INVALID_INPUT", `applyAndVerify: ${seg.tool} ops are not network-only`);
    }
  }
  writes.push(d.writeFileAtomic(at("commands"), cmds.join(""), 0o644, SCRATCH));
  await Promise.all(writes);
  const kernel = kernelReadScript(
    sysctlKeys,
    pingAddrs,
    { ip: lastIp >= 0, fdb: lastBridge >= 0 },
    lastIp >= 0 ? "" : await readBatchFile(d),
  );
  const args = [
    d.hostPath(REVERT_SCRIPT_PATH),
    d.hostPath(plan.dir),
    String(delayS),
    d.hostPath(at("commands")),
    ...kernel.args,
  ];
  // one argument per line: none may hold a newline (paths, keys and addresses never do)
  if (args.some((a) => a.includes("\n")))
    throw new ExecutorError("UNSAFE_ARGUMENT", `an apply argument for ${d.host} holds a newline`);
  const r = await staged.finish(["apply", ...args, ARGS_END].map((a) => `${a}\n`).join(""));
  const m = /^@@fleetnet-apply (\d+)(?: (\S+))?$/m.exec(r.stdout);
  if (m?.[1] !== "0") {
    const tool = m?.[2];
    const label =
      tool === "timer"
        ? "starting the revert timer"
        : tool === "sysctl"
          ? "sysctl -w"
          : tool
            ? `${tool} -batch`
            : "apply";
    return {
      ok: false,
      error: new ExecutorError(
        "APPLY_FAILED",
        `${label} failed on ${d.host}: ${r.stderr.trim() || (m ? "no message" : `exit status ${r.code}`)}`,
      ),
    };
  }
  const done: KernelReadDone = {};
  for (const x of r.stdout
    .slice(0, m.index)
    .matchAll(/^@@fleetnet-read (ip|bridge)\n([\s\S]*?)^@@fleetnet-read-end$/gm))
    done[x[1] === "ip" ? "ip" : "fdb"] = x[2] ?? "";
  if ((lastIp >= 0 && done.ip === undefined) || (lastBridge >= 0 && done.fdb === undefined))
    throw new ExecutorError("COMMAND_FAILED", `the apply on ${d.host} printed no verify read`, true);
  const read = parseKernelRead(
    d.host,
    r.stdout.slice(m.index + m[0].length + 1),
    r.stderr,
    sysctlKeys,
    pingAddrs,
    done,
  );
  return {
    ok: true,
    pings: read.pings,
    kernel: read,
  };
}
