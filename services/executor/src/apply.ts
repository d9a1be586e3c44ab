/**
 * Run ops on a host, segment by segment (see render.ts): one `ip -batch -`, one
 * `bridge -batch -`, one `sysctl -w` per run of consecutive ops, files written atomically,
 * daemons through the service manager. Stops at the first failure with `APPLY_FAILED`
 * carrying the tool's own message; the caller reverts.
 */
import type { Op } from "@fleetnet/netstate";
import type { HostDriver } from "./driver.js";
import { ExecutorError } from "./errors.js";
import { bridgeLine, ipLines, segments, sysctlAssignment } from "./render.js";
import type { ServiceManager } from "./services.js";

/** Options of {@link runOps}. */
export interface ApplyOpsOptions {
  /** File contents to write, secrets resolved (default: the op's content). */
  contents?: ReadonlyMap<string, string>;
  /** Keep going after a failing line (`ip -force`): used for the second revert pass. */
  force?: boolean;
}

function fail(d: HostDriver, what: string, stderr: string): never {
  throw new ExecutorError("APPLY_FAILED", `${what} failed on ${d.host}: ${stderr.trim() || "no message"}`);
}

/** Apply `ops` in order. */
export async function runOps(
  d: HostDriver,
  services: ServiceManager,
  ops: readonly Op[],
  o: ApplyOpsOptions = {},
): Promise<void> {
  const force = o.force ? ["-force"] : [];
  for (const seg of segments(ops)) {
    switch (seg.tool) {
      case "ip": {
        const r = await d.run(["ip", ...force, "-batch", "-"], {
          stdin: `${seg.ops.flatMap(ipLines).join("\n")}\n`,
        });
        if (r.code !== 0 && !o.force) fail(d, "ip -batch", r.stderr);
        break;
      }
      case "bridge": {
        const r = await d.run(["bridge", ...force, "-batch", "-"], {
          stdin: `${seg.ops.map(bridgeLine).join("\n")}\n`,
        });
        if (r.code !== 0 && !o.force) fail(d, "bridge -batch", r.stderr);
        break;
      }
      case "sysctl": {
        const assigns = seg.ops.flatMap((op) =>
          op.op === "sysctl.set" && op.value ? [sysctlAssignment(op.key, op.value)] : [],
        );
        if (assigns.length === 0) break;
        const r = await d.run(["sysctl", "-q", "-w", ...assigns]);
        if (r.code !== 0 && !o.force) fail(d, "sysctl -w", r.stderr);
        break;
      }
      case "file":
        for (const op of seg.ops) {
          if (op.op === "file.write") {
            await d.writeFileAtomic(op.path, o.contents?.get(op.path) ?? op.content, op.mode);
          } else if (op.op === "file.remove") await d.removeFile(op.path);
        }
        break;
      case "service":
        for (const op of seg.ops) {
          if (op.op !== "service.start" && op.op !== "service.stop" && op.op !== "service.reload") continue;
          const action = op.op === "service.start" ? "start" : op.op === "service.stop" ? "stop" : "reload";
          for (const argv of services.commands(op.service, action)) {
            const r = await d.run(argv, { timeoutMs: 30_000 });
            if (r.code !== 0 && !o.force)
              fail(d, `${op.service} ${action} (${argv[0]})`, r.stderr || r.stdout);
          }
        }
        break;
    }
  }
}
