/**
 * The lab's state file (`<stateDir>/state.json`): everything `lab up` creates is recorded here
 * BEFORE it is created, so `lab down` removes exactly that — also after a crash or `kill -9`
 * half-way. The file is created exclusively (`wx`), which doubles as the "one lab per state
 * dir" lock, and rewritten atomically (temp file + rename) so a crash never leaves it torn.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabError } from "./errors.js";
import type { LabTopology } from "./topology.js";

/** A daemon started by the lab. */
export interface LabProcess {
  pid: number;
  /** Process start time (clock ticks since boot, /proc/PID/stat field 22), guards PID reuse. */
  start: number;
  kind: "sshd" | "softflowd";
  host: string;
  namespace: string;
}

/** SSH access settings recorded when the lab was started with `--ssh`. */
export interface LabSsh {
  user: string;
  port: number;
  /** Client private key (its public half is authorised on every host). */
  privateKeyFile: string;
  /** known_hosts with every host's pinned key. */
  knownHostsFile: string;
  /** Host name → pinned public host key ("ssh-ed25519 AAAA…"). */
  hostKeys: Record<string, string>;
}

/** Content of the state file. */
export interface LabState {
  version: 1;
  /** `creating` until `lab up` finished; `up`; `deleting` while `lab down` runs. */
  status: "creating" | "up" | "deleting";
  mode: "count" | "inventory";
  /** PID and start time of the `lab up` process (to tell a running one from a crashed one). */
  owner: { pid: number; start: number };
  createdAt: string;
  topology: LabTopology;
  /** Namespaces to delete (recorded before creation). */
  namespaces: string[];
  /** Root-namespace links to delete (recorded before creation). */
  links: string[];
  /** Daemons started (recorded right after each spawn group; processes inside the lab's
   * namespaces are found and killed by `down` even if a crash came before recording). */
  processes: LabProcess[];
  /** Files and directories to remove (recorded before creation). */
  files: string[];
  /** The written Inventory file. */
  inventoryFile: string;
  ssh?: LabSsh;
  /** NetFlow collector `HOST:PORT`, when flows were asked for. */
  flows?: string;
}

/** Path of the state file in `stateDir`. */
export function stateFile(stateDir: string): string {
  return join(stateDir, "state.json");
}

/** Start time of process `pid` (clock ticks since boot), or undefined when it does not exist. */
export function processStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state); starttime is field 22.
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** Read the state, or undefined when no lab is recorded in `stateDir`. */
export function readState(stateDir: string): LabState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFile(stateDir), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const s = JSON.parse(text) as LabState;
    if (s.version !== 1 || !Array.isArray(s.namespaces)) throw new Error("unknown layout");
    return s;
  } catch (err) {
    throw new LabError(
      "STATE_CORRUPT",
      `${stateFile(stateDir)} is not a lab state file (${(err as Error).message}); inspect it, remove what it lists by hand, then delete it`,
    );
  }
}

/**
 * Create the state file exclusively. Throws LAB_ALREADY_UP when one exists (a lab is up, or a
 * crashed one was not brought down).
 */
export function createState(stateDir: string, state: LabState): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(stateFile(stateDir), `${JSON.stringify(state, null, 1)}\n`, { flag: "wx", mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new LabError(
        "LAB_ALREADY_UP",
        `a lab is already recorded in ${stateDir} (state.json exists); run "fleetnet lab down --state-dir ${stateDir}" first, or use another --state-dir`,
      );
    }
    throw err;
  }
}

/** Rewrite the state atomically. */
export function writeState(stateDir: string, state: LabState): void {
  const tmp = `${stateFile(stateDir)}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 1)}\n`, { mode: 0o600 });
  renameSync(tmp, stateFile(stateDir));
}
