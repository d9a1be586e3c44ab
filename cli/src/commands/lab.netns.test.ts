import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listNamespaces, readState } from "@fleetnet/lab";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError } from "../io.js";
import { runLabDown, runLabStatus, runLabUp } from "./lab.js";

function capture() {
  const o = { out: "", err: "" };
  const sink = {
    stdout: (t: string) => {
      o.out += t;
    },
    stderr: (t: string) => {
      o.err += t;
    },
  };
  return { o, sink };
}

const stateDir = mkdtempSync(join(tmpdir(), "fnl-clitest-"));
const prefix = `fnl${process.pid.toString(36)}c-`;

afterAll(async () => {
  if (readState(stateDir)) await runLabDown({ stateDir }, capture().sink);
  rmSync(stateDir, { recursive: true, force: true });
});

describe("fleetnet lab", () => {
  it("up → status --json → down, with progress on stderr and nothing left", async () => {
    const up = capture();
    expect(
      await runLabUp({ hosts: 3, spines: 1, prefix, subnet: "10.251.247.0/24", stateDir }, up.sink),
    ).toBe(0);
    expect(up.o.out).toMatch(/lab up.*4 hosts/);
    expect(up.o.out).toContain(`inventory: ${join(stateDir, "inventory.yaml")}`);
    expect(up.o.err).toContain("lab: namespaces: 5 namespaces");

    const st = capture();
    expect(runLabStatus({ stateDir, json: true }, st.sink)).toBe(0);
    const s = JSON.parse(st.o.out);
    expect(s).toMatchObject({ healthy: true, status: "up", summary: { hosts: 4, namespacesPresent: 4 } });
    expect(s.hosts.map((h: { name: string }) => h.name)).toEqual(["h001", "h002", "h003", "s01"]);
    const human = capture();
    expect(runLabStatus({ stateDir }, human.sink)).toBe(0);
    expect(human.o.out).toMatch(/hosts 4, namespaces present 4/);
    expect(readFileSync(join(stateDir, "inventory.yaml"), "utf8")).toContain(`namespace: ${prefix}s01`);

    const again = capture();
    expect(
      await runLabUp({ hosts: 1, prefix: `${prefix}x`, subnet: "10.251.248.0/24", stateDir }, again.sink),
    ).toBe(1);
    expect(again.o.err).toMatch(/LAB_ALREADY_UP/);

    const down = capture();
    expect(await runLabDown({ stateDir }, down.sink)).toBe(0);
    expect(down.o.out).toMatch(/removed 5 namespaces, 1 links, 0 processes/);
    expect(listNamespaces().filter((n) => n.startsWith(prefix))).toEqual([]);

    const none = capture();
    expect(runLabStatus({ stateDir }, none.sink)).toBe(1);
    expect(none.o.out).toContain("no lab recorded");
    expect(await runLabDown({ stateDir }, none.sink)).toBe(1);
    expect(none.o.err).toMatch(/no lab is recorded.*\[NO_LAB\]/);
  });

  it("usage errors: neither or both of --hosts and -f, bad option values", async () => {
    const c = capture();
    await expect(runLabUp({ stateDir }, c.sink)).rejects.toThrow(UsageError);
    await expect(runLabUp({ stateDir, hosts: 2, file: ["x.yaml"] }, c.sink)).rejects.toThrow(
      /either --hosts N or -f/,
    );
    await expect(runLabUp({ stateDir, file: ["x.yaml"], racks: 2 }, c.sink)).rejects.toThrow(
      /apply to --hosts only/,
    );
    await expect(runLabUp({ stateDir, hosts: 2, subnet: "10.251.0.0/33" }, c.sink)).rejects.toThrow(/subnet/);
    await expect(runLabUp({ stateDir, hosts: 2, flows: "nowhere" }, c.sink)).rejects.toThrow(
      /--flows must be IPV4:PORT/,
    );
    await expect(
      runLabUp({ stateDir, hosts: 2, subnet: "10.251.249.0/24", flows: "127.0.0.1:2055" }, c.sink),
    ).rejects.toThrow(/only reach their own subnet .*10\.251\.249\.254/);
    const mine = join(stateDir, "mine.yaml");
    mkdirSync(stateDir, { recursive: true }); // lab down removed the then empty state dir
    writeFileSync(mine, "kind: Inventory\n");
    await expect(
      runLabUp({ stateDir, hosts: 2, subnet: "10.251.249.0/24", out: mine }, c.sink),
    ).rejects.toThrow(/mine\.yaml exists and was not written by "fleetnet lab up"/);
    expect(readFileSync(mine, "utf8")).toBe("kind: Inventory\n");
    expect(readState(stateDir)).toBeUndefined();
  });

  it("an unreadable inventory fails with exit 1 naming the file", async () => {
    const c = capture();
    expect(await runLabUp({ stateDir, file: [join(stateDir, "nope.yaml")] }, c.sink)).toBe(1);
    expect(c.o.err).toMatch(/nope\.yaml: no such file.*\[BAD_INVENTORY\]/);
  });
});
