/**
 * End to end through real parts: lab namespaces, the real executor service
 * (`fleetnet-executor run --pool`, its built dist, as a process) publishing heartbeats and
 * state reports every second, and the telemetry service on a private nats-server and
 * redis-server. A sysctl changed by hand in one namespace must show as drift within 10 s.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type ApiVerb,
  type AuditEvent,
  AuditEventSchema,
  exportKeyPairPem,
  generateJobKeyPair,
  parseMessage,
  subjects,
} from "@fleetnet/protocol";
import { createLogger } from "@fleetnet/runtime";
import {
  collect,
  type NatsAttachment,
  type PrivateBackends,
  privateBackends,
  type RedisAttachment,
  stopChild,
  type TestLab,
  testLab,
  waitFor,
} from "@fleetnet/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EXECUTOR, netnsInventory, startExecutorPool } from "./executor.testlib.js";
import { TelemetryService } from "./service.js";

const PLANNER = fileURLToPath(new URL("../../../planner/dist/bin.js", import.meta.url));
const logger = createLogger({ level: "silent", serviceName: "telemetry-netns-test" });

let backends: PrivateBackends | undefined;
let att: NatsAttachment;
let red: RedisAttachment;
let lab: TestLab;
let dir: string;
let child: ChildProcess | undefined;
let planner: ChildProcess | undefined;
const keys = generateJobKeyPair();
let fleetText = "";
let svc: TelemetryService | undefined;
const events: AuditEvent[] = [];

function sysctlW(namespace: string, kv: string): void {
  execFileSync("ip", ["netns", "exec", namespace, "sysctl", "-q", "-w", kv], { stdio: "ignore" });
}

beforeAll(async () => {
  if (!existsSync(EXECUTOR))
    throw new Error(`${EXECUTOR} is missing: build first (pnpm exec tsc -b services/executor)`);
  dir = mkdtempSync(join(tmpdir(), "fnt-drift-"));
  backends = await privateBackends();
  ({ att, red } = backends);
  lab = await testLab({ prefix: "fnt", hosts: 2 });
  collect(att.nc, subjects.telemetryEvent("drift"), (d) => parseMessage(AuditEventSchema, d), events);
  await att.nc.flush();
}, 120_000);

afterAll(async () => {
  await svc?.stop();
  await stopChild(child);
  await stopChild(planner);
  await lab?.dispose();
  await backends?.[Symbol.asyncDispose]();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

it("a sysctl changed by hand in a namespace shows as drift within 10 s (real executor reports)", async () => {
  const hosts = lab.hosts.map((h, i) => ({ ...h, name: `t${i + 1}` }));
  const text = `${netnsInventory("drift", "hv", hosts)}---
apiVersion: fleetnet/v1
kind: SysctlBaseline
metadata: {name: fwd}
spec:
  hosts: {matchLabels: {role: hv}}
  settings: {net.ipv4.ip_forward: 1}
`;
  writeFileSync(join(dir, "fleet.yaml"), text);
  for (const h of hosts) sysctlW(h.namespace, "net.ipv4.ip_forward=1");

  svc = await TelemetryService.start({
    nc: att.nc,
    redis: red.redis,
    logger,
    intentFiles: [{ name: "fleet.yaml", text }],
    heartbeatIntervalMs: 1_000,
  });

  fleetText = text;
  const executor = startExecutorPool(dir, att.url, keys);
  child = executor.child;

  // Both hosts heartbeat and report; nothing drifts yet.
  await waitFor(
    `a healthy fleet (executor output: ${executor.out})`,
    () => {
      const h = svc?.health();
      return h?.healthy && Object.values(h.hosts).every((x) => x.heartbeatAgeS !== null) ? h : undefined;
    },
    30_000,
  );
  expect(svc?.drift().findings).toEqual([]);

  const victim = hosts[1] as (typeof hosts)[number];
  const t0 = Date.now();
  sysctlW(victim.namespace, "net.ipv4.ip_forward=0");
  const ev = await waitFor(
    "a drift event",
    () => events.find((e) => e.action === "sysctl.drift" && e.target.host === victim.name),
    10_000,
  );
  expect(Date.now() - t0).toBeLessThan(10_000);
  expect(ev.details).toMatchObject({
    key: "net.ipv4.ip_forward",
    expected: "1",
    actual: "0",
    source: "baseline",
  });
  expect(
    svc
      ?.health()
      .findings.filter((f) => f.severity !== "info")
      .map((f) => [f.code, f.host]),
  ).toEqual([["drift", victim.name]]);

  // Put back by hand: the drift clears.
  sysctlW(victim.namespace, "net.ipv4.ip_forward=1");
  await waitFor(
    "drift cleared",
    () => events.find((e) => e.action === "sysctl.drift-cleared" && e.target.host === victim.name),
    10_000,
  );
}, 120_000);

it("drift: heal leaves fresh hosts to the operator's first rollout, then restores what it set", async () => {
  if (!existsSync(PLANNER))
    throw new Error(`${PLANNER} is missing: build first (pnpm exec tsc -b services/planner)`);
  expect(fleetText).not.toBe(""); // the executor of the previous test serves the hosts
  writeFileSync(join(dir, "planner.key"), exportKeyPairPem(keys).privateKeyPem, { mode: 0o600 });
  let pout = "";
  planner = spawn(process.execPath, [PLANNER, "run"], {
    env: {
      ...process.env,
      NATS_URL: att.url,
      REDIS_URL: red.url,
      FLEETNET_SIGNING_KEY_FILE: join(dir, "planner.key"),
      LOG_LEVEL: "warn",
      METRICS_PORT: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  planner.stdout?.on("data", (b: Buffer) => {
    pout += b;
  });
  planner.stderr?.on("data", (b: Buffer) => {
    pout += b;
  });
  const healText = `${fleetText.replace(
    "settings: {net.ipv4.ip_forward: 1}",
    "settings: {net.ipv4.ip_forward: 1}\n  drift: heal",
  )}---
apiVersion: fleetnet/v1
kind: RolloutPolicy
metadata: {name: quick}
spec: {waves: [{percent: 100}], soak: 0s, confirmTimeout: 30s}
`;
  expect(healText).toContain("drift: heal");
  await svc?.stop();
  svc = await TelemetryService.start({
    nc: att.nc,
    redis: red.redis,
    logger,
    intentFiles: [{ name: "fleet.yaml", text: healText }],
    heartbeatIntervalMs: 1_000,
    healCooldownMs: 3_000,
    healAfterMs: 1_000,
  });
  const victim = lab.hosts[0] as (typeof lab.hosts)[number];
  const victimName = "t1";
  const forward = () =>
    execFileSync("ip", ["netns", "exec", victim.namespace, "sysctl", "-n", "net.ipv4.ip_forward"], {
      encoding: "utf8",
    }).trim();
  const heals = () => events.filter((e) => e.action === "sysctl.heal-requested");

  // `fleetnet up` with the baseline before any rollout: fleetnet never set the key on these
  // hosts, so the drift alerts and waits for the operator's rollout instead of racing it
  const mark = events.length;
  sysctlW(victim.namespace, "net.ipv4.ip_forward=0");
  await waitFor(
    "a drift event for the fresh host",
    () => events.slice(mark).find((e) => e.action === "sysctl.drift" && e.target.host === victimName),
    10_000,
  );
  await new Promise((r) => setTimeout(r, 4_000)); // four report cycles, past the heal cooldown
  expect(heals()).toEqual([]);
  expect(forward()).toBe("0");

  // the operator's first rollout sets the key (no heal collides with it: no HOST_LOCKED)
  const ask = async (verb: ApiVerb, body: object) =>
    JSON.parse(
      new TextDecoder().decode(
        (await att.nc.request(subjects.api(verb), JSON.stringify(body), { timeout: 30_000 })).data,
      ),
    );
  const applied = await ask("apply", { files: [{ name: "fleet.yaml", text: healText }], by: "operator" });
  expect(applied.ok, JSON.stringify(applied)).toBe(true);
  const done = await waitFor(
    `the operator's rollout (planner output: ${pout})`,
    async () => {
      const st = await ask("status", { rolloutId: applied.rolloutId });
      return ["succeeded", "failed", "rolled_back", "aborted"].includes(st.status) ? st : undefined;
    },
    60_000,
  );
  expect(done.status, JSON.stringify(done)).toBe("succeeded");
  expect(forward()).toBe("1");
  expect(heals()).toEqual([]);

  // now the key is fleetnet's on the host: changed by hand, it is healed
  sysctlW(victim.namespace, "net.ipv4.ip_forward=0");
  const ev = await waitFor(
    `a heal rollout accepted by the planner (planner output: ${pout})`,
    () => heals().find((e) => e.result === "ok"),
    30_000,
  );
  expect(ev.details).toMatchObject({ hosts: [victimName] });
  await waitFor(
    `ip_forward restored on ${victim.namespace} (planner output: ${pout})`,
    () => forward() === "1" || undefined,
    60_000,
  );
}, 180_000);
