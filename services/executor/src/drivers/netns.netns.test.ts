import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scratchNamespace } from "@fleetnet/testkit";
import { driverConformance } from "../testlib/conformance.testlib.js";
import { netnsDriver } from "./process.js";

driverConformance("netns", async () => {
  const ns = await scratchNamespace("fnx");
  const stateDir = await mkdtemp(join(tmpdir(), "fnx-state-"));
  return {
    netns: ns.name,
    connect: async () => netnsDriver({ host: "h1", netns: ns.name, stateDir }),
    cleanup: async () => {
      await ns.dispose();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
});
