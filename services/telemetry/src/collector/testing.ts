/** Helpers shared by the collector's tests (not part of the package API). */
import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";

/** Whether `cmd` is on the PATH (tests that need a real daemon skip without it). */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync("which", [cmd], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** A UDP port that was free a moment ago on `host` (the kernel picks it). */
export async function freeUdpPort(host = "127.0.0.1"): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
