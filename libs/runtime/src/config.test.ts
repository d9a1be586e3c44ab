import { FleetnetError } from "@fleetnet/protocol";
import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES, ConfigError, loadConfig } from "./config.js";

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected loadConfig to throw");
}

describe("loadConfig", () => {
  it("gives every default for an empty environment", () => {
    const c = loadConfig({});
    expect(c.nats.servers).toEqual(["nats://127.0.0.1:4222"]);
    expect(c.redis.url).toBe("redis://127.0.0.1:6379");
    expect(c.logLevel).toBe("info");
    expect(c.metrics).toEqual({ port: 0, host: "127.0.0.1" });
    expect(c.otel).toEqual({ serviceName: "fleetnet", otlpEndpoint: undefined });
    expect(c.stateDir).toBe("/var/lib/fleetnet");
    expect(c.shutdownTimeoutMs).toBe(10_000);
    expect(c.nats.credsFile).toBeUndefined();
  });

  it("reads set variables and treats empty ones as unset", () => {
    const c = loadConfig({
      NATS_URL: "nats://10.0.0.1:4222, tls://10.0.0.2:4222",
      REDIS_URL: "rediss://cache.example:6380/2",
      LOG_LEVEL: "debug",
      METRICS_PORT: "9464",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
      NATS_USER: "planner",
      NATS_PASSWORD_FILE: "/etc/fleetnet/nats.pass",
      FLEETNET_STATE_DIR: "",
    });
    expect(c.nats.servers).toEqual(["nats://10.0.0.1:4222", "tls://10.0.0.2:4222"]);
    expect(c.redis.url).toBe("rediss://cache.example:6380/2");
    expect(c.logLevel).toBe("debug");
    expect(c.metrics.port).toBe(9464);
    expect(c.otel.otlpEndpoint).toBe("http://127.0.0.1:4318");
    expect(c.nats.user).toBe("planner");
    expect(c.stateDir).toBe("/var/lib/fleetnet");
  });

  it("uses the program's service name as default, and OTEL_SERVICE_NAME over it", () => {
    expect(loadConfig({}, { serviceName: "fleetnet-planner" }).otel.serviceName).toBe("fleetnet-planner");
    expect(
      loadConfig({ OTEL_SERVICE_NAME: "p2" }, { serviceName: "fleetnet-planner" }).otel.serviceName,
    ).toBe("p2");
  });

  it("names the variable, the expected form and the value", () => {
    const err = configError({ NATS_URL: "foo" });
    expect(err).toBeInstanceOf(FleetnetError);
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/^NATS_URL: expected a nats:\/\/ URL.*, got "foo"$/);
    expect(err.issues).toEqual([
      { variable: "NATS_URL", expected: expect.stringContaining("nats://"), got: "foo" },
    ]);
  });

  it.each([
    ["NATS_URL", "http://127.0.0.1:4222", /NATS_URL: expected a nats:\/\/ URL/],
    ["NATS_URL", "nats://a:4222,bogus", /NATS_URL: expected a nats:\/\/ URL/],
    [
      "REDIS_URL",
      "127.0.0.1:6379",
      /REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL, got "127.0.0.1:6379"/,
    ],
    ["METRICS_PORT", "70000", /METRICS_PORT: expected a port number between 0 and 65535, got "70000"/],
    ["METRICS_PORT", "-1", /METRICS_PORT: expected a port number/],
    ["METRICS_PORT", "9e3", /METRICS_PORT: expected a port number/],
    [
      "LOG_LEVEL",
      "verbose",
      /LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"/,
    ],
    ["FLEETNET_STATE_DIR", "state", /FLEETNET_STATE_DIR: expected an absolute directory path, got "state"/],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", /OTEL_EXPORTER_OTLP_ENDPOINT: expected an http/],
    ["FLEETNET_SHUTDOWN_TIMEOUT_MS", "soon", /FLEETNET_SHUTDOWN_TIMEOUT_MS: expected an integer/],
    ["NATS_RECONNECT_WAIT_MS", "5", /NATS_RECONNECT_WAIT_MS: expected an integer between 10/],
  ])("rejects %s=%s", (name, value, message) => {
    expect(configError({ [name]: value }).message).toMatch(message);
  });

  it("reports every invalid variable at once", () => {
    const err = configError({ NATS_URL: "foo", LOG_LEVEL: "loud", METRICS_PORT: "x" });
    expect(err.issues.map((i) => i.variable)).toEqual(["NATS_URL", "LOG_LEVEL", "METRICS_PORT"]);
    expect(err.message.split("\n")).toHaveLength(3);
    expect(err.details).toEqual({ issues: err.issues });
  });

  it("rejects conflicting or incomplete NATS credentials", () => {
    expect(configError({ NATS_CREDS_FILE: "/a.creds", NATS_TOKEN_FILE: "/t" }).message).toBe(
      "NATS_CREDS_FILE+NATS_TOKEN_FILE: expected at most one of NATS_CREDS_FILE, NATS_USER, NATS_TOKEN_FILE, NATS_NKEY_SEED_FILE",
    );
    expect(configError({ NATS_NKEY_SEED_FILE: "/h1.nk", NATS_TOKEN_FILE: "/t" }).issues[0]?.variable).toBe(
      "NATS_TOKEN_FILE+NATS_NKEY_SEED_FILE",
    );
    expect(configError({ NATS_INBOX_PREFIX: "_INBOX.h1" }).issues[0]?.variable).toBe("NATS_INBOX_PREFIX");
    expect(configError({ NATS_USER: "planner" }).message).toBe(
      "NATS_USER: expected NATS_USER and NATS_PASSWORD_FILE to be set together",
    );
    expect(configError({ NATS_PASSWORD_FILE: "/p" }).issues[0]?.variable).toBe("NATS_PASSWORD_FILE");
  });
});

describe("CONFIG_VARIABLES", () => {
  it("documents every variable, and every default is itself valid", () => {
    const names = CONFIG_VARIABLES.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    for (const want of ["NATS_URL", "REDIS_URL", "FLEETNET_STATE_DIR", "LOG_LEVEL", "METRICS_PORT"]) {
      expect(names).toContain(want);
    }
    for (const v of CONFIG_VARIABLES) {
      expect(v.description.length, v.name).toBeGreaterThan(10);
      if (v.default !== undefined) expect(() => loadConfig({ [v.name]: v.default }), v.name).not.toThrow();
    }
  });

  it("lists exactly the variables loadConfig reads", () => {
    // A variable set to garbage must be rejected iff it is in the table (NATS_USER/OTEL_SERVICE_NAME
    // refuse spaces); an unknown variable is ignored.
    for (const v of CONFIG_VARIABLES) {
      expect(() => loadConfig({ [v.name]: "not valid !" }), v.name).toThrow(ConfigError);
    }
    expect(() => loadConfig({ FLEETNET_UNKNOWN: "not valid !" })).not.toThrow();
  });
});
