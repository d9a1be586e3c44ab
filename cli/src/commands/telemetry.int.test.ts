/**
 * The telemetry CLI handlers over a real (private) nats-server. The telemetry service is
 * played by a NATS responder with replies of the service's shape (the CLI may not import a
 * service; the service's own int test covers the real answers).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { subjects } from "@fleetnet/protocol";
import { attachNats, type NatsAttachment, type PrivateServer, startNatsServer } from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../io.js";
import {
  runCapture,
  runDiff,
  runDrift,
  runHealth,
  type TelemetryOutput,
  withTelemetry,
} from "./telemetry.js";

let nats: PrivateServer;
let att: NatsAttachment;
let dir: string;
const asked: { verb: string; body: Record<string, unknown> }[] = [];
let healthy = true;

const baseline = {
  v: 1,
  capturedAt: "2026-11-29T00:00:00.000Z",
  hosts: { a: { at: "t", items: { "sysctl k": "1" } } },
};

function answer(verb: string, body: Record<string, unknown>): object {
  if (verb === "health")
    return healthy
      ? {
          ok: true,
          healthy: true,
          hosts: { a: { healthy: true, heartbeatAgeS: 1, drift: 0, findings: 0 } },
          findings: [],
        }
      : {
          ok: true,
          healthy: false,
          hosts: { a: { healthy: false, heartbeatAgeS: 40, drift: 0, findings: 1 } },
          findings: [{ severity: "critical", code: "heartbeat-stale", host: "a", message: "stale" }],
        };
  if (verb === "drift")
    return {
      ok: true,
      findings: [
        { host: "a", key: "k", expected: "1", actual: "0", since: "t", source: "baseline", action: "alert" },
      ],
      unavailable: [],
      learned: {},
    };
  if (body.op === "capture") return { ok: true, baseline };
  if (body.op === "diff") {
    if ((body.a as { v?: number }).v !== 1)
      return {
        ok: false,
        error: { code: "BASELINE_INVALID", message: "a: field v: expected 1", retryable: false },
      };
    return {
      ok: true,
      changes: [{ host: "a", change: "changed", item: "sysctl k", before: "1", after: "2" }],
    };
  }
  return { ok: false, error: { code: "BAD_REQUEST", message: "bad", retryable: false } };
}

function capture(): TelemetryOutput & { lines: string[]; values: unknown[] } {
  const lines: string[] = [];
  const values: unknown[] = [];
  return { lines, values, out: (l) => lines.push(l), err: (l) => lines.push(l), json: (v) => values.push(v) };
}

const env = () => ({ NATS_URL: nats.url });

beforeAll(async () => {
  nats = await startNatsServer();
  att = await attachNats(nats.url);
  for (const verb of ["health", "drift", "baseline"]) {
    att.nc.subscribe(subjects.telemetryApi(verb), {
      callback: (_e, m) => {
        const body = JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
        asked.push({ verb, body });
        m.respond(JSON.stringify(answer(verb, body)));
      },
    });
  }
  await att.nc.flush();
  dir = mkdtempSync(join(tmpdir(), "fnt-cli-"));
}, 30_000);

afterAll(async () => {
  await att?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("fleetnet health / drift / baseline", () => {
  it("health exits 0 when healthy and 1 when not, with --json the service's verdict", async () => {
    healthy = true;
    const o1 = capture();
    expect(await withTelemetry((call) => runHealth(call, {}, o1), env())).toBe(0);
    expect(o1.lines[0]).toContain("fleet healthy");
    healthy = false;
    const o2 = capture();
    expect(await withTelemetry((call) => runHealth(call, { json: true }, o2), env())).toBe(1);
    expect(o2.values[0]).toMatchObject({ healthy: false, findings: [{ code: "heartbeat-stale" }] });
  });

  it("drift prints findings and exits 1", async () => {
    const o = capture();
    expect(await withTelemetry((call) => runDrift(call, {}, o), env())).toBe(1);
    expect(o.lines).toEqual(['a  k  expected "1"  actual "0"  since t  (baseline, alert)']);
  });

  it("baseline capture writes a file that diff reads back; bad snapshots name the file", async () => {
    const file = join(dir, "q1.json");
    const o = capture();
    expect(await withTelemetry((call) => runCapture(call, { out: file }, o), env())).toBe(0);
    expect(o.lines).toEqual([`baseline of 1 host(s) written to ${file}`]);
    const d = capture();
    expect(await withTelemetry((call) => runDiff(call, file, file, {}, d), env())).toBe(1);
    expect(d.lines).toEqual(["~ a  sysctl k: 1 → 2"]);
    expect(asked.at(-1)).toEqual({ verb: "baseline", body: { op: "diff", a: baseline, b: baseline } });

    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ v: 7 }));
    await expect(withTelemetry((call) => runDiff(call, bad, file, {}, capture()), env())).rejects.toThrow(
      new UsageError(`${bad}: field v: expected 1`),
    );
    writeFileSync(bad, "{not json");
    await expect(withTelemetry((call) => runDiff(call, bad, file, {}, capture()), env())).rejects.toThrow(
      /bad\.json is not a baseline snapshot/,
    );
  });

  it("no telemetry service: TELEMETRY_UNAVAILABLE, retryable", async () => {
    const other = await startNatsServer();
    try {
      await expect(
        withTelemetry((call) => runHealth(call, {}, capture()), { NATS_URL: other.url }, 500),
      ).rejects.toMatchObject({ code: "TELEMETRY_UNAVAILABLE", retryable: true });
    } finally {
      await other[Symbol.asyncDispose]();
    }
  });
});
