/** Polling and child-process helpers for tests that drive real processes. */
import type { ChildProcess } from "node:child_process";

/**
 * Polls `fn` every `intervalMs` until it returns something other than `undefined`, and returns
 * that; throws `timed out waiting for <what>` once `ms` have passed.
 */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  ms = 30_000,
  intervalMs = 100,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Stops a child process: SIGTERM, then SIGKILL when it has not exited after `graceMs`. A no-op
 * when it never started or has already exited.
 */
export async function stopChild(p: ChildProcess | undefined, graceMs = 10_000): Promise<void> {
  if (p?.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once("exit", r));
  p.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
  if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
}

/** Whether a process with this PID exists (a zombie still counts) and may be signalled. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
