/**
 * The local driver runs commands on the machine the executor runs on. To test it for real
 * without touching this machine's network, the conformance suite runs in a child vitest
 * process started with `ip netns exec <scratch ns>`: the executor process itself lives in
 * the namespace, exactly as an agent lives on its host, and the driver is used unchanged
 * (only its fsRoot points at a temp dir so no file lands in the machine's /etc).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scratchNamespace } from "@fleetnet/testkit";
import { describe, expect, it } from "vitest";
import { driverConformance } from "../testlib/conformance.testlib.js";
import { localDriver } from "./process.js";

const inner = process.env.FNX_LOCAL_DRIVER_NETNS;

if (inner) {
  driverConformance("local (inside a scratch namespace)", async () => {
    const fsRoot = await mkdtemp(join(tmpdir(), "fnx-local-root-"));
    return {
      netns: inner,
      connect: async () => localDriver({ host: "self", fsRoot }),
      cleanup: () => rm(fsRoot, { recursive: true, force: true }),
    };
  });
} else {
  describe("local driver", () => {
    it("passes the conformance suite when the executor runs inside the host (child vitest in a scratch netns)", async () => {
      await using ns = await scratchNamespace("fnx");
      const repo = fileURLToPath(new URL("../../../../", import.meta.url));
      const file = fileURLToPath(import.meta.url);
      const child = spawn(
        "ip",
        [
          "netns",
          "exec",
          ns.name,
          process.execPath,
          join(repo, "node_modules/vitest/vitest.mjs"),
          "run",
          "--project",
          "netns",
          "--reporter",
          "json",
          file,
        ],
        {
          cwd: repo,
          env: { ...process.env, FNX_LOCAL_DRIVER_NETNS: ns.name },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let out = "";
      let err = "";
      child.stdout.on("data", (b: Buffer) => {
        out += b;
      });
      child.stderr.on("data", (b: Buffer) => {
        err += b;
      });
      const code = await new Promise<number | null>((r) => child.on("close", r));
      const report = JSON.parse(out.slice(out.indexOf("{"))) as {
        numPassedTests: number;
        numFailedTests: number;
        numTotalTests: number;
      };
      expect(report.numFailedTests, err).toBe(0);
      expect(report.numPassedTests).toBe(6);
      expect(code).toBe(0);
    });
  });
}
