/**
 * The executor service for real: a private nats-server (JetStream), two network-namespace
 * hosts, signed jobs. Applied jobs change the kernel and publish their result; forged,
 * expired, replayed and misaddressed jobs are refused with their code and change nothing;
 * heartbeats and state reports arrive; confirm disarms; no confirm → `reverted`; an
 * executor SIGKILLed mid-apply is restarted and the redelivered job converges, applied once.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { KeyObject } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type HostState, ownerAlias } from "@fleetnet/netstate";
import {
  type AuditEvent,
  EVENTS_STREAM,
  exportKeyPairPem,
  generateJobKeyPair,
  type Heartbeat,
  jobPublication,
  newJob,
  type Progress,
  type Result,
  type SignedJob,
  type StateReport,
  signJob,
  subjects,
} from "@fleetnet/protocol";
import {
  connectJetStream,
  connectNats,
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  loadConfig,
  type NatsConnection,
  publishDurably,
} from "@fleetnet/runtime";
import { type PrivateServer, startNatsServer, type TestLab, testLab } from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { netnsDriver } from "../drivers/process.js";
import { pendingPlans } from "../transaction.js";
import { type ExecutorService, runExecutorService, type ServiceHost } from "./index.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const DIST = {
  service: join(ROOT, "services/executor/dist/service/index.js"),
  process: join(ROOT, "services/executor/dist/drivers/process.js"),
  runtime: join(ROOT, "libs/runtime/dist/index.js"),
  protocol: join(ROOT, "libs/protocol/dist/index.js"),
};

let nats: PrivateServer;
let lab: TestLab;
let dir: string;
let nc: NatsConnection;
let js: JetStreamClient;
let svc: ExecutorService | undefined;
let keys: { publicKey: KeyObject; privateKey: KeyObject };
const children: ChildProcess[] = [];
const logLines: string[] = [];
const logger = createLogger({
  level: process.env.FNS_LOG ? "debug" : "warn",
  serviceName: "test",
  destination: { write: (s: string) => void logLines.push(s) },
});

const results: Result[] = [];
const audits: AuditEvent[] = [];
const heartbeats: Heartbeat[] = [];
const progress: Progress[] = [];
const reports: StateReport[] = [];

const host = (i: number) => `h${i + 1}`;
const ns = (i: number) => lab.hosts[i]?.namespace as string;

function hostsOf(): ServiceHost[] {
  return lab.hosts.map((h, i) => ({
    target: {
      host: host(i),
      serviceMode: "direct" as const,
      connect: async () => netnsDriver({ host: host(i), netns: h.namespace, stateDir: join(dir, "lab") }),
    },
    sysctlKeys: ["net.ipv4.ip_forward", "net.core.rmem_max", "net.core.netdev_max_backlog"],
  }));
}

/** Start the pool in this process; with `jsm` it sets up streams and consumers first. */
function start(
  extra: { afterApply?: () => Promise<void>; jsm?: JetStreamManager } = {},
): Promise<ExecutorService> {
  return runExecutorService({
    mode: "pool",
    hosts: hostsOf(),
    nc,
    js,
    ...(extra.jsm ? { jsm: extra.jsm, setup: "ensure" as const } : { setup: "assume" as const }),
    logger,
    publicKeys: keys.publicKey,
    stateDir: join(dir, "exec"),
    heartbeatMs: 300,
    stateReportMs: 700,
    fetchExpiresMs: 1_000,
    workingEveryMs: 1_000,
  });
}

function desired(name: string, addr: string, forward = "1"): HostState {
  return {
    links: [{ kind: "bridge", name, up: true, alias: ownerAlias("Bridge", name) }],
    ports: [],
    addresses: [{ dev: name, address: addr }],
    routes: [],
    fdb: [],
    sysctls: [{ key: "net.ipv4.ip_forward", value: forward, persist: false }],
    files: [],
    services: [],
  };
}

function apply(
  i: number,
  state: HostState,
  confirmTimeoutMs = 60_000,
  over: Partial<Parameters<typeof newJob>[0]> = {},
) {
  return newJob({
    kind: "apply",
    host: host(i),
    rolloutId: "r-test",
    planHash: "p-test",
    issuer: "test-planner",
    payload: { desired: state, confirmTimeoutMs, wave: 0 },
    ...over,
  } as Parameters<typeof newJob<"apply">>[0]);
}

function control(kind: "confirm" | "revert", i: number, applyJobId: string) {
  return newJob({
    kind,
    host: host(i),
    rolloutId: "r-test",
    planHash: "p-test",
    issuer: "test-planner",
    payload: kind === "confirm" ? { applyJobId } : { applyJobId, reason: "test rollback" },
  } as Parameters<typeof newJob<"confirm">>[0]);
}

async function send(signed: SignedJob, subject?: string, msgID?: string): Promise<void> {
  const p = jobPublication(signed);
  await publishDurably(js, subject ?? p.subject, p.payload, { msgID: msgID ?? p.msgID });
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** How many results for `jobId` FLEET_EVENTS stored on `subject` (an ordered consumer from the start). */
async function storedResults(subject: string, jobId: string): Promise<number> {
  const consumer = await js.consumers.get(EVENTS_STREAM, { filter_subjects: subject });
  const batch = await consumer.fetch({ max_messages: 1000, expires: 2_000 });
  let n = 0;
  for await (const m of batch) {
    if ((JSON.parse(new TextDecoder().decode(m.data)) as Result).jobId === jobId) n++;
    if (m.info.pending === 0) break;
  }
  return n;
}

const resultOf = (jobId: string, status?: string) =>
  results.find((r) => r.jobId === jobId && (status === undefined || r.status === status));
const refusal = (claimedJobId: string) =>
  audits.find((a) => a.action === "job.refused" && a.details?.claimedJobId === claimedJobId);

async function linkExists(i: number, name: string): Promise<boolean> {
  return (await lab.run(ns(i), ["ip", "link", "show", name], { allowFailure: true })).code === 0;
}
async function sysctl(i: number, key: string): Promise<string> {
  return (await lab.run(ns(i), ["sysctl", "-n", key])).stdout.trim();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "fns-exec-"));
  nats = await startNatsServer();
  lab = await testLab({ prefix: "fns", hosts: 2 }); // a free subnet is picked
  keys = generateJobKeyPair();
  nc = await connectNats(loadConfig({ NATS_URL: nats.url }), { logger });
  const j = await connectJetStream(nc);
  js = j.js;
  // the first start creates the streams and the hosts' consumers (setup "ensure")
  svc = await start({ jsm: j.jsm });
  const dec = new TextDecoder();
  const collect = (subject: string, into: (v: unknown, subj: string) => void) => {
    const sub = nc.subscribe(subject);
    void (async () => {
      for await (const m of sub) into(JSON.parse(dec.decode(m.data)), m.subject);
    })();
  };
  collect(subjects.allHostEvents(), (v, s) => {
    if (s.endsWith(".result")) results.push(v as Result);
    else if (s.endsWith(".audit")) audits.push(v as AuditEvent);
    else if (s.endsWith(".progress")) progress.push(v as Progress);
  });
  collect(subjects.allHeartbeats(), (v) => heartbeats.push(v as Heartbeat));
  collect(subjects.allStates(), (v) => reports.push(v as StateReport));
  await nc.flush();
});

afterAll(async () => {
  if (process.env.FNS_LOG) process.stderr.write(logLines.join(""));
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await svc?.close();
  await nc?.drain().catch(() => {});
  await lab?.dispose();
  await nats?.[Symbol.asyncDispose]();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("executor service (pool of netns hosts, real NATS JetStream)", () => {
  it("applies a signed job, publishes the result, and confirm disarms the host's timer", async () => {
    const job = apply(0, desired("brsvc", "172.31.91.1/24"), 4_000);
    await send(signJob(job, keys.privateKey));
    const r = await waitFor("applied", () => resultOf(job.jobId));
    expect(r.status).toBe("applied");
    expect(r.ops.map((o) => o.op)).toContain("link.add");
    expect(await linkExists(0, "brsvc")).toBe(true);
    expect(await sysctl(0, "net.ipv4.ip_forward")).toBe("1");
    const ip = (await lab.run(ns(0), ["ip", "-br", "addr", "show", "brsvc"])).stdout;
    expect(ip).toContain("172.31.91.1/24");

    const confirm = control("confirm", 0, job.jobId);
    await send(signJob(confirm, keys.privateKey));
    expect((await waitFor("confirmed", () => resultOf(confirm.jobId))).status).toBe("confirmed");
    await new Promise((r) => setTimeout(r, 5_500)); // past the 4 s deadline: nothing reverts
    expect(await linkExists(0, "brsvc")).toBe(true);
    expect(resultOf(job.jobId, "reverted")).toBeUndefined();
    const d = netnsDriver({ host: host(0), netns: ns(0), stateDir: join(dir, "lab") });
    expect(await pendingPlans(d)).toEqual([]);
  });

  it("a second apply of the same state is unchanged with 0 ops", async () => {
    const job = apply(0, desired("brsvc", "172.31.91.1/24"));
    await send(signJob(job, keys.privateKey));
    const r = await waitFor("unchanged", () => resultOf(job.jobId));
    expect(r.status).toBe("unchanged");
    expect(r.ops).toEqual([]);
  });

  it("without a confirm the host reverts itself and the apply is reported reverted", async () => {
    const job = apply(1, desired("brgone", "172.31.92.1/24"), 2_000);
    await send(signJob(job, keys.privateKey));
    expect((await waitFor("applied", () => resultOf(job.jobId))).status).toBe("applied");
    expect(await linkExists(1, "brgone")).toBe(true);
    await waitFor("reverted", () => resultOf(job.jobId, "reverted"), 30_000);
    expect(await linkExists(1, "brgone")).toBe(false);
    const ev = audits.find((a) => a.action === "host.reverted" && a.target.jobId === job.jobId);
    expect(ev?.error?.code).toBe("CONFIRM_TIMEOUT");
    // a late confirm answers reverted
    const late = control("confirm", 1, job.jobId);
    await send(signJob(late, keys.privateKey));
    expect((await waitFor("late confirm", () => resultOf(late.jobId))).status).toBe("reverted");
  });

  it("refuses forged, expired, replayed and misaddressed jobs with their code; nothing changes", async () => {
    const other = generateJobKeyPair();
    const forged = apply(1, desired("brforged", "172.31.93.1/24"));
    await send(signJob(forged, other.privateKey));

    const expired = apply(1, desired("brexp", "172.31.94.1/24"), 60_000, {
      now: Date.now() - 20 * 60_000,
      ttlMs: 60_000,
    });
    await send(signJob(expired, keys.privateKey));

    const mis = apply(0, desired("brmis", "172.31.95.1/24"));
    await send(signJob(mis, keys.privateKey), subjects.job(host(1)));

    const once = apply(1, desired("brrep", "172.31.96.1/24"));
    const signed = signJob(once, keys.privateKey);
    await send(signed);
    expect((await waitFor("first delivery", () => resultOf(once.jobId))).status).toBe("applied");
    await send(signed, undefined, `${once.jobId}-again`); // stored again: a new stream message

    // a forged job's claimed id is not trusted (no details.jobId): find it by its code
    const bad = await waitFor("forged", () =>
      audits.find((a) => a.error?.code === "JOB_SIGNATURE_INVALID" && a.target.host === host(1)),
    );
    expect(bad.result).toBe("refused");
    expect((await waitFor("expired", () => refusal(expired.jobId))).error?.code).toBe("JOB_EXPIRED");
    expect((await waitFor("misaddressed", () => refusal(mis.jobId))).error?.code).toBe("JOB_MISADDRESSED");
    const replays = () =>
      audits.filter((a) => a.action === "job.refused" && a.details?.claimedJobId === once.jobId);
    expect((await waitFor("replayed", () => replays()[0])).error?.code).toBe("JOB_REPLAYED");
    for (const j of [forged, expired, mis]) expect(resultOf(j.jobId)).toBeUndefined();
    expect(results.filter((r) => r.jobId === once.jobId)).toHaveLength(1);
    for (const name of ["brforged", "brexp", "brmis"]) {
      expect(await linkExists(1, name)).toBe(false);
      expect(await linkExists(0, name)).toBe(false);
    }
    // a malformed message is refused too, and terminated (not redelivered)
    await publishDurably(js, subjects.job(host(1)), "not json", { msgID: "garbage-1" });
    await waitFor("malformed", () => audits.find((a) => a.error?.code === "JOB_MALFORMED"));
    // the host keeps working: undo the replay test's change with a revert job
    const rv = control("revert", 1, once.jobId);
    await send(signJob(rv, keys.privateKey));
    expect((await waitFor("revert", () => resultOf(rv.jobId))).status).toBe("reverted");
    expect(await linkExists(1, "brrep")).toBe(false);
  });

  it("sends heartbeats and state reports with sysctl readings (ok / read-only / absent)", async () => {
    const hb = await waitFor("heartbeat", () => heartbeats.find((h) => h.host === host(0) && h.seq >= 2));
    expect(hb.executor.mode).toBe("pool");
    const rep = await waitFor("state report", () =>
      reports.find((r) => r.host === host(0) && r.state.links.some((l) => l.name === "brsvc")),
    );
    expect(rep.sysctls["net.ipv4.ip_forward"]).toEqual({ status: "ok", value: "1" });
    expect(rep.sysctls["net.core.rmem_max"]?.status).toBe("read-only");
    expect(rep.sysctls["net.core.netdev_max_backlog"]).toEqual({ status: "absent" });
    // managed links' MACs come from the report's own observation: the kernel's MAC of brsvc
    const kernelMac = (
      JSON.parse((await lab.run(ns(0), ["ip", "-j", "link", "show", "brsvc"])).stdout) as {
        address: string;
      }[]
    )[0]?.address;
    expect(rep.observations?.macs).toContainEqual({ link: "brsvc", mac: kernelMac, managed: true });
    // an observe job answers with a report carrying its jobId
    const ob = newJob({
      kind: "observe",
      host: host(1),
      rolloutId: "r-test",
      planHash: "p-test",
      issuer: "test-planner",
      payload: { sysctls: ["net.ipv4.tcp_syncookies"] },
    });
    await send(signJob(ob, keys.privateKey));
    expect((await waitFor("observed", () => resultOf(ob.jobId))).status).toBe("observed");
    const obRep = await waitFor("observe report", () => reports.find((r) => r.jobId === ob.jobId));
    expect(obRep.sysctls["net.ipv4.tcp_syncookies"]?.status).toBe("ok");
  });

  it("a revert job undoes a confirmed apply (the host's latest transaction)", async () => {
    const first = results.find((r) => r.host === host(0) && r.kind === "apply" && r.status === "applied");
    expect(first).toBeDefined();
    expect(await linkExists(0, "brsvc")).toBe(true);
    const rv = control("revert", 0, first?.jobId as string);
    await send(signJob(rv, keys.privateKey));
    expect((await waitFor("reverted", () => resultOf(rv.jobId))).status).toBe("reverted");
    expect(await linkExists(0, "brsvc")).toBe(false);
    const unknown = control("revert", 0, "j-no-such-job");
    await send(signJob(unknown, keys.privateKey));
    const r = await waitFor("unknown revert", () => resultOf(unknown.jobId));
    expect([r.status, r.error?.code]).toEqual(["failed", "REVERT_UNKNOWN_JOB"]);
  });

  it("a nats-server restart mid-apply: the job completes, its result is published and acked", async () => {
    const job = apply(1, desired("brnats", "172.31.98.1/24"), 120_000);
    await send(signJob(job, keys.privateKey));
    await waitFor("applying", () => progress.find((p) => p.jobId === job.jobId && p.phase === "applying"));
    await nats.restart(); // same port and JetStream store
    const r = await waitFor("applied after the restart", () => resultOf(job.jobId), 60_000);
    expect(r.status).toBe("applied");
    expect(await linkExists(1, "brnats")).toBe(true);
    // the worker keeps pulling on the restarted server: the confirm goes through
    const confirm = control("confirm", 1, job.jobId);
    await send(signJob(confirm, keys.privateKey));
    expect((await waitFor("confirmed", () => resultOf(confirm.jobId), 60_000)).status).toBe("confirmed");
    // A publish whose ack was lost in the restart is retried with the same Nats-Msg-Id: core
    // subscribers may see it twice, the audit stream (what the planner reads) stores it once.
    expect(await storedResults(subjects.hostEvent(host(1), "result"), job.jobId)).toBe(1);
  });

  it("an executor SIGKILLed mid-apply is restarted; the redelivered job converges, applied once", async () => {
    if (!existsSync(DIST.service))
      throw new Error(`${DIST.service} is missing: build first (pnpm exec tsc -b services/executor)`);
    await svc?.close();
    svc = undefined;
    const cfg = {
      natsUrl: nats.url,
      publicKeyPem: exportKeyPairPem(keys).publicKeyPem,
      stateDir: join(dir, "exec"),
      labStateDir: join(dir, "lab"),
      hosts: lab.hosts.map((h, i) => ({ host: host(i), netns: h.namespace })),
    };
    const code = `
      const [svcm, proc, rt, pr] = await Promise.all([${[DIST.service, DIST.process, DIST.runtime, DIST.protocol].map((p) => `import(${JSON.stringify(p)})`).join(",")}]);
      const cfg = JSON.parse(process.env.FNS_CFG);
      const logger = rt.createLogger({ level: "info", serviceName: "test-child" });
      const nc = await rt.connectNats(rt.loadConfig({ NATS_URL: cfg.natsUrl }), { logger });
      const { js } = await rt.connectJetStream(nc);
      await svcm.runExecutorService({
        mode: "pool", setup: "assume", nc, js, logger, stateDir: cfg.stateDir, stateReportMs: 0, fetchExpiresMs: 1000,
        publicKeys: pr.publicKeyFromPem(cfg.publicKeyPem),
        hosts: cfg.hosts.map((h) => ({ target: { host: h.host, serviceMode: "direct",
          connect: async () => proc.netnsDriver({ host: h.host, netns: h.netns, stateDir: cfg.labStateDir }) } })),
        afterApply: () => { console.log("APPLIED-WAITING"); return new Promise((r) => setTimeout(r, 60000)); },
      });
      console.log("READY");`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
      env: { ...process.env, FNS_CFG: JSON.stringify(cfg) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let out = "";
    child.stdout?.on("data", (b: Buffer) => {
      out += b;
    });
    child.stderr?.on("data", (b: Buffer) => {
      out += b;
    });
    await waitFor(`child ready: ${out}`, () => out.includes("READY") || undefined, 20_000);

    const job = apply(0, desired("brkill", "172.31.97.1/24", "0"), 120_000);
    await send(signJob(job, keys.privateKey));
    await waitFor("mid-apply", () => out.includes("APPLIED-WAITING") || undefined, 30_000);
    expect(await linkExists(0, "brkill")).toBe(true); // ops applied, not yet verified or reported
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    expect(resultOf(job.jobId)).toBeUndefined();

    svc = await start(); // same state dir: recovers, reverts the orphan, NAKs for redelivery
    const r = await waitFor("applied after restart", () => resultOf(job.jobId), 60_000);
    expect([r.status, r.error]).toEqual(["applied", undefined]);
    await new Promise((res) => setTimeout(res, 1_000));
    expect(results.filter((x) => x.jobId === job.jobId)).toHaveLength(1);
    expect(await linkExists(0, "brkill")).toBe(true);
    expect(await sysctl(0, "net.ipv4.ip_forward")).toBe("0");
    const d = netnsDriver({ host: host(0), netns: ns(0), stateDir: join(dir, "lab") });
    expect(await pendingPlans(d)).toHaveLength(1); // only the redelivered job's transaction is armed

    const confirm = control("confirm", 0, job.jobId);
    await send(signJob(confirm, keys.privateKey));
    expect((await waitFor("confirmed", () => resultOf(confirm.jobId))).status).toBe("confirmed");
    expect(await pendingPlans(d)).toEqual([]);
  });
});
