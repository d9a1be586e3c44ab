/**
 * The generated nats-server config, enforced by a REAL private nats-server (2.9.10) on a
 * free loopback port: per-host users can pull and ack only their own jobs and publish
 * only their own events; the planner drives JetStream; a duplicate `Nats-Msg-Id` is
 * dropped. The server is started with the generated config and killed by PID afterwards.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emptyHostState } from "@fleetnet/netstate";
import {
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { connect, type NatsConnection, nkeyAuthenticator } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AuditEventSchema,
  EVENTS_STREAM,
  type FleetnetError,
  generateJobKeyPair,
  generateNatsConfig,
  hostInboxPrefix,
  JOBS_STREAM,
  type Job,
  jobConsumerConfig,
  jobConsumerName,
  jobRefusedEvent,
  MemoryReplayCache,
  type NatsUser,
  newNonce,
  publishAuditEvent,
  publishJob,
  publishProgress,
  publishResult,
  type Result,
  serviceInboxPrefix,
  signJob,
  streamConfigs,
  subjects,
  verifyJob,
} from "./index.js";

const NATS_SERVER = "/usr/sbin/nats-server";
const HOSTS = ["fnp-a", "fnp-b"] as const;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** A connection plus every permission violation the server reported on it. */
interface Conn {
  nc: NatsConnection;
  violations: string[];
}

let dir = "";
let server: ChildProcess | undefined;
let serverLog = "";
let url = "";
let users: NatsUser[] = [];
const conns: NatsConnection[] = [];
const keys = generateJobKeyPair();
const NOW = Date.now();

function user(name: string): NatsUser {
  const u = users.find((x) => x.name === name);
  if (!u) throw new Error(`no user ${name}`);
  return u;
}

async function connectAs(name: string, inboxPrefix?: string): Promise<Conn> {
  const u = user(name);
  const nc = await connect({
    servers: url,
    authenticator: nkeyAuthenticator(new TextEncoder().encode(u.seed)),
    inboxPrefix: inboxPrefix ?? u.inboxPrefix,
    reconnect: false,
    name: `fnp-test-${name}`,
  });
  conns.push(nc);
  const violations: string[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && s.error.name === "PermissionViolationError") violations.push(s.error.message);
    }
  })();
  return { nc, violations };
}

async function until(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}

async function eventually(check: () => Promise<boolean>, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

function job(host: string, over: Partial<Job> = {}): Job {
  return {
    v: 1,
    jobId: `j-${host}-${newNonce()
      .slice(0, 8)
      .replace(/[^A-Za-z0-9]/g, "x")}`,
    host,
    rolloutId: "r-int-1",
    planHash: "p1",
    issuer: "planner-test",
    issuedAt: new Date(NOW - 1000).toISOString(),
    expiresAt: new Date(NOW + 10 * 60_000).toISOString(),
    nonce: newNonce(),
    kind: "apply",
    payload: { desired: emptyHostState(), confirmTimeoutMs: 30_000, wave: 0 },
    ...over,
  } as Job;
}

let planner: Conn;
let jsPlanner: JetStreamClient;
let jsm: JetStreamManager;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "fnp-nats-"));
  const port = await freePort();
  const out = generateNatsConfig({
    hosts: HOSTS,
    port,
    storeDir: join(dir, "js"),
    inventoryName: "int-test",
    pools: [{ name: "fnp-pool", hosts: ["fnp-a"] }],
  });
  users = out.users;
  writeFileSync(join(dir, "nats.conf"), out.config, { mode: 0o600 });
  url = `nats://127.0.0.1:${port}`;
  server = spawn(NATS_SERVER, ["-c", join(dir, "nats.conf")], { stdio: ["ignore", "ignore", "pipe"] });
  server.stderr?.on("data", (d: Buffer) => {
    serverLog += d.toString();
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      planner = await connectAs("planner");
      break;
    } catch (err) {
      if (Date.now() > deadline || server.exitCode !== null) {
        throw new Error(`nats-server did not come up: ${(err as Error).message}\n${serverLog}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  jsm = await jetstreamManager(planner.nc);
  for (const cfg of streamConfigs) await jsm.streams.add(cfg as unknown as StreamConfig);
  for (const h of HOSTS)
    await jsm.consumers.add(JOBS_STREAM, jobConsumerConfig(h) as unknown as ConsumerConfig);
  jsPlanner = jetstream(planner.nc);
});

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  if (server?.pid !== undefined && server.exitCode === null) {
    const exited = new Promise((r) => server?.once("exit", r));
    process.kill(server.pid, "SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (server.exitCode === null && server.signalCode === null) process.kill(server.pid, "SIGKILL");
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("per-host NATS permissions (real nats-server with the generated config)", () => {
  it("the planner creates streams and publishes jobs for every host", async () => {
    for (const h of HOSTS) {
      const ack = await publishJob(jsPlanner, signJob(job(h), keys.privateKey));
      expect(ack.stream).toBe(JOBS_STREAM);
      expect(ack.duplicate).toBe(false);
    }
    const info = await jsm.streams.info(JOBS_STREAM);
    expect(info.state.messages).toBe(2);
    expect(planner.violations).toEqual([]);
  });

  it("host A pulls, verifies and acks its own job, and publishes its own events", async () => {
    const a = await connectAs("host-fnp-a");
    const js = jetstream(a.nc);
    const consumer = await js.consumers.get(JOBS_STREAM, jobConsumerName("fnp-a"));
    const msg = await consumer.next({ expires: 5000 });
    expect(msg).not.toBeNull();
    if (!msg) return;
    expect(msg.subject).toBe(subjects.job("fnp-a"));
    const verified = await verifyJob(msg.data, {
      publicKey: keys.publicKey,
      host: "fnp-a",
      replayCache: new MemoryReplayCache(),
    });
    expect(verified.host).toBe("fnp-a");
    msg.working();
    const pa = await publishProgress(js, {
      v: 1,
      jobId: verified.jobId,
      host: "fnp-a",
      rolloutId: verified.rolloutId,
      at: new Date().toISOString(),
      phase: "applying",
    });
    expect(pa.stream).toBe(EVENTS_STREAM);
    const result: Result = {
      v: 1,
      jobId: verified.jobId,
      host: "fnp-a",
      rolloutId: verified.rolloutId,
      planHash: verified.planHash,
      kind: "apply",
      status: "unchanged",
      ops: [],
      at: new Date().toISOString(),
      durationMs: 3,
    };
    const ra = await publishResult(js, result);
    expect(ra.duplicate).toBe(false);
    expect((await publishResult(js, result)).duplicate).toBe(true); // a retried result is stored once
    a.nc.publish(subjects.heartbeat("fnp-a"), new Uint8Array());
    a.nc.publish(subjects.state("fnp-a"), new Uint8Array());
    expect(await msg.ackAck()).toBe(true);
    await a.nc.flush();
    const ci = await jsm.consumers.info(JOBS_STREAM, jobConsumerName("fnp-a"));
    expect(ci.num_pending + ci.num_ack_pending).toBe(0);
    expect(a.violations).toEqual([]);
  });

  it("host A cannot read host B's jobs: consumer info, pull and direct subscribe are refused", async () => {
    const a = await connectAs("host-fnp-a");
    const js = jetstream(a.nc);
    await expect(js.consumers.get(JOBS_STREAM, jobConsumerName("fnp-b"))).rejects.toThrow();
    // a raw pull request on B's consumer
    a.nc.publish(
      `$JS.API.CONSUMER.MSG.NEXT.${JOBS_STREAM}.exec-fnp-b`,
      JSON.stringify({ batch: 1, expires: 1e9 }),
      {
        reply: `${hostInboxPrefix("fnp-a")}.steal`,
      },
    );
    // a core subscription on B's job subject, and on B's inbox
    const subJobs = a.nc.subscribe(subjects.job("fnp-b"));
    const subInbox = a.nc.subscribe(`${hostInboxPrefix("fnp-b")}.>`);
    await a.nc.flush();
    expect(await until(() => a.violations.length >= 4)).toBe(true);
    const text = a.violations.join("\n");
    expect(text).toMatch(/Publish to "\$JS\.API\.CONSUMER\.INFO\.FLEET_JOBS\.exec-fnp-b"/);
    expect(text).toMatch(/Publish to "\$JS\.API\.CONSUMER\.MSG\.NEXT\.FLEET_JOBS\.exec-fnp-b"/);
    expect(text).toMatch(/Subscription to "fleet\.v1\.jobs\.fnp-b"/);
    expect(text).toMatch(/Subscription to "_INBOX_fnp-b\.>"/);
    expect(subJobs.isClosed() && subInbox.isClosed()).toBe(true);
    // B's job is still waiting for B
    const ci = await jsm.consumers.info(JOBS_STREAM, jobConsumerName("fnp-b"));
    expect(ci.num_pending).toBe(1);
    expect(ci.delivered.consumer_seq).toBe(0);
  });

  it("host A cannot publish as host B, nor publish jobs, nor touch the JetStream API", async () => {
    const a = await connectAs("host-fnp-a");
    const watch = planner.nc.subscribe("fleet.v1.>");
    const seen: string[] = [];
    void (async () => {
      for await (const m of watch) seen.push(m.subject);
    })();
    await planner.nc.flush();
    const forbidden = [
      subjects.hostEvent("fnp-b", "result"),
      subjects.heartbeat("fnp-b"),
      subjects.state("fnp-b"),
      subjects.job("fnp-a"),
      subjects.job("fnp-b"),
      subjects.rolloutEvent("r-int-1", "succeeded"),
      "$JS.API.STREAM.PURGE.FLEET_JOBS",
      "$JS.API.INFO",
    ];
    for (const s of forbidden) a.nc.publish(s, new Uint8Array([1]));
    a.nc.publish(subjects.heartbeat("fnp-a"), new Uint8Array([2])); // allowed, as a control
    await a.nc.flush();
    expect(await until(() => a.violations.length >= forbidden.length)).toBe(true);
    for (const s of forbidden) expect(a.violations.some((v) => v.includes(`Publish to "${s}"`))).toBe(true);
    expect(await until(() => seen.includes(subjects.heartbeat("fnp-a")))).toBe(true);
    expect(seen.filter((s) => s !== subjects.heartbeat("fnp-a"))).toEqual([]);
    watch.unsubscribe();
    const ev = await jsm.streams.info(EVENTS_STREAM, { subjects_filter: ">" });
    expect(Object.keys(ev.state.subjects ?? {}).sort()).toEqual([
      subjects.hostEvent("fnp-a", "progress"),
      subjects.hostEvent("fnp-a", "result"),
    ]);
  });

  it("a host must use its own inbox prefix: with the default _INBOX it cannot pull", async () => {
    const a = await connectAs("host-fnp-a", "_INBOX");
    const js = jetstream(a.nc, { timeout: 1500 });
    await expect(js.consumers.get(JOBS_STREAM, jobConsumerName("fnp-a"))).rejects.toThrow();
    expect(await until(() => a.violations.some((v) => v.includes('Subscription to "_INBOX.')))).toBe(true);
  });

  it("host B pulls its own job; a job re-published with the same jobId is de-duplicated", async () => {
    const b = await connectAs("host-fnp-b");
    const signed = signJob(job("fnp-b"), keys.privateKey);
    const first = await publishJob(jsPlanner, signed);
    const again = await publishJob(jsPlanner, signed);
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(first.seq);
    const consumer = await jetstream(b.nc).consumers.get(JOBS_STREAM, jobConsumerName("fnp-b"));
    const cache = new MemoryReplayCache();
    const got: string[] = [];
    for (;;) {
      const m = await consumer.next({ expires: 1500 });
      if (!m) break;
      got.push(
        (await verifyJob(m.data, { publicKey: keys.publicKey, host: "fnp-b", replayCache: cache })).jobId,
      );
      await m.ackAck();
    }
    expect(got).toHaveLength(2); // the one from the first test + the new one, once
    expect(got[1]).toBe(signed.job.jobId);
    expect((await jsm.streams.info(JOBS_STREAM)).state.messages).toBe(0);
    expect(b.violations).toEqual([]);
  });

  it("a forged job (planner NATS rights, wrong signing key) is refused, reported and terminated", async () => {
    const a = await connectAs("host-fnp-a");
    const js = jetstream(a.nc);
    const attacker = generateJobKeyPair();
    await publishJob(jsPlanner, signJob(job("fnp-a"), attacker.privateKey));
    const consumer = await js.consumers.get(JOBS_STREAM, jobConsumerName("fnp-a"));
    const m = await consumer.next({ expires: 5000 });
    expect(m).not.toBeNull();
    if (!m) return;
    const err = await verifyJob(m.data, {
      publicKey: keys.publicKey,
      host: "fnp-a",
      replayCache: new MemoryReplayCache(),
    }).then(
      () => undefined,
      (e: unknown) => e as FleetnetError,
    );
    expect(err?.code).toBe("JOB_SIGNATURE_INVALID");
    if (!err) return;
    const event = jobRefusedEvent({ host: "fnp-a", executorId: "exec-test", error: err, streamSeq: m.seq });
    await publishAuditEvent(js, subjects.hostEvent("fnp-a", "audit"), event);
    m.term();
    await a.nc.flush();
    const stored = await jsm.streams.getMessage(EVENTS_STREAM, {
      last_by_subj: subjects.hostEvent("fnp-a", "audit"),
    });
    expect(stored && AuditEventSchema.parse(stored.json())).toMatchObject({
      action: "job.refused",
      result: "refused",
      target: { host: "fnp-a" },
      error: { code: "JOB_SIGNATURE_INVALID" },
      details: { streamSeq: m.seq },
    });
    expect(a.violations).toEqual([]);
    expect(
      await eventually(async () => {
        const ci = await jsm.consumers.info(JOBS_STREAM, jobConsumerName("fnp-a"));
        return ci.num_pending + ci.num_ack_pending === 0;
      }),
    ).toBe(true);
  });

  it("the planner may not publish as a host", async () => {
    const before = planner.violations.length;
    planner.nc.publish(subjects.hostEvent("fnp-a", "result"), new Uint8Array([1]));
    planner.nc.publish(subjects.heartbeat("fnp-a"), new Uint8Array([1]));
    await planner.nc.flush();
    expect(await until(() => planner.violations.length >= before + 2)).toBe(true);
    expect(planner.violations.slice(before).join("\n")).toMatch(
      /Publish to "fleet\.v1\.events\.host\.fnp-a\.result"/,
    );
  });

  it("telemetry and operator read the audit log but cannot publish jobs", async () => {
    for (const name of ["telemetry", "operator"]) {
      const c = await connectAs(name);
      const consumer = await jetstream(c.nc).consumers.get(EVENTS_STREAM);
      const m = await consumer.next({ expires: 3000 });
      expect(m?.subject).toBe(subjects.hostEvent("fnp-a", "progress"));
      c.nc.publish(subjects.job("fnp-a"), new Uint8Array([1]));
      await c.nc.flush();
      expect(
        await until(() => c.violations.some((v) => v.includes('Publish to "fleet.v1.jobs.fnp-a"'))),
      ).toBe(true);
    }
  });

  it("the operator calls the planner API (reply via allow_responses); telemetry hears heartbeats", async () => {
    const op = await connectAs("operator");
    const tele = await connectAs("telemetry");
    const a = await connectAs("host-fnp-a");
    const api = planner.nc.subscribe(subjects.api("status"), {
      callback: (_err, msg) => {
        msg.respond(JSON.stringify({ ok: true, from: "planner" }));
      },
    });
    const beats = tele.nc.subscribe(subjects.allHeartbeats(), { max: 1 });
    await planner.nc.flush();
    await tele.nc.flush();
    const reply = await op.nc.request(subjects.api("status"), JSON.stringify({}), { timeout: 3000 });
    expect(reply.json()).toEqual({ ok: true, from: "planner" });
    // the planner could not publish to the operator's inbox except as a reply
    planner.nc.publish(`${serviceInboxPrefix("operator")}.x`, new Uint8Array([1]));
    await planner.nc.flush();
    expect(
      await until(() => planner.violations.some((v) => v.includes('Publish to "_INBOX_OPERATOR.x"'))),
    ).toBe(true);
    a.nc.publish(subjects.heartbeat("fnp-a"), new Uint8Array([7]));
    await a.nc.flush();
    for await (const m of beats) expect(m.subject).toBe(subjects.heartbeat("fnp-a"));
    // a host cannot call the planner API
    a.nc.publish(subjects.api("abort"), new Uint8Array([1]));
    await a.nc.flush();
    expect(await until(() => a.violations.some((v) => v.includes('Publish to "fleet.v1.api.abort"')))).toBe(
      true,
    );
    api.unsubscribe();
    expect(op.violations).toEqual([]);
    expect(tele.violations).toEqual([]);
  });

  it("a pool user serves its hosts over one connection and nothing else", async () => {
    const pool = await connectAs("pool-fnp-pool");
    const js = jetstream(pool.nc);
    const signed = signJob(job("fnp-a"), keys.privateKey);
    await publishJob(jsPlanner, signed);
    const consumer = await js.consumers.get(JOBS_STREAM, jobConsumerName("fnp-a"));
    const m = await consumer.next({ expires: 5000 });
    expect(m?.subject).toBe(subjects.job("fnp-a"));
    if (!m) return;
    const got = await verifyJob(m.data, {
      publicKey: keys.publicKey,
      host: "fnp-a",
      replayCache: new MemoryReplayCache(),
    });
    expect(got.jobId).toBe(signed.job.jobId);
    pool.nc.publish(subjects.heartbeat("fnp-a"), new Uint8Array([1]));
    expect(await m.ackAck()).toBe(true);
    await expect(js.consumers.get(JOBS_STREAM, jobConsumerName("fnp-b"))).rejects.toThrow();
    pool.nc.publish(subjects.heartbeat("fnp-b"), new Uint8Array([1]));
    await pool.nc.flush();
    expect(await until(() => pool.violations.length >= 2)).toBe(true);
    expect(pool.violations.join("\n")).toMatch(/INFO\.FLEET_JOBS\.exec-fnp-b/);
    expect(pool.violations.join("\n")).toMatch(/Publish to "fleet\.v1\.heartbeat\.fnp-b"/);
    expect(pool.violations.join("\n")).not.toMatch(/fnp-a/);
  });
});
