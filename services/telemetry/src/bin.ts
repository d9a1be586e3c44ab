#!/usr/bin/env node
/**
 * `fleetnet-telemetry` — the telemetry service binary.
 *   fleetnet-telemetry collect   standalone NetFlow/IPFIX collector (env PORT, BIND, RCVBUF, WORKERS);
 *                                prints {"records","packets","drops",…} on SIGTERM.
 */
import { runCollect } from "./collector/standalone.js";

const cmd = process.argv[2];
if (cmd === "collect") {
  const code = await runCollect();
  if (code !== 0) process.exit(code);
} else {
  process.stderr.write(
    `usage: fleetnet-telemetry collect   (env PORT=2055 BIND=0.0.0.0 RCVBUF=0 WORKERS=1)\n${cmd === undefined ? "" : `unknown command: ${cmd}\n`}`,
  );
  process.exit(2);
}
