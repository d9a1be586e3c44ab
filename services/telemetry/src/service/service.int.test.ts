/**
 * The telemetry service against a real (private) nats-server and redis-server, fed with
 * protocol-valid heartbeats and state reports. The planner's `apply` endpoint is played by
 * a plain NATS responder that records what it is asked (the real planner needs the whole
 * rollout machinery; its request shape is what is checked here).
 */
import { emptyHostState } from "@fleetnet/netstate";
import {
  type AuditEvent,
  AuditEventSchema,
  encodeMessage,
  HeartbeatSchema,
  parseMessage,
  redisKeys,
  type StateReport,
  StateReportSchema,
  subjects,
} from "@fleetnet/protocol";
import { createLogger } from "@fleetnet/runtime";
import {
  collect,
  type NatsAttachment,
  type PrivateBackends,
  privateBackends,
  type RedisAttachment,
  uniqueName,
  waitFor,
} from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TelemetryService, type TelemetryServiceOptions, telemetryHostKey } from "./service.js";

const logger = createLogger({ level: "silent", serviceName: "telemetry-test" });
const empty = emptyHostState();

const p = uniqueName("fnt", 12);
const [A, B, C] = [`${p}-a`, `${p}-b`, `${p}-c`];

const intents = `apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: lab}
spec:
  hosts:
    - name: ${A}
      labels: {role: web}
      underlay: {interface: veth0, address: 10.251.0.1/16}
      transport: {driver: netns, namespace: ${p}a}
    - name: ${B}
      labels: {role: web}
      underlay: {interface: veth0, address: 10.251.0.2/16}
      transport: {driver: netns, namespace: ${p}b}
    - name: ${C}
      labels: {role: web}
      underlay: {interface: veth0, address: 10.251.0.3/16}
      transport: {driver: netns, namespace: ${p}c}
---
apiVersion: fleetnet/v1
kind: SysctlBaseline
metadata: {name: fwd}
spec:
  hosts: {names: [${A}]}
  settings: {net.ipv4.ip_forward: 1}
  drift: heal
`;

let backends: PrivateBackends | undefined;
let att: NatsAttachment;
let red: RedisAttachment;
let svc: TelemetryService | undefined;
const applyRequests: unknown[] = [];
/** What the stand-in planner answers `apply` with. */
let applyReply: object = { ok: true, rolloutId: "heal-1", status: "running" };
const events: AuditEvent[] = [];

function report(host: string, sysctls: StateReport["sysctls"], state: StateReport["state"] = empty) {
  return { v: 1, host, at: new Date().toISOString(), state, sysctls } satisfies StateReport;
}

/**
 * A report of a host whose executor ledger says fleetnet set `ip_forward` (a rollout that
 * named it was applied there), now reading `value`.
 */
const ownedForward = (host: string, value: string) =>
  report(
    host,
    { "net.ipv4.ip_forward": { status: "ok", value } },
    { ...empty, sysctls: [{ key: "net.ipv4.ip_forward", value, persist: true, original: "0" }] },
  );

function publishReport(r: StateReport): void {
  att.nc.publish(subjects.state(r.host), encodeMessage(StateReportSchema, r));
}

function heartbeat(host: string, seq: number): void {
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
}

async function api(verb: string, body: unknown = {}): Promise<Record<string, unknown>> {
  const m = await att.nc.request(subjects.telemetryApi(verb), JSON.stringify(body), { timeout: 2_000 });
  return JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
}

const until = <T>(f: () => T | undefined | Promise<T | undefined>, ms = 3_000): Promise<T> =>
  waitFor("a condition", f, ms, 20);

beforeAll(async () => {
  backends = await privateBackends();
  ({ att, red } = backends);
  att.nc.subscribe(subjects.api("apply"), {
    callback: (_e, m) => {
      applyRequests.push(JSON.parse(new TextDecoder().decode(m.data)));
      m.respond(JSON.stringify(applyReply));
    },
  });
  collect(att.nc, subjects.telemetryEvent("drift"), (d) => parseMessage(AuditEventSchema, d), events);
  await att.nc.flush();
}, 30_000);

afterAll(async () => {
  await svc?.stop();
  await backends?.[Symbol.asyncDispose]();
});

const start = (o: Partial<TelemetryServiceOptions> = {}) =>
  TelemetryService.start({
    nc: att.nc,
    redis: red.redis,
    logger,
    intentFiles: [{ name: "fleet.yaml", text: intents }],
    heartbeatIntervalMs: 1_000,
    healCooldownMs: 60_000,
    healAfterMs: 0,
    ...o,
  });

describe("telemetry service", () => {
  it("refuses invalid intents naming the problem", async () => {
    await expect(
      TelemetryService.start({
        nc: att.nc,
        redis: red.redis,
        logger,
        intentFiles: [{ name: "bad.yaml", text: "apiVersion: fleetnet/v1\nkind: Nope\n" }],
      }),
    ).rejects.toMatchObject({ code: "INTENTS_INVALID", message: expect.stringContaining("bad.yaml") });
  });

  it("drift within a second of the report, heal asks the planner with the whole intent set", async () => {
    svc = await start();
    heartbeat(A, 1);
    heartbeat(B, 1);
    publishReport(report(B, { "net.ipv4.ip_forward": { status: "ok", value: "1" } }));
    publishReport(report(C, { "net.ipv4.ip_forward": { status: "ok", value: "1" } }));
    const t0 = Date.now();
    publishReport(ownedForward(A, "0"));
    const ev = await until(() => events.find((e) => e.action === "sysctl.drift" && e.target.host === A));
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(ev.details).toMatchObject({
      key: "net.ipv4.ip_forward",
      expected: "1",
      actual: "0",
      source: "baseline",
    });

    const req = await until(
      () => applyRequests[0] as { files: { name: string; text: string }[]; by: string; hosts: string[] },
    );
    expect(req.files).toEqual([{ name: "fleet.yaml", text: intents }]);
    expect(req.hosts).toEqual([A]); // the drifted host only
    await until(() => events.find((e) => e.action === "sysctl.heal-requested" && e.result === "ok"));

    const drift = await api("drift");
    expect(drift.ok).toBe(true);
    expect((drift.findings as { host: string }[]).map((f) => f.host)).toEqual([A]);

    const health = await api("health");
    expect(health.healthy).toBe(false);
    const codes = (health.findings as { code: string; host?: string }[])
      .filter((f) => f.code !== "not-reported")
      .map((f) => [f.code, f.host]);
    expect(codes).toEqual([
      ["heartbeat-missing", C],
      ["drift", A],
    ]);

    expect(await red.redis.ttl(telemetryHostKey(A))).toBeGreaterThan(0);
  });

  it("learned majority, since kept across a restart (Redis), cleared event", async () => {
    const first = (await api("drift")).findings as { since: string }[];
    await svc?.stop();
    svc = await start();
    const again = (await api("drift")).findings as { since: string }[];
    expect(again[0]?.since).toBe(first[0]?.since);

    publishReport(report(A, { "net.ipv4.ip_forward": { status: "ok", value: "1" } }));
    await until(() => events.find((e) => e.action === "sysctl.drift-cleared" && e.target.host === A));
    // A=1, B=0, C=1: the role's learned majority is 1, so B drifts from it (no intent names B).
    publishReport(report(B, { "net.ipv4.ip_forward": { status: "ok", value: "0" } }));
    const learned = await until(() =>
      events.find(
        (e) => e.action === "sysctl.drift" && e.target.host === B && e.details?.source === "learned",
      ),
    );
    expect(learned.details).toMatchObject({ expected: "1", actual: "0" });
    expect(applyRequests).toHaveLength(1); // learned drift only alerts; heal is rate-limited
  });

  it("baseline capture and diff, gates over the API; bad requests are refused", async () => {
    const cap = await api("baseline", { op: "capture" });
    const base = cap.baseline as { hosts: Record<string, { items: Record<string, string> }> };
    expect(base.hosts[B]?.items["sysctl net.ipv4.ip_forward"]).toBe("0");
    const changed = structuredClone(base);
    (changed.hosts[B] as { items: Record<string, string> }).items["sysctl net.ipv4.ip_forward"] = "1";
    const diff = await api("baseline", { op: "diff", a: base, b: changed });
    expect(diff.changes).toEqual([
      { host: B, change: "changed", item: "sysctl net.ipv4.ip_forward", before: "0", after: "1" },
    ]);
    expect(await api("gate", { gate: "vrrpSingleMaster" })).toEqual({
      ok: true,
      pass: false,
      reason: "no observations",
      findings: [],
    });
    expect(await api("gate", { gate: "bgpEstablished", hosts: [A] })).toMatchObject({
      ok: true,
      pass: false,
      findings: [{ code: "bgp-down", host: A }],
    });
    expect(await api("gate", { gate: "nope" })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    expect(await api("baseline", { op: "nope" })).toMatchObject({
      ok: false,
      error: { code: "BAD_REQUEST" },
    });
    expect(await api("baseline", { op: "diff", a: {}, b: base })).toMatchObject({
      ok: false,
      error: { code: "BASELINE_INVALID" },
    });
  });
});

describe("flow-rate health from the collector's rollups", () => {
  it("a host whose traffic jumps tenfold shows flow-rate-change", async () => {
    const minute = (i: number) => `2026-11-29T12:0${i}:00.000Z`;
    const rollup = (i: number, bytes: number) =>
      JSON.stringify({
        host: "10.251.0.1",
        minute: minute(i),
        flows: 1,
        bytes,
        packets: 1,
        interfaces: [],
        topTalkers: [],
      });
    for (let i = 0; i < 4; i++) att.nc.publish(subjects.telemetryEvent("flows"), rollup(i, 6_000));
    att.nc.publish(subjects.telemetryEvent("flows"), rollup(4, 60_000));
    const f = await until(async () => {
      const h = await api("health");
      return (h.findings as { code: string; host?: string }[]).find((x) => x.code === "flow-rate-change");
    });
    expect(f.host).toBe(A);
  });
});

describe("observations of the state reports feed health and the gates", () => {
  const fwd: StateReport["sysctls"] = { "net.ipv4.ip_forward": { status: "ok", value: "1" } };
  const observed = (
    host: string,
    o: NonNullable<StateReport["observations"]>,
    at = new Date(),
  ): StateReport => ({
    ...report(host, fwd),
    at: at.toISOString(),
    observations: o,
  });
  const vrrp = (state: "MASTER" | "BACKUP") => [{ segment: "gw", vrid: 51, state, vips: ["10.9.0.100/24"] }];
  type Finding = { code: string; host?: string; severity: string; message: string };
  const findings = async () => (await api("health")).findings as Finding[];

  it("two masters → split-brain in health and the vrrpSingleMaster gate; one master → passes", async () => {
    for (const h of [A, B, C]) heartbeat(h, 100);
    const mac = "aa:bb:cc:00:00:01";
    publishReport(
      observed(A, {
        vrrp: vrrp("MASTER"),
        bgp: [{ peer: "10.9.0.2", state: "Established", afi: "ipv4Unicast" }],
        probes: [{ overlay: "tenant", peer: "10.9.0.2", reachable: true, rttMs: 0.1 }],
        macs: [{ link: "vx1", mac, managed: true }],
      }),
    );
    publishReport(
      observed(B, {
        vrrp: vrrp("MASTER"),
        bgp: [{ peer: "10.9.0.1", state: "Active" }],
        probes: [{ overlay: "tenant", peer: "10.9.0.1", reachable: false }],
        macs: [{ link: "vx1", mac, managed: true }],
      }),
    );
    const split = await until(async () => (await findings()).find((f) => f.code === "split-brain"));
    expect(split.message).toContain(`${A}, ${B}`);
    const all = await findings();
    for (const what of ["BGP sessions", "VRRP state", "overlay probes", "link MACs"])
      expect(
        all.some((f) => f.code === "not-reported" && f.message.startsWith(what)),
        what,
      ).toBe(false);
    expect(all.find((f) => f.code === "bgp-down")?.host).toBe(B);
    expect(all.find((f) => f.code === "overlay-unreachable")?.host).toBe(B);
    expect(all.find((f) => f.code === "duplicate-mac")?.message).toContain(mac);

    expect(await api("gate", { gate: "vrrpSingleMaster", hosts: [A] })).toMatchObject({
      ok: true,
      pass: false,
      findings: [{ code: "split-brain" }],
    });
    expect(await api("gate", { gate: "bgpEstablished", hosts: [A] })).toMatchObject({ ok: true, pass: true });
    expect(await api("gate", { gate: "bgpEstablished", hosts: [A, B] })).toMatchObject({
      ok: true,
      pass: false,
    });
    expect(await api("gate", { gate: "overlayReachable", hosts: [A] })).toMatchObject({
      ok: true,
      pass: true,
    });
    // evidence older than the wave proves nothing: the gate waits for newer reports
    const later = new Date(Date.now() + 60_000).toISOString();
    const waiting = await api("gate", { gate: "overlayReachable", hosts: [A], since: later });
    expect(waiting).toMatchObject({ ok: true, pass: false });
    expect(waiting.reason).toContain(`waiting for state reports newer than ${later} from ${A}`);
    expect(await api("gate", { gate: "overlayReachable", since: "yesterday", hosts: [A] })).toMatchObject({
      ok: false,
      error: { code: "BAD_REQUEST" },
    });

    heartbeat(B, 101);
    publishReport(observed(B, { vrrp: vrrp("BACKUP"), bgp: [{ peer: "10.9.0.1", state: "Established" }] }));
    await until(async () => ((await findings()).some((f) => f.code === "split-brain") ? undefined : true));
    expect(await api("gate", { gate: "vrrpSingleMaster", hosts: [B] })).toMatchObject({
      ok: true,
      pass: true,
    });
    expect(await api("gate", { gate: "bgpEstablished", hosts: [A, B] })).toMatchObject({
      ok: true,
      pass: true,
    });
  });
});

describe("drift heal leaves hosts to the rollouts (first rollout, rollout in progress)", () => {
  const logs: { msg: string; level: string; hosts?: string[] }[] = [];
  const logged = (text: string, after: number) =>
    until(() => logs.slice(after).find((l) => l.msg.includes(text)));

  it("heals only a key a rollout set on the host, never while a rollout holds it; HOST_LOCKED is quiet", async () => {
    await svc?.stop();
    svc = await start({
      logger: createLogger({
        level: "debug",
        serviceName: "telemetry-test",
        destination: { write: (line: string) => void logs.push(JSON.parse(line)) },
      }),
    });
    const asked = applyRequests.length;
    const healEvents = () => events.filter((e) => e.action === "sysctl.heal-requested").length;
    const healed = healEvents();

    // a fresh host (`fleetnet up` with baselines, before the first rollout): drift alerts, no heal
    let mark = logs.length;
    publishReport(report(A, { "net.ipv4.ip_forward": { status: "ok", value: "0" } }));
    await logged("drift not healed: no fleetnet rollout has set this key on the host yet", mark);
    expect((await api("drift")).findings).toMatchObject([
      { host: A, action: "heal", actual: "0", healWaits: "first-rollout" },
    ]);

    // the operator's rollout holds the host (it applied the key, not yet confirmed): skipped
    const lock = redisKeys.hostLock(A);
    await red.redis.set(lock, "r-operator:7", "PX", 30_000);
    try {
      mark = logs.length;
      publishReport(ownedForward(A, "0"));
      expect((await logged("heal deferred: a rollout holds the drifted hosts", mark)).level).toBe("debug");
    } finally {
      await red.redis.del(lock);
    }
    expect(applyRequests).toHaveLength(asked);

    // the planner says HOST_LOCKED (a rollout took the host after the check): quiet, not a cooldown
    applyReply = {
      ok: false,
      error: { code: "HOST_LOCKED", message: `host ${A} is locked by rollout r-x`, retryable: true },
    };
    mark = logs.length;
    publishReport(ownedForward(A, "0"));
    await until(() => (applyRequests.length > asked ? true : undefined));
    await logged("heal deferred: a rollout holds a drifted host", mark);
    expect(logs.slice(mark).filter((l) => l.level === "warn")).toEqual([]);
    expect(healEvents()).toBe(healed);

    // the next report asks again and the heal goes through
    applyReply = { ok: true, rolloutId: "heal-2", status: "running" };
    publishReport(ownedForward(A, "0"));
    const ev = await until(() =>
      events.find((e) => e.action === "sysctl.heal-requested" && e.details?.rolloutId === "heal-2"),
    );
    expect(ev).toMatchObject({ result: "ok", details: { hosts: [A], key: "net.ipv4.ip_forward" } });
    expect(applyRequests.slice(asked)).toHaveLength(2);
    expect(applyRequests.at(-1)).toMatchObject({ hosts: [A], by: "fleetnet-telemetry (drift heal)" });
    // a key a rollout set is healed, not waiting
    const [owned] = (await api("drift")).findings as Record<string, unknown>[];
    expect(owned).toMatchObject({ host: A, action: "heal" });
    expect(owned).not.toHaveProperty("healWaits");
  });

  it("heals a drift only once it has lasted healAfterMs (a change in progress is not fought at once)", async () => {
    await svc?.stop();
    let skew = 0;
    svc = await start({ healCooldownMs: 0, healAfterMs: 5_000, now: () => Date.now() + skew });
    publishReport(ownedForward(A, "1")); // back to normal: the drift clears
    await until(() => ((svc?.drift().findings.length ?? 1) === 0 ? true : undefined));
    const asked = applyRequests.length;
    const mark = events.length;
    publishReport(ownedForward(A, "0"));
    await until(() => events.slice(mark).find((e) => e.action === "sysctl.drift" && e.target.host === A));
    publishReport(ownedForward(A, "0")); // still young
    await new Promise((r) => setTimeout(r, 300));
    expect(applyRequests).toHaveLength(asked);
    skew = 5_000; // the drift is now 5 s old: the next report heals it
    publishReport(ownedForward(A, "0"));
    await until(() => (applyRequests.length > asked ? true : undefined));
    expect(applyRequests.at(-1)).toMatchObject({ hosts: [A] });
  });
});
