/**
 * The planner as a process: runtime (config, NATS, Redis, logger, shutdown), streams,
 * heartbeat and state-report followers, the BullMQ rollout runner with the NATS
 * dispatcher, and the request/reply API. Several planners may run at once: BullMQ hands
 * each rollout to one of them and the API endpoints share a queue group.
 */
import { randomBytes } from "node:crypto";
import { FleetnetError, loadPrivateKey, streamConfigs, subjects } from "@fleetnet/protocol";
import { ensureStream, type ServiceRuntime, type StartServiceOptions, startService } from "@fleetnet/runtime";
import { type PlannerApi, startPlannerApi } from "./api.js";
import { HeartbeatBook, TelemetryGates } from "./dispatch.js";
import { followHeartbeats, followStateReports, NatsAuditSink, NatsDispatcher } from "./nats.js";
import { RolloutRunner } from "./runner.js";

/** A running planner. */
export interface PlannerService {
  runtime: ServiceRuntime;
  runner: RolloutRunner;
  api: PlannerApi;
  plannerId: string;
}

/**
 * Start the planner. Needs `FLEETNET_SIGNING_KEY_FILE` (its Ed25519 job-signing key).
 * @throws FleetnetError `CONFIG_INVALID` without a signing key; runtime errors when NATS or
 * Redis cannot be reached.
 */
export async function startPlanner(options: Partial<StartServiceOptions> = {}): Promise<PlannerService> {
  const runtime = await startService({ name: "fleetnet-planner", ...options, redis: true });
  try {
    const { config, logger, nats, js, jsm, shutdown } = runtime;
    const redis = runtime.redis as NonNullable<ServiceRuntime["redis"]>;
    if (!config.signingKeyFile)
      throw new FleetnetError(
        "CONFIG_INVALID",
        "FLEETNET_SIGNING_KEY_FILE: the planner needs the Ed25519 key it signs jobs with",
        { details: { variable: "FLEETNET_SIGNING_KEY_FILE" } },
      );
    const signingKey = loadPrivateKey(config.signingKeyFile);
    for (const cfg of streamConfigs) await ensureStream(jsm, cfg as never);
    const plannerId = `planner-${randomBytes(4).toString("hex")}`;
    const book = new HeartbeatBook();
    const stopHeartbeats = followHeartbeats(nats, book);
    const stopStates = followStateReports(nats, redis);
    const bull = redis.duplicate();
    const runner = new RolloutRunner({
      redis,
      bullConnection: bull,
      dispatcher: new NatsDispatcher({ js, signingKey, issuer: plannerId }),
      // hostsHealthy from heartbeats; bgpEstablished/vrrpSingleMaster/overlayReachable asked of telemetry
      gates: new TelemetryGates({ nc: nats, subject: subjects.telemetryApi("gate"), heartbeats: book }),
      audit: new NatsAuditSink(js),
      plannerId,
    });
    runner.start();
    const api = await startPlannerApi({ nc: nats, js, redis, runner });
    shutdown.register("api", () => api.stop(), "intake");
    // rollouts in progress are not waited for: they resume on the next planner (state is in Redis)
    shutdown.register("runner", () => runner.close(true), "intake");
    shutdown.register("followers", async () => {
      await stopHeartbeats();
      await stopStates();
    });
    shutdown.register("bullmq-redis", () => bull.disconnect());
    logger.info({ plannerId }, "planner ready");
    return { runtime, runner, api, plannerId };
  } catch (err) {
    await runtime.shutdown.shutdown("start-up failed");
    throw err;
  }
}
