import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import {
  CommandError,
  deleteNamespaces,
  listNamespaces,
  netnsFabric,
  reachable,
  run,
  runIn,
  scratchNamespace,
  uniqueName,
} from "./netns.js";
import { isAlive } from "./wait.js";

describe("netns helpers", () => {
  const leftovers: string[] = [];
  afterAll(async () => {
    await deleteNamespaces(leftovers);
  });

  it("uniqueName is unique, prefixed and at most 15 chars", () => {
    const a = uniqueName("fnl");
    const b = uniqueName("fnl");
    expect(a).not.toBe(b);
    expect(a.startsWith("fnl")).toBe(true);
    expect(a.length).toBeLessThanOrEqual(15);
    expect(() => uniqueName("fnl-a-very-long-prefix")).toThrow(/longer than 15/);
  });

  it("scratchNamespace exists inside the block and is gone after `await using`, with its processes", async () => {
    let name = "";
    let pid = 0;
    {
      await using ns = await scratchNamespace("fnl");
      name = ns.name;
      leftovers.push(name);
      expect(await listNamespaces()).toContain(name);
      const links = await ns.run(["ip", "-j", "link", "show", "lo"]);
      expect(JSON.parse(links.stdout)[0].operstate).toBe("UNKNOWN"); // lo is up
      const child = ns.spawn(["sleep", "600"]);
      pid = child.pid ?? 0;
      expect(isAlive(pid)).toBe(true);
    }
    expect(await listNamespaces()).not.toContain(name);
    expect(isAlive(pid)).toBe(false);
  });

  it("runIn passes argv verbatim (no shell) and stdin", async () => {
    await using ns = await scratchNamespace("fnl");
    leftovers.push(ns.name);
    const r = await runIn(ns.name, ["cat"], { input: "$(echo no) ; `x`" });
    expect(r.stdout).toBe("$(echo no) ; `x`");
    await expect(runIn(ns.name, ["sh", "-c", "exit 3"])).rejects.toBeInstanceOf(CommandError);
    const soft = await run(["sh", "-c", "exit 3"], { allowFailure: true });
    expect(soft.code).toBe(3);
  });

  it("dispose is idempotent and works from afterAll-style code", async () => {
    const ns = await scratchNamespace("fnl");
    leftovers.push(ns.name);
    await ns.dispose();
    await ns.dispose();
    expect(await listNamespaces()).not.toContain(ns.name);
  });

  it("netnsFabric: every host reaches every other on the underlay, then everything is removed", async () => {
    const lab = await netnsFabric({ prefix: "fnl", hosts: 3, subnet: "10.251.201.0/24" });
    const names = [lab.fabric, ...lab.hosts.map((h) => h.ns)];
    leftovers.push(...names);
    try {
      expect(lab.hosts.map((h) => h.cidr)).toEqual(["10.251.201.1/24", "10.251.201.2/24", "10.251.201.3/24"]);
      for (const a of lab.hosts) {
        const others = lab.hosts.filter((b) => b !== a).map((b) => b.address);
        const seen = await reachable(a.ns, [...others, "10.251.201.99"], { timeoutMs: 500 });
        expect(seen, a.ns).toEqual({
          ...Object.fromEntries(others.map((o) => [o, true])),
          "10.251.201.99": false,
        });
      }
    } finally {
      await lab.dispose();
    }
    const after = await listNamespaces();
    for (const n of names) expect(after).not.toContain(n);
  });

  it("refuses a subnet that cannot hold the hosts", async () => {
    const before = readdirSync(tmpdir());
    await expect(netnsFabric({ prefix: "fnl", hosts: 6, subnet: "10.251.202.0/29" })).rejects.toThrow(
      /holds 5 hosts, asked for 6/,
    );
    // ...and its temporary state dir is gone too.
    const mine = `fnl${process.pid.toString(36)}`; // testLab's temp dirs are named after the lab prefix
    expect(readdirSync(tmpdir()).filter((d) => d.startsWith(mine) && !before.includes(d))).toEqual([]);
  });
});
