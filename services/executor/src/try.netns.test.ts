/**
 * Acceptance (real): `--try` leaves the revert timer armed ON THE HOST. Without a confirm
 * the host reverts itself within the deadline — also when the executor process is killed
 * with SIGKILL right after applying. With a confirm (`once confirm` from another process,
 * or Enter) the change stays. Runs the built `dist/bin.js` (CI builds before testing).
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type HostState, ownerAlias } from "@fleetnet/netstate";
import { type NetnsFabric, netnsFabric } from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NETNS_RUN_ROOT } from "./drivers/process.js";

const BIN = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
let lab: NetnsFabric;
let dir: string;
let ns: string;
const started: ChildProcessWithoutNullStreams[] = [];

function desired(): HostState {
  return {
    links: [{ kind: "bridge", name: "brtry", up: true, alias: ownerAlias("Bridge", "try") }],
    ports: [],
    addresses: [{ dev: "brtry", address: "172.31.90.1/24" }],
    routes: [{ destination: "10.96.0.0/24", table: 254, protocol: 250, dev: "brtry" }],
    fdb: [],
    sysctls: [{ key: "net.ipv4.ip_forward", value: "1", persist: false }],
    files: [],
    services: [],
  };
}

function exec(args: string[]) {
  const child = spawn(process.execPath, [BIN, "once", ...args], { stdio: ["pipe", "pipe", "pipe"] });
  started.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => {
    stdout += b;
  });
  child.stderr.on("data", (b: Buffer) => {
    stderr += b;
  });
  const done = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  const waitFor = async (re: RegExp, ms: number) => {
    const end = Date.now() + ms;
    while (!re.test(stderr + stdout)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}: ${stderr}${stdout}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, done, waitFor, out: () => stdout, err: () => stderr };
}

async function bridgeExists(): Promise<boolean> {
  return (await lab.run(ns, ["ip", "link", "show", "brtry"], { allowFailure: true })).code === 0;
}
async function forwarding(): Promise<string> {
  return (await lab.run(ns, ["sysctl", "-n", "net.ipv4.ip_forward"])).stdout.trim();
}

const common = () => [
  "--host",
  "h1",
  "-f",
  join(dir, "inventory.yaml"),
  "--desired",
  join(dir, "desired.json"),
  "--state-dir",
  dir,
  "--json",
];

beforeAll(async () => {
  if (!existsSync(BIN))
    throw new Error(`${BIN} is missing: build first (pnpm exec tsc -b services/executor)`);
  lab = await netnsFabric({ prefix: "fnx", hosts: 1, subnet: "10.213.241.0/24" });
  ns = lab.hosts[0]?.ns as string;
  dir = await mkdtemp(join(tmpdir(), "fnx-try-"));
  await chmod(dir, 0o755);
  await writeFile(
    join(dir, "inventory.yaml"),
    [
      "apiVersion: fleetnet/v1",
      "kind: Inventory",
      "metadata: {name: fnx-try}",
      "spec:",
      "  hosts:",
      "    - name: h1",
      `      underlay: {interface: veth0, address: ${lab.hosts[0]?.cidr}}`,
      `      transport: {driver: netns, namespace: ${ns}}`,
      "",
    ].join("\n"),
  );
  await writeFile(join(dir, "desired.json"), JSON.stringify(desired()));
});
afterAll(async () => {
  for (const c of started) {
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
  await lab?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("--try (commit-confirmed)", () => {
  it("reverts on the host within the deadline after the executor is SIGKILLed right after applying", async () => {
    const p = exec(["apply", ...common(), "--try", "3s"]);
    await p.waitFor(/press Enter/, 20_000);
    const appliedAt = Date.now();
    p.child.kill("SIGKILL");
    await p.done;
    expect(await bridgeExists()).toBe(true);
    expect(await forwarding()).toBe("1");
    // the timer on the host fires at the deadline (3 s after arming)
    let revertedAt = 0;
    while (Date.now() - appliedAt < 10_000) {
      // the revert script restores links first and sysctls after: wait for both
      if (!(await bridgeExists()) && (await forwarding()) === "0") {
        revertedAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(revertedAt, "host did not revert itself").toBeGreaterThan(0);
    expect(revertedAt - appliedAt).toBeLessThan(4_500);
    expect(await forwarding()).toBe("0");
    expect(await lab.run(ns, ["ip", "route", "show", "10.96.0.0/24"]).then((r) => r.stdout.trim())).toBe("");
  });

  it("`fleetnet-executor revert --plan DIR --netns NS` reverts an armed plan at once (operator escape hatch)", async () => {
    const p = exec(["apply", ...common(), "--try", "60s"]);
    await p.waitFor(/press Enter/, 20_000);
    p.child.kill("SIGKILL");
    await p.done;
    expect(await bridgeExists()).toBe(true);
    // the host's /run of a netns host is NETNS_RUN_ROOT/<namespace> (tmpfs)
    const plans = join(NETNS_RUN_ROOT, ns, "fleetnet/revert");
    const armed = readdirSync(plans).filter((id) => existsSync(join(plans, id, "armed")));
    expect(armed).toHaveLength(1);
    const planDir = join(plans, armed[0] as string);
    const r = spawnSync(process.execPath, [BIN, "revert", "--plan", planDir, "--netns", ns], {
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("reverted");
    expect(await bridgeExists()).toBe(false);
    expect(await forwarding()).toBe("0");
    // the timer of that plan (a subshell of the apply script: timer.sub) is gone, and it can
    // never fire again
    expect(existsSync(join(planDir, "armed"))).toBe(false);
    const timerPid = readFileSync(join(planDir, "timer.sub"), "utf8").trim();
    await new Promise((r) => setTimeout(r, 200));
    // gone, or a zombie waiting for this machine's init to reap it
    const stat = existsSync(`/proc/${timerPid}/stat`) ? readFileSync(`/proc/${timerPid}/stat`, "utf8") : "";
    expect(stat === "" || / Z /.test(stat), stat).toBe(true);
    const bad = spawnSync(process.execPath, [BIN, "revert", "--plan", "/tmp/not-a-plan"], {
      encoding: "utf8",
    });
    expect(bad.status).toBe(2);
  });

  it("without confirm the executor reports reverted (CONFIRM_TIMEOUT), exit 1", async () => {
    const p = exec(["apply", ...common(), "--try", "2s"]);
    const code = await p.done;
    expect(code).toBe(1);
    const r = JSON.parse(p.out()) as { result: string; error: { code: string } };
    expect(r.result).toBe("reverted");
    expect(r.error.code).toBe("CONFIRM_TIMEOUT");
    expect(await bridgeExists()).toBe(false);
  });

  it("keeps the change when `once confirm` runs from another process before the deadline", async () => {
    const p = exec(["apply", ...common(), "--try", "30s"]);
    await p.waitFor(/press Enter/, 20_000);
    // while the change awaits its confirm, another apply is refused
    const busy = exec(["apply", ...common()]);
    expect(await busy.done).toBe(1);
    expect(JSON.parse(busy.out())).toMatchObject({ result: "failed", error: { code: "HOST_BUSY" } });
    const c = exec(["confirm", "--host", "h1", "-f", join(dir, "inventory.yaml"), "--state-dir", dir]);
    expect(await c.done, c.err() + c.out()).toBe(0);
    expect(c.out()).toMatch(/confirmed/);
    expect(await p.done).toBe(0);
    expect(JSON.parse(p.out())).toMatchObject({ host: "h1", result: "applied" });
    expect(await bridgeExists()).toBe(true);
    // a second apply is unchanged; then remove it again (confirm with Enter this time)
    const again = exec(["apply", ...common()]);
    expect(await again.done).toBe(0);
    expect(JSON.parse(again.out())).toMatchObject({ result: "unchanged", changed: 0, ops: [] });
    await writeFile(
      join(dir, "desired.json"),
      JSON.stringify({ ...desired(), links: [], addresses: [], routes: [], sysctls: [] }),
    );
    const rm1 = exec(["apply", ...common(), "--try", "30s"]);
    await rm1.waitFor(/press Enter/, 20_000);
    rm1.child.stdin.write("\n");
    expect(await rm1.done).toBe(0);
    expect(await bridgeExists()).toBe(false);
    expect(await forwarding()).toBe("0");
    await writeFile(join(dir, "desired.json"), JSON.stringify(desired()));
  });
});
