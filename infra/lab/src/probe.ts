/**
 * Reachability probe without `ping` (minimal Debian images lack iputils-ping): a fixed node
 * program connects to a normally closed TCP port on every target; the peer kernel's RST
 * (`ECONNREFUSED`) proves the round trip, a timeout or `EHOSTUNREACH` means unreachable.
 * One process probes all targets concurrently; the program text is constant and the targets
 * are passed as argv.
 */
import { run } from "./exec.js";

const PROBE = `
const net = require("node:net");
const [port, timeout, ...targets] = process.argv.slice(1);
const out = {};
Promise.all(targets.map((host) => new Promise((done) => {
  const s = net.connect({ host, port: Number(port) });
  const end = (ok) => { out[host] = ok; s.destroy(); clearTimeout(t); done(); };
  const t = setTimeout(() => end(false), Number(timeout));
  s.on("connect", () => end(true));
  s.on("error", (e) => end(e.code === "ECONNREFUSED"));
}))).then(() => process.stdout.write(JSON.stringify(out)));
`;

/**
 * Which of `addresses` answer from inside namespace `ns` (`null`: the root namespace).
 * Probes TCP `port` (default 9, normally closed: a RST is an answer; an open port too).
 */
export async function reachable(
  ns: string | null,
  addresses: readonly string[],
  opts: { port?: number; timeoutMs?: number } = {},
): Promise<Record<string, boolean>> {
  const argv = [
    process.execPath,
    "-e",
    PROBE,
    String(opts.port ?? 9),
    String(opts.timeoutMs ?? 1000),
    ...addresses,
  ];
  const r = await run(ns === null ? argv : ["ip", "netns", "exec", ns, ...argv]);
  return JSON.parse(r.stdout) as Record<string, boolean>;
}
