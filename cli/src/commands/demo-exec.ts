/**
 * Process helpers of `fleetnet demo`: run a program (argv only, never a shell string) and
 * collect its output, run the built `fleetnet` CLI itself with the demo's environment, look
 * up tools on PATH, poll until something holds, and print proof lines.
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { colour } from "../io.js";

/** `cli/dist/commands/demo-exec.js` → the repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** The CLI binary this process runs (sub-steps run it as a child, as an operator would). */
const CLI_BIN = join(ROOT, "cli", "dist", "bin.js");

/** A finished process. */
export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run argv to completion; output collected (or passed through with `inherit`). Never rejects. */
export function run(
  argv: readonly string[],
  opts: {
    env?: NodeJS.ProcessEnv;
    inherit?: boolean;
    tee?: boolean;
    timeoutMs?: number;
    input?: string;
  } = {},
): Promise<Ran> {
  return new Promise((res) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    const c = spawn(cmd, args, {
      env: opts.env ?? process.env,
      stdio: [
        opts.input === undefined ? "ignore" : "pipe",
        opts.inherit ? "inherit" : "pipe",
        opts.inherit ? "inherit" : "pipe",
      ],
    });
    let stdout = "";
    let stderr = "";
    c.stdout?.on("data", (b: Buffer) => {
      stdout += b;
      if (opts.tee) process.stdout.write(b);
    });
    c.stderr?.on("data", (b: Buffer) => {
      stderr += b;
      if (opts.tee) process.stderr.write(b);
    });
    if (opts.input !== undefined) c.stdin?.end(opts.input);
    const t = opts.timeoutMs ? setTimeout(() => c.kill("SIGKILL"), opts.timeoutMs) : undefined;
    c.once("error", (e) => {
      if (t) clearTimeout(t);
      res({ code: 127, stdout, stderr: `${stderr}${e.message}\n` });
    });
    c.once("close", (code) => {
      if (t) clearTimeout(t);
      res({ code, stdout, stderr });
    });
  });
}

/** Run the built `fleetnet` CLI with `env` (output passed through when `inherit`, also collected when `tee`). */
export function fleetnet(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  opts: { inherit?: boolean; tee?: boolean; timeoutMs?: number } = {},
): Promise<Ran> {
  return run([process.execPath, CLI_BIN, ...args], { env, ...opts });
}

/** `ip -n NS -j ARGS…` parsed (an empty list when the command fails). */
export async function ipJson(ns: string, args: readonly string[]): Promise<unknown[]> {
  const r = await run(["ip", "-n", ns, "-j", ...args]);
  if (r.code !== 0) return [];
  try {
    return JSON.parse(r.stdout || "[]") as unknown[];
  } catch {
    return [];
  }
}

/** Whether `name` is an executable file (absolute) or found on PATH. */
export function haveTool(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const candidates = name.startsWith("/")
    ? [name]
    : (env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":").map((d) => join(d, name));
  return candidates.some((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Poll `f` every `everyMs` until it returns a value (not undefined) or `ms` passed. */
export async function poll<T>(
  f: () => Promise<T | undefined>,
  ms: number,
  everyMs = 500,
): Promise<T | undefined> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() >= until) return undefined;
    await sleep(everyMs);
  }
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** One proof: its name, whether it held, and the evidence. */
export interface Proof {
  name: string;
  ok: boolean;
  evidence: string[];
}

/** Print a proof as `✓ name` / `✗ name` with its evidence indented below. */
export function printProof(p: Proof, write: (s: string) => void = (s) => process.stdout.write(s)): void {
  const mark = p.ok ? colour.green("✓") : colour.red("✗");
  write(`${mark} ${p.name}\n`);
  for (const e of p.evidence) write(`    ${e}\n`);
}

/** A section header of the demo's output. */
export function step(title: string): void {
  process.stdout.write(`\n${colour.bold(`==> ${title}`)}\n`);
}
