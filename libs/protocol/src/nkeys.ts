/**
 * NATS user nkeys (Ed25519) made with `node:crypto`, in the NATS text encoding.
 *
 * An nkey user's public key (`U…`) goes into the server config; its seed (`SU…`) stays
 * with the client, which signs the server's nonce with it. So the server config holds no
 * secret at all — unlike passwords, which nats-server would need in plain text or as
 * bcrypt hashes (node has no bcrypt built in).
 *
 * Encoding (github.com/nats-io/nkeys): base32 (RFC 4648, no padding) of
 * `prefix bytes ‖ key ‖ crc16-xmodem(prefix ‖ key) little-endian`; a public user key has
 * the one prefix byte 20<<3, a seed the two bytes that spell `SU` in base32.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { FleetnetError, ProtocolErrorCodes } from "./errors.js";

const PREFIX_SEED = 18 << 3; // 'S'
const PREFIX_USER = 20 << 3; // 'U'
const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

function base32Decode(text: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const v = B32.indexOf(ch);
    if (v < 0) throw new Error(`illegal base32 character ${JSON.stringify(ch)}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

function withCrc(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(raw.length + 2);
  out.set(raw);
  const c = crc16(raw);
  out[raw.length] = c & 0xff;
  out[raw.length + 1] = c >> 8;
  return out;
}

function encodeSeed(seed: Uint8Array): string {
  const raw = new Uint8Array(2 + 32);
  raw[0] = PREFIX_SEED | (PREFIX_USER >> 5);
  raw[1] = (PREFIX_USER & 31) << 3;
  raw.set(seed, 2);
  return base32Encode(withCrc(raw));
}

function encodePublic(pub: Uint8Array): string {
  const raw = new Uint8Array(1 + 32);
  raw[0] = PREFIX_USER;
  raw.set(pub, 1);
  return base32Encode(withCrc(raw));
}

/** PKCS#8 DER header of an Ed25519 private key; the 32-byte seed follows it. */
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

function publicFromRawSeed(seed: Uint8Array): Uint8Array {
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
  const jwk = createPublicKey(key).export({ format: "jwk" });
  return Buffer.from(jwk.x ?? "", "base64url");
}

/** A NATS user nkey: the public key (config) and its seed (secret, client side). */
export interface UserNkey {
  /** `U…`, 56 characters: goes into the server config. */
  publicKey: string;
  /** `SU…`, 58 characters: secret; the client authenticates with it. */
  seed: string;
}

/** A fresh NATS user nkey (an Ed25519 key pair from node:crypto). */
export function generateUserNkey(): UserNkey {
  const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d ?? "", "base64url");
  const pub = Buffer.from(jwk.x ?? "", "base64url");
  if (seed.length !== 32 || pub.length !== 32)
    throw new Error("node:crypto returned an Ed25519 key of unexpected size");
  return { publicKey: encodePublic(pub), seed: encodeSeed(seed) };
}

function userNkeyFromRawSeed(seed: Uint8Array): UserNkey {
  return { publicKey: encodePublic(publicFromRawSeed(seed)), seed: encodeSeed(seed) };
}

/**
 * Parse a user seed (`SU…`) and derive its public key. Throws `KEY_INVALID` for anything
 * else (wrong alphabet, checksum, prefix or length).
 */
export function userNkeyFromSeed(seedText: string): UserNkey {
  const text = seedText.trim();
  let raw: Uint8Array;
  try {
    raw = base32Decode(text);
  } catch (err) {
    throw new FleetnetError(ProtocolErrorCodes.KEY_INVALID, `not an nkey seed: ${(err as Error).message}`);
  }
  const fail = (why: string): never => {
    throw new FleetnetError(ProtocolErrorCodes.KEY_INVALID, `not a NATS user nkey seed: ${why}`);
  };
  if (raw.length !== 36) fail(`decoded length ${raw.length}, expected 36`);
  const body = raw.subarray(0, 34);
  const crc = (raw[34] ?? 0) | ((raw[35] ?? 0) << 8);
  if (crc16(body) !== crc) fail("checksum mismatch");
  const b0 = raw[0] ?? 0;
  const b1 = raw[1] ?? 0;
  const kind = b0 & 248;
  const role = ((b0 & 7) << 5) | ((b1 & 248) >> 3);
  if (kind !== PREFIX_SEED || role !== PREFIX_USER) fail("not a user seed (expected it to start with SU)");
  return userNkeyFromRawSeed(raw.subarray(2, 34));
}

/** True when `text` is a well-formed NATS user public key (`U…` with a valid checksum). */
export function isUserPublicKey(text: string): boolean {
  if (!/^U[A-Z2-7]{55}$/.test(text)) return false;
  const raw = base32Decode(text);
  if (raw.length !== 35 || raw[0] !== PREFIX_USER) return false;
  return crc16(raw.subarray(0, 33)) === ((raw[33] ?? 0) | ((raw[34] ?? 0) << 8));
}

/**
 * Read a user seed file (`<creds-dir>/<user>.nk`, as `fleetnet nats-config` writes it) and
 * return the key. Throws `KEY_INVALID` naming the file. Connect with
 * `nkeyAuthenticator(new TextEncoder().encode(key.seed))` from `@nats-io/transport-node`.
 */
export function loadUserNkey(path: string): UserNkey {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new FleetnetError(
      ProtocolErrorCodes.KEY_INVALID,
      `cannot read nkey seed file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { cause: err },
    );
  }
  try {
    return userNkeyFromSeed(text);
  } catch (err) {
    throw new FleetnetError(ProtocolErrorCodes.KEY_INVALID, `${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
