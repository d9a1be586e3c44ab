/**
 * Daemon management for FRR (zebra + bgpd) and keepalived.
 *
 * Every action is a list of argv (no shell strings from input), so the same commands
 * serve the live apply (run through the driver) and the on-host revert plan (written to
 * the plan's command file). Two managers:
 * - `systemd` (real hosts): `systemctl start|stop|reload frr|keepalived`.
 * - `direct` (network namespaces, and hosts without systemd): the daemons are started
 *   directly, inside the host's namespace, with per-host config and pid dirs mapped under
 *   the driver's fsRoot (LAB-NOTES "FRR per namespace", "keepalived per namespace"). A
 *   reload restarts FRR (its daemons re-read frr.conf) and sends SIGHUP to keepalived.
 *
 * The few shell scripts below are CONSTANTS; paths reach them only as positional
 * arguments ("$1"), never spliced into the script text.
 */
import type { ServiceName } from "@fleetnet/netstate";
import type { HostDriver } from "./driver.js";

/** An action on a daemon. */
export type ServiceAction = "start" | "stop" | "reload";

/** How a host's daemons are run. */
export type ServiceMode = "systemd" | "direct";

/** Host paths of the daemons' config files. */
export const CONFIG_PATHS: Record<ServiceName, string> = {
  frr: "/etc/frr/frr.conf",
  keepalived: "/etc/keepalived/keepalived.conf",
};

/** Stop the process in pid file $1 if its name is $2; wait up to 5 s for it to exit. */
const STOP_SCRIPT =
  'p=$(cat "$1" 2>/dev/null) || exit 0; [ -n "$p" ] || exit 0; ' +
  '[ "$(cat /proc/"$p"/comm 2>/dev/null)" = "$2" ] || exit 0; kill "$p" || exit 0; i=0; ' +
  'while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; rm -f "$1"';
/** Exit 0 when the process in pid file $1 runs and is named $2. */
const STATUS_SCRIPT =
  'p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && [ "$(cat /proc/"$p"/comm 2>/dev/null)" = "$2" ]';
/** Wait up to 10 s until the process in pid file $1 runs and is named $2 (daemons fork). */
const WAIT_SCRIPT =
  'i=0; while [ $i -lt 100 ]; do p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && ' +
  '[ "$(cat /proc/"$p"/comm 2>/dev/null)" = "$2" ] && exit 0; sleep 0.1; i=$((i+1)); done; ' +
  'echo "$2 did not start (no live pid in $1)" >&2; exit 1';
/** Send SIGHUP to the process in pid file $1 when it is named $2. */
const HUP_SCRIPT = 'p=$(cat "$1") && [ "$(cat /proc/"$p"/comm 2>/dev/null)" = "$2" ] && kill -HUP "$p"';

/** Manages the daemons of one host. */
export interface ServiceManager {
  readonly mode: ServiceMode;
  /** The argv list that performs `action` (run in order). */
  commands(name: ServiceName, action: ServiceAction): string[][];
  /** Whether the daemon runs. */
  running(name: ServiceName): Promise<boolean>;
  /** Argv that checks a candidate config file (run inside the host); exit 0 = valid. */
  checkConfig(name: ServiceName, candidateHostPath: string): string[];
  /** Extra vtysh arguments to reach this host's FRR (`--vty_socket DIR` in direct mode). */
  vtyshArgs(): string[];
}

/** Create the manager for a driver. */
export function serviceManager(driver: HostDriver, mode: ServiceMode): ServiceManager {
  return mode === "systemd" ? new SystemdServices(driver) : new DirectServices(driver);
}

class SystemdServices implements ServiceManager {
  readonly mode = "systemd" as const;
  constructor(readonly d: HostDriver) {}
  commands(name: ServiceName, action: ServiceAction): string[][] {
    return [["systemctl", action, name]];
  }
  async running(name: ServiceName): Promise<boolean> {
    return (await this.d.run(["systemctl", "is-active", "--quiet", name])).code === 0;
  }
  checkConfig(name: ServiceName, candidate: string): string[] {
    return name === "frr" ? ["vtysh", "-C", "-f", candidate] : ["keepalived", "-t", "-f", candidate];
  }
  vtyshArgs(): string[] {
    return [];
  }
}

class DirectServices implements ServiceManager {
  readonly mode = "direct" as const;
  constructor(readonly d: HostDriver) {}

  #run(name: ServiceName): string {
    return this.d.hostPath(`/run/fleetnet/${name}`);
  }

  #pids(name: ServiceName): [string, string][] {
    const r = this.#run(name);
    return name === "frr"
      ? [
          [`${r}/bgpd.pid`, "bgpd"],
          [`${r}/zebra.pid`, "zebra"],
        ]
      : [[`${r}/keepalived.pid`, "keepalived"]];
  }

  commands(name: ServiceName, action: ServiceAction): string[][] {
    const run = this.#run(name);
    const conf = this.d.hostPath(CONFIG_PATHS[name]);
    const stop = this.#pids(name).map(([pid, comm]) => ["sh", "-c", STOP_SCRIPT, "sh", pid, comm]);
    let start: string[][];
    if (name === "frr") {
      const daemon = (bin: "zebra" | "bgpd") => [
        `/usr/lib/frr/${bin}`,
        "-d",
        "-u",
        "frr",
        "-g",
        "frr",
        "-f",
        conf,
        "-i",
        `${run}/${bin}.pid`,
        "-z",
        `${run}/zserv.api`,
        "--vty_socket",
        run,
        "-A",
        "127.0.0.1",
        "-P",
        "0",
      ];
      start = [
        ["install", "-d", "-o", "frr", "-g", "frr", run],
        daemon("zebra"),
        ["sh", "-c", WAIT_SCRIPT, "sh", `${run}/zebra.pid`, "zebra"],
        daemon("bgpd"),
        ["sh", "-c", WAIT_SCRIPT, "sh", `${run}/bgpd.pid`, "bgpd"],
      ];
    } else {
      start = [
        ["install", "-d", run],
        [
          "keepalived",
          "-f",
          conf,
          "-p",
          `${run}/keepalived.pid`,
          "-r",
          `${run}/vrrp.pid`,
          "-c",
          `${run}/checkers.pid`,
          "-b",
          `${run}/bfd.pid`,
          "-l",
          "-D",
        ],
        ["sh", "-c", WAIT_SCRIPT, "sh", `${run}/keepalived.pid`, "keepalived"],
      ];
    }
    if (action === "start") return start;
    if (action === "stop") return stop;
    if (name === "keepalived") {
      const [pid, comm] = this.#pids(name)[0] as [string, string];
      return [["sh", "-c", HUP_SCRIPT, "sh", pid, comm]];
    }
    return [...stop, ...start];
  }

  async running(name: ServiceName): Promise<boolean> {
    for (const [pid, comm] of this.#pids(name)) {
      if ((await this.d.run(["sh", "-c", STATUS_SCRIPT, "sh", pid, comm])).code !== 0) return false;
    }
    return true;
  }

  checkConfig(name: ServiceName, candidate: string): string[] {
    return name === "frr" ? ["vtysh", "-C", "-f", candidate] : ["keepalived", "-t", "-f", candidate];
  }

  vtyshArgs(): string[] {
    return ["--vty_socket", this.#run("frr")];
  }
}
