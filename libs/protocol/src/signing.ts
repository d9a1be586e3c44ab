/**
 * Signed jobs: Ed25519 over the canonical JSON of the job envelope.
 *
 * The planner signs every job; an executor runs a job only after {@link verifyJob} accepts
 * it. The signed bytes are `"fleetnet-job-v1\n" + canonicalJson(job)`: the domain prefix
 * keeps a job signature from ever being valid for another kind of message signed with the
 * same key, and canonical JSON makes the bytes independent of key order or whitespace.
 *
 * Verification order, and why:
 * 1. outer shape (`{job, sig}`), else `JOB_MALFORMED`;
 * 2. signature over the job exactly as received (before trusting any field), else
 *    `JOB_SIGNATURE_INVALID` — an unknown `keyId` is a bad signature too;
 * 3. job schema, else `JOB_MALFORMED` (signed by us, but not understood: version skew);
 * 4. addressed to this host, else `JOB_MISADDRESSED`;
 * 5. not expired (and not issued in the future beyond the clock skew), else `JOB_EXPIRED`;
 * 6. neither `jobId` nor `nonce` seen before, else `JOB_REPLAYED`; then both are recorded.
 * None of these is retryable: the same job will be refused again.
 *
 * A refused job must not produce a `result` (a forged job could reuse a real jobId and
 * fail it); the executor reports it as an audit event `job.refused` (`jobRefusedEvent`)
 * and terminates it.
 *
 * Redelivery: JetStream redelivers a job whose ack did not arrive. With the in-memory cache
 * a restarted executor has forgotten the job and runs it again (apply is idempotent: an
 * empty diff is `unchanged`). A redelivery to the SAME process (`info.redelivered` set) of
 * a job it already accepted is refused as `JOB_REPLAYED`: the executor should treat that as
 * "already handled" (ack it once its result is published), not report an attack.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { canonicalBytes } from "./canonical.js";
import { FleetnetError, ProtocolErrorCodes } from "./errors.js";
import { type Job, JobSchema, parseMessage, type SignedJob, SignedJobWireSchema } from "./messages.js";

const DOMAIN = new TextEncoder().encode("fleetnet-job-v1\n");

function signedBytes(job: unknown): Uint8Array {
  const body = canonicalBytes(job);
  const out = new Uint8Array(DOMAIN.length + body.length);
  out.set(DOMAIN, 0);
  out.set(body, DOMAIN.length);
  return out;
}

function keyError(message: string, cause?: unknown): FleetnetError {
  return new FleetnetError(ProtocolErrorCodes.KEY_INVALID, message, cause === undefined ? {} : { cause });
}

function assertEd25519(key: KeyObject, type: "private" | "public", source: string): KeyObject {
  if (key.asymmetricKeyType !== "ed25519") {
    throw keyError(`${source}: expected an Ed25519 key, got ${key.asymmetricKeyType ?? key.type}`);
  }
  if (key.type !== type) throw keyError(`${source}: expected a ${type} key, got a ${key.type} key`);
  return key;
}

/** A fresh Ed25519 key pair for signing jobs. */
export function generateJobKeyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync("ed25519");
}

/** PEM encodings of a key pair (PKCS#8 private, SPKI public) for writing to files. */
export function exportKeyPairPem(pair: { publicKey: KeyObject; privateKey: KeyObject }): {
  publicKeyPem: string;
  privateKeyPem: string;
} {
  return {
    publicKeyPem: pair.publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKeyPem: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

/** Parse an Ed25519 private key from PEM text. Throws `KEY_INVALID`. */
export function privateKeyFromPem(pem: string, source = "private key"): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw keyError(`${source}: not a PEM private key (${(err as Error).message})`, err);
  }
  return assertEd25519(key, "private", source);
}

/** Parse an Ed25519 public key from PEM text (SPKI, or derive it from a private key PEM). */
export function publicKeyFromPem(pem: string, source = "public key"): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw keyError(`${source}: not a PEM public key (${(err as Error).message})`, err);
  }
  return assertEd25519(key, "public", source);
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw keyError(
      `cannot read key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      err,
    );
  }
}

/** Load the planner's Ed25519 private key from a PEM file. Throws `KEY_INVALID` naming the file. */
export function loadPrivateKey(path: string): KeyObject {
  return privateKeyFromPem(readKeyFile(path), path);
}

/** Load an Ed25519 public key from a PEM file. Throws `KEY_INVALID` naming the file. */
export function loadPublicKey(path: string): KeyObject {
  return publicKeyFromPem(readKeyFile(path), path);
}

const keyIds = new WeakMap<KeyObject, string>();

/**
 * Fingerprint of a public key (or of a private key's public half): the first 16 bytes of
 * SHA-256 over its SPKI DER, in hex. Cached per KeyObject (it is on every sign/verify).
 */
export function publicKeyId(key: KeyObject): string {
  let id = keyIds.get(key);
  if (id === undefined) {
    const pub = key.type === "private" ? createPublicKey(key) : key;
    const der = pub.export({ type: "spki", format: "der" });
    id = createHash("sha256").update(der).digest("hex").slice(0, 32);
    keyIds.set(key, id);
  }
  return id;
}

/** A fresh random nonce for a job (128 bits, base64url). */
export function newNonce(): string {
  return randomBytes(16).toString("base64url");
}

/**
 * Sign a job. The job is validated first (`JOB_MALFORMED` naming the field): the planner
 * never signs what an executor would refuse as malformed.
 */
export function signJob(job: Job, privateKey: KeyObject): SignedJob {
  assertEd25519(privateKey, "private", "signing key");
  const parsed = parseMessage(JobSchema, job, { what: "job", code: ProtocolErrorCodes.JOB_MALFORMED });
  if (!parsed.ok) throw parsed.error;
  const value = sign(null, signedBytes(parsed.value), privateKey).toString("base64");
  return { job: parsed.value, sig: { alg: "ed25519", keyId: publicKeyId(privateKey), value } };
}

/** Encode a signed job for the wire (UTF-8 JSON). */
export function encodeSignedJob(signed: SignedJob): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(signed));
}

/**
 * Remembers job ids and nonces an executor has accepted, until they expire. Implementations
 * may be in memory ({@link MemoryReplayCache}) or persistent (e.g. a Redis sorted set at
 * `redisKeys.replay(host)`), sync or async.
 */
export interface ReplayCache {
  /**
   * If none of `keys` was seen, record them all until `expiresAtMs` and return true;
   * otherwise record nothing and return false. Must be atomic with respect to itself.
   * `issuedAtMs` lets a bounded cache refuse what it can no longer prove unseen.
   */
  checkAndRecord(
    keys: readonly string[],
    expiresAtMs: number,
    issuedAtMs: number,
    nowMs: number,
  ): boolean | Promise<boolean>;
}

/**
 * A bounded in-memory replay cache (LRU by insertion, expired entries dropped first).
 *
 * Bounded but still safe: when it must evict an entry that has not yet expired, it raises
 * a horizon to that entry's `issuedAt`, and refuses every later job issued at or before the
 * horizon — it can no longer prove such a job unseen. Size it above the number of jobs one
 * host gets per job lifetime and the horizon never moves.
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #capacity: number;
  readonly #entries = new Map<string, { expiresAtMs: number; issuedAtMs: number }>();
  #horizonMs = Number.NEGATIVE_INFINITY;

  /** @param capacity maximum number of remembered keys (each job uses two). */
  constructor(capacity = 100_000) {
    if (!Number.isInteger(capacity) || capacity < 2)
      throw new RangeError("replay cache capacity must be an integer >= 2");
    this.#capacity = capacity;
  }

  /** Number of keys remembered now. */
  get size(): number {
    return this.#entries.size;
  }

  /** The issuedAt horizon (ms) at or before which jobs are refused; -Infinity if none. */
  get horizonMs(): number {
    return this.#horizonMs;
  }

  checkAndRecord(keys: readonly string[], expiresAtMs: number, issuedAtMs: number, nowMs: number): boolean {
    if (issuedAtMs <= this.#horizonMs) return false;
    for (const k of keys) {
      const e = this.#entries.get(k);
      if (e !== undefined && e.expiresAtMs > nowMs) return false;
    }
    for (const k of keys) {
      this.#entries.delete(k);
      this.#entries.set(k, { expiresAtMs, issuedAtMs });
    }
    this.#evict(nowMs);
    return true;
  }

  #evict(nowMs: number): void {
    if (this.#entries.size <= this.#capacity) return;
    for (const [k, e] of this.#entries) {
      if (e.expiresAtMs <= nowMs) this.#entries.delete(k);
    }
    for (const [k, e] of this.#entries) {
      if (this.#entries.size <= this.#capacity) break;
      this.#entries.delete(k);
      if (e.issuedAtMs > this.#horizonMs) this.#horizonMs = e.issuedAtMs;
    }
  }
}

/** Options of {@link verifyJob}. */
export interface VerifyJobOptions {
  /** The planner's public key, or several during a key rotation (matched by keyId). */
  publicKey: KeyObject | readonly KeyObject[];
  /** The host this executor serves: a job for another host is refused. */
  host: string;
  /** Current time (ms since epoch); default `Date.now()`. */
  now?: number;
  /** Replay cache; jobId and nonce are checked and recorded here. */
  replayCache: ReplayCache;
  /** Allowed clock skew for `issuedAt` in the future (ms, default 60 000). */
  maxClockSkewMs?: number;
  /** Longest lifetime a job may claim (`expiresAt - issuedAt`, default 24 h). */
  maxLifetimeMs?: number;
}

function refuse(code: string, message: string, details?: Record<string, unknown>): never {
  throw new FleetnetError(code, message, { retryable: false, ...(details ? { details } : {}) });
}

/**
 * Check a signed job received on the wire (bytes, text or decoded JSON) and return the
 * typed job. Throws a non-retryable {@link FleetnetError} with one of `JOB_MALFORMED`,
 * `JOB_SIGNATURE_INVALID`, `JOB_MISADDRESSED`, `JOB_EXPIRED`, `JOB_REPLAYED` (see the
 * module header for the order). The jobId and nonce are recorded only when everything
 * else passed.
 */
export async function verifyJob(
  signed: Uint8Array | string | unknown,
  options: VerifyJobOptions,
): Promise<Job> {
  const now = options.now ?? Date.now();
  const C = ProtocolErrorCodes;
  const outer = parseMessage(SignedJobWireSchema, signed, { what: "signed job", code: C.JOB_MALFORMED });
  if (!outer.ok) throw outer.error;
  const { job: rawJob, sig } = outer.value;

  const keys = Array.isArray(options.publicKey) ? options.publicKey : [options.publicKey as KeyObject];
  const key = keys.find((k) => publicKeyId(k) === sig.keyId);
  if (key === undefined) {
    refuse(C.JOB_SIGNATURE_INVALID, `job is signed by an unknown key ${sig.keyId}`, { keyId: sig.keyId });
  }
  let bytes: Uint8Array;
  try {
    bytes = signedBytes(rawJob);
  } catch (err) {
    refuse(C.JOB_MALFORMED, `job cannot be canonicalised: ${(err as Error).message}`);
  }
  if (!verify(null, bytes, key, Buffer.from(sig.value, "base64"))) {
    const jobId = typeof rawJob.jobId === "string" ? rawJob.jobId : undefined;
    refuse(C.JOB_SIGNATURE_INVALID, `signature of job ${jobId ?? "(no jobId)"} does not verify`, {
      keyId: sig.keyId,
    });
  }

  const parsed = parseMessage(JobSchema, rawJob, { what: "job", code: C.JOB_MALFORMED });
  if (!parsed.ok) throw parsed.error;
  const job = parsed.value;

  if (job.host !== options.host) {
    refuse(C.JOB_MISADDRESSED, `job ${job.jobId} is addressed to host ${job.host}, not ${options.host}`, {
      jobId: job.jobId,
      to: job.host,
      self: options.host,
    });
  }

  const issuedAt = Date.parse(job.issuedAt);
  const expiresAt = Date.parse(job.expiresAt);
  const skew = options.maxClockSkewMs ?? 60_000;
  const maxLifetime = options.maxLifetimeMs ?? 24 * 3_600_000;
  if (expiresAt <= now) {
    refuse(C.JOB_EXPIRED, `job ${job.jobId} expired at ${job.expiresAt}`, {
      jobId: job.jobId,
      expiresAt: job.expiresAt,
    });
  }
  if (issuedAt > now + skew) {
    refuse(C.JOB_EXPIRED, `job ${job.jobId} is issued in the future (${job.issuedAt}); check the clocks`, {
      jobId: job.jobId,
      issuedAt: job.issuedAt,
    });
  }
  if (expiresAt - issuedAt > maxLifetime) {
    refuse(C.JOB_EXPIRED, `job ${job.jobId} claims a lifetime over ${maxLifetime} ms`, { jobId: job.jobId });
  }

  const fresh = await options.replayCache.checkAndRecord(
    [`job:${job.jobId}`, `nonce:${job.nonce}`],
    expiresAt,
    issuedAt,
    now,
  );
  if (!fresh) {
    refuse(C.JOB_REPLAYED, `job ${job.jobId} (nonce ${job.nonce}) was seen before`, { jobId: job.jobId });
  }
  return job;
}
