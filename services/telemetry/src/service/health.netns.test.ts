/**
 * Fleet health end to end through real parts: the real executor service
 * (`fleetnet-executor run --pool`, its built dist, as a process) serving two lab namespaces,
 * keepalived started on both by signed apply jobs, and the telemetry service on a private
 * nats-server and redis-server, asked over its NATS API (what `fleetnet health` asks).
 *
 * Split brain is made for real: both hosts run keepalived as MASTER of VRID 51 for the same
 * VIP, each with a unicast peer that does not exist, so neither hears the other → both hold
 * the VIP. The executors' state reports carry that as VRRP observations; telemetry must
 * report `split-brain` and fail the `vrrpSingleMaster` gate. The fix (keepalived stopped on
 * the second host by another apply) leaves one master → no split brain, the gate passes.
 * Then VXLAN overlays: the executors ping the remote VTEPs of their desired FDB (one of
 * them a dead address → `overlay-unreachable`, the `overlayReachable` gate fails for that
 * host only) and report their managed links' MACs (one cloned by hand → `duplicate-mac`).
 * Last, FRR: an eBGP session between the two hosts comes up Established, a neighbor at a
 * dead address does not → `bgp-down` and the `bgpEstablished` gate fails for that host only.
 */
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emptyHostState } from "@fleetnet/netstate";
import {
  type ApplyJob,
  generateJobKeyPair,
  jobPublication,
  newJob,
  parseMessage,
  type Result,
  ResultSchema,
  signJob,
  subjects,
} from "@fleetnet/protocol";
import { createLogger, publishDurably } from "@fleetnet/runtime";
import {
  buildProjects,
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

/** A host's whole desired state as an apply job carries it. */
type HostStateWire = ApplyJob["payload"]["desired"];

const logger = createLogger({ level: "silent", serviceName: "telemetry-health-netns-test" });
const KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf";

let backends: PrivateBackends | undefined;
let att: NatsAttachment;
let red: RedisAttachment;
let lab: TestLab | undefined;
let dir: string | undefined;
let child: ChildProcess | undefined;
let svc: TelemetryService | undefined;
/** The lab's hosts as the inventory names them (set by the first test). */
let fleet: { name: string; namespace: string; iface: string; address: string }[] = [];
const keys = generateJobKeyPair();
const results: Result[] = [];

async function api(verb: string, body: unknown = {}): Promise<Record<string, unknown>> {
  const m = await att.nc.request(subjects.telemetryApi(verb), JSON.stringify(body), { timeout: 3_000 });
  return JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
}

type Finding = { code: string; host?: string; severity: string; message: string };
const findings = async () => (await api("health")).findings as Finding[];

beforeAll(async () => {
  await buildProjects(["services/executor", "services/telemetry"]);
  if (!existsSync(EXECUTOR)) throw new Error(`${EXECUTOR} is missing after the build`);
  dir = mkdtempSync(join(tmpdir(), "fnh-health-"));
  chmodSync(dir, 0o755); // FRR's daemons run as user frr and must reach the per-host config
  backends = await privateBackends();
  ({ att, red } = backends);
  lab = await testLab({ prefix: "fnh", hosts: 2 });
  collect(
    att.nc,
    subjects.allHostEvents(),
    (d) => parseMessage(ResultSchema, d),
    results,
    (s) => s.endsWith(".result"),
  );
  await att.nc.flush();
}, 300_000);

afterAll(async () => {
  await svc?.stop();
  await stopChild(child);
  await lab?.dispose(); // kills keepalived and any revert timer left in the namespaces
  await backends?.[Symbol.asyncDispose]();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

const EMPTY: HostStateWire = emptyHostState();

function keepalived(host: string, iface: string, src: string, bogusPeer: string, vip: string): HostStateWire {
  const conf = `global_defs {
    router_id ${host}
}

vrrp_instance fnh_gw {
    state MASTER
    interface ${iface}
    virtual_router_id 51
    priority ${host.endsWith("1") ? 150 : 100}
    advert_int 1
    version 3
    unicast_src_ip ${src}
    unicast_peer {
        ${bogusPeer}
    }
    virtual_ipaddress {
        ${vip} dev ${iface}
    }
}
`;
  return {
    ...EMPTY,
    files: [{ path: KEEPALIVED_CONF, content: conf, mode: 0o644 }],
    services: [
      {
        name: "keepalived",
        running: true,
        configHash: `sha256:${createHash("sha256").update(conf).digest("hex")}`,
        configPaths: [KEEPALIVED_CONF],
      },
    ],
  };
}

/** Send a signed apply job, wait for `applied`, then confirm it (disarms the host's revert timer). */
async function applyAndConfirm(host: string, desired: HostStateWire, n: number): Promise<void> {
  const common = { host, rolloutId: `r-fnh-${n}`, planHash: "p-fnh", issuer: "test-planner" };
  const apply = newJob({
    ...common,
    kind: "apply",
    payload: { desired, confirmTimeoutMs: 120_000, wave: 0 },
  });
  const a = jobPublication(signJob(apply, keys.privateKey));
  await publishDurably(att.js, a.subject, a.payload, { msgID: a.msgID });
  const r = await waitFor(
    `result of apply ${n} on ${host}`,
    () => results.find((x) => x.jobId === apply.jobId),
    30_000,
  );
  expect(r.status, JSON.stringify(r.error)).toBe("applied");
  const confirm = newJob({ ...common, kind: "confirm", payload: { applyJobId: apply.jobId } });
  const c = jobPublication(signJob(confirm, keys.privateKey));
  await publishDurably(att.js, c.subject, c.payload, { msgID: c.msgID });
  const cr = await waitFor(
    `confirm ${n} on ${host}`,
    () => results.find((x) => x.jobId === confirm.jobId),
    30_000,
  );
  expect(cr.status).toBe("confirmed");
}

it("two keepalived masters for one VRID → split-brain from real executor reports; one master → VRRP healthy", async () => {
  const l = lab as TestLab;
  const d = dir as string;
  const hosts = l.hosts.map((h, i) => ({ ...h, name: `k${i + 1}` }));
  fleet = hosts;
  const [h1, h2] = hosts as [(typeof hosts)[number], (typeof hosts)[number]];
  const octets = h1.address.split(".");
  const inSubnet = (last: number) => [...octets.slice(0, 3), String(last)].join(".");
  const vip = `${inSubnet(200)}/${h1.prefixLength}`;
  const bogus = inSubnet(250); // nobody: neither keepalived hears the other
  const text = netnsInventory("health", "gw", hosts);
  writeFileSync(join(d, "fleet.yaml"), text);
  svc = await TelemetryService.start({
    nc: att.nc,
    redis: red.redis,
    logger,
    intentFiles: [{ name: "fleet.yaml", text }],
    heartbeatIntervalMs: 1_000,
  });
  const executor = startExecutorPool(d, att.url, keys);
  child = executor.child;
  try {
    // reports arrive: MACs are reported (none managed), VRRP not yet (no keepalived anywhere)
    const before = await waitFor(
      "both hosts heard, link MACs reported",
      async () => {
        const h = await api("health");
        const f = h.findings as Finding[];
        const hs = h.hosts as Record<string, { heartbeatAgeS: number | null }>;
        return Object.values(hs).every((x) => x.heartbeatAgeS !== null) &&
          !f.some((x) => x.code === "not-reported" && x.message.startsWith("link MACs"))
          ? f
          : undefined;
      },
      20_000,
    );
    expect(before.some((x) => x.code === "not-reported" && x.message.startsWith("VRRP state"))).toBe(true);
    expect(await api("gate", { gate: "vrrpSingleMaster" })).toMatchObject({
      ok: true,
      pass: false,
      reason: "no observations",
    });

    await Promise.all([
      applyAndConfirm(h1.name, keepalived(h1.name, h1.iface, h1.address, bogus, vip), 1),
      applyAndConfirm(h2.name, keepalived(h2.name, h2.iface, h2.address, bogus, vip), 2),
    ]);
    const split = await waitFor(
      "split-brain in health",
      async () => (await findings()).find((f) => f.code === "split-brain"),
      20_000,
    );
    expect(split).toMatchObject({ severity: "critical" });
    expect(split.message).toBe(`VRID 51 on segment fnh_gw has 2 masters: ${h1.name}, ${h2.name}`);
    const health = await api("health");
    expect(health.healthy).toBe(false);
    expect((health.findings as Finding[]).some((f) => f.message.startsWith("VRRP state"))).toBe(false);
    expect(await api("gate", { gate: "vrrpSingleMaster", hosts: [h1.name] })).toMatchObject({
      ok: true,
      pass: false,
      findings: [{ code: "split-brain" }],
    });

    // the fix: keepalived stopped on the second host → one master
    await applyAndConfirm(h2.name, EMPTY, 3);
    const after = await waitFor(
      "split brain gone",
      async () => {
        const f = await findings();
        return f.some((x) => x.code === "split-brain") ? undefined : f;
      },
      20_000,
    );
    expect(after.filter((f) => f.code === "no-master" || f.code === "split-brain")).toEqual([]);
    expect(after.some((f) => f.message.startsWith("VRRP state"))).toBe(false);
    expect(await api("gate", { gate: "vrrpSingleMaster", hosts: [h1.name] })).toMatchObject({
      ok: true,
      pass: true,
      findings: [],
    });
    expect((await api("health")).healthy).toBe(true);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nexecutor output:\n${executor.out}`);
  }
}, 120_000);

function overlay(local: string, iface: string, peers: string[]): HostStateWire {
  return {
    ...EMPTY,
    links: [
      {
        kind: "vxlan",
        name: "vxfnh",
        up: true,
        alias: "fleetnet:Overlay/fnh-tenant",
        vni: 4242,
        local,
        port: 4789,
        dev: iface,
        learning: false,
      },
    ],
    fdb: peers.map((dst) => ({ dev: "vxfnh", mac: "00:00:00:00:00:00", dst })),
  };
}

it("overlay probes of the real executors: a dead VTEP fails overlayReachable for its host only; a cloned MAC is a duplicate", async () => {
  const l = lab as TestLab;
  expect(fleet).toHaveLength(2); // the first test started the executor pool and telemetry
  const [h1, h2] = fleet as [(typeof fleet)[number], (typeof fleet)[number]];
  const dead = [...h1.address.split(".").slice(0, 3), "251"].join(".");
  await Promise.all([
    applyAndConfirm(h1.name, overlay(h1.address, h1.iface, [h2.address, dead]), 4),
    applyAndConfirm(h2.name, overlay(h2.address, h2.iface, [h1.address]), 5),
  ]);
  const unreachable = await waitFor(
    "overlay-unreachable",
    async () => (await findings()).find((f) => f.code === "overlay-unreachable"),
    20_000,
  );
  expect(unreachable).toMatchObject({
    host: h1.name,
    message: `overlay fnh-tenant: ${h1.name} cannot reach ${dead}`,
  });
  expect((await findings()).filter((f) => f.code === "overlay-unreachable")).toHaveLength(1);
  expect(await api("gate", { gate: "overlayReachable", hosts: [h2.name] })).toMatchObject({
    ok: true,
    pass: true,
  });
  expect(await api("gate", { gate: "overlayReachable", hosts: [h1.name] })).toMatchObject({
    ok: true,
    pass: false,
    findings: [{ code: "overlay-unreachable", host: h1.name }],
  });
  expect((await findings()).some((f) => f.code === "duplicate-mac")).toBe(false);

  // a cloned MAC on both hosts' managed VXLAN device
  const mac = "02:00:00:00:fe:01";
  for (const h of [h1, h2]) await l.run(h.namespace, ["ip", "link", "set", "vxfnh", "address", mac]);
  const dup = await waitFor(
    "duplicate-mac",
    async () => (await findings()).find((f) => f.code === "duplicate-mac"),
    20_000,
  );
  expect(dup.message).toBe(`MAC ${mac} on managed links of 2 hosts: ${h1.name}/vxfnh, ${h2.name}/vxfnh`);
}, 90_000);

function frr(host: string, asn: number, routerId: string, neighbors: [string, number][]): HostStateWire {
  const conf = [
    "frr defaults traditional",
    `hostname ${host}`,
    "service integrated-vtysh-config",
    "!",
    `router bgp ${asn}`,
    ` bgp router-id ${routerId}`,
    " no bgp ebgp-requires-policy",
    " timers bgp 1 3",
    ...neighbors.flatMap(([a, as]) => [` neighbor ${a} remote-as ${as}`, ` neighbor ${a} timers connect 1`]),
    "exit",
    "!",
    "",
  ].join("\n");
  return {
    ...EMPTY,
    files: [{ path: "/etc/frr/frr.conf", content: conf, mode: 0o644 }],
    services: [
      {
        name: "frr",
        running: true,
        configHash: `sha256:${createHash("sha256").update(conf).digest("hex")}`,
        configPaths: ["/etc/frr/frr.conf"],
      },
    ],
  };
}

it("BGP sessions from the real executors: Established passes bgpEstablished; a dead neighbor is bgp-down", async () => {
  expect(fleet).toHaveLength(2);
  const [h1, h2] = fleet as [(typeof fleet)[number], (typeof fleet)[number]];
  const dead = [...h1.address.split(".").slice(0, 3), "252"].join(".");
  await Promise.all([
    applyAndConfirm(
      h1.name,
      frr(h1.name, 65001, h1.address, [
        [h2.address, 65002],
        [dead, 65009],
      ]),
      6,
    ),
    applyAndConfirm(h2.name, frr(h2.name, 65002, h2.address, [[h1.address, 65001]]), 7),
  ]);
  await waitFor(
    "the k2 → k1 session Established (bgpEstablished passes for k2)",
    async () =>
      (await api("gate", { gate: "bgpEstablished", hosts: [h2.name] })).pass === true ? true : undefined,
    30_000,
  );
  // k1's own report may predate its side of that session by one report interval: wait for it
  const down = await waitFor(
    "k1's report with k1 → k2 Established (only the dead neighbor down)",
    async () => {
      const d = (await findings()).filter((f) => f.code === "bgp-down");
      return d.length === 1 ? d : undefined;
    },
    30_000,
  );
  expect(down.map((f) => f.host)).toEqual([h1.name]);
  expect(down[0]?.message).toContain(`${h1.name} → ${dead} is`);
  const g = await api("gate", { gate: "bgpEstablished", hosts: [h1.name] });
  expect(g).toMatchObject({ ok: true, pass: false });
  // only the dead neighbor: the k1 → k2 session is Established
  expect((g.findings as Finding[]).map((f) => f.message)).toEqual([
    expect.stringMatching(
      new RegExp(
        `^BGP session ${h1.name} → ${dead.replaceAll(".", "\\.")} is (Active|Connect|Idle|OpenSent)`,
      ),
    ),
  ]);
  expect((await findings()).some((f) => f.message.startsWith("BGP sessions"))).toBe(false);
}, 90_000);
