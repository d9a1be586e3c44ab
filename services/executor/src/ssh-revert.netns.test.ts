/**
 * Acceptance (real): over SSH, a change that removes the host's own underlay address cuts
 * the executor's session mid-apply. The host reverts itself at the confirm deadline (the
 * timer was armed ON THE HOST before applying), SSH works again, and the transaction
 * reports `reverted` with the reason.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emptyHostState, type HostState, ownerAlias } from "@fleetnet/netstate";
import { type ScratchNamespace, scratchNamespace } from "@fleetnet/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { sshDriver } from "./drivers/ssh.js";
import { rootLink, type Sshd, startSshd } from "./testlib/sshd.testlib.js";
import { applyHost, type HostTarget } from "./transaction.js";

let ns: ScratchNamespace;
let sshd: Sshd;
let fsRoot: string;
let address: string;

beforeAll(async () => {
  ns = await scratchNamespace("fnx");
  address = (await rootLink(ns)).address;
  sshd = await startSshd(ns, address, 2224);
  fsRoot = await mkdtemp(join(tmpdir(), "fnx-sshroot-"));
  await chmod(fsRoot, 0o755);
});
afterAll(async () => {
  await sshd?.stop();
  await ns?.dispose();
  if (fsRoot) await rm(fsRoot, { recursive: true, force: true });
});

const connect = () =>
  sshDriver({
    host: "h1",
    address,
    port: sshd.port,
    user: sshd.user,
    privateKeyFile: sshd.privateKeyFile,
    hostKey: sshd.hostKey,
    fsRoot,
    readyTimeoutMs: 3000,
  });

it("a change that cuts the SSH session is reverted by the host itself; result reverted with the reason", async () => {
  const target: HostTarget = { host: "h1", serviceMode: "direct", connect };
  // adopt the management veth and want no address on it: the diff deletes the underlay address
  const cut: HostState = {
    ...emptyHostState(),
    links: [{ kind: "veth", name: "mgmt0", up: true, alias: ownerAlias("Underlay", "cut") }],
  };
  const t0 = Date.now();
  const r = await applyHost(target, cut, { confirmTimeoutS: 5 });
  expect(r.ops.map((o) => o.op)).toContain("addr.del");
  expect(r.result, JSON.stringify(r.error)).toBe("reverted");
  expect(r.error?.code).toBe("CONNECTION_LOST");
  expect(r.error?.message).toMatch(/reverted itself/);
  expect(Date.now() - t0).toBeLessThan(40_000);
  // the address is back and SSH works again
  const addrs = (await ns.run(["ip", "-j", "addr", "show", "mgmt0"])).stdout;
  expect(addrs).toContain(`"local":"${address}"`);
  const d = await connect();
  expect((await d.run(["ip", "-br", "addr", "show", "mgmt0"])).stdout).toContain(address);
  // the alias fleetnet set was cleared too
  const link = JSON.parse((await d.run(["ip", "-j", "link", "show", "mgmt0"])).stdout)[0] as {
    ifalias?: string;
  };
  expect(link.ifalias ?? "").toBe("");
  await d.close();
}, 90_000);
