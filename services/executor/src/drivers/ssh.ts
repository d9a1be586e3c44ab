/**
 * The SSH driver (ssh2). Design:
 * - Key authentication only (`authHandler: ["publickey"]`), never passwords or agents.
 * - Host key pinning: the key comes from the inventory (`hostKey: "ssh-ed25519 AAAA…"`) or
 *   a known_hosts file. `hostVerifier` compares the raw key blob the server presents with
 *   the pinned blob; no pin → `HOSTKEY_UNKNOWN`, another key → `HOSTKEY_MISMATCH`. Both
 *   are decided during key exchange, so no command can run before the check. The host key
 *   algorithms offered are restricted to the pinned key types, so a server with several
 *   keys presents the one that was pinned.
 * - One connection per driver, reused for every command of a transaction; keepalives
 *   detect a cut session within seconds (`CONNECTION_LOST`, retryable).
 * - SSH exec takes one string: every argv element is single-quoted ({@link shJoin}).
 *   File operations are fixed shell templates whose only variable parts are quoted paths.
 */
import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { Client, type ConnectConfig } from "ssh2";
import type { HostDriver, RunOptions, RunResult, StagedOptions, StagedRun, WriteOptions } from "../driver.js";
import { joinRoot } from "../driver.js";
import { ExecutorError } from "../errors.js";
import { shJoin, shQuote } from "../quote.js";
import { StagedOutput } from "./process.js";

/** Options of {@link sshDriver}. */
export interface SshDriverOptions {
  host: string;
  address: string;
  port?: number;
  user: string;
  /** Private key file (OpenSSH or PEM). */
  privateKeyFile: string;
  /** Pinned host key, `"<type> <base64> [comment]"`. Takes precedence over knownHostsFile. */
  hostKey?: string;
  /** known_hosts file to look the host up in (plain or hashed entries, `[addr]:port` form). */
  knownHostsFile?: string;
  /** Where host paths live on the remote machine (default "/"). */
  fsRoot?: string;
  /** Connect timeout (default 10 s). */
  readyTimeoutMs?: number;
  /** Keepalive interval (default 1 s); the session counts as lost after 3 missed. */
  keepaliveIntervalMs?: number;
}

/** A pinned key: type and raw blob. */
interface PinnedKey {
  type: string;
  blob: Buffer;
}

/** Parse `"<type> <base64> [comment]"`. */
export function parseHostKey(line: string): PinnedKey {
  const [type, b64] = line.trim().split(/\s+/);
  if (!type || !b64 || !/^[A-Za-z0-9+/]+=*$/.test(b64)) {
    throw new ExecutorError("INVALID_INPUT", `hostKey ${JSON.stringify(line)} is not "<type> <base64>"`);
  }
  const blob = Buffer.from(b64, "base64");
  // The blob starts with the key type as an SSH string; a mismatch means a garbled key.
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (len < 0 || blob.subarray(4, 4 + len).toString() !== type) {
    throw new ExecutorError("INVALID_INPUT", `hostKey of type ${type} does not contain a ${type} key`);
  }
  return { type, blob };
}

function hostPatterns(address: string, port: number): string[] {
  return port === 22 ? [address, `[${address}]:22`] : [`[${address}]:${port}`];
}

function matchesHost(field: string, names: string[]): boolean {
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    if (!salt || !hash) return false;
    return names.some(
      (n) => createHmac("sha1", Buffer.from(salt, "base64")).update(n).digest("base64") === hash,
    );
  }
  const pats = field.split(",");
  if (pats.some((p) => p.startsWith("!") && names.includes(p.slice(1)))) return false;
  return pats.some((p) => names.includes(p));
}

/** Keys known_hosts lists for `address:port` (markers such as @revoked are not trusted). */
export function knownHostKeys(text: string, address: string, port: number): PinnedKey[] {
  const names = hostPatterns(address, port);
  const keys: PinnedKey[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("@")) continue;
    const [hosts, type, b64] = line.split(/\s+/);
    if (!hosts || !type || !b64 || !matchesHost(hosts, names)) continue;
    keys.push(parseHostKey(`${type} ${b64}`));
  }
  return keys;
}

const KEY_ALGOS: Record<string, string[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

class SshDriver implements HostDriver {
  readonly kind = "ssh" as const;
  readonly host: string;
  readonly fsRoot: string;
  #client: Client | undefined;
  #lost: ExecutorError | undefined;
  #closed = false;

  constructor(readonly o: SshDriverOptions) {
    this.host = o.host;
    this.fsRoot = o.fsRoot ?? "/";
  }

  async connect(): Promise<void> {
    const port = this.o.port ?? 22;
    let pins: PinnedKey[];
    if (this.o.hostKey !== undefined) pins = [parseHostKey(this.o.hostKey)];
    else if (this.o.knownHostsFile !== undefined) {
      pins = knownHostKeys(await readFile(this.o.knownHostsFile, "utf8"), this.o.address, port);
    } else pins = [];
    if (pins.length === 0) {
      throw new ExecutorError(
        "HOSTKEY_UNKNOWN",
        `host ${this.host} (${this.o.address}:${port}) has no pinned host key (inventory hostKey or known_hosts): refusing to connect`,
      );
    }
    const privateKey = await readFile(this.o.privateKeyFile);
    const algos = [...new Set(pins.flatMap((p) => KEY_ALGOS[p.type] ?? [p.type]))];
    let hostKeyError: ExecutorError | undefined;
    const client = new Client();
    const cfg: ConnectConfig = {
      host: this.o.address,
      port,
      username: this.o.user,
      privateKey,
      authHandler: ["publickey"],
      readyTimeout: this.o.readyTimeoutMs ?? 10_000,
      keepaliveInterval: this.o.keepaliveIntervalMs ?? 1000,
      keepaliveCountMax: 3,
      algorithms: { serverHostKey: algos as never },
      hostVerifier: (key: Buffer) => {
        if (pins.some((p) => p.blob.equals(key))) return true;
        const type = key.subarray(4, 4 + key.readUInt32BE(0)).toString();
        hostKeyError = new ExecutorError(
          "HOSTKEY_MISMATCH",
          `host ${this.host} (${this.o.address}:${port}) presented a ${type} host key that differs from the pinned key: refusing to connect (possible man-in-the-middle, or the host was reinstalled)`,
        );
        return false;
      },
    };
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error & { level?: string }) => {
        client.removeListener("ready", onReady);
        client.end();
        if (hostKeyError) return reject(hostKeyError);
        if (e.level === "client-authentication") {
          return reject(
            new ExecutorError("SSH_AUTH", `ssh key authentication to ${this.host} as ${this.o.user} failed`),
          );
        }
        reject(
          new ExecutorError(
            "CONNECT_FAILED",
            `cannot connect to ${this.host} (${this.o.address}:${port}): ${e.message}`,
            true,
            { cause: e },
          ),
        );
      };
      const onReady = () => {
        client.removeListener("error", onError);
        resolve();
      };
      client.once("error", onError);
      client.once("ready", onReady);
      client.connect(cfg);
    });
    client.on("error", (e) => {
      this.#lost ??= new ExecutorError(
        "CONNECTION_LOST",
        `ssh session to ${this.host} lost: ${e.message}`,
        true,
      );
    });
    client.on("close", () => {
      this.#lost ??= new ExecutorError("CONNECTION_LOST", `ssh session to ${this.host} closed`, true);
    });
    this.#client = client;
  }

  #exec(command: string, opts: RunOptions = {}): Promise<RunResult> {
    const client = this.#client;
    if (this.#lost) return Promise.reject(this.#lost);
    if (!client || this.#closed)
      return Promise.reject(
        new ExecutorError("CONNECTION_LOST", `ssh driver for ${this.host} is closed`, true),
      );
    return new Promise((resolve, reject) => {
      client.exec(command, (err, stream) => {
        if (err)
          return reject(
            this.#lost ??
              new ExecutorError("CONNECTION_LOST", `ssh exec on ${this.host}: ${err.message}`, true),
          );
        const out: Buffer[] = [];
        const errb: Buffer[] = [];
        let done = false;
        const timer =
          opts.timeoutMs === undefined ? undefined : setTimeout(() => finish(124), opts.timeoutMs);
        const onLost = () => {
          if (done) return;
          done = true;
          if (timer) clearTimeout(timer);
          reject(
            this.#lost ?? new ExecutorError("CONNECTION_LOST", `ssh session to ${this.host} closed`, true),
          );
        };
        const finish = (code: number) => {
          if (done) return;
          done = true;
          if (timer) clearTimeout(timer);
          client.removeListener("close", onLost);
          if (code === 124) stream.close();
          resolve({
            code,
            stdout: Buffer.concat(out).toString("utf8"),
            stderr: Buffer.concat(errb).toString("utf8"),
          });
        };
        client.once("close", onLost);
        stream.on("data", (b: Buffer) => out.push(b));
        stream.stderr.on("data", (b: Buffer) => errb.push(b));
        stream.on("close", (code: number | null, signal?: string) => {
          finish(code ?? (signal ? 128 + (signalNumbers[signal] ?? 0) : 255));
        });
        stream.end(opts.stdin ?? "");
      });
    });
  }

  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return this.#exec(shJoin(argv), opts);
  }

  // One exec channel whose stdin stays open until finish (a cut session: the remote shell
  // reads end-of-file, or gets SIGHUP, before anything after its pause line runs).
  runStaged(argv: readonly string[], pause: string, opts: StagedOptions = {}): Promise<StagedRun> {
    const client = this.#client;
    if (this.#lost) return Promise.reject(this.#lost);
    if (!client || this.#closed)
      return Promise.reject(
        new ExecutorError("CONNECTION_LOST", `ssh driver for ${this.host} is closed`, true),
      );
    const lost = () =>
      this.#lost ?? new ExecutorError("CONNECTION_LOST", `ssh session to ${this.host} closed`, true);
    return new Promise((resolveFirst, rejectFirst) => {
      client.exec(shJoin(argv), (err, stream) => {
        if (err)
          return rejectFirst(
            this.#lost ??
              new ExecutorError("CONNECTION_LOST", `ssh exec on ${this.host}: ${err.message}`, true),
          );
        const o = new StagedOutput(pause);
        let ended: RunResult | undefined;
        let finishing: { resolve: (r: RunResult) => void; reject: (e: Error) => void } | undefined;
        const timer =
          opts.timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                ended = { code: 124, stdout: o.out, stderr: o.err };
                stream.close();
                end();
              }, opts.timeoutMs);
        let finished: Promise<RunResult> | undefined;
        let gone: ExecutorError | undefined;
        const finish = (input: string): Promise<RunResult> => {
          if (gone && !finished) return Promise.reject(gone);
          if (ended && !finished)
            return Promise.resolve(o.paused ? ended : { code: ended.code, stdout: "", stderr: "" });
          finished ??= new Promise((resolve, reject) => {
            finishing = { resolve, reject };
            stream.end(input);
          });
          return finished;
        };
        const onLost = () => {
          if (ended) return;
          if (timer) clearTimeout(timer);
          ended = { code: 255, stdout: "", stderr: "" };
          gone = lost();
          if (!o.paused) rejectFirst(gone);
          finishing?.reject(gone);
        };
        const end = () => {
          client.removeListener("close", onLost);
          if (timer) clearTimeout(timer);
          if (!ended) return;
          if (!o.paused) resolveFirst({ first: { ...ended, paused: false }, finish });
          finishing?.resolve(ended);
        };
        client.once("close", onLost);
        stream.setEncoding("utf8");
        stream.stderr.setEncoding("utf8");
        stream.on("data", (t: string) => {
          const first = o.stdout(t);
          if (!first) return;
          if (timer) clearTimeout(timer);
          resolveFirst({ first, finish });
        });
        stream.stderr.on("data", (t: string) => o.stderr(t));
        stream.on("close", (code: number | null, signal?: string) => {
          ended ??= {
            code: code ?? (signal ? 128 + (signalNumbers[signal] ?? 0) : 255),
            stdout: o.out,
            stderr: o.err,
          };
          end();
        });
      });
    });
  }

  hostPath(path: string): string {
    return joinRoot(this.fsRoot, path);
  }

  async readFile(path: string): Promise<string | undefined> {
    const p = shQuote(this.hostPath(path));
    const r = await this.#exec(`if [ -e ${p} ]; then cat -- ${p}; else exit 3; fi`);
    if (r.code === 3) return undefined;
    if (r.code !== 0)
      throw new ExecutorError("COMMAND_FAILED", `read ${path} on ${this.host}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  // `cat > tmp && mv` (no flush over the session: one command per write is the cost budget)
  async writeFileAtomic(path: string, content: string, mode = 0o644, _opts?: WriteOptions): Promise<void> {
    const target = this.hostPath(path);
    const m = (mode & 0o7777).toString(8);
    const tmp = shQuote(
      `${target}.fleetnet-tmp-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`,
    );
    const cmd = `mkdir -p -- ${shQuote(dirname(target))} && (umask 077 && cat > ${tmp}) && chmod ${m} ${tmp} && mv -f -- ${tmp} ${shQuote(target)} || { rm -f -- ${tmp}; exit 1; }`;
    const r = await this.#exec(cmd, { stdin: content });
    if (r.code !== 0)
      throw new ExecutorError("COMMAND_FAILED", `write ${path} on ${this.host}: ${r.stderr.trim()}`);
  }

  async removeFile(path: string): Promise<void> {
    const r = await this.#exec(`rm -f -- ${shQuote(this.hostPath(path))}`);
    if (r.code !== 0)
      throw new ExecutorError("COMMAND_FAILED", `remove ${path} on ${this.host}: ${r.stderr.trim()}`);
  }

  async spawnDetached(argv: readonly string[]): Promise<void> {
    // Own session, stdio closed, backgrounded: the channel closes at once and the process
    // survives the end of this session (and of the whole connection).
    const r = await this.#exec(`setsid ${shJoin(argv)} </dev/null >/dev/null 2>&1 &`);
    if (r.code !== 0) throw new ExecutorError("COMMAND_FAILED", `spawn on ${this.host}: ${r.stderr.trim()}`);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client?.end();
  }
}

const signalNumbers: Record<string, number> = { HUP: 1, INT: 2, KILL: 9, TERM: 15, PIPE: 13 };

/**
 * Connect to a host over SSH and return its driver. Rejects with `HOSTKEY_UNKNOWN`,
 * `HOSTKEY_MISMATCH`, `SSH_AUTH` or `CONNECT_FAILED` before any command runs.
 */
export async function sshDriver(o: SshDriverOptions): Promise<HostDriver> {
  const d = new SshDriver(o);
  await d.connect();
  return d;
}
