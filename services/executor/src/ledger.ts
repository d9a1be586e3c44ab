/**
 * The host-side ledger: what fleetnet set, wrote or started on this host, so that observe
 * can report ownership for objects the kernel cannot mark (sysctls, files, services) —
 * see netstate's model.ts. Kept at /var/lib/fleetnet/ledger.json on the host (under the
 * driver's fsRoot) and restored with everything else when a transaction reverts.
 */
import { type Op, sha256Text } from "@fleetnet/netstate";
import type { HostDriver } from "./driver.js";
import { ExecutorError } from "./errors.js";

/** Host path of the ledger. */
export const LEDGER_PATH = "/var/lib/fleetnet/ledger.json";

/** The ledger's content. */
export interface Ledger {
  version: 1;
  /** Sysctls fleetnet owns: the value before it first set them, and persistence. */
  sysctls: Record<string, { original: string; persist: boolean }>;
  files: Record<
    string,
    {
      /** Content as fleetnet's desired state has it (secret placeholders unresolved). */
      content: string;
      mode: number;
      secrets?: Record<string, unknown>;
      /** sha256 of the bytes actually written (secrets resolved). */
      written: string;
    }
  >;
  /** Services fleetnet started: the config hash they last loaded. */
  services: Record<string, { configHash: string; configPaths: string[] }>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkLedger(v: unknown): Ledger {
  if (!isRecord(v) || v.version !== 1) throw new Error("version must be 1");
  for (const k of ["sysctls", "files", "services"] as const)
    if (!isRecord(v[k])) throw new Error(`${k} must be an object`);
  for (const [k, e] of Object.entries(v.sysctls as object)) {
    if (!isRecord(e) || typeof e.original !== "string" || typeof e.persist !== "boolean")
      throw new Error(`sysctls.${k}`);
  }
  for (const [k, e] of Object.entries(v.files as object)) {
    if (
      !isRecord(e) ||
      typeof e.content !== "string" ||
      typeof e.mode !== "number" ||
      typeof e.written !== "string"
    ) {
      throw new Error(`files.${k}`);
    }
  }
  for (const [k, e] of Object.entries(v.services as object)) {
    if (!isRecord(e) || typeof e.configHash !== "string" || !Array.isArray(e.configPaths))
      throw new Error(`services.${k}`);
  }
  return v as unknown as Ledger;
}

/** An empty ledger. */
export function emptyLedger(): Ledger {
  return { version: 1, sysctls: {}, files: {}, services: {} };
}

/** Parse ledger text (undefined = no ledger yet). */
export function parseLedger(text: string | undefined): Ledger {
  if (text === undefined) return emptyLedger();
  try {
    return checkLedger(JSON.parse(text));
  } catch (e) {
    throw new ExecutorError(
      "INVALID_INPUT",
      `host ledger ${LEDGER_PATH} is corrupt: ${(e as Error).message}`,
    );
  }
}

/** Read the ledger of a host. */
export async function readLedger(d: HostDriver): Promise<Ledger> {
  return parseLedger(await d.readFile(LEDGER_PATH));
}

/**
 * The ledger after `ops` were applied. `written` maps a file path to the bytes written
 * (secrets resolved).
 */
export function updateLedger(l: Ledger, ops: readonly Op[], written: ReadonlyMap<string, string>): Ledger {
  const next: Ledger = structuredClone(l);
  for (const op of ops) {
    switch (op.op) {
      case "sysctl.set":
        if (op.ownership === "acquire")
          next.sysctls[op.key] = { original: op.previous ?? "", persist: op.persist };
        else if (op.ownership === "keep") {
          const e = next.sysctls[op.key];
          if (e) e.persist = op.persist;
        } else delete next.sysctls[op.key];
        break;
      case "file.write": {
        const e: Ledger["files"][string] = {
          content: op.content,
          mode: op.mode,
          written: sha256Text(written.get(op.path) ?? op.content),
        };
        if (op.secrets !== undefined) e.secrets = op.secrets;
        next.files[op.path] = e;
        break;
      }
      case "file.remove":
        delete next.files[op.path];
        break;
      case "service.start":
      case "service.reload":
        next.services[op.service] = { configHash: op.configHash, configPaths: op.configPaths };
        break;
      case "service.stop":
        delete next.services[op.service];
        break;
      default:
        break;
    }
  }
  return next;
}
