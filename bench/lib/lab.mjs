// bench/lib/lab.mjs: what the lab benches share: CPU accounting from /proc/self/stat and the
// desired state they apply to a testLab (one VXLAN full mesh over every host, optionally a
// 2-key sysctl baseline), compiled by @fleetnet/netstate. Nothing here spawns a process, so
// a bench that counts spawns may import it (dynamically) after wrapping child_process.spawn.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadAndValidate } from "../../libs/intent/dist/index.js";
import { compile } from "../../libs/netstate/dist/index.js";
import { meshOverlayYaml } from "../../libs/testkit/dist/index.js";

const TICK = 100; // USER_HZ

/** CPU seconds of this process (self) and of its reaped children (ip, bridge, sysctl…). */
export function cpuParts() {
  const f = readStat();
  // fields after "(comm) ": state=0 … utime=11 stime=12 cutime=13 cstime=14
  return {
    self: (Number(f[11]) + Number(f[12])) / TICK,
    children: (Number(f[13]) + Number(f[14])) / TICK,
  };
}

/** CPU seconds of this process plus its reaped children. */
export function cpuSeconds() {
  const c = cpuParts();
  return c.self + c.children;
}

function readStat() {
  return readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
}

/**
 * Writes `dir/intents.yaml` (a VXLAN overlay, VNI 5001, over every lab host and, unless
 * `sysctl` is false, a sysctl baseline) and compiles it with the lab's inventory.
 * Returns the host names, each host's desired state and namespace.
 */
export function labDesiredState(lab, dir, { sysctl = true } = {}) {
  const names = lab.hosts.map((h) => h.name);
  let yaml = meshOverlayYaml("bench", names);
  if (sysctl)
    yaml += `---
apiVersion: fleetnet/v1
kind: SysctlBaseline
metadata: {name: bench}
spec:
  hosts: {names: [${names.join(", ")}]}
  settings: {net.ipv4.ip_forward: 1, net.ipv4.tcp_syncookies: 1}
  persist: false
`;
  const file = join(dir, "intents.yaml");
  writeFileSync(file, yaml);
  const v = loadAndValidate([lab.inventoryFile, file]);
  if (!v.valid) throw new Error(JSON.stringify(v.errors.slice(0, 3)));
  return {
    names,
    desired: compile(v.inventory, v.intents).hosts,
    nsOf: new Map(lab.hosts.map((h) => [h.name, h.namespace])),
  };
}
