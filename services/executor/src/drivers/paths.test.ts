/**
 * Host paths of the process drivers: a host's files under its fsRoot, its /run (runtime
 * state: lock, revert plans) under the runRoot — for a netns host the tmpfs directory that
 * labs and test fixtures remove with the namespace.
 */
import { NETNS_RUN_ROOT as LAB_RUN_ROOT } from "@fleetnet/testkit";
import { describe, expect, it } from "vitest";
import { localDriver, NETNS_RUN_ROOT, netnsDriver } from "./process.js";

describe("process drivers' host paths", () => {
  const netns = netnsDriver({ host: "h1", netns: "lab-h1", stateDir: "/tmp/lab/" });
  it.each([
    [localDriver(), "/etc/frr/frr.conf", "/etc/frr/frr.conf"],
    [localDriver(), "/run/fleetnet/lock", "/run/fleetnet/lock"],
    [localDriver({ fsRoot: "/tmp/x" }), "/run/fleetnet/lock", "/tmp/x/run/fleetnet/lock"],
    [
      localDriver({ fsRoot: "/tmp/x", runRoot: "/dev/shm/r" }),
      "/run/fleetnet/revert",
      "/dev/shm/r/fleetnet/revert",
    ],
    [netns, "/var/lib/fleetnet/ledger.json", "/tmp/lab/hosts/h1/var/lib/fleetnet/ledger.json"],
    [netns, "/run/fleetnet/revert/t1/armed", `${NETNS_RUN_ROOT}/lab-h1/fleetnet/revert/t1/armed`],
    [netns, "/run", `${NETNS_RUN_ROOT}/lab-h1`],
    [netns, "/runner/x", "/tmp/lab/hosts/h1/runner/x"],
  ])("%# %s → %s", (d, path, want) => {
    expect(d.hostPath(path)).toBe(want);
  });

  it("the netns /run root is the one labs and test fixtures remove with a namespace", () => {
    expect(NETNS_RUN_ROOT).toBe(LAB_RUN_ROOT);
  });
});
