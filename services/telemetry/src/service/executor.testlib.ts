/**
 * What the telemetry netns tests share: an inventory naming lab hosts, and the real executor
 * service (its built dist, `fleetnet-executor run --pool`) run as a process serving them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { exportKeyPairPem } from "@fleetnet/protocol";

/** The executor service's built entry point (build first: `pnpm exec tsc -b services/executor`). */
export const EXECUTOR = fileURLToPath(new URL("../../../executor/dist/service/index.js", import.meta.url));

/** A lab host under the name the inventory gives it. */
export interface NamedLabHost {
  name: string;
  iface: string;
  address: string;
  prefixLength: number;
  namespace: string;
}

/** Inventory YAML (`metadata.name` = `name`) of `hosts`, each labelled `role`, netns transport. */
export function netnsInventory(name: string, role: string, hosts: readonly NamedLabHost[]): string {
  return `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: ${name}}
spec:
  hosts:
${hosts
  .map(
    (h) => `    - name: ${h.name}
      labels: {role: ${role}}
      underlay: {interface: ${h.iface}, address: ${h.address}/${h.prefixLength}}
      transport: {driver: netns, namespace: ${h.namespace}}`,
  )
  .join("\n")}
`;
}

/** A running executor service process and what it printed so far. */
export interface ExecutorProcess {
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  readonly out: string;
}

/**
 * Starts the executor service in pool mode for the hosts of `dir/fleet.yaml` (written by the
 * caller), trusting jobs signed by `keys`, heartbeats and state reports every second, its
 * state under `dir/exec` and `dir/lab`.
 */
export function startExecutorPool(
  dir: string,
  natsUrl: string,
  keys: Parameters<typeof exportKeyPairPem>[0],
): ExecutorProcess {
  writeFileSync(join(dir, "planner.pub"), exportKeyPairPem(keys).publicKeyPem);
  const code = `const m = await import(${JSON.stringify(EXECUTOR)}); process.exitCode = await m.runServiceCommand(process.argv.slice(1));`;
  const args = ["--pool", "-f", join(dir, "fleet.yaml"), "--public-key", join(dir, "planner.pub")];
  args.push("--lab-state-dir", join(dir, "lab"), "--heartbeat", "1s", "--state-report", "1s");
  let out = "";
  const child = spawn(process.execPath, ["--input-type=module", "-e", code, "--", ...args], {
    env: { ...process.env, NATS_URL: natsUrl, FLEETNET_STATE_DIR: join(dir, "exec"), LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (b: Buffer) => {
    out += b;
  });
  child.stderr?.on("data", (b: Buffer) => {
    out += b;
  });
  return {
    child,
    get out() {
      return out;
    },
  };
}
