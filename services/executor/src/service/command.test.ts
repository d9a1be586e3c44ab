import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runServiceCommand } from "./command.js";

const dir = mkdtempSync(join(tmpdir(), "fns-cmdargs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const inv = join(dir, "inventory.yaml");
writeFileSync(
  inv,
  `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: t}
spec:
  hosts:
    - name: n1
      underlay: {interface: veth0, address: 10.9.0.1/24}
      transport: {driver: netns, namespace: fns-n1}
    - name: l1
      underlay: {interface: eth0, address: 10.9.0.2/24}
      transport: {driver: local}
`,
);

async function run(args: string[]): Promise<{ code: number; err: string }> {
  const lines: string[] = [];
  // NATS_URL points nowhere: every case here must fail before connecting
  const code = await runServiceCommand(args, {
    err: (l) => lines.push(l),
    env: { NATS_URL: "nats://127.0.0.1:1" },
  });
  return { code, err: lines.join("\n") };
}

describe("fleetnet-executor run: usage errors (exit 2, nothing started)", () => {
  it.each([
    [[], /--agent --host NAME or --pool/],
    [["--agent", "-f", inv], /--agent needs --host NAME/],
    [["--agent", "--pool", "-f", inv], /either --agent or --pool/],
    [["--pool"], /-f INVENTORY/],
    [["--pool", "-f", inv, "--bogus"], /unknown option --bogus/],
    [["--agent", "--host", "n1", "-f", inv], /transport netns; an agent serves a local host/],
    [["--agent", "--host", "zz", "-f", inv], /"zz" is not in the inventory/],
    [["--pool", "-f", inv, "--hosts", "n1,zz"], /--hosts: "zz" is not in the inventory/],
    [["--pool", "-f", inv, "--hosts", "l1"], /transport local; run an agent on it/],
    [["--pool", "-f", inv, "--heartbeat", "soon"], /not a duration/],
  ])("%j", async (args, message) => {
    const r = await run(args as string[]);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
  });

  it("an unreadable or invalid inventory is bad input (exit 1) naming the file", async () => {
    const r = await run(["--pool", "-f", join(dir, "missing.yaml")]);
    expect(r.err).toMatch(/invalid input:[\s\S]*missing\.yaml/);
    expect(r.code).toBe(1);
  });
});

describe("runExecutorService: host list checks", () => {
  const target = (host: string) => ({
    host,
    serviceMode: "direct" as const,
    connect: () => Promise.reject(new Error("unused")),
  });
  const base = {
    nc: {} as never,
    js: {} as never,
    logger: {} as never,
    publicKeys: [],
    stateDir: dir,
    setup: "assume" as const,
  };
  it("an agent serves exactly one host; a host is served once", async () => {
    const { runExecutorService } = await import("./index.js");
    await expect(
      runExecutorService({
        ...base,
        mode: "agent",
        hosts: [{ target: target("a") }, { target: target("b") }],
      }),
    ).rejects.toThrow(/agent mode serves exactly one host, got 2/);
    await expect(
      runExecutorService({
        ...base,
        mode: "pool",
        hosts: [{ target: target("a") }, { target: target("a") }],
      }),
    ).rejects.toThrow(/listed twice/);
  });
});
