/**
 * Kernel capability probe. Some kernels (this dev machine's among them) lack features an
 * op needs; the transaction checks before anything is applied and fails with
 * `KERNEL_UNSUPPORTED` naming the missing kernel option.
 *
 * The probe creates the device for real, but in a throwaway network namespace on the host
 * (`unshare -n ip -batch -`), so the host's own state is never touched. Results are cached
 * per kernel for the life of the process: local and netns hosts all share this machine's
 * kernel (one probe for a whole pool), an ssh host is its own kernel.
 */
import type { Op } from "@fleetnet/netstate";
import type { HostDriver } from "./driver.js";
import { ExecutorError } from "./errors.js";

/** A kernel feature an op may need. */
export type KernelFeature = "vlan";

/** The kernel config option behind each feature, and how to probe it. */
const FEATURES: Record<KernelFeature, { option: string; what: string; batch: string[] }> = {
  vlan: {
    option: "CONFIG_VLAN_8021Q",
    what: "802.1Q VLAN devices",
    batch: [
      "link add fnxprobe0 type veth peer name fnxprobe1",
      "link add link fnxprobe0 name fnxprobe0.2 type vlan id 2",
    ],
  },
};

const cache = new Map<string, Map<KernelFeature, boolean>>();

/** Which kernel a driver reaches. */
function kernelOf(d: HostDriver): string {
  return d.kind === "ssh" ? `ssh:${d.host}` : "this-machine";
}

/** Features `ops` need. */
export function requiredFeatures(ops: readonly Op[]): KernelFeature[] {
  const need = new Set<KernelFeature>();
  for (const op of ops) if (op.op === "link.add" && op.kind === "vlan") need.add("vlan");
  return [...need];
}

/** Whether the host's kernel has `feature` (probed once per kernel and process). */
export async function hasFeature(d: HostDriver, feature: KernelFeature): Promise<boolean> {
  const k = kernelOf(d);
  let m = cache.get(k);
  if (!m) {
    m = new Map();
    cache.set(k, m);
  }
  const known = m.get(feature);
  if (known !== undefined) return known;
  const r = await d.run(["unshare", "-n", "ip", "-batch", "-"], {
    stdin: `${FEATURES[feature].batch.join("\n")}\n`,
  });
  const ok = r.code === 0;
  m.set(feature, ok);
  return ok;
}

/** Throw `KERNEL_UNSUPPORTED` when the host's kernel cannot do one of `ops`. */
export async function checkKernel(d: HostDriver, ops: readonly Op[]): Promise<void> {
  for (const f of requiredFeatures(ops)) {
    if (!(await hasFeature(d, f))) {
      const names = ops
        .filter((o) => o.op === "link.add" && o.kind === f)
        .map((o) => (o as { name: string }).name)
        .join(", ");
      throw new ExecutorError(
        "KERNEL_UNSUPPORTED",
        `kernel of host ${d.host} lacks ${FEATURES[f].what} (${FEATURES[f].option}), needed by ${names}; nothing was applied`,
      );
    }
  }
}
