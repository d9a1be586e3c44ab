import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { listNamespaces, pidAlive, rootLinkExists } from "@fleetnet/lab";
import { describe, expect, it } from "vitest";
import { testLab } from "./lab.js";
import { reachable } from "./netns.js";

describe("testLab", () => {
  it("gives each lab its own prefix, subnet and state dir, and `await using` tears it all down", async () => {
    let seen: { prefix: string; stateDir: string; mgmt: string; fabric: string } | undefined;
    {
      await using a = await testLab({ hosts: 2 });
      await using b = await testLab({ hosts: 2 });
      expect(a.prefix).not.toBe(b.prefix);
      expect(a.prefix).toMatch(/^fnl[0-9a-z]+-$/);
      expect(a.mgmtAddress).not.toBe(b.mgmtAddress);
      expect(a.stateDir).not.toBe(b.stateDir);
      const [h1, h2] = a.hosts;
      if (!h1 || !h2) throw new Error("two hosts expected");
      expect(await reachable(h1.namespace, [h2.address, a.mgmtAddress])).toEqual({
        [h2.address]: true,
        [a.mgmtAddress]: true,
      });
      // The two labs are separate fabrics: a host of one does not reach a host of the other.
      const other = b.hosts[0]?.address ?? "";
      expect(await reachable(h1.namespace, [other], { timeoutMs: 300 })).toEqual({ [other]: false });
      const r = await a.run("h002", ["ip", "-o", "-4", "addr", "show", "veth0"]);
      expect(r.stdout).toContain(`${h2.address}/24`);
      seen = {
        prefix: a.prefix,
        stateDir: a.stateDir,
        mgmt: a.topology.mgmt.iface,
        fabric: a.topology.fabric,
      };
    }
    if (!seen) throw new Error("unreachable");
    expect(listNamespaces().filter((n) => n.startsWith(seen?.prefix ?? "?"))).toEqual([]);
    expect(rootLinkExists(seen.mgmt)).toBe(false);
    expect(existsSync(seen.stateDir)).toBe(false);
  });

  it("runs sshd per host with ssh: true and kills it on dispose", async () => {
    const lab = await testLab({ hosts: 1, ssh: true });
    const pids = lab.processes.map((p) => p.pid);
    try {
      expect(lab.ssh?.user).toBe("fleetlab");
      expect(Object.keys(lab.ssh?.hostKeys ?? {})).toEqual(["h001"]);
      expect(pids).toHaveLength(1);
      expect(existsSync(`/proc/${pids[0]}`)).toBe(true);
    } finally {
      await lab.dispose();
      await lab.dispose(); // idempotent
    }
    // Daemons are started by a helper that exits, so they are reparented: a killed one may stay
    // a zombie until init reaps it; pidAlive counts zombies as gone.
    expect(pids.filter(pidAlive)).toEqual([]);
  });
});

describe("exit safety net", () => {
  it("a process that exits without disposing still removes its labs and namespaces", () => {
    const repo = resolve(import.meta.dirname, "../../..");
    const build = spawnSync("pnpm", ["exec", "tsc", "-b", "libs/testkit"], { cwd: repo, encoding: "utf8" });
    expect(build.status, build.stdout + build.stderr).toBe(0);
    const entry = join(repo, "libs/testkit/dist/index.js");
    const script = `import { testLab, scratchNamespace } from ${JSON.stringify(entry)};
const lab = await testLab({ hosts: 2, ssh: true });
const ns = await scratchNamespace("fnl");
process.stdout.write(JSON.stringify({ prefix: lab.prefix, stateDir: lab.stateDir, mgmt: lab.topology.mgmt.iface, ns: ns.name, pids: lab.processes.map((p) => p.pid) }));
process.exit(0);`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout) as {
      prefix: string;
      stateDir: string;
      mgmt: string;
      ns: string;
      pids: number[];
    };
    expect(seen.pids).toHaveLength(2);
    const left = listNamespaces().filter((n) => n.startsWith(seen.prefix) || n === seen.ns);
    expect(left).toEqual([]);
    expect(rootLinkExists(seen.mgmt)).toBe(false);
    expect(seen.pids.filter(pidAlive)).toEqual([]);
    expect(existsSync(seen.stateDir)).toBe(false);
  });
});
