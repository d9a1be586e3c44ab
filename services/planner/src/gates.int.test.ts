/**
 * TelemetryGates over a real (private) nats-server. A plain NATS responder stands in for the
 * telemetry service here (a service never imports another service; the real telemetry
 * service answering these requests is exercised in
 * services/telemetry/src/service/health.netns.test.ts): what is checked is the request the
 * planner sends and that every way telemetry can fail — silence, no responder, an error,
 * a failed gate — fails the gate with a reason, never passes it.
 */
import { subjects } from "@fleetnet/protocol";
import { attachNats, type NatsAttachment, type PrivateServer, startNatsServer } from "@fleetnet/testkit";
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
