import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { knownHostKeys, parseHostKey } from "./ssh.js";

// an ed25519 public key blob: string "ssh-ed25519" + 32-byte key
function ed25519(seed: number): string {
  const t = Buffer.from("ssh-ed25519");
  const k = Buffer.alloc(32, seed);
  const len = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  return `ssh-ed25519 ${Buffer.concat([len(t.length), t, len(32), k]).toString("base64")}`;
}

describe("host key pins", () => {
  it("parses a pinned key and refuses garbage", () => {
    expect(parseHostKey(`${ed25519(1)} comment`).type).toBe("ssh-ed25519");
    expect(() => parseHostKey("ssh-ed25519")).toThrow(/not "<type> <base64>"/);
    expect(() => parseHostKey(`ssh-rsa ${ed25519(1).split(" ")[1]}`)).toThrow(
      /does not contain a ssh-rsa key/,
    );
  });

  it("finds plain, [host]:port, negated and hashed known_hosts entries", () => {
    const salt = randomBytes(20);
    const hash = createHmac("sha1", salt).update("[10.0.0.9]:2222").digest("base64");
    const text = [
      "# comment",
      `10.0.0.1,web ${ed25519(1)}`,
      `[10.0.0.1]:2222 ${ed25519(2)}`,
      `|1|${salt.toString("base64")}|${hash} ${ed25519(3)}`,
      `@revoked 10.0.0.1 ${ed25519(4)}`,
      `10.0.0.*,!10.0.0.5 ${ed25519(5)}`,
    ].join("\n");
    const blob = (s: string) => parseHostKey(s).blob;
    expect(knownHostKeys(text, "10.0.0.1", 22).map((k) => k.blob)).toEqual([blob(ed25519(1))]);
    expect(knownHostKeys(text, "10.0.0.1", 2222).map((k) => k.blob)).toEqual([blob(ed25519(2))]);
    expect(knownHostKeys(text, "10.0.0.9", 2222).map((k) => k.blob)).toEqual([blob(ed25519(3))]);
    expect(knownHostKeys(text, "10.0.0.5", 22)).toEqual([]);
    expect(knownHostKeys(text, "10.0.0.77", 22)).toEqual([]); // wildcards are not trusted
  });
});
