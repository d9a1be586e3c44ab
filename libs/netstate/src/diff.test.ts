import { describe, expect, it } from "vitest";
import {
  applyOps,
  canonicalJson,
  diff,
  emptyHostState,
  FLEETNET_ROUTE_PROTOCOL,
  type HostState,
  invertOp,
  type Link,
  NetstateError,
  normalizeHostState,
  type Op,
  OpSchema,
  ownedView,
  ownerAlias,
} from "./index.js";

const A = ownerAlias("VxlanOverlay", "blue");
const bridge = (name: string, extra: Partial<Link> = {}): Link =>
  ({ kind: "bridge", name, mtu: 1450, up: true, alias: A, ...extra }) as Link;
const vxlan = (name: string, vni: number, extra: Partial<Link> = {}): Link =>
  ({
    kind: "vxlan",
    name,
    vni,
    local: "10.250.0.1",
    port: 4789,
    dev: "veth0",
    learning: false,
    mtu: 1450,
    up: true,
    alias: A,
    ...extra,
  }) as Link;
const foreign = (name: string): Link => ({ kind: "veth", name, mtu: 1500, up: true });
const st = (p: Partial<HostState>): HostState => ({ ...emptyHostState(), ...p });
const names = (ops: Op[]) =>
  ops.map(
    (o) =>
      `${o.op}:${"name" in o ? o.name : "dev" in o ? o.dev : "key" in o ? o.key : "path" in o ? o.path : "destination" in o ? o.destination : "service" in o ? o.service : ""}`,
  );

const overlay = st({
  links: [bridge("br5001"), vxlan("vx5001", 5001, { master: "br5001" })],
  addresses: [{ dev: "br5001", address: "172.16.1.1/24" }],
  fdb: [
    { dev: "vx5001", mac: "00:00:00:00:00:00", dst: "10.250.0.2" },
    { dev: "vx5001", mac: "00:00:00:00:00:00", dst: "10.250.0.3" },
  ],
  routes: [
    {
      destination: "10.252.0.0/16",
      table: 254,
      protocol: FLEETNET_ROUTE_PROTOCOL,
      nexthops: [
        { via: "10.250.0.2", weight: 1 },
        { via: "10.250.0.3", weight: 1 },
      ],
    },
  ],
  sysctls: [{ key: "net.ipv4.ip_forward", value: "1", persist: true }],
  files: [{ path: "/etc/frr/frr.conf", content: "router bgp 65001\n", mode: 0o644 }],
  services: [{ name: "frr", running: true, configHash: "sha256:a", configPaths: ["/etc/frr/frr.conf"] }],
});
const base = st({
  links: [foreign("veth0"), foreign("eth1")],
  addresses: [{ dev: "veth0", address: "10.250.0.1/16" }],
  routes: [{ destination: "10.250.0.0/16", table: 254, protocol: 2, dev: "veth0" }],
  sysctls: [{ key: "net.ipv4.ip_forward", value: "0", persist: false }],
});

describe("diff: order", () => {
  it("creates parents before children: sysctl, bridge, vxlan, addr, route, fdb, file, service", () => {
    const ops = diff(overlay, base);
    expect(names(ops)).toEqual([
      "sysctl.set:net.ipv4.ip_forward",
      "link.add:br5001",
      "link.add:vx5001",
      "addr.add:br5001",
      "route.replace:10.252.0.0/16",
      "fdb.append:vx5001",
      "fdb.append:vx5001",
      "file.write:/etc/frr/frr.conf",
      "service.start:frr",
    ]);
    for (const o of ops) expect(OpSchema.safeParse(o).success).toBe(true);
    expect(ops[0]).toMatchObject({ previous: "0", value: "1", ownership: "acquire" });
  });

  it("deletes children before parents and only what fleetnet owns; exactly the inverse of the add", () => {
    const added = applyOps(base, diff(overlay, base));
    const ops = diff(emptyHostState(), added);
    expect(names(ops)).toEqual([
      "service.stop:frr",
      "file.remove:/etc/frr/frr.conf",
      "fdb.del:vx5001",
      "fdb.del:vx5001",
      "route.del:10.252.0.0/16",
      "addr.del:br5001",
      "link.del:vx5001",
      "link.del:br5001",
      "sysctl.set:net.ipv4.ip_forward",
    ]);
    expect(ops.map(canonicalJson)).toEqual(diff(overlay, base).reverse().map(invertOp).map(canonicalJson));
    const after = applyOps(added, ops);
    expect(after).toEqual(normalizeHostState(base));
  });

  it("is empty once converged (idempotent)", () => {
    const added = applyOps(base, diff(overlay, base));
    expect(diff(overlay, added)).toEqual([]);
  });

  it("a host with nothing of fleetnet's and nothing desired has no ops", () => {
    expect(diff(emptyHostState(), base)).toEqual([]);
  });
});

describe("diff: changes", () => {
  const converged = applyOps(base, diff(overlay, base));

  it("changes mtu in place with link.set and keeps the previous value", () => {
    const want = structuredClone(overlay);
    want.links[0] = bridge("br5001", { mtu: 1400 });
    expect(diff(want, converged)).toEqual([
      { op: "link.set", name: "br5001", set: { mtu: 1400 }, previous: { mtu: 1450 } },
    ]);
  });

  it("recreates a vxlan whose vni/local/port changes (del + add, children too)", () => {
    const want = structuredClone(overlay);
    want.links[1] = vxlan("vx5001", 5001, { master: "br5001", port: 8472 });
    const ops = diff(want, converged);
    expect(names(ops)).toEqual([
      "fdb.del:vx5001",
      "fdb.del:vx5001",
      "link.del:vx5001",
      "link.add:vx5001",
      "fdb.append:vx5001",
      "fdb.append:vx5001",
    ]);
    expect(diff(want, applyOps(converged, ops))).toEqual([]);
  });

  it("re-enslaves a kept vxlan when its bridge must be recreated", () => {
    const want = structuredClone(overlay);
    // A bridge cannot become a veth in place; a changed kind recreates the link.
    want.links[0] = { kind: "veth", name: "br5001", mtu: 1450, up: true, alias: A };
    const ops = diff(want, converged);
    expect(names(ops)).toEqual([
      "addr.del:br5001",
      "link.set:vx5001",
      "link.del:br5001",
      "link.add:br5001",
      "link.set:vx5001",
      "addr.add:br5001",
    ]);
    expect(diff(want, applyOps(converged, ops))).toEqual([]);
  });

  it("replaces a route whose nexthops changed, keeping the previous route", () => {
    const want = structuredClone(overlay);
    want.routes[0] = {
      ...want.routes[0]!,
      nexthops: [
        { via: "10.250.0.2", weight: 3 },
        { via: "10.250.0.4", weight: 1 },
      ],
    };
    const ops = diff(want, converged);
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({ op: "route.replace", previous: overlay.routes[0] });
  });

  it("ignores nexthop order and foreign routes, addresses and links", () => {
    const obs = structuredClone(converged);
    obs.routes = obs.routes.map((r) => (r.nexthops ? { ...r, nexthops: [...r.nexthops].reverse() } : r));
    obs.routes.push({ destination: "0.0.0.0/0", table: 254, protocol: 4, gateway: "10.250.0.254" });
    obs.links.push(foreign("eth9"));
    obs.addresses.push({ dev: "eth9", address: "192.0.2.1/24" }, { dev: "br5001", address: "fe80::1/64" });
    expect(diff(overlay, obs)).toEqual([]);
  });

  it("reloads a running service whose config changed and rewrites the file with its previous content", () => {
    const want = structuredClone(overlay);
    want.files[0] = { ...want.files[0]!, content: "router bgp 65002\n" };
    want.services[0] = { ...want.services[0]!, configHash: "sha256:b" };
    const ops = diff(want, converged);
    expect(ops).toEqual([
      {
        op: "file.write",
        path: "/etc/frr/frr.conf",
        content: "router bgp 65002\n",
        mode: 0o644,
        previous: { content: "router bgp 65001\n", mode: 0o644 },
      },
      {
        op: "service.reload",
        service: "frr",
        configHash: "sha256:b",
        previousHash: "sha256:a",
        configPaths: ["/etc/frr/frr.conf"],
      },
    ]);
  });

  it("takes over a foreign route at the same destination with route.replace, keeping it as previous", () => {
    const foreignRoute = { destination: "10.252.0.0/16", table: 254, protocol: 4, gateway: "10.250.0.9" };
    const obs = structuredClone(converged);
    obs.routes = [...base.routes, foreignRoute];
    const ops = diff(overlay, obs);
    expect(ops).toEqual([{ op: "route.replace", ...overlay.routes[0], previous: foreignRoute }]);
  });

  it("enslaves and releases foreign bridge ports", () => {
    const want = structuredClone(overlay);
    want.ports = [{ dev: "eth1", master: "br5001" }];
    const ops = diff(want, converged);
    expect(ops).toEqual([
      { op: "link.set", name: "eth1", set: { master: "br5001" }, previous: { master: null } },
    ]);
    const after = applyOps(converged, ops);
    expect(diff(overlay, after)).toEqual([
      { op: "link.set", name: "eth1", set: { master: null }, previous: { master: "br5001" } },
    ]);
  });

  it("refuses to replace a foreign link of another kind, adopts a compatible one", () => {
    const obs = st({ links: [{ kind: "veth", name: "br5001", up: true }] });
    const want = st({ links: [bridge("br5001")] });
    expect(() => diff(want, obs)).toThrow(NetstateError);
    try {
      diff(want, obs);
    } catch (e) {
      expect((e as NetstateError).code).toBe("FOREIGN_LINK_CONFLICT");
    }
    const compatible = st({ links: [{ kind: "bridge", name: "br5001", up: true, mtu: 1450 }] });
    expect(diff(want, compatible)).toEqual([
      { op: "link.set", name: "br5001", set: { alias: A }, previous: { alias: null } },
    ]);
  });

  it("restores an owned sysctl to its original only when no intent names it", () => {
    const obs = st({
      sysctls: [
        { key: "net.ipv4.ip_forward", value: "1", persist: true, original: "0" },
        { key: "net.core.somaxconn", value: "4096", persist: false },
      ],
    });
    expect(diff(emptyHostState(), obs)).toEqual([
      {
        op: "sysctl.set",
        key: "net.ipv4.ip_forward",
        value: "0",
        previous: "1",
        persist: true,
        ownership: "release",
      },
    ]);
  });
});

// ---------------------------------------------------------------------------------------
// Property tests over deterministic random states
// ---------------------------------------------------------------------------------------

/** mulberry32: small deterministic PRNG. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T,
    chance: (p: number) => next() < p,
  };
}
type R = ReturnType<typeof rng>;

/** Random objects of one "intent" whose names all start with `p`. */
function genPart(r: R, p: string): HostState {
  const s = emptyHostState();
  const alias = ownerAlias("Test", p);
  const nb = r.int(3);
  for (let i = 0; i < nb; i++)
    s.links.push({
      kind: "bridge",
      name: `${p}br${i}`,
      mtu: r.pick([1400, 1450, 1500]),
      up: r.chance(0.9),
      alias,
    });
  const bridges = s.links.map((l) => l.name);
  const nv = r.int(3);
  for (let i = 0; i < nv; i++) {
    const l: Link = {
      kind: "vxlan",
      name: `${p}vx${i}`,
      vni: r.pick([10, 11, 12]) + i * 100 + (p === "a" ? 0 : 5000),
      local: "10.250.0.1",
      port: r.pick([4789, 8472]),
      dev: "veth0",
      learning: r.chance(0.2),
      mtu: 1450,
      up: true,
      alias,
    };
    if (bridges.length > 0 && r.chance(0.7)) l.master = r.pick(bridges);
    s.links.push(l);
    for (let k = 0; k < r.int(5); k++)
      s.fdb.push({ dev: l.name, mac: "00:00:00:00:00:00", dst: `10.250.${p === "a" ? 1 : 2}.${k + 1}` });
  }
  for (const l of s.links)
    if (r.chance(0.5))
      s.addresses.push({ dev: l.name, address: `172.${p === "a" ? 16 : 17}.${r.int(4)}.1/24` });
  if (bridges.length > 0 && r.chance(0.5)) s.ports.push({ dev: `${p}eth1`, master: r.pick(bridges) });
  for (let i = 0; i < r.int(3); i++) {
    const destination = `10.${p === "a" ? 100 : 200}.${i}.0/24`;
    s.routes.push(
      r.chance(0.5)
        ? { destination, table: 254, protocol: 250, gateway: `10.250.0.${r.int(9) + 2}` }
        : {
            destination,
            table: r.pick([254, 100]),
            protocol: 250,
            nexthops: [
              { via: "10.250.0.2", weight: r.int(3) + 1 },
              { via: "10.250.0.3", weight: 1 },
            ],
          },
    );
  }
  for (const k of ["rp_filter", "ip_forward", "tcp_syncookies"])
    if (r.chance(0.5))
      s.sysctls.push({ key: `net.${p}.${k}`, value: String(r.int(3)), persist: r.chance(0.5) });
  if (r.chance(0.5))
    s.files.push({ path: `/etc/${p}/x.conf`, content: `v=${r.int(3)}\n`, mode: r.pick([0o644, 0o600]) });
  if (r.chance(0.5))
    s.services.push({
      name: p === "a" ? "frr" : "keepalived",
      running: true,
      configHash: `sha256:${r.int(3)}`,
      configPaths: [`/etc/${p}/x.conf`],
    });
  // Dedupe (random picks may collide).
  const uniq = <T>(xs: T[], k: (x: T) => string) => [...new Map(xs.map((x) => [k(x), x])).values()];
  s.routes = uniq(s.routes, (x) => `${x.table} ${x.destination}`);
  s.addresses = uniq(s.addresses, (x) => `${x.dev} ${x.address}`);
  s.fdb = uniq(s.fdb, (x) => `${x.dev} ${x.dst}`);
  return s;
}

function union(a: HostState, b: HostState): HostState {
  return {
    links: [...a.links, ...b.links],
    ports: [...a.ports, ...b.ports],
    addresses: [...a.addresses, ...b.addresses],
    routes: [...a.routes, ...b.routes],
    fdb: [...a.fdb, ...b.fdb],
    sysctls: [...a.sysctls, ...b.sysctls],
    files: [...a.files, ...b.files],
    services: [...a.services, ...b.services],
  };
}

/** A host as an executor might observe it: foreign objects plus stale fleetnet objects from `stale`. */
function genObserved(r: R, stale: HostState): HostState {
  const s = emptyHostState();
  s.links.push(foreign("veth0"), foreign("aeth1"), foreign("beth1"), foreign("eth7"));
  s.addresses.push({ dev: "veth0", address: "10.250.0.1/16" }, { dev: "eth7", address: "192.0.2.7/24" });
  s.routes.push({ destination: "10.250.0.0/16", table: 254, protocol: 2, dev: "veth0" });
  s.routes.push({ destination: "10.99.0.0/24", table: 254, protocol: 4, gateway: "10.250.0.9" });
  for (const k of ["rp_filter", "ip_forward"])
    s.sysctls.push({ key: `net.a.${k}`, value: "0", persist: false });
  // A random subset of stale fleetnet objects, consistent (children only on present links).
  return r.chance(0.8) ? applyOps(s, diff(stale, s)) : s;
}

const SEEDS = 300;

describe("diff: properties over random states", () => {
  it(`applyOps(observed, diff(desired, observed)) reaches desired; a second diff is empty (${SEEDS} seeds)`, () => {
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = rng(seed);
      const desired = union(genPart(r, "a"), genPart(r, "b"));
      const observed = genObserved(r, union(genPart(r, "a"), genPart(r, "b")));
      const ops = diff(desired, observed);
      const after = applyOps(observed, ops);
      expect(canonicalJson(ownedView(after, "observed")), `seed ${seed}`).toBe(
        canonicalJson(ownedView(desired, "desired")),
      );
      expect(diff(desired, after), `seed ${seed}`).toEqual([]);
      // Foreign objects are untouched.
      const isForeign = (l: Link) => !l.alias?.startsWith("fleetnet:");
      const foreignNames = (s: HostState) =>
        normalizeHostState(s)
          .links.filter(isForeign)
          .map((l) => l.name);
      expect(foreignNames(after)).toEqual(foreignNames(observed));
      const obsN = normalizeHostState(observed);
      expect(after.routes.filter((x) => x.protocol !== 250)).toEqual(
        obsN.routes.filter((x) => x.protocol !== 250),
      );
      expect(after.addresses.filter((a) => ["veth0", "eth7"].includes(a.dev))).toEqual(
        obsN.addresses.filter((a) => ["veth0", "eth7"].includes(a.dev)),
      );
    }
  });

  it(`removing an intent yields exactly the inverse ops of adding it (${SEEDS} seeds)`, () => {
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = rng(seed * 7919);
      const a = genPart(r, "a");
      const b = genPart(r, "b");
      const o0 = genObserved(r, emptyHostState());
      const sA = applyOps(o0, diff(a, o0));
      const added = diff(union(a, b), sA);
      const sAB = applyOps(sA, added);
      const removed = diff(a, sAB);
      const inv = added.map(invertOp).map(canonicalJson);
      expect(removed.map(canonicalJson).sort(), `seed ${seed}`).toEqual([...inv].sort());
      // B added onto nothing of fleetnet's: the removal is the exact reversed inverse.
      const fromEmpty = diff(b, o0);
      const back = diff(emptyHostState(), applyOps(o0, fromEmpty));
      expect(back.map(canonicalJson), `seed ${seed}`).toEqual(
        fromEmpty.reverse().map(invertOp).map(canonicalJson),
      );
      expect(applyOps(sAB, removed), `seed ${seed}`).toEqual(sA);
    }
  });
});
