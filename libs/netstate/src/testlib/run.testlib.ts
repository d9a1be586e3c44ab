/** Running the real tools from the netstate netns tests (argv only, no shell). */
import { spawnSync } from "node:child_process";

/** Runs `argv` (30 s at most); its exit code (-1 when it did not exit) and stdout + stderr. */
export function run(argv: string[]): { rc: number; out: string } {
  const [cmd, ...args] = argv as [string, ...string[]];
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 30_000 });
  return { rc: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** Runs `argv` and returns its output; throws with the output when it fails. */
export function must(argv: string[]): string {
  const r = run(argv);
  if (r.rc !== 0) throw new Error(`${argv.join(" ")} failed (${r.rc}): ${r.out}`);
  return r.out;
}
