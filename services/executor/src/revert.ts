/**
 * The on-host revert timer (commit-confirmed for a whole Linux host).
 *
 * Design choice: the timer must work on a host where fleetnet is NOT installed (an ssh
 * host), survive SIGKILL of the executor and the loss of the SSH session, and never run a
 * shell string built from input. So a revert plan is DATA plus one FIXED script:
 *
 *   /run/fleetnet/revert.sh            constant text (REVERT_SCRIPT below)
 *   /run/fleetnet/revert/<tx>/commands one argument per line, a blank line ends a command
 *   /run/fleetnet/revert/<tx>/NN.ip     `ip -force -batch` input (lines built from parsed values)
 *   /run/fleetnet/revert/<tx>/NN.bridge `bridge -force -batch` input
 *   /run/fleetnet/revert/<tx>/file-N   snapshot bytes of a file to restore
 *   /run/fleetnet/revert/<tx>/apply-*  the apply's own input (apply.ts `applyAndVerify`)
 *   /run/fleetnet/revert/<tx>/armed    marker: the plan may still fire
 *   /run/fleetnet/revert/<tx>/timer.pid the detached timer's pid (= its session and group)
 *   /run/fleetnet/revert/<tx>/timer.sub the pid of a timer started as a subshell of the apply
 *
 * Under /run (a tmpfs on any systemd host): a plan is runtime state. Its timer dies with the
 * machine, so a plan that outlived a reboot could only mislead (the kernel state it would
 * revert is gone; persisted files keep what the unconfirmed change wrote either way).
 *
 * The script reads `commands` with `read -r` into "$@" and runs `"$@"`: no line is ever
 * parsed by the shell, so no value can become shell syntax. The executor starts the script
 * with `spawnDetached` (own session, stdio closed; over ssh `setsid … &`), or — for the
 * one-process apply of a network-only change — as a subshell of the apply script that sources
 * it (apply.ts `TIMER_SUBSHELL`): it sleeps, then fires unless the plan was confirmed.
 * Confirm and fire race through ONE atomic rename of
 * `armed` (→ `confirmed` or → `firing`): exactly one side wins. An immediate revert (apply
 * error, failed verify) runs the same script with delay 0 — one revert path for both.
 *
 * The plan is the inverse of the applied ops (`ops.reverse().map(invertOp)`), rendered with
 * `-force` so that ops never reached by a failed apply are skipped harmlessly; file ops
 * restore the snapshot bytes (secrets already resolved on the host), and service ops use
 * the service manager's argv.
 */
import { randomBytes } from "node:crypto";
import type { Op } from "@fleetnet/netstate";
import { invertOp } from "@fleetnet/netstate";
import type { HostDriver } from "./driver.js";
import { ExecutorError } from "./errors.js";
import { bridgeLine, ipLines, type Segment, segments, sysctlAssignment } from "./render.js";
import type { ServiceManager } from "./services.js";

/**
 * Write option of the transaction's own bookkeeping files (plan, apply input, markers, lock):
 * no flush to disk — only processes of the running machine read them (driver.ts `WriteOptions`).
 */
export const SCRATCH = { scratch: true } as const;

/** Host path of the fixed revert script. */
export const REVERT_SCRIPT_PATH = "/run/fleetnet/revert.sh";
/** Host dir holding revert plans. */
export const REVERT_DIR = "/run/fleetnet/revert";

/** The fixed revert script (never generated from input). */
export const REVERT_SCRIPT = `#!/bin/sh
# fleetnet revert timer. FIXED CONTENT: this file is never generated from input.
# usage: revert.sh PLAN_DIR DELAY_SECONDS
# After DELAY seconds, unless the plan was confirmed (PLAN_DIR/armed renamed away), runs
# PLAN_DIR/commands: one argument per line, a blank line ends a command. Lines are read
# with read -r into "$@" and executed as "$@": the shell never parses their content.
dir=$1
delay=$2
[ "$delay" -gt 0 ] && echo $$ > "$dir/timer.pid"
[ "$delay" -gt 0 ] && sleep "$delay"
mv "$dir/armed" "$dir/firing" 2>/dev/null || exit 0
exec >>"$dir/revert.log" 2>&1 </dev/null
failed=0
set --
while IFS= read -r line || [ -n "$line" ]; do
  if [ -z "$line" ]; then
    if [ $# -gt 0 ]; then
      "$@" || { echo "fleetnet revert: exit $? from: $*"; failed=1; }
    fi
    set --
  else
    set -- "$@" "$line"
  fi
done < "$dir/commands"
if [ $# -gt 0 ]; then "$@" || failed=1; fi
echo "$failed" > "$dir/firing"
mv "$dir/firing" "$dir/reverted"
`;

/** A snapshot of a file before the transaction (`undefined` = it did not exist). */
export interface FileSnapshot {
  path: string;
  content: string | undefined;
  mode: number;
}

/** A revert plan written to the host. */
export interface RevertPlan {
  /** Transaction id (plan dir name). */
  id: string;
  /** Host path of the plan dir. */
  dir: string;
}

/** One command of a `commands` file: its arguments one per line, then a blank line. */
export function argvBlock(argv: readonly string[]): string {
  for (const a of argv) {
    if (a === "" || /[\n\r\0]/.test(a)) {
      throw new ExecutorError(
        "UNSAFE_ARGUMENT",
        `revert command argument ${JSON.stringify(a)} is empty or multi-line`,
      );
    }
  }
  return `${argv.join("\n")}\n\n`;
}

/**
 * One ip or bridge segment as a step of a `commands` file: its batch input written to `file`
 * (a scratch file of the plan) and the argv that runs it — with `-force` for a revert, which
 * must go on past ops a failed apply never reached. `read`: the batch ends with `read` lines
 * (show commands) and runs with `readFlags` (e.g. `-j`): the same process prints them once
 * the ops went through (`ip -batch` stops at a failing line, so a failed apply prints nothing).
 */
export function batchStep(
  d: HostDriver,
  seg: Segment,
  file: string,
  force: boolean,
  read?: { lines: readonly string[]; flags: readonly string[] },
): { write: Promise<void>; argv: string[] } {
  const lines = seg.tool === "ip" ? seg.ops.flatMap(ipLines) : seg.ops.map(bridgeLine);
  if (read) lines.push(...read.lines);
  return {
    write: d.writeFileAtomic(file, `${lines.join("\n")}\n`, 0o644, SCRATCH),
    argv: [seg.tool, ...(force ? ["-force"] : []), ...(read?.flags ?? []), "-batch", d.hostPath(file)],
  };
}

/** A new transaction id: time-ordered and unique. */
export function newTxId(): string {
  return `${new Date().toISOString().replace(/[-:.]/g, "").replace("T", "-").slice(0, 15)}-${randomBytes(3).toString("hex")}`;
}

/**
 * Write the revert plan of `ops` to the host (not yet armed). `files` are the snapshots of
 * every file the ops (and the ledger update) touch; they are restored last-write-wins
 * after the network state.
 */
export async function writeRevertPlan(
  d: HostDriver,
  services: ServiceManager,
  id: string,
  ops: readonly Op[],
  files: readonly FileSnapshot[],
): Promise<RevertPlan> {
  const dir = `${REVERT_DIR}/${id}`;
  const hdir = d.hostPath(dir);
  const inverse = [...ops].reverse().map(invertOp);
  const cmds: string[] = [];
  const writes: Promise<void>[] = [];
  let n = 0;
  const svcAfterFiles: string[] = [];
  let filesRestored = false;
  const restoreFiles = () => {
    if (filesRestored) return;
    filesRestored = true;
    files.forEach((f, i) => {
      const target = d.hostPath(f.path);
      if (f.content === undefined) cmds.push(argvBlock(["rm", "-f", "--", target]));
      else {
        const src = `${hdir}/file-${i}`;
        writes.push(d.writeFileAtomic(`${dir}/file-${i}`, f.content, f.mode, SCRATCH));
        const tmp = `${target}.fleetnet-revert`;
        cmds.push(argvBlock(["cp", "-p", "--", src, tmp]));
        cmds.push(argvBlock(["mv", "-f", "--", tmp, target]));
      }
    });
  };
  for (const seg of segments(inverse)) {
    const id2 = String(++n).padStart(2, "0");
    if (seg.tool === "ip" || seg.tool === "bridge") {
      const step = batchStep(d, seg, `${dir}/${id2}.${seg.tool}`, true);
      writes.push(step.write);
      cmds.push(argvBlock(step.argv));
    } else if (seg.tool === "sysctl") {
      const assigns = seg.ops.flatMap((o) =>
        o.op === "sysctl.set" && o.value ? [sysctlAssignment(o.key, o.value)] : [],
      );
      if (assigns.length > 0) cmds.push(argvBlock(["sysctl", "-q", "-w", ...assigns]));
    } else if (seg.tool === "file") {
      restoreFiles();
    } else {
      for (const o of seg.ops) {
        if (o.op !== "service.start" && o.op !== "service.stop" && o.op !== "service.reload") continue;
        const action = o.op === "service.start" ? "start" : o.op === "service.stop" ? "stop" : "reload";
        // a daemon (re)started by the revert must read the restored config
        (filesRestored ? cmds : svcAfterFiles).push(...services.commands(o.service, action).map(argvBlock));
      }
    }
  }
  restoreFiles(); // also the ledger and any file not covered by a file op
  cmds.push(...svcAfterFiles);
  writes.push(d.writeFileAtomic(`${dir}/commands`, cmds.join(""), 0o644, SCRATCH));
  // the fixed script is rewritten only when it differs (a new fleetnet version, a damaged copy)
  writes.push(
    d
      .readFile(REVERT_SCRIPT_PATH)
      .then((now) =>
        now === REVERT_SCRIPT ? undefined : d.writeFileAtomic(REVERT_SCRIPT_PATH, REVERT_SCRIPT, 0o755),
      ),
  );
  await Promise.all(writes);
  return { id, dir };
}

/**
 * Mark the plan armed (the timer fires only while this marker is there) and return the
 * timer's delay in whole seconds. The timer itself is started by {@link armRevertTimer} or,
 * in the same host process as the apply, by the apply-and-verify script (apply.ts).
 */
export async function markArmed(d: HostDriver, plan: RevertPlan, seconds: number): Promise<number> {
  const s = Math.max(1, Math.ceil(seconds));
  await d.writeFileAtomic(`${plan.dir}/armed`, `${Date.now() + s * 1000}\n`, 0o644, SCRATCH);
  return s;
}

/** Arm the timer: mark the plan armed and start the detached script on the host. */
export async function armRevertTimer(d: HostDriver, plan: RevertPlan, seconds: number): Promise<void> {
  const s = await markArmed(d, plan, seconds);
  await d.spawnDetached(["sh", d.hostPath(REVERT_SCRIPT_PATH), d.hostPath(plan.dir), String(s)]);
}

/**
 * Stop the sleeping timer, if it is still there: a subshell timer (`timer.sub`) with SIGUSR1
 * (it ignores HUP/INT/TERM and ends its `sleep` itself), a detached one (`timer.pid`) by its
 * session's process group.
 */
async function killTimer(d: HostDriver, plan: RevertPlan): Promise<void> {
  const sub = (await d.readFile(`${plan.dir}/timer.sub`))?.trim();
  if (sub && /^\d+$/.test(sub)) {
    await d.run(["kill", "-USR1", "--", sub]);
    return;
  }
  const pid = (await d.readFile(`${plan.dir}/timer.pid`))?.trim();
  if (pid && /^\d+$/.test(pid)) await d.run(["kill", "-TERM", "--", `-${pid}`]);
}

/**
 * Confirm: disarm the timer (atomic rename `armed` → `confirmed`). Returns false when the
 * timer already fired (the host reverted itself).
 */
export async function confirmPlan(d: HostDriver, plan: RevertPlan): Promise<boolean> {
  const r = await d.run(["mv", "--", d.hostPath(`${plan.dir}/armed`), d.hostPath(`${plan.dir}/confirmed`)]);
  if (r.code !== 0) return false;
  await killTimer(d, plan);
  return true;
}

/** Outcome of {@link revertNow}. */
export type RevertOutcome = "reverted" | "already-reverted" | "confirmed" | "failed";

/**
 * Revert at once (same script, delay 0). When the timer is already firing or fired,
 * waits for it to finish.
 */
export async function revertNow(d: HostDriver, plan: RevertPlan): Promise<RevertOutcome> {
  const r = await d.run(["sh", d.hostPath(REVERT_SCRIPT_PATH), d.hostPath(plan.dir), "0"]);
  await killTimer(d, plan).catch(() => {});
  if (r.code !== 0) return "failed";
  return await planStatus(d, plan, 15_000);
}

/** Where a plan stands; waits up to `waitMs` while it is firing. */
export async function planStatus(d: HostDriver, plan: RevertPlan, waitMs = 0): Promise<RevertOutcome> {
  const end = Date.now() + waitMs;
  for (;;) {
    const reverted = await d.readFile(`${plan.dir}/reverted`);
    if (reverted !== undefined) return reverted.trim() === "0" ? "reverted" : "failed";
    if ((await d.readFile(`${plan.dir}/confirmed`)) !== undefined) return "confirmed";
    if ((await d.readFile(`${plan.dir}/armed`)) !== undefined) return "failed";
    if (Date.now() >= end) return "failed";
    await new Promise((r) => setTimeout(r, 100));
  }
}
