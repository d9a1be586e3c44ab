/**
 * `fleetnet lab up|down|status`: a lab fleet of hosts as network namespaces (@fleetnet/lab).
 *
 * The handlers are exported and take their output streams so tests run them in-process.
 * Exit status: 0 done, 1 the operation failed (not root, names taken, a lab already up, bad
 * inventory…), 2 usage error (bad option values).
 */
import {
  DEFAULT_PREFIX,
  DEFAULT_SUBNET,
  defaultStateDir,
  LabError,
  type LabProgress,
  labDown,
  labStatus,
  labUp,
  loadInventories,
} from "@fleetnet/lab";
import { type Command, InvalidArgumentError } from "commander";
import { colour, EXIT_FAILED, EXIT_OK, UsageError } from "../io.js";

/** Where a handler writes; defaults to the process streams. */
export interface LabOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processOutput: LabOutput = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Options of `fleetnet lab up` (as commander parses them). */
export interface LabUpCliOptions {
  hosts?: number;
  racks?: number;
  spines?: number;
  file?: string[];
  ssh?: boolean;
  sshPort?: number;
  flows?: string;
  out?: string;
  prefix?: string;
  stateDir?: string;
  subnet?: string;
  json?: boolean;
  quiet?: boolean;
}

function int(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be an integer ${min}..${max}`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer ${min}..${max}`);
    return n;
  };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Map a lab error to an exit status: option problems are usage errors, the rest failures. */
function fail(err: unknown, what: string, out: LabOutput): number {
  if (err instanceof LabError) {
    if (err.code === "BAD_OPTION") throw new UsageError(`${what}: ${err.message}`);
    out.stderr(`fleetnet: ${what}: ${err.message} [${err.code}${err.retryable ? ", retryable" : ""}]\n`);
    return EXIT_FAILED;
  }
  throw err;
}

/** `fleetnet lab up`. Returns the exit status. */
export async function runLabUp(opts: LabUpCliOptions, out: LabOutput = processOutput): Promise<number> {
  const files = opts.file ?? [];
  if ((opts.hosts === undefined) === (files.length === 0)) {
    throw new UsageError("lab up needs either --hosts N or -f INVENTORY (not both)");
  }
  if (
    files.length > 0 &&
    (opts.racks !== undefined || opts.spines !== undefined || opts.subnet !== undefined)
  ) {
    throw new UsageError(
      "--racks, --spines and --subnet apply to --hosts only; an inventory brings its own addresses and labels",
    );
  }
  const stateDir = opts.stateDir ?? defaultStateDir();
  // Interrupted half-way, everything created so far is in the state file: say how to remove it.
  const onSignal = (sig: NodeJS.Signals) => {
    out.stderr(
      `fleetnet: lab up interrupted (${sig}); remove what it created with: fleetnet lab down --state-dir ${stateDir}\n`,
    );
    process.exit(sig === "SIGINT" ? 130 : 143);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const inventories = files.length > 0 ? loadInventories(files) : undefined;
    const r = await labUp({
      stateDir,
      prefix: opts.prefix,
      subnet: opts.subnet,
      hosts: opts.hosts,
      racks: opts.racks,
      spines: opts.spines,
      inventories,
      ssh: opts.ssh,
      sshPort: opts.sshPort,
      flows: opts.flows,
      out: opts.out,
      onProgress: (p: LabProgress) => {
        if (!opts.quiet && p.step !== "done") out.stderr(`${colour.dim(`lab: ${p.step}: ${p.message}`)}\n`);
      },
    });
    if (opts.json) {
      out.stdout(
        `${JSON.stringify(
          {
            stateDir: r.stateDir,
            inventory: r.inventoryFile,
            elapsedMs: r.elapsedMs,
            fabric: r.topology.fabric,
            mgmt: r.topology.mgmt,
            hosts: r.topology.hosts.map((h) => ({
              name: h.name,
              namespace: h.namespace,
              address: `${h.address}/${h.prefixLength}`,
              labels: h.labels,
            })),
            processes: r.processes,
          },
          null,
          2,
        )}\n`,
      );
    } else {
      const mgmt = r.topology.mgmt.addresses.join(", ");
      out.stdout(
        `${colour.green("lab up")}: ${r.topology.hosts.length} hosts in ${(r.elapsedMs / 1000).toFixed(2)} s; fabric ${r.topology.fabric}; ` +
          `root reaches them through ${r.topology.mgmt.iface} (${mgmt})\ninventory: ${r.inventoryFile}\n`,
      );
    }
    return EXIT_OK;
  } catch (err) {
    return fail(err, "lab up", out);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** `fleetnet lab down`. Returns the exit status. */
export async function runLabDown(
  opts: { stateDir?: string; json?: boolean },
  out: LabOutput = processOutput,
): Promise<number> {
  try {
    const r = await labDown({ stateDir: opts.stateDir ?? defaultStateDir() });
    if (opts.json) out.stdout(`${JSON.stringify(r, null, 2)}\n`);
    else {
      out.stdout(
        `${colour.green("lab down")}: removed ${r.namespaces} namespaces, ${r.links} links, ${r.processes} processes, ${r.files} files in ${(r.elapsedMs / 1000).toFixed(2)} s\n`,
      );
    }
    return EXIT_OK;
  } catch (err) {
    return fail(err, "lab down", out);
  }
}

/** `fleetnet lab status`. Exit 0 when a lab is recorded and complete, 1 otherwise. */
export function runLabStatus(
  opts: { stateDir?: string; json?: boolean },
  out: LabOutput = processOutput,
): number {
  try {
    const s = labStatus({ stateDir: opts.stateDir ?? defaultStateDir() });
    const healthy =
      s.recorded &&
      s.status === "up" &&
      s.summary.namespacesPresent === s.summary.hosts &&
      s.summary.processesAlive === s.summary.processes &&
      s.fabric?.present === true &&
      s.mgmt?.present === true;
    if (opts.json) {
      out.stdout(`${JSON.stringify({ ...s, healthy }, null, 2)}\n`);
      return healthy ? EXIT_OK : EXIT_FAILED;
    }
    if (!s.recorded) {
      out.stdout(`no lab recorded in ${s.stateDir}\n`);
      return EXIT_FAILED;
    }
    const mark = (ok: boolean) => (ok ? colour.green("ok") : colour.red("MISSING"));
    out.stdout(
      `lab ${s.status} (${s.mode}, created ${s.createdAt}) in ${s.stateDir}\n` +
        `fabric ${s.fabric?.namespace}: ${mark(s.fabric?.present === true)}; mgmt ${s.mgmt?.iface} ${s.mgmt?.addresses.join(", ")}: ${mark(s.mgmt?.present === true)}\n` +
        `hosts ${s.summary.hosts}, namespaces present ${s.summary.namespacesPresent}, processes alive ${s.summary.processesAlive}/${s.summary.processes}\n` +
        `inventory ${s.inventoryFile}${s.ssh ? `; ssh ${s.ssh.user}@host:${s.ssh.port} -i ${s.ssh.privateKeyFile}` : ""}${s.flows ? `; flows → ${s.flows}` : ""}\n`,
    );
    for (const h of s.hosts) {
      const procs = h.processes
        .map((p) => `${p.kind}:${p.pid}${p.alive ? "" : colour.red("(dead)")}`)
        .join(" ");
      out.stdout(
        `  ${h.name.padEnd(8)} ${h.namespace.padEnd(16)} ${h.address.padEnd(18)} ${mark(h.namespacePresent)} ${procs}\n`,
      );
    }
    return healthy ? EXIT_OK : EXIT_FAILED;
  } catch (err) {
    return fail(err, "lab status", out);
  }
}

/** Registers `fleetnet lab up|down|status`. */
export function registerLab(program: Command): void {
  const lab = program
    .command("lab")
    .description("A lab fleet of hosts as network namespaces (root): up, down, status");
  const common = (c: Command) =>
    c.option(
      "--state-dir <dir>",
      "where the lab's state, keys and configs live (default: $FLEETNET_STATE_DIR/lab, else ~/.local/state/fleetnet/lab)",
    );

  common(
    lab
      .command("up")
      .description("Create a lab from a host count or from inventories")
      .option(
        "--hosts <n>",
        "number of hypervisor hosts h001… (namespaces <prefix>h001…)",
        int("--hosts", 1, 4000),
      )
      .option(
        "--racks <r>",
        "racks r1..rR, contiguous blocks (default: 20 hosts per rack)",
        int("--racks", 1, 4000),
      )
      .option("--spines <s>", "spine hosts s01… with role: spine", int("--spines", 0, 99))
      .option(
        "-f, --file <path>",
        "inventory file or directory (repeatable); kind: Inventory documents are used",
        collect,
      )
      .option(
        "--ssh",
        "run sshd per host for user fleetlab; the inventory gets ssh transports with pinned host keys",
      )
      .option("--ssh-port <port>", "sshd port", int("--ssh-port", 1, 65535))
      .option("--flows <host:port>", "run softflowd per host exporting NetFlow v9 to this collector")
      .option("--out <file>", "write the lab's Inventory here (default <state-dir>/inventory.yaml)")
      .option("--prefix <prefix>", "namespace/interface name prefix", DEFAULT_PREFIX)
      .option("--subnet <cidr>", `underlay subnet for --hosts (default ${DEFAULT_SUBNET})`)
      .option("--json", "print the result as JSON")
      .option("-q, --quiet", "no progress lines"),
  ).action(async (opts: LabUpCliOptions) => {
    process.exitCode = await runLabUp(opts);
  });

  common(
    lab
      .command("down")
      .description("Remove exactly what the recorded lab created")
      .option("--json", "print the result as JSON"),
  ).action(async (opts: { stateDir?: string; json?: boolean }) => {
    process.exitCode = await runLabDown(opts);
  });

  common(
    lab
      .command("status")
      .description("Hosts, namespaces present, processes alive")
      .option("--json", "print as JSON"),
  ).action((opts: { stateDir?: string; json?: boolean }) => {
    process.exitCode = runLabStatus(opts);
  });
}
