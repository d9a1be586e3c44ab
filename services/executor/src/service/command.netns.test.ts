/**
 * `fleetnet-executor run --pool` as a real process (the built dist): it serves the
 * inventory's netns hosts, reports the sysctls the intents name, and on SIGTERM finishes
 * the job in hand (its result is published) before it drains NATS and exits 0.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ownerAlias } from "@fleetnet/netstate";
import {
  exportKeyPairPem,
  generateJobKeyPair,
  type Heartbeat,
  jobPublication,
  newJob,
  type Progress,
  type Result,
  type StateReport,
  signJob,
  subjects,
} from "@fleetnet/protocol";
import {
  connectJetStream,
  connectNats,
  createLogger,
  type JetStreamClient,
  loadConfig,
  type NatsConnection,
  publishDurably,
} from "@fleetnet/runtime";
import { type PrivateServer, startNatsServer, type TestLab, testLab } from "@fleetnet/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { netnsDriver } from "../drivers/process.js";
import { revertNow } from "../revert.js";
import { pendingPlans } from "../transaction.js";

const SERVICE = fileURLToPath(new URL("../../dist/service/index.js", import.meta.url));
let nats: PrivateServer;
let lab: TestLab;
let dir: string;
let nc: NatsConnection;
let js: JetStreamClient;
const logger = createLogger({ level: "silent", serviceName: "test" });
const seen = {
  results: [] as Result[],
  progress: [] as Progress[],
  hb: [] as Heartbeat[],
  reports: [] as StateReport[],
};

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  if (!existsSync(SERVICE))
    throw new Error(`${SERVICE} is missing: build first (pnpm exec tsc -b services/executor)`);
  dir = mkdtempSync(join(tmpdir(), "fns-cmd-"));
  nats = await startNatsServer();
  lab = await testLab({ prefix: "fns", hosts: 2 }); // a free subnet is picked
  nc = await connectNats(loadConfig({ NATS_URL: nats.url }), { logger });
  js = (await connectJetStream(nc)).js;
  const dec = new TextDecoder();
  const sub = (subject: string, on: (v: unknown, s: string) => void) => {
    const s = nc.subscribe(subject);
    void (async () => {
      for await (const m of s) on(JSON.parse(dec.decode(m.data)), m.subject);
    })();
  };
  sub(subjects.allHostEvents(), (v, s) => {
    if (s.endsWith(".result")) seen.results.push(v as Result);
    if (s.endsWith(".progress")) seen.progress.push(v as Progress);
  });
  sub(subjects.allHeartbeats(), (v) => seen.hb.push(v as Heartbeat));
  sub(subjects.allStates(), (v) => seen.reports.push(v as StateReport));
  await nc.flush();
});

afterAll(async () => {
  await nc?.drain().catch(() => {});
  await lab?.dispose();
  await nats?.[Symbol.asyncDispose]();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("run --pool serves the inventory's netns hosts and shuts down gracefully on SIGTERM", async () => {
  const hosts = lab.hosts.map((h, i) => ({ ...h, name: `c${i + 1}` }));
  writeFileSync(
    join(dir, "inventory.yaml"),
    `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: cmd}
spec:
  hosts:
${hosts
  .map(
    (h) => `    - name: ${h.name}
      labels: {role: hv}
      underlay: {interface: ${h.iface}, address: ${h.address}/${h.prefixLength}}
      transport: {driver: netns, namespace: ${h.namespace}}`,
  )
  .join("\n")}
---
apiVersion: fleetnet/v1
kind: SysctlBaseline
metadata: {name: base}
spec:
  hosts: {matchLabels: {role: hv}}
  settings: {net.ipv4.tcp_syncookies: 1}
`,
  );
  const keys = generateJobKeyPair();
  writeFileSync(join(dir, "planner.pub"), exportKeyPairPem(keys).publicKeyPem);
  const code = `const m = await import(${JSON.stringify(SERVICE)}); process.exitCode = await m.runServiceCommand(process.argv.slice(1));`;
  const args = ["--pool", "-f", join(dir, "inventory.yaml"), "--public-key", join(dir, "planner.pub")];
  args.push("--lab-state-dir", join(dir, "lab"), "--heartbeat", "1s", "--state-report", "1s");
  const child = spawn(process.execPath, ["--input-type=module", "-e", code, "--", ...args], {
    env: { ...process.env, NATS_URL: nats.url, FLEETNET_STATE_DIR: join(dir, "exec"), LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (b: Buffer) => {
    out += b;
  });
  child.stderr?.on("data", (b: Buffer) => {
    out += b;
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  try {
    await waitFor(
      `heartbeats of both hosts: ${out}`,
      () =>
        ["c1", "c2"].every((h) => seen.hb.some((b) => b.host === h && b.executor.mode === "pool")) ||
        undefined,
    );
    const rep = await waitFor("a state report", () => seen.reports.find((r) => r.host === "c2"));
    expect(rep.sysctls["net.ipv4.tcp_syncookies"]?.status).toBe("ok"); // named by the SysctlBaseline

    const job = newJob({
      kind: "apply",
      host: "c1",
      rolloutId: "r-cmd",
      planHash: "p-cmd",
      issuer: "test-planner",
      payload: {
        desired: {
          links: [{ kind: "bridge", name: "brcmd", up: true, alias: ownerAlias("Bridge", "brcmd") }],
          ports: [],
          addresses: [],
          routes: [],
          fdb: [],
          sysctls: [],
          files: [],
          services: [],
        },
        confirmTimeoutMs: 30_000,
        wave: 0,
      },
    });
    const p = jobPublication(signJob(job, keys.privateKey));
    await publishDurably(js, p.subject, p.payload, { msgID: p.msgID });
    await waitFor("applying", () =>
      seen.progress.find((x) => x.jobId === job.jobId && x.phase === "applying"),
    );
    child.kill("SIGTERM"); // mid-job: the job finishes and its result is published before exit
    expect(await exited).toBe(0);
    expect(seen.results.find((r) => r.jobId === job.jobId)?.status).toBe("applied");
    expect(out).toContain("shutdown complete");
    // the job finished during the shutdown: the change is on the host, its timer still armed
    const d = netnsDriver({
      host: "c1",
      netns: lab.hosts[0]?.namespace as string,
      stateDir: join(dir, "lab"),
    });
    expect(
      (
        await lab.run(lab.hosts[0]?.namespace as string, ["ip", "link", "show", "brcmd"], {
          allowFailure: true,
        })
      ).code,
    ).toBe(0);
    const armed = await pendingPlans(d);
    expect(armed).toHaveLength(1);
    for (const plan of armed) expect(await revertNow(d, plan)).toBe("reverted"); // clean up, timer killed
  } catch (err) {
    throw new Error(`${(err as Error).message}\nexecutor output:\n${out}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    // the change was never confirmed: let the host's timer go (kill it with the namespace)
  }
});
