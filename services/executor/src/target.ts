/**
 * From an Inventory host to a {@link HostTarget}: which driver, where its files live, how
 * its daemons run.
 *
 * - `netns`: files under `<stateDir>/hosts/<host>/` (the lab's state dir), daemons started
 *   directly inside the namespace.
 * - `local`: the executor runs on the host; files at `/`, daemons by systemd.
 * - `ssh`: pinned host key from the inventory (`hostKey`, else `knownHostsFile`), key file;
 *   files at `/`, daemons by systemd.
 * `serviceMode` / `fsRoot` overrides exist for labs that reach namespace hosts over ssh.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import type { InventoryHost } from "@fleetnet/intent";
import { localDriver, netnsDriver } from "./drivers/process.js";
import type { ServiceMode } from "./services.js";
import type { HostTarget } from "./transaction.js";

/** Options of {@link targetFor}. */
export interface TargetOptions {
  /** The lab's state dir (netns hosts keep their files under `<stateDir>/hosts/<host>`). */
  stateDir?: string;
  /** Override how daemons are managed. */
  serviceMode?: ServiceMode;
  /** Override where host files live for local/ssh hosts (e.g. a lab host reached over ssh). */
  fsRoot?: string;
}

/** The lab's default state dir (same rule as `fleetnet lab`). */
export function defaultLabStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.FLEETNET_STATE_DIR || join(env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "fleetnet");
  return join(base, "lab");
}

/** How to reach an inventory host. */
export function targetFor(h: InventoryHost, o: TargetOptions = {}): HostTarget {
  const t = h.transport;
  switch (t.driver) {
    case "netns": {
      const stateDir = o.stateDir ?? defaultLabStateDir();
      return {
        host: h.name,
        serviceMode: o.serviceMode ?? "direct",
        connect: async () => netnsDriver({ host: h.name, netns: t.namespace, stateDir }),
      };
    }
    case "local":
      return {
        host: h.name,
        serviceMode: o.serviceMode ?? "systemd",
        connect: async () => localDriver({ host: h.name, ...(o.fsRoot ? { fsRoot: o.fsRoot } : {}) }),
      };
    case "ssh":
      return {
        host: h.name,
        serviceMode: o.serviceMode ?? "systemd",
        // ssh2 is loaded only for ssh hosts (keeps the executor's footprint small elsewhere)
        connect: async () =>
          (await import("./drivers/ssh.js")).sshDriver({
            host: h.name,
            address: t.host,
            port: t.port,
            user: t.user,
            privateKeyFile: t.privateKeyFile,
            hostKey: t.hostKey,
            ...(t.knownHostsFile ? { knownHostsFile: t.knownHostsFile } : {}),
            ...(o.fsRoot ? { fsRoot: o.fsRoot } : {}),
          }),
      };
  }
}
