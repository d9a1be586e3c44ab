import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * Test tiers by suffix: `*.test.ts` pure, `*.int.test.ts` needs NATS/Redis,
 * `*.netns.test.ts` needs root and network namespaces. Workspace packages resolve
 * to their TypeScript sources so tests run without a prior build.
 */
const root = fileURLToPath(new URL(".", import.meta.url));
const pkgDirs = ["libs", "services"].flatMap((d) => readdirSync(`${root}${d}`).map((p) => `${d}/${p}`));
pkgDirs.push("infra/lab", "cli");
const alias = Object.fromEntries(
  pkgDirs
    .filter((d) => existsSync(`${root}${d}/src/index.ts`))
    .map((d) => {
      const name = d === "infra/lab" ? "lab" : (d.split("/")[1] ?? d);
      return [`@fleetnet/${name}`, `${root}${d}/src/index.ts`];
    }),
);

const src = ["libs/*/src/**", "services/*/src/**", "infra/lab/src/**", "cli/src/**"];
const exclude = ["**/node_modules/**", "**/dist/**"];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: "unit",
          include: src.map((s) => `${s}/*.test.ts`),
          exclude: [...exclude, "**/*.int.test.ts", "**/*.netns.test.ts"],
        },
      },
      {
        resolve: { alias },
        test: {
          name: "int",
          include: src.map((s) => `${s}/*.int.test.ts`),
          exclude,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: "netns",
          include: src.map((s) => `${s}/*.netns.test.ts`),
          exclude,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
