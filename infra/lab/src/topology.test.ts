import { InventorySchema } from "@fleetnet/intent";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { LabError } from "./errors.js";
import { CommandError } from "./exec.js";
import { renderInventory } from "./inventory.js";
import { defaultStateDir, kernelCheck } from "./lab.js";
import { hostRequests } from "./nlconf.js";
import {
  fabricBatch,
  fdbBatch,
  hostBatch,
  macFor,
  planFromCount,
  planFromInventory,
  rootBatch,
  STATIC_NEIGHBOUR_LIMIT,
} from "./topology.js";

describe("planFromCount", () => {
  it("names, addresses, MACs, racks in blocks and spines after the hosts", () => {
    const t = planFromCount({ hosts: 4, racks: 2, spines: 2 });
    expect(t.fabric).toBe("fn-fabric");
    expect(t.hosts.map((h) => [h.name, h.namespace, h.address, h.labels])).toEqual([
      ["h001", "fn-h001", "10.250.0.1", { rack: "r1", role: "hypervisor" }],
      ["h002", "fn-h002", "10.250.0.2", { rack: "r1", role: "hypervisor" }],
      ["h003", "fn-h003", "10.250.0.3", { rack: "r2", role: "hypervisor" }],
      ["h004", "fn-h004", "10.250.0.4", { rack: "r2", role: "hypervisor" }],
      ["s01", "fn-s01", "10.250.0.5", { role: "spine" }],
      ["s02", "fn-s02", "10.250.0.6", { role: "spine" }],
    ]);
    expect(t.hosts[0]?.mac).toBe("02:fb:0a:fa:00:01");
    expect(t.mgmt).toEqual({
      iface: "fn-mgmt",
      peer: "pmgmt",
      addresses: ["10.250.255.254/16"],
      mac: "02:fb:0a:fa:ff:fe",
    });
  });

  it("defaults to 20 hosts per rack and widens names past 999", () => {
    const t = planFromCount({ hosts: 45 });
    expect(new Set(t.hosts.map((h) => h.labels.rack))).toEqual(new Set(["r1", "r2", "r3"]));
    expect(planFromCount({ hosts: 1000, subnet: "10.250.0.0/16" }).hosts[999]?.name).toBe("h1000");
  });

  it("refuses bad options with BAD_OPTION", () => {
    const bad = [
      { hosts: 0 },
      { hosts: 3, racks: 4 },
      { hosts: 6, subnet: "10.0.0.0/29" },
      { hosts: 2, subnet: "10.0.0.0" },
      { hosts: 2, subnet: "fd00::/64" },
      { hosts: 2, prefix: "a-very-long-prefix" },
      { hosts: 2, prefix: "x y" },
    ];
    for (const o of bad) {
      expect(() => planFromCount(o), JSON.stringify(o)).toThrow(LabError);
      try {
        planFromCount(o);
      } catch (e) {
        expect((e as LabError).code).toBe("BAD_OPTION");
      }
    }
    expect(planFromCount({ hosts: 5, subnet: "10.0.0.0/29" }).mgmt.addresses).toEqual(["10.0.0.6/29"]);
  });

  it("batches: veth pairs placed in both namespaces, ports enslaved, static FDB, permanent neighbours", () => {
    const t = planFromCount({ hosts: 3, prefix: "x-", subnet: "10.9.0.0/24" });
    expect(rootBatch(t)[0]).toBe(
      "link add veth0 netns x-h001 address 02:fb:0a:09:00:01 mtu 1500 type veth peer name p1 netns x-fabric mtu 1500",
    );
    expect(rootBatch(t)).toContain("addr add 10.9.0.254/24 dev x-mgmt");
    expect(rootBatch(t)).toContain(
      "neigh replace 10.9.0.3 lladdr 02:fb:0a:09:00:03 dev x-mgmt nud permanent",
    );
    expect(fabricBatch(t)).toContain("link set p3 master br0 up");
    expect(fdbBatch(t)).toContain("fdb replace 02:fb:0a:09:00:02 dev p2 master static");
    const h2 = t.hosts[1];
    if (!h2) throw new Error("no h002");
    expect(hostBatch(t, h2)).toEqual([
      "link set lo up",
      "addr add 10.9.0.2/24 dev veth0",
      "link set veth0 up",
      "neigh replace 10.9.0.1 lladdr 02:fb:0a:09:00:01 dev veth0 nud permanent",
      "neigh replace 10.9.0.3 lladdr 02:fb:0a:09:00:03 dev veth0 nud permanent",
      "neigh replace 10.9.0.254 lladdr 02:fb:0a:09:00:fe dev veth0 nud permanent",
    ]);
  });

  it("one-process requests carry the same configuration as the ip batch", () => {
    const t = planFromCount({ hosts: 2, prefix: "x-", subnet: "10.9.0.0/24" });
    const h1 = t.hosts[0];
    if (!h1) throw new Error("no h001");
    expect(hostRequests(t, h1)).toEqual([
      "ns x-h001",
      "up lo",
      "addr veth0 10.9.0.1 24",
      "up veth0",
      "neigh veth0 10.9.0.2 02:fb:0a:09:00:02",
      "neigh veth0 10.9.0.254 02:fb:0a:09:00:fe",
    ]);
  });

  it("renders an Inventory the intent schema accepts (netns and ssh transports)", () => {
    const t = planFromCount({ hosts: 2, spines: 1 });
    const inv = InventorySchema.parse(parse(renderInventory(t)));
    expect(inv.spec.hosts[2]).toEqual({
      name: "s01",
      labels: { role: "spine" },
      underlay: { interface: "veth0", address: "10.250.0.3/16", mtu: 1500 },
      transport: { driver: "netns", namespace: "fn-s01" },
    });
    const ssh = {
      user: "fleetlab",
      port: 22,
      privateKeyFile: "/tmp/k/id_ed25519",
      knownHostsFile: "/tmp/k/known_hosts",
      hostKeys: {
        h001: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA",
        h002: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB",
        s01: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC",
      },
    };
    const viaSsh = InventorySchema.parse(parse(renderInventory(t, ssh)));
    // Label values that YAML would otherwise read as booleans, numbers or null stay strings.
    const tricky = planFromCount({ hosts: 1 });
    const h0 = tricky.hosts[0];
    if (!h0) throw new Error("no host");
    h0.labels = { a: "true", b: "123", c: "", d: "null", e: "r1.x_y-z", f: "1.5" };
    expect(InventorySchema.parse(parse(renderInventory(tricky))).spec.hosts[0]?.labels).toEqual(h0.labels);
    expect(renderInventory(tricky)).toContain(
      '    - {name: h001, labels: {a: "true", b: "123", c: "", d: "null", e: r1.x_y-z, f: "1.5"}, underlay: {interface: veth0, address: 10.250.0.1/16, mtu: 1500}, transport: {driver: netns, namespace: fn-h001}}\n',
    );
    expect(viaSsh.spec.hosts[0]?.transport).toEqual({
      driver: "ssh",
      host: "10.250.0.1",
      port: 22,
      user: "fleetlab",
      hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA",
      knownHostsFile: "/tmp/k/known_hosts",
      privateKeyFile: "/tmp/k/id_ed25519",
    });
  });
});

describe("planFromInventory", () => {
  const inv = (hosts: unknown[]) =>
    InventorySchema.parse({
      apiVersion: "fleetnet/v1",
      kind: "Inventory",
      metadata: { name: "lab" },
      spec: { hosts },
    });

  it("uses the transport namespace, the underlay interface/address/mtu and keeps labels", () => {
    const t = planFromInventory(
      [
        inv([
          {
            name: "h001",
            labels: { rack: "r1" },
            underlay: { interface: "veth0", address: "10.7.0.1/24" },
            transport: { driver: "netns", namespace: "fnq-a" },
          },
          {
            name: "kvm-a02",
            underlay: { interface: "eth0", address: "10.7.0.12/24", mtu: 9000 },
            transport: {
              driver: "ssh",
              host: "10.7.0.12",
              user: "fleet",
              hostKey: "ssh-ed25519 AAAAC3Nz",
              privateKeyFile: "/etc/k",
            },
          },
        ]),
      ],
      { prefix: "fnq-" },
    );
    expect(
      t.hosts.map((h) => [h.name, h.namespace, h.iface, h.address, h.prefixLength, h.mtu, h.port]),
    ).toEqual([
      ["h001", "fnq-a", "veth0", "10.7.0.1", 24, 1500, "p1"],
      ["kvm-a02", "fnq-kvm-a02", "eth0", "10.7.0.12", 24, 9000, "p2"],
    ]);
    expect(t.hosts[0]?.labels).toEqual({ rack: "r1" });
    expect(t.mgmt.addresses).toEqual(["10.7.0.254/24"]);
  });

  it("gives the management veth an address in every host subnet, skipping used ones", () => {
    const t = planFromInventory([
      inv([
        {
          name: "a",
          underlay: { interface: "veth0", address: "10.7.0.254/24" },
          transport: { driver: "netns", namespace: "fnq-a" },
        },
        {
          name: "b",
          underlay: { interface: "veth0", address: "10.8.0.1/24" },
          transport: { driver: "netns", namespace: "fnq-b" },
        },
      ]),
    ]);
    expect(t.mgmt.addresses).toEqual(["10.7.0.253/24", "10.8.0.254/24"]);
  });

  it("refuses duplicates and IPv6 with BAD_INVENTORY naming the field", () => {
    const h = (name: string, address: string, namespace: string) => ({
      name,
      underlay: { interface: "veth0", address },
      transport: { driver: "netns", namespace },
    });
    const cases: [unknown[], RegExp][] = [
      [
        [h("a", "10.7.0.1/24", "n1"), h("b", "10.7.0.1/24", "n2")],
        /spec\.hosts\[1\]\.underlay\.address: 10\.7\.0\.1 is also the address of host "a"/,
      ],
      [
        [h("a", "10.7.0.1/24", "n1"), h("b", "10.7.0.2/24", "n1")],
        /spec\.hosts\[1\]\.transport\.namespace: "n1" is used by another host/,
      ],
      [[h("a", "fd00::1/64", "n1")], /IPv4 underlays only/],
      [[h("a", "10.7.0.1/24", "fn-fabric")], /fabric namespace/],
      [[], /no hosts/],
    ];
    for (const [hosts, re] of cases) {
      try {
        planFromInventory([inv(hosts)]);
        expect.unreachable();
      } catch (e) {
        expect((e as LabError).code).toBe("BAD_INVENTORY");
        expect((e as Error).message).toMatch(re);
      }
    }
  });
});

it("macFor maps an IPv4 address to 02:fb:<four bytes>", () => {
  expect(macFor(0x0afb0a01n)).toBe("02:fb:0a:fb:0a:01");
});

it("defaultStateDir is $FLEETNET_STATE_DIR/lab, else $HOME/.local/state/fleetnet/lab", () => {
  expect(defaultStateDir({ FLEETNET_STATE_DIR: "/srv/fn", HOME: "/home/x" })).toBe("/srv/fn/lab");
  expect(defaultStateDir({ HOME: "/home/x" })).toBe("/home/x/.local/state/fleetnet/lab");
});

it("kernelCheck names the missing kernel feature and passes other errors through", () => {
  const refused = new CommandError(["ip", "-batch", "-"], {
    code: 1,
    stdout: "",
    stderr: "Error: Unknown device type.\nCommand failed -:1\n",
  });
  expect(() => kernelCheck(refused, "bridges", "CONFIG_BRIDGE")).toThrow(
    expect.objectContaining({
      code: "KERNEL_FEATURE",
      message: expect.stringMatching(/^the kernel lacks bridges \(CONFIG_BRIDGE\)/),
    }),
  );
  const other = new CommandError(["ip"], { code: 2, stdout: "", stderr: "RTNETLINK answers: File exists" });
  expect(() => kernelCheck(other, "bridges", "CONFIG_BRIDGE")).toThrow(other);
});

it("beyond STATIC_NEIGHBOUR_LIMIT hosts only the management neighbour is static", () => {
  const neighbours = (n: number) => {
    const t = planFromCount({ hosts: n });
    const h = t.hosts[0];
    if (!h) throw new Error("no host");
    return hostBatch(t, h).filter((l) => l.startsWith("neigh"));
  };
  expect(neighbours(STATIC_NEIGHBOUR_LIMIT)).toHaveLength(STATIC_NEIGHBOUR_LIMIT); // 511 peers + mgmt
  expect(neighbours(STATIC_NEIGHBOUR_LIMIT + 1)).toEqual([
    "neigh replace 10.250.255.254 lladdr 02:fb:0a:fa:ff:fe dev veth0 nud permanent",
  ]);
});
