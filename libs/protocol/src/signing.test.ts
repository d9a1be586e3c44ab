import { generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emptyHostState } from "@fleetnet/netstate";
import { afterAll, describe, expect, it } from "vitest";
import {
  canonicalJsonStrict,
  encodeSignedJob,
  exportKeyPairPem,
  FleetnetError,
  generateJobKeyPair,
  type Job,
  loadPrivateKey,
  loadPublicKey,
  MemoryReplayCache,
  newNonce,
  publicKeyId,
  type ReplayCache,
  signJob,
  verifyJob,
} from "./index.js";

const NOW = Date.parse("2026-11-29T22:00:00.000Z");
const planner = generateJobKeyPair();
const attacker = generateJobKeyPair();

let seq = 0;
function applyJob(over: Partial<Job> = {}): Job {
  seq++;
  return {
    v: 1,
    jobId: `j-${seq}`,
    host: "h1",
    rolloutId: "r-1",
    planHash: "abc123",
    issuer: "planner-1",
    issuedAt: new Date(NOW - 1000).toISOString(),
    expiresAt: new Date(NOW + 60_000).toISOString(),
    nonce: newNonce(),
    kind: "apply",
    payload: { desired: emptyHostState(), confirmTimeoutMs: 60_000, wave: 0 },
    ...over,
  } as Job;
}

async function refusal(
  input: unknown,
  opts: Partial<Parameters<typeof verifyJob>[1]> = {},
): Promise<FleetnetError> {
  try {
    await verifyJob(input, {
      publicKey: planner.publicKey,
      host: "h1",
      now: NOW,
      replayCache: new MemoryReplayCache(),
      ...opts,
    });
  } catch (err) {
    if (err instanceof FleetnetError) return err;
    throw err;
  }
  throw new Error("job was accepted");
}

describe("signJob / verifyJob", () => {
  it("accepts a good job from bytes, text or a decoded object and returns it typed", async () => {
    const job = applyJob();
    const signed = signJob(job, planner.privateKey);
    expect(signed.sig.keyId).toBe(publicKeyId(planner.publicKey));
    for (const input of [
      encodeSignedJob(signed),
      JSON.stringify(signed),
      JSON.parse(JSON.stringify(signed)),
    ]) {
      const got = await verifyJob(input, {
        publicKey: planner.publicKey,
        host: "h1",
        now: NOW,
        replayCache: new MemoryReplayCache(),
      });
      expect(got).toEqual(job);
    }
  });

  it("signature does not depend on key order or whitespace", async () => {
    const signed = signJob(applyJob(), planner.privateKey);
    const reordered = JSON.parse(canonicalJsonStrict(signed.job)); // sorted keys
    const text = JSON.stringify({ sig: signed.sig, job: reordered }, null, 4);
    await expect(
      verifyJob(text, {
        publicKey: planner.publicKey,
        host: "h1",
        now: NOW,
        replayCache: new MemoryReplayCache(),
      }),
    ).resolves.toMatchObject({ jobId: signed.job.jobId });
  });

  it("accepts during a key rotation (several trusted keys, chosen by keyId)", async () => {
    const signed = signJob(applyJob(), planner.privateKey);
    const other = generateJobKeyPair().publicKey;
    await expect(
      verifyJob(signed, {
        publicKey: [other, planner.publicKey],
        host: "h1",
        now: NOW,
        replayCache: new MemoryReplayCache(),
      }),
    ).resolves.toBeDefined();
  });

  type Case = [string, () => unknown, Partial<Parameters<typeof verifyJob>[1]>, string, RegExp];
  const cases: Case[] = [
    [
      "signed by another key",
      () => signJob(applyJob(), attacker.privateKey),
      {},
      "JOB_SIGNATURE_INVALID",
      /unknown key/,
    ],
    [
      "forged signature under the planner's keyId",
      () => {
        const s = signJob(applyJob(), attacker.privateKey);
        return { ...s, sig: { ...s.sig, keyId: publicKeyId(planner.publicKey) } };
      },
      {},
      "JOB_SIGNATURE_INVALID",
      /does not verify/,
    ],
    [
      "payload changed after signing",
      () => {
        const s = signJob(applyJob(), planner.privateKey);
        return { ...s, job: { ...s.job, host: "h2" } };
      },
      { host: "h2" },
      "JOB_SIGNATURE_INVALID",
      /does not verify/,
    ],
    [
      "desired state changed after signing",
      () => {
        const s = signJob(applyJob(), planner.privateKey);
        return {
          ...s,
          job: { ...s.job, payload: { desired: { links: ["evil"] }, confirmTimeoutMs: 60_000, wave: 0 } },
        };
      },
      {},
      "JOB_SIGNATURE_INVALID",
      /does not verify/,
    ],
    [
      "extra field added after signing",
      () => {
        const s = signJob(applyJob(), planner.privateKey);
        return { ...s, job: { ...s.job, extra: 1 } };
      },
      {},
      "JOB_SIGNATURE_INVALID",
      /does not verify/,
    ],
    [
      "addressed to another host",
      () => signJob(applyJob({ host: "h2" }), planner.privateKey),
      {},
      "JOB_MISADDRESSED",
      /addressed to host h2, not h1/,
    ],
    [
      "expired",
      () =>
        signJob(
          applyJob({
            issuedAt: new Date(NOW - 120_000).toISOString(),
            expiresAt: new Date(NOW - 1).toISOString(),
          }),
          planner.privateKey,
        ),
      {},
      "JOB_EXPIRED",
      /expired at/,
    ],
    [
      "expiring exactly now",
      () => signJob(applyJob({ expiresAt: new Date(NOW).toISOString() }), planner.privateKey),
      {},
      "JOB_EXPIRED",
      /expired at/,
    ],
    [
      "issued in the future beyond the skew",
      () =>
        signJob(
          applyJob({
            issuedAt: new Date(NOW + 120_000).toISOString(),
            expiresAt: new Date(NOW + 180_000).toISOString(),
          }),
          planner.privateKey,
        ),
      {},
      "JOB_EXPIRED",
      /in the future/,
    ],
    [
      "claiming a lifetime over the maximum",
      () =>
        signJob(applyJob({ expiresAt: new Date(NOW + 48 * 3_600_000).toISOString() }), planner.privateKey),
      {},
      "JOB_EXPIRED",
      /lifetime/,
    ],
    ["not JSON", () => new TextEncoder().encode("{not json"), {}, "JOB_MALFORMED", /not valid UTF-8 JSON/],
    ["invalid UTF-8", () => Uint8Array.from([0x7b, 0xff, 0x7d]), {}, "JOB_MALFORMED", /not valid UTF-8 JSON/],
    ["missing signature", () => ({ job: applyJob() }), {}, "JOB_MALFORMED", /field sig/],
    [
      "signature not base64 of 64 bytes",
      () => ({
        ...signJob(applyJob(), planner.privateKey),
        sig: { alg: "ed25519", keyId: publicKeyId(planner.publicKey), value: "AAAA" },
      }),
      {},
      "JOB_MALFORMED",
      /field sig.value/,
    ],
    [
      "signed but missing a field (version skew)",
      () => {
        // the planner's key signs a job without planHash, bypassing signJob's own validation
        const raw = { ...applyJob() } as Record<string, unknown>;
        delete raw.planHash;
        const good = signJob(applyJob(), planner.privateKey);
        const bytes = Buffer.concat([
          Buffer.from("fleetnet-job-v1\n"),
          Buffer.from(canonicalJsonStrict(raw)),
        ]);
        return {
          job: raw,
          sig: { ...good.sig, value: sign(null, bytes, planner.privateKey).toString("base64") },
        };
      },
      {},
      "JOB_MALFORMED",
      /field planHash/,
    ],
  ];

  it.each(cases)("refuses a job %s", async (_why, make, opts, code, message) => {
    const err = await refusal(make(), opts);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect(err.retryable).toBe(false);
  });

  it("refuses a replayed jobId and a replayed nonce (JOB_REPLAYED)", async () => {
    const cache = new MemoryReplayCache();
    const opts = { publicKey: planner.publicKey, host: "h1", now: NOW, replayCache: cache };
    const signed = signJob(applyJob(), planner.privateKey);
    await verifyJob(signed, opts);
    expect((await refusal(signed, { replayCache: cache })).code).toBe("JOB_REPLAYED");
    // same nonce, new jobId
    const sameNonce = signJob(applyJob({ nonce: signed.job.nonce }), planner.privateKey);
    expect((await refusal(sameNonce, { replayCache: cache })).code).toBe("JOB_REPLAYED");
    // same jobId, new nonce
    const sameId = signJob(applyJob({ jobId: signed.job.jobId }), planner.privateKey);
    expect((await refusal(sameId, { replayCache: cache })).code).toBe("JOB_REPLAYED");
    // a fresh job still passes
    await expect(verifyJob(signJob(applyJob(), planner.privateKey), opts)).resolves.toBeDefined();
  });

  it("records nothing for a refused job (a misaddressed job does not burn its id)", async () => {
    const cache = new MemoryReplayCache();
    const job = applyJob({ host: "h2" });
    expect((await refusal(signJob(job, planner.privateKey), { replayCache: cache })).code).toBe(
      "JOB_MISADDRESSED",
    );
    expect(cache.size).toBe(0);
  });

  it("works with an async replay cache", async () => {
    const seen = new Set<string>();
    const asyncCache: ReplayCache = {
      async checkAndRecord(keys) {
        await new Promise((r) => setTimeout(r, 1));
        if (keys.some((k) => seen.has(k))) return false;
        for (const k of keys) seen.add(k);
        return true;
      },
    };
    const signed = signJob(applyJob(), planner.privateKey);
    await verifyJob(signed, { publicKey: planner.publicKey, host: "h1", now: NOW, replayCache: asyncCache });
    expect((await refusal(signed, { replayCache: asyncCache })).code).toBe("JOB_REPLAYED");
  });

  it("signJob refuses to sign a malformed job, naming the field", () => {
    expect(() => signJob(applyJob({ jobId: "bad id" }), planner.privateKey)).toThrow(/field jobId/);
    expect(() =>
      signJob(applyJob({ expiresAt: new Date(NOW - 5000).toISOString() }), planner.privateKey),
    ).toThrow(/expiresAt must be after issuedAt/);
    expect(() => signJob(applyJob(), planner.publicKey)).toThrow(/expected a private key/);
  });
});

describe("MemoryReplayCache", () => {
  it("is bounded, and refuses what it can no longer prove unseen", () => {
    const cache = new MemoryReplayCache(4);
    const exp = NOW + 60_000;
    expect(cache.checkAndRecord(["a1", "a2"], exp, NOW - 300, NOW)).toBe(true);
    expect(cache.checkAndRecord(["b1", "b2"], exp, NOW - 200, NOW)).toBe(true);
    expect(cache.checkAndRecord(["c1", "c2"], exp, NOW - 100, NOW)).toBe(true);
    expect(cache.size).toBe(4);
    expect(cache.horizonMs).toBe(NOW - 300); // the unexpired "a" entries were evicted
    expect(cache.checkAndRecord(["a1", "a2"], exp, NOW - 300, NOW)).toBe(false); // replay of evicted job
    expect(cache.checkAndRecord(["d1", "d2"], exp, NOW - 50, NOW)).toBe(true); // newer job fine
  });

  it("evicts expired entries first, without moving the horizon", () => {
    const cache = new MemoryReplayCache(4);
    expect(cache.checkAndRecord(["a1", "a2"], NOW + 10, NOW - 300, NOW)).toBe(true);
    expect(cache.checkAndRecord(["b1", "b2"], NOW + 60_000, NOW - 200, NOW)).toBe(true);
    expect(cache.checkAndRecord(["c1", "c2"], NOW + 60_000, NOW - 100, NOW + 20)).toBe(true);
    expect(cache.horizonMs).toBe(Number.NEGATIVE_INFINITY);
    expect(cache.checkAndRecord(["b1"], NOW + 60_000, NOW, NOW + 20)).toBe(false);
  });
});

describe("key files", () => {
  const dir = mkdtempSync(join(tmpdir(), "fn-proto-keys-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("loads a PEM key pair written to files and signs/verifies with it", async () => {
    const pem = exportKeyPairPem(generateJobKeyPair());
    writeFileSync(join(dir, "planner.key"), pem.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(dir, "planner.pub"), pem.publicKeyPem);
    const priv = loadPrivateKey(join(dir, "planner.key"));
    const pub = loadPublicKey(join(dir, "planner.pub"));
    expect(publicKeyId(priv)).toBe(publicKeyId(pub));
    const signed = signJob(applyJob(), priv);
    await expect(
      verifyJob(signed, { publicKey: pub, host: "h1", now: NOW, replayCache: new MemoryReplayCache() }),
    ).resolves.toBeDefined();
  });

  it.each([
    ["a missing file", "nope.pem", undefined, /cannot read key file .*nope.pem: ENOENT/],
    ["garbage", "garbage.pem", "hello", /garbage.pem: not a PEM private key/],
    ["an RSA key", "rsa.pem", "rsa", /expected an Ed25519 key, got rsa/],
  ])("refuses %s with KEY_INVALID naming the file", (_why, name, content, message) => {
    const path = join(dir, name);
    if (content === "rsa") {
      writeFileSync(
        path,
        generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({
          type: "pkcs8",
          format: "pem",
        }),
      );
    } else if (content !== undefined) {
      writeFileSync(path, content);
    }
    try {
      loadPrivateKey(path);
      expect.unreachable();
    } catch (err) {
      expect((err as FleetnetError).code).toBe("KEY_INVALID");
      expect((err as Error).message).toMatch(message);
    }
  });

  it("refuses a public key file as a private key; derives the public key from a private PEM", () => {
    const pair = generateJobKeyPair();
    const pem = exportKeyPairPem(pair);
    writeFileSync(join(dir, "p.pub"), pem.publicKeyPem);
    writeFileSync(join(dir, "p.key"), pem.privateKeyPem, { mode: 0o600 });
    expect(() => loadPrivateKey(join(dir, "p.pub"))).toThrow(/p.pub: not a PEM private key/);
    expect(publicKeyId(loadPublicKey(join(dir, "p.key")))).toBe(publicKeyId(pair.publicKey));
  });
});
