/**
 * Kernel receive drops of a UDP socket, from the `drops` column of /proc/net/udp and
 * /proc/net/udp6 (the socket buffer overflowed: the collector did not read fast enough).
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Socket inodes held open by this process (from /proc/self/fd). */
export function ownSocketInodes(): Set<string> {
  const out = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m?.[1] !== undefined) out.add(m[1]);
    } catch {
      // fd closed meanwhile
    }
  }
  return out;
}

/**
 * Sum of kernel drops of the UDP sockets bound to local `port`, restricted to `inodes` when
 * given (so another process on the same port is not counted). Null when no such socket exists.
 */
export function udpDrops(port: number, inodes?: ReadonlySet<string>): number | null {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  let drops = 0;
  let found = false;
  for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13 || !f[1]?.endsWith(hexPort)) continue;
      if (inodes !== undefined && inodes.size > 0 && !inodes.has(f[9] ?? "")) continue;
      found = true;
      drops += Number(f[f.length - 1]);
    }
  }
  return found ? drops : null;
}
