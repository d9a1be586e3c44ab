/**
 * TelemetryGates over a real (private) nats-server. First a plain NATS responder stands in
 * for the telemetry service: what is checked is the request the planner sends and that
 * every way telemetry can fail — silence, no responder, an error, a failed gate — fails the
 * gate with a reason, never passes it. Then the real telemetry service (its built
 * `fleetnet-telemetry run`, as a process: a service never imports another service) on a
 * private redis-server judges protocol-valid state reports with VRRP observations.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { emptyHostState } from "@fleetnet/netstate";
import {
  encodeMessage,
  HeartbeatSchema,
  type StateReport,
  StateReportSchema,
  subjects,
} from "@fleetnet/protocol";
import {
  attachNats,
  buildProjects,
  type NatsAttachment,
  type PrivateServer,
  startNatsServer,
  startRedisServer,
} from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeartbeatBook, TelemetryGates } from "./dispatch.js";

let server: PrivateServer;
let att: NatsAttachment;
const SUBJECT = subjects.telemetryApi("gate");

beforeAll(async () => {
  server = await startNatsServer();
  att = await attachNats(server.url);
}, 30_000);

afterAll(async () => {
  await att?.[Symbol.asyncDispose]();
  await server?.[Symbol.asyncDispose]();
});

/** A stand-in telemetry gate endpoint; `answer` returns the reply (or undefined: stay silent). */
async function responder(answer: (req: Record<string, unknown>) => unknown) {
  const requests: Record<string, unknown>[] = [];
  const sub = att.nc.subscribe(SUBJECT, {
    callback: (_e, m) => {
      const req = JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
      requests.push(req);
      const a = answer(req);
      if (a !== undefined) m.respond(JSON.stringify(a));
    },
  });
  await att.nc.flush();
  return { requests, close: () => sub.unsubscribe() };
}

describe("TelemetryGates", () => {
  const book = new HeartbeatBook();
  const gates = (timeoutMs = 2_000) =>
    new TelemetryGates({ nc: att.nc, subject: SUBJECT, heartbeats: book, timeoutMs });

  it("asks telemetry for each gate with the wave's hosts and since; passes when all pass", async () => {
    const now = Date.now();
    book.record({ host: "a", at: new Date(now).toISOString() });
    book.record({ host: "b", at: new Date(now).toISOString() });
    const r = await responder(() => ({ ok: true, pass: true, findings: [] }));
    try {
      const g = gates();
      const v = await g.check(["hostsHealthy", "bgpEstablished", "vrrpSingleMaster"], ["a", "b"], now);
      expect(v).toEqual({
        passed: true,
        detail: "hostsHealthy, bgpEstablished, vrrpSingleMaster passed for 2 host(s)",
      });
      expect(r.requests.map((q) => q.gate).sort()).toEqual(["bgpEstablished", "vrrpSingleMaster"]);
      const since = new Date(now - 1_000).toISOString();
      for (const q of r.requests) expect(q).toEqual({ gate: q.gate, hosts: ["a", "b"], since });
      // the next poll of the same wave keeps the first check's time as since
      await g.check(["overlayReachable"], ["b", "a"], now + 5_000);
      expect(r.requests.at(-1)).toEqual({ gate: "overlayReachable", hosts: ["b", "a"], since });
      // a wave not checked for 30 s starts anew
      await g.check(["overlayReachable"], ["a", "b"], now + 60_000);
      expect(r.requests.at(-1)?.since).toBe(new Date(now + 59_000).toISOString());
    } finally {
      r.close();
    }
  });

  it("a failed gate fails with telemetry's reason and findings", async () => {
    const r = await responder((q) =>
      q.gate === "vrrpSingleMaster"
        ? {
            ok: true,
            pass: false,
            findings: [{ code: "split-brain", message: "VRID 51 on segment gw has 2 masters: a, b" }],
          }
        : { ok: true, pass: false, reason: "no observations", findings: [] },
    );
    try {
      const v = await gates().check(["vrrpSingleMaster", "overlayReachable"], ["a"], Date.now());
      expect(v.passed).toBe(false);
      expect(v.detail).toContain("gate vrrpSingleMaster: VRID 51 on segment gw has 2 masters: a, b");
      expect(v.detail).toContain("gate overlayReachable: no observations");
    } finally {
      r.close();
    }
  });

  it("fails closed when telemetry is silent, absent or refuses", async () => {
    const silent = await responder(() => undefined);
    try {
      const t0 = Date.now();
      const v = await gates(300).check(["bgpEstablished"], ["a"], t0);
      expect(v).toEqual({
        passed: false,
        detail: "gate bgpEstablished: telemetry did not answer within 300 ms",
      });
      expect(Date.now() - t0).toBeLessThan(2_000);
    } finally {
      silent.close();
    }
    await att.nc.flush();
    expect(await gates(1_000).check(["overlayReachable"], ["a"], Date.now())).toEqual({
      passed: false,
      detail: "gate overlayReachable: no telemetry service is listening",
    });
    const refusing = await responder(() => ({
      ok: false,
      error: { code: "BAD_REQUEST", message: "bad request: field hosts", retryable: false },
    }));
    try {
      expect(await gates().check(["bgpEstablished"], ["a"], Date.now())).toEqual({
        passed: false,
        detail: "gate bgpEstablished: telemetry refused: BAD_REQUEST bad request: field hosts",
      });
    } finally {
      refusing.close();
    }
  });
});

describe("TelemetryGates against the real telemetry service", () => {
  const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
  const BIN = join(ROOT, "services/telemetry/dist/bin.js");
  let redis: PrivateServer | undefined;
  let dir: string | undefined;
  let child: ReturnType<typeof spawn> | undefined;
  let out = "";

  beforeAll(async () => {
    await buildProjects(["services/telemetry"]);
    redis = await startRedisServer();
    dir = mkdtempSync(join(tmpdir(), "fnh-gates-"));
    writeFileSync(
      join(dir, "fleet.yaml"),
      `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: gates}
spec:
  hosts:
    - name: ga
      labels: {role: gw}
      underlay: {interface: veth0, address: 10.251.1.1/24}
      transport: {driver: netns, namespace: fnhga}
    - name: gb
      labels: {role: gw}
      underlay: {interface: veth0, address: 10.251.1.2/24}
      transport: {driver: netns, namespace: fnhgb}
`,
    );
    child = spawn(
      process.execPath,
      [BIN, "run", "--intents", join(dir, "fleet.yaml"), "--heartbeat-s", "1"],
      {
        env: {
          ...process.env,
          NATS_URL: server.url,
          REDIS_URL: redis.url,
          LOG_LEVEL: "warn",
          METRICS_PORT: "0",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stdout?.on("data", (b: Buffer) => {
      out += b;
    });
    child.stderr?.on("data", (b: Buffer) => {
      out += b;
    });
    // ready when it answers its API
    const end = Date.now() + 20_000;
    for (;;) {
      try {
        await att.nc.request(subjects.telemetryApi("health"), "{}", { timeout: 500 });
        break;
      } catch (err) {
        if (Date.now() > end || child.exitCode !== null)
          throw new Error(`telemetry did not come up: ${(err as Error).message}\n${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }, 300_000);

  afterAll(async () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child?.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    await redis?.[Symbol.asyncDispose]();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const hb = (host: string, seq: number) =>
    att.nc.publish(
      subjects.heartbeat(host),
      encodeMessage(HeartbeatSchema, {
        v: 1,
        host,
        at: new Date().toISOString(),
        seq,
        executor: { id: "t", mode: "pool", version: "0" },
        uptimeS: seq,
      }),
    );
  const report = (host: string, state: "MASTER" | "BACKUP"): void => {
    const r: StateReport = {
      v: 1,
      host,
      at: new Date().toISOString(),
      state: emptyHostState(),
      sysctls: {},
      observations: { vrrp: [{ segment: "gw", vrid: 7, state, vips: ["10.251.1.100/24"] }] },
    };
    att.nc.publish(subjects.state(host), encodeMessage(StateReportSchema, r));
  };

  it("split brain fails vrrpSingleMaster with telemetry's finding; one master passes; telemetry gone fails closed", async () => {
    const book = new HeartbeatBook();
    const gates = new TelemetryGates({ nc: att.nc, subject: SUBJECT, heartbeats: book, timeoutMs: 2_000 });
    const check = async (want: boolean) => {
      const end = Date.now() + 10_000;
      for (;;) {
        const now = Date.now();
        for (const h of ["ga", "gb"]) book.record({ host: h, at: new Date(now).toISOString() });
        const v = await gates.check(["hostsHealthy", "vrrpSingleMaster"], ["ga"], now);
        if (v.passed === want || Date.now() > end) return v;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    hb("ga", 1);
    hb("gb", 1);
    report("ga", "MASTER");
    report("gb", "MASTER");
    const split = await check(false);
    expect(split.passed).toBe(false);
    expect(split.detail).toBe("gate vrrpSingleMaster: VRID 7 on segment gw has 2 masters: ga, gb");

    hb("gb", 2);
    report("gb", "BACKUP");
    expect(await check(true)).toEqual({
      passed: true,
      detail: "hostsHealthy, vrrpSingleMaster passed for 1 host(s)",
    });

    const c = child as ReturnType<typeof spawn>;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGTERM");
    await exited;
    const gone = await gates.check(["vrrpSingleMaster"], ["ga"], Date.now());
    expect(gone).toEqual({
      passed: false,
      detail: "gate vrrpSingleMaster: no telemetry service is listening",
    });
  }, 60_000);
});
