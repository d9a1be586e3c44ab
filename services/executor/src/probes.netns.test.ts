/**
 * `pingMany` against a real namespace: one process pings every address; the ones that
 * answer come back with their RTT, the unreachable ones are absent.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scratchNamespace } from "@fleetnet/testkit";
import { describe, expect, it } from "vitest";
import { netnsDriver } from "./drivers/process.js";
import { pingMany } from "./probes.js";

describe("pingMany", () => {
  it("returns the addresses that answered with their RTT, in one host process", async () => {
    await using ns = await scratchNamespace("fnx");
    const stateDir = await mkdtemp(join(tmpdir(), "fnx-ping-"));
    try {
      expect((await ns.run(["ip", "link", "set", "lo", "up"])).code).toBe(0);
      expect((await ns.run(["ip", "addr", "add", "10.98.0.1/32", "dev", "lo"])).code).toBe(0);
      const d = netnsDriver({ host: "h1", netns: ns.name, stateDir });
      // 10.99.0.1: no route inside the namespace (never leaves it)
      const got = await pingMany(d, ["127.0.0.1", "10.98.0.1", "10.99.0.1"]);
      expect([...got.keys()].sort()).toEqual(["10.98.0.1", "127.0.0.1"]);
      for (const rtt of got.values()) {
        expect(typeof rtt).toBe("number");
        expect(rtt).toBeGreaterThanOrEqual(0);
      }
      expect((await pingMany(d, [])).size).toBe(0);
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
