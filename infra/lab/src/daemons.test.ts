import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ed25519KeyPair, parseCollector, sshdConfig, writeKeyPair } from "./daemons.js";

const dir = mkdtempSync(join(tmpdir(), "fnl-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("ed25519 keys in OpenSSH format", () => {
  it("ssh-keygen reads the private key and derives the same public key", () => {
    const file = join(dir, "k1");
    const pub = writeKeyPair(file, "fleetnet-test");
    expect(pub).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$/);
    const derived = execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim();
    expect(derived.split(" ").slice(0, 2).join(" ")).toBe(pub);
    expect(readFileSync(`${file}.pub`, "utf8")).toBe(`${pub} fleetnet-test\n`);
  });

  it("every pair is new", () => {
    expect(ed25519KeyPair("a").publicKey).not.toBe(ed25519KeyPair("a").publicKey);
  });
});

it("sshdConfig pins the listen address, key-only login of the lab user, no PAM", () => {
  const c = sshdConfig({
    address: "10.9.0.1",
    port: 22,
    hostKeyFile: "/s/k",
    pidFile: "/s/p",
    authorizedKeysFile: "/s/ak",
    user: "fleetlab",
  });
  for (const line of [
    "ListenAddress 10.9.0.1",
    "HostKey /s/k",
    "PasswordAuthentication no",
    "UsePAM no",
    "AllowUsers fleetlab",
    "AuthorizedKeysCommand /bin/cat /s/ak",
  ]) {
    expect(c.split("\n")).toContain(line);
  }
});

it("parseCollector accepts IPV4:PORT only", () => {
  expect(parseCollector("10.250.255.254:2055")).toEqual({ host: "10.250.255.254", port: 2055 });
  for (const bad of ["10.0.0.1", "10.0.0.1:0", "10.0.0.1:70000", "host:2055", "[::1]:2055", "10.0.0.300:1"]) {
    expect(() => parseCollector(bad), bad).toThrow(/--flows must be IPV4:PORT/);
  }
});
