import { describe, expect, it } from "vitest";
import {
  BgpMultipathSchema,
  defaultRolloutPolicy,
  IntentDocumentSchema,
  InventorySchema,
  overlayMtu,
  selectHosts,
  VlanSchema,
  VxlanOverlaySchema,
  validateText,
} from "./index.js";

const inventory = {
  apiVersion: "fleetnet/v1",
  kind: "Inventory",
  metadata: { name: "lab" },
  spec: {
    hosts: [
      {
        name: "h001",
        labels: { rack: "r1", role: "hypervisor" },
        underlay: { interface: "veth0", address: "10.250.0.1/16", mtu: 1500 },
        transport: { driver: "netns", namespace: "fn-h001" },
      },
      {
        name: "kvm-a02",
        underlay: { interface: "eth0", address: "10.0.0.12/24" },
        transport: {
          driver: "ssh",
          host: "10.0.0.12",
          user: "fleet",
          hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI",
          privateKeyFile: "/etc/fleetnet/id_ed25519",
        },
      },
    ],
  },
};

describe("schemas", () => {
  it("parses the INTENTS.md inventory and applies defaults", () => {
    const inv = InventorySchema.parse(inventory);
    const h2 = inv.spec.hosts[1];
    expect(h2?.underlay.mtu).toBe(1500);
    expect(h2?.labels).toEqual({});
    expect(h2?.transport.driver === "ssh" && h2.transport.port).toBe(22);
  });

  it("rejects unknown fields at every level", () => {
    const bad = structuredClone(inventory) as typeof inventory & {
      spec: { hosts: Array<Record<string, unknown>> };
    };
    (bad.spec.hosts[0] as Record<string, unknown>).colour = "red";
    const r = InventorySchema.safeParse(bad);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.code).toBe("unrecognized_keys");
    expect(r.error?.issues[0]?.path).toEqual(["spec", "hosts", 0]);
  });

  it("fills overlay defaults from the vni and the underlay", () => {
    const o = VxlanOverlaySchema.parse({
      apiVersion: "fleetnet/v1",
      kind: "VxlanOverlay",
      metadata: { name: "blue" },
      spec: { hosts: { matchLabels: {} }, vni: 5001 },
    });
    expect(o.spec).toMatchObject({
      port: 4789,
      device: "vx5001",
      bridge: "br5001",
      replication: { mode: "unicast" },
    });
    const inv = InventorySchema.parse(inventory);
    expect(overlayMtu(o.spec, inv.spec.hosts[0] as never)).toBe(1450);
    const v6 = { ...inv.spec.hosts[0], underlay: { interface: "eth0", address: "fd00::1/64", mtu: 1500 } };
    expect(overlayMtu(o.spec, v6 as never)).toBe(1430);
  });

  it("defaults a VLAN name to <parent>.<id> and BGP fields", () => {
    const v = VlanSchema.parse({
      apiVersion: "fleetnet/v1",
      kind: "Vlan",
      metadata: { name: "stor" },
      spec: { hosts: { names: ["h001"] }, id: 100, parent: "eth1" },
    });
    expect(v.spec.name).toBe("eth1.100");
    const b = BgpMultipathSchema.parse({
      apiVersion: "fleetnet/v1",
      kind: "BgpMultipath",
      metadata: { name: "fabric" },
      spec: {
        hosts: { matchLabels: {} },
        asn: { pool: "65001-65100" },
        peers: [{ address: "10.250.0.254", remoteAs: 65000 }],
      },
    });
    expect(b.spec).toMatchObject({ routerId: "underlay", multipathRelax: true, maximumPaths: 4 });
  });

  it("discriminates documents on kind and has rollout defaults", () => {
    expect(IntentDocumentSchema.parse(inventory).kind).toBe("Inventory");
    expect(defaultRolloutPolicy()).toMatchObject({
      maxUnavailable: "25%",
      soak: "10s",
      autoRollback: "wave",
    });
  });

  it("selects hosts by names, labels and expressions", () => {
    const hosts = InventorySchema.parse(inventory).spec.hosts;
    expect(selectHosts({ names: ["kvm-a02"] }, hosts).map((h) => h.name)).toEqual(["kvm-a02"]);
    expect(selectHosts({ matchLabels: {} }, hosts)).toHaveLength(2);
    expect(selectHosts({ matchLabels: { rack: "r1" } }, hosts).map((h) => h.name)).toEqual(["h001"]);
    expect(
      selectHosts({ matchExpressions: [{ key: "rack", operator: "DoesNotExist" }] }, hosts).map(
        (h) => h.name,
      ),
    ).toEqual(["kvm-a02"]);
    expect(
      selectHosts({ matchExpressions: [{ key: "rack", operator: "NotIn", values: ["r1"] }] }, hosts).map(
        (h) => h.name,
      ),
    ).toEqual(["kvm-a02"]);
    expect(
      selectHosts({ matchExpressions: [{ key: "rack", operator: "In", values: ["r1", "r2"] }] }, hosts),
    ).toHaveLength(1);
  });
});

describe("RolloutPolicy failureThreshold (failed hosts tolerated; stop when exceeded)", () => {
  const policy = (ft: string) =>
    validateText(
      `apiVersion: fleetnet/v1\nkind: RolloutPolicy\nmetadata: {name: r}\nspec: {failureThreshold: ${ft}}\n`,
      "t.yaml",
    )
      .errors.filter((e) => e.code !== "INVENTORY_MISSING") // a policy alone is not an apply
      .map((e) => [e.code, e.path]);

  it.each(["{hosts: 0}", "{percent: 0}", "{hosts: 3}", "{percent: 2.5}", "{percent: 100}"])(
    "%s is valid (0 stops at the first failure)",
    (ft) => expect(policy(ft)).toEqual([]),
  );

  it.each([
    ["{hosts: -1}", "OUT_OF_RANGE", "spec.failureThreshold.hosts"],
    ["{hosts: 1.5}", "WRONG_TYPE", "spec.failureThreshold.hosts"],
    ["{percent: 101}", "OUT_OF_RANGE", "spec.failureThreshold.percent"],
    ["{count: 2}", "WRONG_TYPE", "spec.failureThreshold"],
    ["3", "WRONG_TYPE", "spec.failureThreshold"],
  ])("%s is refused: %s at %s", (ft, code, path) => expect(policy(ft)).toEqual([[code, path]]));

  it("defaults to {hosts: 1}, as INTENTS.md shows", () => {
    expect(defaultRolloutPolicy().failureThreshold).toEqual({ hosts: 1 });
  });
});
