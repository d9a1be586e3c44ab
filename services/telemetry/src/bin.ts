#!/usr/bin/env node
/**
 * `fleetnet-telemetry` — the telemetry service binary.
 *   fleetnet-telemetry collect   standalone NetFlow/IPFIX collector (env PORT, BIND, RCVBUF, WORKERS);
 *                                prints {"records","packets","drops",…} on SIGTERM.
 *   fleetnet-telemetry run       the telemetry service: heartbeats and state reports → drift
 *                                (events, `drift: heal`), health, baselines, rollout gates over NATS.
 */
const USAGE =
  "usage: fleetnet-telemetry collect   (env PORT=2055 BIND=0.0.0.0 RCVBUF=0 WORKERS=1)\n" +
  "       fleetnet-telemetry run --intents FILE [--intents FILE…] [--heartbeat-s 10]\n";

const cmd = process.argv[2];
if (cmd === "collect") {
  // Loaded only for its command: the collector's workers should not load the service's modules.
  const { runCollect } = await import("./collector/standalone.js");
  const code = await runCollect();
  if (code !== 0) process.exit(code);
} else if (cmd === "run") {
  const { runTelemetryService } = await import("./service/command.js");
  process.exit(await runTelemetryService(process.argv.slice(3)));
} else {
  process.stderr.write(`${USAGE}${cmd === undefined ? "" : `unknown command: ${cmd}\n`}`);
  process.exit(2);
}
