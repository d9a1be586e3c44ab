/**
 * Inventory input and output of the lab: read the `Inventory` documents of intent files
 * (other kinds in the same files are ignored), and write the Inventory describing a lab.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Inventory, InventorySchema } from "@fleetnet/intent";
import { parseAllDocuments } from "yaml";
import { LabError } from "./errors.js";
import type { LabSsh } from "./state.js";
import type { LabTopology } from "./topology.js";

function expand(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch {
      throw new LabError("BAD_INVENTORY", `${p}: no such file or directory`);
    }
    if (st.isDirectory()) {
      files.push(
        ...readdirSync(p)
          .filter((f) => /\.ya?ml$/.test(f))
          .sort()
          .map((f) => join(p, f)),
      );
    } else files.push(p);
  }
  return files;
}

/**
 * Read every `kind: Inventory` document of the given files/directories (a directory means its
 * `*.yaml`/`*.yml`, sorted) and validate it with the intent schema. Throws BAD_INVENTORY naming
 * file, document and field; throws when no Inventory document is found.
 */
export function loadInventories(paths: readonly string[]): Inventory[] {
  const out: Inventory[] = [];
  for (const file of expand(paths)) {
    const text = readFileSync(file, "utf8");
    const docs = parseAllDocuments(text);
    if (!Array.isArray(docs)) throw new LabError("BAD_INVENTORY", `${file}: not a YAML stream`);
    docs.forEach((doc, i) => {
      const where = `${file}#${i + 1}`;
      if (doc.errors.length > 0)
        throw new LabError("BAD_INVENTORY", `${where}: YAML: ${doc.errors[0]?.message}`);
      const value = doc.toJS() as unknown;
      if (value === null || value === undefined) return;
      if (typeof value !== "object" || (value as { kind?: unknown }).kind !== "Inventory") return;
      const parsed = InventorySchema.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const path = issue?.path.join(".") ?? "";
        throw new LabError("BAD_INVENTORY", `${where} Inventory ${path}: ${issue?.message ?? "invalid"}`);
      }
      out.push(parsed.data);
    });
  }
  if (out.length === 0)
    throw new LabError("BAD_INVENTORY", `no kind: Inventory document in ${paths.join(", ")}`);
  return out;
}

/** First line of every inventory the lab writes (it only overwrites/removes such files). */
export const INVENTORY_MARKER = '# Written by "fleetnet lab up"; removed by "fleetnet lab down".';

const PLAIN = /^[A-Za-z_][A-Za-z0-9_./-]*$/;
const IPV4ISH = /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/;
const SPECIAL = /^(true|false|null|yes|no|on|off|y|n)$/i;

/** One value in YAML flow style: plain when unambiguous, else a JSON (= YAML) quoted string. */
function flow(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (typeof v === "string")
    return (PLAIN.test(v) && !SPECIAL.test(v)) || IPV4ISH.test(v) ? v : JSON.stringify(v);
  if (v && typeof v === "object") {
    return `{${Object.entries(v)
      .map(([k, x]) => `${flow(k)}: ${flow(x)}`)
      .join(", ")}}`;
  }
  return JSON.stringify(v);
}

/**
 * The Inventory document (as YAML text) describing a lab: netns transport, or ssh with `ssh`.
 * One flow-style line per host, as in INTENTS.md (and ~100× faster than a generic YAML
 * serialiser at 200 hosts).
 */
export function renderInventory(t: LabTopology, ssh?: LabSsh, name = "lab"): string {
  const lines = t.hosts.map((h) => {
    const host = {
      name: h.name,
      labels: h.labels,
      underlay: { interface: h.iface, address: `${h.address}/${h.prefixLength}`, mtu: h.mtu },
      transport: ssh
        ? {
            driver: "ssh",
            host: h.address,
            port: ssh.port,
            user: ssh.user,
            hostKey: ssh.hostKeys[h.name] ?? "",
            knownHostsFile: ssh.knownHostsFile,
            privateKeyFile: ssh.privateKeyFile,
          }
        : { driver: "netns", namespace: h.namespace },
    };
    return `    - ${flow(host)}\n`;
  });
  return [
    `${INVENTORY_MARKER}\n`,
    "apiVersion: fleetnet/v1\n",
    "kind: Inventory\n",
    `metadata: {name: ${flow(name)}}\n`,
    "spec:\n",
    "  hosts:\n",
    ...lines,
  ].join("");
}
