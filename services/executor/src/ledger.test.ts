import { sha256Text } from "@fleetnet/netstate";
import { describe, expect, it } from "vitest";
import { emptyLedger, parseLedger, updateLedger } from "./ledger.js";

describe("host ledger", () => {
  it("records what fleetnet set/wrote/started and forgets what it released", () => {
    let l = updateLedger(
      emptyLedger(),
      [
        {
          op: "sysctl.set",
          key: "net.ipv4.ip_forward",
          value: "1",
          previous: "0",
          persist: true,
          ownership: "acquire",
        },
        {
          op: "file.write",
          path: "/etc/x.conf",
          content: "pw=@@fleetnet-secret:pw@@\n",
          mode: 0o600,
          secrets: { pw: { fromEnv: "PW" } },
          previous: null,
        },
        { op: "service.start", service: "keepalived", configHash: "sha256:1", configPaths: ["/etc/x.conf"] },
      ],
      new Map([["/etc/x.conf", "pw=hunter2\n"]]),
    );
    expect(l.sysctls["net.ipv4.ip_forward"]).toEqual({ original: "0", persist: true });
    expect(l.files["/etc/x.conf"]?.written).toBe(sha256Text("pw=hunter2\n"));
    expect(l.files["/etc/x.conf"]?.content).toBe("pw=@@fleetnet-secret:pw@@\n");
    expect(parseLedger(JSON.stringify(l))).toEqual(l);
    l = updateLedger(
      l,
      [
        {
          op: "sysctl.set",
          key: "net.ipv4.ip_forward",
          value: "0",
          previous: "1",
          persist: true,
          ownership: "release",
        },
        { op: "file.remove", path: "/etc/x.conf", previous: { content: "", mode: 0o600 } },
        { op: "service.stop", service: "keepalived", configHash: "sha256:1", configPaths: [] },
      ],
      new Map(),
    );
    expect(l).toEqual(emptyLedger());
  });
  it("refuses a corrupt ledger with INVALID_INPUT", () => {
    expect(() => parseLedger("{")).toThrow(/ledger .* is corrupt/);
    expect(() =>
      parseLedger(JSON.stringify({ version: 1, sysctls: { k: { original: 1 } }, files: {}, services: {} })),
    ).toThrow(/corrupt: sysctls.k/);
  });
});
