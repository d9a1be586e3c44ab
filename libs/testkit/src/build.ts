/** Building the workspace's packages for tests that run their built output as processes. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The workspace root (this file is `libs/testkit/{src,dist}/build.*`). */
export const WORKSPACE_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * `pnpm exec tsc -b <projects…>` in the workspace root (argv, no shell; fast when up to date).
 * Rejects with the compiler's output when the build fails or takes longer than `timeoutMs`.
 */
export function buildProjects(projects: readonly string[], timeoutMs = 240_000): Promise<void> {
  const argv = ["exec", "tsc", "-b", ...projects];
  return new Promise((resolve, reject) =>
    execFile("pnpm", argv, { cwd: WORKSPACE_ROOT, timeout: timeoutMs }, (err, stdout, stderr) =>
      err
        ? reject(new Error(`build failed (pnpm ${argv.join(" ")}): ${err.message}\n${stdout}${stderr}`))
        : resolve(),
    ),
  );
}
