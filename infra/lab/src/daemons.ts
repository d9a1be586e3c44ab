/**
 * Per-host daemons of the lab: sshd (key login for a dedicated user, pinned host keys) and
 * softflowd (NetFlow v9 export). Files live under `<stateDir>/hosts/<name>/`; daemons run in
 * the foreground (`-D` / `-d`) as detached children so their PID is the one we record.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { parseIp } from "@fleetnet/intent";
import { LabError } from "./errors.js";
import { mapLimit, run, spawnDaemon } from "./exec.js";
import { spawnDaemonsInOneProcess } from "./nlconf.js";
import type { LabHost } from "./topology.js";

/** The dedicated login user of lab hosts (shell /bin/sh: root's rc files make logins slow). */
export const LAB_SSH_USER = "fleetlab";

/** Directory of one host's files. */
export function hostDir(stateDir: string, host: string): string {
  return join(stateDir, "hosts", host);
}

/**
 * Make sure {@link LAB_SSH_USER} exists with /bin/sh and an unlocked (but password-less)
 * account: `useradd` leaves it locked, and a locked account cannot log in even with a key
 * when PAM is off. The user is shared by all labs on the machine and is not removed by down.
 */
export async function ensureSshUser(user = LAB_SSH_USER): Promise<void> {
  const passwd = readFileSync("/etc/passwd", "utf8");
  if (!passwd.split("\n").some((l) => l.startsWith(`${user}:`))) {
    await run(["useradd", "--system", "--no-create-home", "--home-dir", "/", "--shell", "/bin/sh", user]);
  }
  const shadow = readFileSync("/etc/shadow", "utf8");
  const line = shadow.split("\n").find((l) => l.startsWith(`${user}:`));
  if (line === undefined || line.split(":")[1] !== "*") await run(["usermod", "-p", "*", user]);
}

function sshString(b: Buffer | string): Buffer {
  const body = typeof b === "string" ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

/**
 * A new ed25519 key pair in OpenSSH formats, made in-process (no `ssh-keygen` spawn per host:
 * spawning is the cost of a 200-host lab). `privateKey` is an unencrypted
 * "OPENSSH PRIVATE KEY" (PROTOCOL.key), `publicKey` is "ssh-ed25519 BASE64".
 */
export function ed25519KeyPair(comment: string): { privateKey: string; publicKey: string } {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d ?? "", "base64url");
  const pub = Buffer.from(jwk.x ?? "", "base64url");
  const pubBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
  const check = randomBytes(4);
  let section = Buffer.concat([
    check,
    check,
    sshString("ssh-ed25519"),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(comment),
  ]);
  const pad = (8 - (section.length % 8)) % 8;
  section = Buffer.concat([section, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const none = sshString("none");
  const count = Buffer.alloc(4);
  count.writeUInt32BE(1);
  const blob = Buffer.concat([
    Buffer.from("openssh-key-v1\0"),
    none,
    none,
    sshString(""),
    count,
    sshString(pubBlob),
    sshString(section),
  ]);
  const b64 = blob.toString("base64").replace(/.{1,70}/g, "$&\n");
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${pubBlob.toString("base64")}`,
  };
}

/** Write a new ed25519 key pair to `file` (mode 600) and `file.pub`; returns "ssh-ed25519 BASE64". */
export function writeKeyPair(file: string, comment: string): string {
  const k = ed25519KeyPair(comment);
  writeFileSync(file, k.privateKey, { mode: 0o600 });
  writeFileSync(`${file}.pub`, `${k.publicKey} ${comment}\n`, { mode: 0o644 });
  return k.publicKey;
}

/** sshd_config of one lab host. */
export function sshdConfig(o: {
  address: string;
  port: number;
  hostKeyFile: string;
  pidFile: string;
  authorizedKeysFile: string;
  user: string;
}): string {
  return [
    "# Written by fleetnet lab up.",
    `Port ${o.port}`,
    `ListenAddress ${o.address}`,
    `HostKey ${o.hostKeyFile}`,
    `PidFile ${o.pidFile}`,
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "UsePAM no",
    "StrictModes no",
    "UseDNS no",
    "PermitRootLogin no",
    `AllowUsers ${o.user}`,
    // The state dir may not be readable by the login user; sshd reads authorized keys through
    // a root-run command instead of as the user.
    "AuthorizedKeysFile none",
    `AuthorizedKeysCommand /bin/cat ${o.authorizedKeysFile}`,
    "AuthorizedKeysCommandUser root",
    "",
  ].join("\n");
}

/** Paths used by sshd must not contain whitespace or `%` (sshd_config tokens). */
export function checkSshPath(p: string): void {
  if (/[\s%"']/.test(p)) {
    throw new LabError(
      "BAD_OPTION",
      `--ssh needs a state dir without spaces, quotes or % (sshd_config), got "${p}"`,
    );
  }
}

/** Write every host's sshd config and host key. */
export function prepareSshHosts(
  stateDir: string,
  hosts: readonly LabHost[],
  opts: { port: number; user: string; authorizedKeysFile: string },
): Record<string, string> {
  const keys = hosts.map((h) => {
    const dir = hostDir(stateDir, h.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const hostKeyFile = join(dir, "ssh_host_ed25519_key");
    const pub = writeKeyPair(hostKeyFile, `fleetnet-lab-${h.name}`);
    writeFileSync(
      join(dir, "sshd_config"),
      sshdConfig({
        address: h.address,
        port: opts.port,
        hostKeyFile,
        pidFile: join(dir, "sshd.pid"),
        authorizedKeysFile: opts.authorizedKeysFile,
        user: opts.user,
      }),
      { mode: 0o600 },
    );
    return [h.name, pub] as const;
  });
  return Object.fromEntries(keys);
}

/** argv of one host's sshd (foreground, logs to a file). */
export function sshdArgv(stateDir: string, h: LabHost): string[] {
  const dir = hostDir(stateDir, h.name);
  return ["/usr/sbin/sshd", "-D", "-f", join(dir, "sshd_config"), "-E", join(dir, "sshd.log")];
}

/** Parse a collector `HOST:PORT` (IPv4 host). */
export function parseCollector(text: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  const ip = m?.[1] !== undefined ? parseIp(m[1]) : undefined;
  const port = Number(m?.[2]);
  if (!m || !ip || ip.family !== 4 || !(port >= 1 && port <= 65535)) {
    throw new LabError(
      "BAD_OPTION",
      `--flows must be IPV4:PORT of a NetFlow collector (e.g. 10.250.255.254:2055), got "${text}"`,
    );
  }
  return { host: m[1] as string, port };
}

/** softflowd's control socket of a host (a Unix socket: the path must fit 107 bytes). */
export function softflowdControl(stateDir: string, host: string): string {
  const p = join(hostDir(stateDir, host), "softflowd.ctl");
  if (Buffer.byteLength(p) > 107)
    throw new LabError("BAD_OPTION", `state dir too long for a Unix socket path: ${p}`);
  return p;
}

/** argv of one host's softflowd exporting NetFlow v9 to `collector` (foreground). */
export function softflowdArgv(stateDir: string, h: LabHost, collector: string): string[] {
  const dir = hostDir(stateDir, h.name);
  return [
    "softflowd",
    "-i",
    h.iface,
    "-n",
    collector,
    "-v",
    "9",
    "-d",
    "-p",
    join(dir, "softflowd.pid"),
    "-c",
    softflowdControl(stateDir, h.name),
    "-t",
    "maxlife=10",
    "-t",
    "expint=1",
  ];
}

/**
 * Start a daemon per host: all from one process entering each namespace (`nlconf.ts`), else
 * `ip netns exec` a few at a time. Returns the PIDs in host order.
 */
export async function startDaemons(
  hosts: readonly LabHost[],
  argv: (h: LabHost) => string[],
  onEach?: (done: number) => void,
): Promise<number[]> {
  const fast = await spawnDaemonsInOneProcess(
    hosts.map((h) => ({ ns: h.namespace, argv: argv(h) })),
    onEach,
  );
  if (fast) return fast;
  let done = 0;
  return mapLimit(hosts, 8, async (h) => {
    const pid = await spawnDaemon(h.namespace, argv(h));
    done += 1;
    onEach?.(done);
    return pid;
  });
}

/** Wait until TCP `port` accepts on every address (sshd is listening), or throw after `timeoutMs`. */
export async function waitListening(
  addresses: readonly string[],
  port: number,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(addresses);
  while (pending.size > 0) {
    await Promise.all(
      [...pending].map(
        (host) =>
          new Promise<void>((resolve) => {
            const s = connect({ host, port });
            const end = (ok: boolean) => {
              if (ok) pending.delete(host);
              s.destroy();
              resolve();
            };
            s.setTimeout(500, () => end(false));
            s.on("connect", () => end(true));
            s.on("error", () => end(false));
          }),
      ),
    );
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      throw new LabError(
        "COMMAND_FAILED",
        `sshd is not listening on ${[...pending].slice(0, 5).join(", ")}${pending.size > 5 ? "…" : ""} port ${port} after ${timeoutMs} ms (see hosts/*/sshd.log)`,
        true,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether a file exists (tiny helper for status). */
export function fileExists(p: string): boolean {
  return existsSync(p);
}
