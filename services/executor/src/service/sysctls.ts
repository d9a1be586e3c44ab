/**
 * Sysctl readings for state reports: for each key, `ok` (readable and writable here),
 * `read-only` (exists but cannot be written, e.g. `net.core.rmem_max` inside a network
 * namespace) or `absent` (does not exist here, e.g. `net.core.netdev_max_backlog` in a
 * namespace). One fixed script on the host; the keys are positional arguments, never
 * shell text, and are checked against the sysctl key pattern first.
 */
import type { SysctlReading } from "@fleetnet/protocol";
import type { HostDriver } from "../driver.js";
import { normSysctl, type ObserveResult } from "../observe.js";

const KEY_RE = /^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/;

/** Fixed script: prints one line per path: `absent`, `ok <value>` or `read-only <value>`. */
const SCRIPT =
  'for p; do if [ ! -e "$p" ]; then echo absent; else v=$(tr "\\t\\n" "  " < "$p" 2>/dev/null); ' +
  'if [ -w "$p" ]; then echo "ok $v"; else echo "read-only $v"; fi; fi; done';

/**
 * Read `keys` on the host. Keys that are not sysctl names are reported `absent` without
 * touching the host.
 */
export async function readSysctls(
  d: HostDriver,
  keys: readonly string[],
): Promise<Record<string, SysctlReading>> {
  const out: Record<string, SysctlReading> = {};
  const valid = [...new Set(keys)].sort().filter((k) => {
    if (KEY_RE.test(k)) return true;
    out[k] = { status: "absent" };
    return false;
  });
  if (valid.length === 0) return out;
  const paths = valid.map((k) => `/proc/sys/${k.replaceAll(".", "/")}`);
  const r = await d.run(["sh", "-c", SCRIPT, "sh", ...paths], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`reading sysctls on ${d.host} failed: ${r.stderr.trim()}`);
  const lines = r.stdout.split("\n");
  valid.forEach((k, i) => {
    const line = lines[i] ?? "absent";
    if (line.startsWith("ok")) out[k] = { status: "ok", value: normSysctl(line.slice(2)) };
    else if (line.startsWith("read-only")) out[k] = { status: "read-only", value: normSysctl(line.slice(9)) };
    else out[k] = { status: "absent" };
  });
  return out;
}

/**
 * The readings of `keys` that an observation already holds (its sysctls, missing and
 * read-only keys), and the keys it does not cover (to {@link readSysctls}).
 */
export function readingsFrom(
  o: Pick<ObserveResult, "state" | "missingSysctls" | "readOnlySysctls">,
  keys: readonly string[],
): { readings: Record<string, SysctlReading>; rest: string[] } {
  const values = new Map(o.state.sysctls.map((s) => [s.key, s.value]));
  const missing = new Set(o.missingSysctls);
  const readOnly = new Set(o.readOnlySysctls);
  const readings: Record<string, SysctlReading> = {};
  const rest: string[] = [];
  for (const k of new Set(keys)) {
    const v = values.get(k);
    if (missing.has(k)) readings[k] = { status: "absent" };
    else if (v !== undefined) readings[k] = { status: readOnly.has(k) ? "read-only" : "ok", value: v };
    else rest.push(k);
  }
  return { readings, rest };
}
