/**
 * A per-test lab fleet built with the product's own lab code (@fleetnet/lab): a distinct
 * namespace prefix, a distinct /24 and a temporary state dir per lab, always torn down
 * (`await using`, `dispose()` in afterAll, and a process-exit hook as the last resort).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  LabError,
  type LabHost,
  type LabProcess,
  type LabSsh,
  type LabTopology,
  type LabUpOptions,
  labDown,
  labUp,
  planFromCount,
  planFromInventory,
  type RunOptions,
  type RunResult,
  readState,
  runIn,
} from "@fleetnet/lab";
import { trackForExit, uniqueName, untrackForExit } from "./netns.js";

/** Options of {@link testLab}. */
export interface TestLabOptions {
  /** Name prefix family (e.g. "fnl"); a unique `<family><pid><n>-` prefix is derived. */
  prefix?: string;
  /** Count mode: number of hosts (default 3 unless `inventories` is given). */
  hosts?: number;
  racks?: number;
  spines?: number;
  /** Count mode: subnet; default a free 10.251.X.0/24 picked per lab. */
  subnet?: string;
  /** Inventory mode (namespaces come from the inventory). */
  inventories?: LabUpOptions["inventories"];
  ssh?: boolean;
  /** `IPV4:PORT` of a NetFlow collector, or a function of the lab's management address. */
  flows?: string | ((mgmtAddress: string) => string);
}

/** A running test lab. */
export interface TestLab extends AsyncDisposable {
  readonly stateDir: string;
  readonly prefix: string;
  readonly topology: LabTopology;
  readonly hosts: readonly LabHost[];
  /** The written Inventory file. */
  readonly inventoryFile: string;
  /** Root-side management address (no prefix length) of the first host subnet. */
  readonly mgmtAddress: string;
  readonly processes: readonly LabProcess[];
  /** SSH settings when started with `ssh: true`. */
  readonly ssh?: LabSsh;
  /** The host named `name` (throws when unknown). */
  host(name: string): LabHost;
  /** Run argv inside a host's namespace (by host name or namespace name). */
  run(host: string, argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** `lab down` and remove the temporary state dir. Idempotent. */
  dispose(): Promise<void>;
}

let seq = 0;

function subnetCandidates(): string[] {
  // Spread processes over 10.251.16-239.0/24 so parallel test files rarely even try the same one.
  const start = (process.pid * 7 + seq * 13) % 224;
  return Array.from({ length: 224 }, (_, i) => `10.251.${16 + ((start + i) % 224)}.0/24`);
}

/**
 * Bring up a lab for one test. In count mode with no `subnet`, free /24s of 10.251.16.0/20…
 * are tried until one is not routed yet.
 */
export async function testLab(opts: TestLabOptions = {}): Promise<TestLab> {
  seq += 1;
  const prefix = `${uniqueName(opts.prefix ?? "fnl", 10)}-`;
  const stateDir = mkdtempSync(join(tmpdir(), `${prefix}lab-`));
  const inventoryMode = opts.inventories !== undefined;
  const subnets = inventoryMode ? [undefined] : opts.subnet ? [opts.subnet] : subnetCandidates();
  let lastErr: unknown;
  for (const subnet of subnets) {
    try {
      const plan = inventoryMode
        ? planFromInventory(opts.inventories ?? [], { prefix })
        : planFromCount({ hosts: opts.hosts ?? 3, racks: opts.racks, spines: opts.spines, prefix, subnet });
      const mgmt = (plan.mgmt.addresses[0] ?? "").split("/")[0] ?? "";
      const flows = typeof opts.flows === "function" ? opts.flows(mgmt) : opts.flows;
      trackForExit({ stateDir });
      const r = await labUp({
        stateDir,
        prefix,
        subnet,
        hosts: inventoryMode ? undefined : (opts.hosts ?? 3),
        racks: opts.racks,
        spines: opts.spines,
        inventories: opts.inventories,
        ssh: opts.ssh,
        flows,
      });
      return makeLab(stateDir, prefix, r.topology, r.inventoryFile, r.processes);
    } catch (err) {
      lastErr = err;
      if (err instanceof LabError && err.code === "SUBNET_IN_USE" && subnets.length > 1) continue;
      break;
    }
  }
  rmSync(stateDir, { recursive: true, force: true });
  untrackForExit({ stateDir });
  throw lastErr;
}

function makeLab(
  stateDir: string,
  prefix: string,
  topology: LabTopology,
  inventoryFile: string,
  processes: readonly LabProcess[],
): TestLab {
  let disposed: Promise<void> | undefined;
  const ssh = readState(stateDir)?.ssh;
  const dispose = (): Promise<void> => {
    disposed ??= (async () => {
      try {
        if (readState(stateDir)) await labDown({ stateDir });
      } finally {
        rmSync(stateDir, { recursive: true, force: true });
        untrackForExit({ stateDir });
      }
    })();
    return disposed;
  };
  const byName = new Map(topology.hosts.map((h) => [h.name, h]));
  const host = (name: string): LabHost => {
    const h = byName.get(name);
    if (!h) throw new Error(`no host ${name} in this lab (${[...byName.keys()].slice(0, 5).join(", ")}…)`);
    return h;
  };
  return {
    stateDir,
    prefix,
    topology,
    hosts: topology.hosts,
    inventoryFile,
    mgmtAddress: (topology.mgmt.addresses[0] ?? "").split("/")[0] ?? "",
    processes,
    ...(ssh ? { ssh } : {}),
    host,
    run: (h, argv, o) => runIn(byName.get(h)?.namespace ?? h, argv, o),
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}
