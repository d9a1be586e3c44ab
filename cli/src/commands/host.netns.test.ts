/**
 * `fleetnet host …` end to end (real, as root): the CLI binary spawns the executor's
 * binary, which compiles the intents and applies them to a namespace host. Needs both
 * built (`pnpm run build`; CI builds before testing).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { removeNetnsRunDirs } from "@fleetnet/lab";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLI = fileURLToPath(new URL("../../dist/bin.js", import.meta.url));
// the host: a scratch namespace with an underlay veth (deleted by name in afterAll)
const ns = `fnx-cli-${process.pid}`;
const UNDERLAY = "10.213.242.1/24";
let dir: string;

function ip(args: string[], input?: string): { code: number | null; stdout: string } {
  const r = spawnSync("ip", args, { input, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout };
}
const inNs = (argv: string[]) => spawnSync("ip", ["netns", "exec", ns, ...argv], { encoding: "utf8" });

function fleetnet(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => {
    stdout += b;
  });
  child.stderr.on("data", (b: Buffer) => {
    stderr += b;
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((r) =>
    child.on("close", (code) => r({ code, stdout, stderr })),
  );
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (pnpm run build)`);
  expect(ip(["netns", "add", ns]).code).toBe(0);
  const batch = [
    "link set lo up",
    "link add veth0 type veth peer name veth1",
    `addr add ${UNDERLAY} dev veth0`,
    "link set veth0 up",
    "link set veth1 up",
  ];
  expect(ip(["-n", ns, "-batch", "-"], `${batch.join("\n")}\n`).code).toBe(0);
  dir = await mkdtemp(join(tmpdir(), "fnx-cli-"));
  await chmod(dir, 0o755);
  await writeFile(
    join(dir, "fleet.yaml"),
    [
      "apiVersion: fleetnet/v1",
      "kind: Inventory",
      "metadata: {name: fnx-cli}",
      "spec:",
      "  hosts:",
      "    - name: h1",
      "      labels: {role: hv}",
      `      underlay: {interface: veth0, address: ${UNDERLAY}}`,
      `      transport: {driver: netns, namespace: ${ns}}`,
      "---",
      "apiVersion: fleetnet/v1",
      "kind: Bridge",
      "metadata: {name: vms}",
      "spec:",
      "  hosts: {matchLabels: {role: hv}}",
      "  name: brfnxcli",
      "  addresses: {pool: 172.31.91.0/24}",
      "---",
      "apiVersion: fleetnet/v1",
      "kind: SysctlBaseline",
      "metadata: {name: fwd}",
      "spec:",
      "  hosts: {matchLabels: {role: hv}}",
      '  settings: {net.ipv4.ip_forward: "1"}',
      "  persist: true",
      "",
    ].join("\n"),
  );
});
afterAll(async () => {
  ip(["netns", "del", ns]); // no daemon runs in it: nothing to kill
  removeNetnsRunDirs([ns]); // the executor keeps the host's /run there
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("fleetnet host", () => {
  it("apply --json compiles the intents and applies them; a second apply is unchanged (exit 0)", async () => {
    const args = ["--host", "h1", "-f", join(dir, "fleet.yaml"), "--state-dir", dir, "--json"];
    const r = await fleetnet(["host", "apply", ...args]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as {
      host: string;
      result: string;
      changed: number;
      ops: { op: string }[];
    };
    expect(j).toMatchObject({ host: "h1", result: "applied" });
    expect(j.changed).toBe(j.ops.length);
    expect(j.ops.map((o) => o.op)).toEqual(
      expect.arrayContaining(["link.add", "addr.add", "sysctl.set", "file.write"]),
    );
    expect(inNs(["ip", "-br", "addr", "show", "brfnxcli"]).stdout).toContain("172.31.91.");
    expect(inNs(["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.trim()).toBe("1");
    expect(readFileSync(join(dir, "hosts/h1/etc/sysctl.d/90-fleetnet-fwd.conf"), "utf8")).toContain(
      "net.ipv4.ip_forward",
    );
    const again = await fleetnet(["host", "apply", ...args]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ result: "unchanged", changed: 0, ops: [] });
    const obs = await fleetnet(["host", "observe", ...args]);
    expect(obs.code).toBe(0);
    const state = (JSON.parse(obs.stdout) as { state: { links: { name: string; alias?: string }[] } }).state;
    expect(state.links.find((l) => l.name === "brfnxcli")?.alias).toBe("fleetnet:Bridge/vms");
  });

  it("refuses an unknown host (exit 1, INVALID_INPUT) and a missing --host (usage, exit 2)", async () => {
    const bad = await fleetnet([
      "host",
      "apply",
      "--host",
      "nope",
      "-f",
      join(dir, "fleet.yaml"),
      "--state-dir",
      dir,
      "--json",
    ]);
    expect(bad.code).toBe(1);
    const j = JSON.parse(bad.stdout) as { result: string; error: { code: string; message: string } };
    expect(j.result).toBe("failed");
    expect(j.error.code).toBe("INVALID_INPUT");
    expect(j.error.message).toContain('"nope" is not in the inventory');
    const usage = await fleetnet(["host", "apply", "-f", join(dir, "fleet.yaml")]);
    expect(usage.code).toBe(2);
  });

  it("honours FLEETNET_EXECUTOR_BIN", async () => {
    const r = await fleetnet(["host", "observe", "--host", "h1", "-f", join(dir, "fleet.yaml")], {
      ...process.env,
      FLEETNET_EXECUTOR_BIN: join(dir, "no-such-bin.js"),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no-such-bin.js");
  });
});
