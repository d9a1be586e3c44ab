import { describe, expect, it } from "vitest";
import { ErrorEnvelopeSchema, FleetnetError, fromEnvelope, toEnvelope } from "./errors.js";

describe("error envelope", () => {
  it("round-trips a FleetnetError", () => {
    const err = new FleetnetError({
      code: "NATS_UNAVAILABLE",
      message: "no server",
      retryable: true,
      details: { servers: ["nats://x:4222"] },
      cause: new Error("ECONNREFUSED"),
    });
    const env = toEnvelope(err);
    expect(env).toEqual({
      code: "NATS_UNAVAILABLE",
      message: "no server",
      retryable: true,
      details: { servers: ["nats://x:4222"] },
    });
    expect(ErrorEnvelopeSchema.parse(JSON.parse(JSON.stringify(env)))).toEqual(env);
    const back = fromEnvelope(JSON.parse(JSON.stringify(env)));
    expect(back).toBeInstanceOf(FleetnetError);
    expect([back.code, back.message, back.retryable, back.details]).toEqual([
      env.code,
      env.message,
      true,
      env.details,
    ]);
  });

  it("hides non-fleetnet errors behind INTERNAL without a stack", () => {
    const env = toEnvelope(new TypeError("x is undefined"));
    expect(env).toEqual({ code: "INTERNAL", message: "x is undefined", retryable: false });
    expect(toEnvelope("boom")).toEqual({ code: "INTERNAL", message: "boom", retryable: false });
  });

  it("defaults retryable to false", () => {
    expect(new FleetnetError({ code: "X", message: "m" }).retryable).toBe(false);
  });

  it("turns a malformed envelope into ENVELOPE_INVALID naming the field", () => {
    const e = fromEnvelope({ code: "lower", message: "m", retryable: false });
    expect(e.code).toBe("ENVELOPE_INVALID");
    expect(e.message).toMatch(/^error envelope: code: /);
    expect(fromEnvelope({ code: "A", message: "m" }).message).toMatch(/retryable/);
    expect(fromEnvelope({ code: "A", message: "m", retryable: true, extra: 1 }).code).toBe(
      "ENVELOPE_INVALID",
    );
    expect(fromEnvelope(null).message).toMatch(/^error envelope: \(envelope\)/);
  });
});
