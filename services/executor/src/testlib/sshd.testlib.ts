/**
 * A real sshd inside a scratch network namespace, for the ssh driver tests
 * (LAB-NOTES "sshd per namespace"). Keys are generated with ssh-keygen into a temp dir.
 * The login user is a uid-0 alias with /bin/sh (root's own shell rc files are slow here
 * and network changes need root); it is created once and deleted by {@link Sshd.stop}.
 * sshd is killed by PID.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ipBatch, type ScratchNamespace, uniqueName } from "@fleetnet/testkit";

let subnetCounter = 0;

/**
 * Join `ns` to the root namespace (where the test process runs) with a veth pair:
 * root side `<unique>` 10.213.X.1/30, namespace side `mgmt0` 10.213.X.2/30. The pair
 * disappears with the namespace.
 */
export async function rootLink(
  ns: ScratchNamespace,
): Promise<{ address: string; rootAddress: string; iface: string }> {
  const x = (process.pid * 7 + subnetCounter++ * 4) % 16384;
  const third = (x >> 6) & 255;
  const fourth = (x & 63) * 4;
  const rootAddress = `10.213.${third}.${fourth + 1}`;
  const address = `10.213.${third}.${fourth + 2}`;
  const rootIf = uniqueName("fnxv");
  await ipBatch([
    `link add ${rootIf} type veth peer name mgmt0 netns ${ns.name}`,
    `addr add ${rootAddress}/30 dev ${rootIf}`,
    `link set ${rootIf} up`,
  ]);
  await ipBatch([`addr add ${address}/30 dev mgmt0`, "link set mgmt0 up", "link set lo up"], { ns: ns.name });
  return { address, rootAddress, iface: "mgmt0" };
}

/** A running sshd in a namespace. */
export interface Sshd {
  address: string;
  port: number;
  user: string;
  privateKeyFile: string;
  /** `"ssh-ed25519 AAAA…"` of the server. */
  hostKey: string;
  /** A host key of the same type that the server does NOT have. */
  otherHostKey: string;
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

const USER = "fnx-ssh";

let userRefs = 0;
let userCreated = false;

function acquireUser(): void {
  if (userRefs++ > 0) return;
  try {
    execFileSync("id", [USER], { stdio: "ignore" });
  } catch {
    execFileSync("useradd", ["-o", "-u", "0", "-g", "0", "-M", "-d", "/", "-s", "/bin/sh", USER]);
    userCreated = true;
  }
  execFileSync("usermod", ["-p", "*", USER]);
}

function releaseUser(): void {
  if (--userRefs > 0 || !userCreated) return;
  userCreated = false;
  try {
    execFileSync("userdel", ["-f", USER], { stdio: "ignore" });
  } catch {}
}

/**
 * Start sshd listening on `address:port` inside `ns` (the address must already be on an
 * interface there, or be 127.0.0.1 with lo up).
 */
export async function startSshd(ns: ScratchNamespace, address: string, port = 2222): Promise<Sshd> {
  const dir = await mkdtemp(join(tmpdir(), "fnx-sshd-"));
  await mkdir("/run/sshd", { recursive: true });
  for (const n of ["host", "other", "client"]) {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `fnx-${n}`, "-f", join(dir, n)]);
  }
  await writeFile(join(dir, "authorized_keys"), await readFile(join(dir, "client.pub")));
  acquireUser();
  await writeFile(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      `ListenAddress ${address}`,
      `HostKey ${join(dir, "host")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      "StrictModes no",
      `AllowUsers ${USER}`,
      "ClientAliveInterval 1",
      "ClientAliveCountMax 3",
      "",
    ].join("\n"),
  );
  const child = ns.spawn(["/usr/sbin/sshd", "-D", "-e", "-f", join(dir, "sshd_config")]);
  const pid = child.pid ?? 0;
  // wait until it listens
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await ns.run(["ss", "-Hltn", `sport = :${port}`], { allowFailure: true });
    if (r.stdout.includes(`:${port}`)) break;
    if (Date.now() > deadline) throw new Error(`sshd in ${ns.name} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const pub = (f: string) =>
    readFile(join(dir, f), "utf8").then((s) => s.trim().split(/\s+/).slice(0, 2).join(" "));
  return {
    address,
    port,
    user: USER,
    privateKeyFile: join(dir, "client"),
    hostKey: await pub("host.pub"),
    otherHostKey: await pub("other.pub"),
    dir,
    pid,
    async stop() {
      try {
        process.kill(pid, "SIGTERM");
      } catch {}
      releaseUser();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
