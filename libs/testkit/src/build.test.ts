import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildProjects, WORKSPACE_ROOT } from "./build.js";

describe("buildProjects", () => {
  it("runs tsc -b in the workspace root; a failing build rejects with its output", async () => {
    expect(existsSync(join(WORKSPACE_ROOT, "pnpm-workspace.yaml"))).toBe(true);
    await buildProjects(["libs/testkit"]);
    expect(existsSync(join(WORKSPACE_ROOT, "libs/testkit/dist/build.js"))).toBe(true);
    await expect(buildProjects(["libs/no-such-project"])).rejects.toThrow(
      /build failed \(pnpm exec tsc -b libs\/no-such-project\)/,
    );
  }, 120_000);
});
