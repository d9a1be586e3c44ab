import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type ScratchNamespace, scratchNamespace } from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecutorError } from "../errors.js";
import { driverConformance } from "../testlib/conformance.testlib.js";
import { rootLink, type Sshd, startSshd } from "../testlib/sshd.testlib.js";
import { sshDriver } from "./ssh.js";

driverConformance("ssh (sshd inside a scratch namespace)", async () => {
  const ns = await scratchNamespace("fnx");
  const link = await rootLink(ns);
  const sshd = await startSshd(ns, link.address);
  return {
    netns: ns.name,
    connect: () =>
      sshDriver({
        host: "h1",
        address: sshd.address,
        port: sshd.port,
        user: sshd.user,
        privateKeyFile: sshd.privateKeyFile,
        hostKey: sshd.hostKey,
        fsRoot: join(sshd.dir, "root"),
      }),
    cleanup: async () => {
      await sshd.stop();
      await ns.dispose();
    },
  };
});

describe("ssh host key pinning", () => {
  let ns: ScratchNamespace;
  let sshd: Sshd;
  const canary = () => join(sshd.dir, "ran");
  const base = () => ({
    host: "h1",
    address: sshd.address,
    port: sshd.port,
    user: sshd.user,
    privateKeyFile: sshd.privateKeyFile,
  });
  beforeAll(async () => {
    ns = await scratchNamespace("fnx");
    sshd = await startSshd(ns, (await rootLink(ns)).address, 2223);
  });
  afterAll(async () => {
    await sshd?.stop();
    await ns?.dispose();
  });

  async function refused(p: Promise<unknown>): Promise<ExecutorError> {
    const e = await p.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ExecutorError);
    return e as ExecutorError;
  }

  it("connects with the right pinned key (control)", async () => {
    const d = await sshDriver({ ...base(), hostKey: sshd.hostKey });
    expect((await d.run(["touch", canary()])).code).toBe(0);
    expect(existsSync(canary())).toBe(true);
    await d.close();
    await d.removeFile(canary()).catch(() => {});
    const { rmSync } = await import("node:fs");
    rmSync(canary(), { force: true });
  });

  it("refuses a wrong pinned key with HOSTKEY_MISMATCH before any command runs", async () => {
    const e = await refused(
      sshDriver({ ...base(), hostKey: sshd.otherHostKey }).then((d) => d.run(["touch", canary()])),
    );
    expect(e.code).toBe("HOSTKEY_MISMATCH");
    expect(e.message).toMatch(/differs from the pinned key/);
    expect(existsSync(canary())).toBe(false);
  });

  it("refuses a host with no pinned key (HOSTKEY_UNKNOWN), never trusting on first use", async () => {
    const e = await refused(sshDriver(base()).then((d) => d.run(["touch", canary()])));
    expect(e.code).toBe("HOSTKEY_UNKNOWN");
    const kh = join(sshd.dir, "known_hosts");
    await writeFile(kh, `[otherhost]:${sshd.port} ${sshd.hostKey}\n`);
    const e2 = await refused(sshDriver({ ...base(), knownHostsFile: kh }));
    expect(e2.code).toBe("HOSTKEY_UNKNOWN");
    expect(existsSync(canary())).toBe(false);
  });

  it("checks known_hosts entries (match, mismatch)", async () => {
    const kh = join(sshd.dir, "known_hosts2");
    await writeFile(kh, `# test\n[${sshd.address}]:${sshd.port} ${sshd.hostKey} c\n`);
    const d = await sshDriver({ ...base(), knownHostsFile: kh });
    expect((await d.run(["true"])).code).toBe(0);
    await d.close();
    await writeFile(kh, `[${sshd.address}]:${sshd.port} ${sshd.otherHostKey}\n`);
    const e = await refused(sshDriver({ ...base(), knownHostsFile: kh }));
    expect(e.code).toBe("HOSTKEY_MISMATCH");
  });

  it("refuses an unauthorised client key with SSH_AUTH", async () => {
    const e = await refused(
      sshDriver({ ...base(), hostKey: sshd.hostKey, privateKeyFile: join(sshd.dir, "other") }),
    );
    expect(e.code).toBe("SSH_AUTH");
  });
});
