/**
 * `applyOps(state, ops) → state`: a model of what an executor does to a host, including the
 * kernel's cascades (deleting a link drops its addresses and FDB entries and releases its
 * slaves). Used by property tests (`applyOps(observed, diff(desired, observed))` must reach
 * `desired`) and by anyone who wants to predict a state. It fails like the kernel would on
 * an op that cannot apply (adding an existing link, an existing address, …).
 */
import { NetstateError } from "./errors.js";
import {
  type Address,
  addressKey,
  type FdbEntry,
  FLEETNET_ROUTE_PROTOCOL,
  fdbKey,
  type HostState,
  isOwnedAlias,
  type Link,
  type ManagedFile,
  normalizeHostState,
  type Port,
  type Route,
  routeKey,
  type Service,
  type Sysctl,
} from "./model.js";
import { fileOfOp, linkOfOp, type Op, routeOfOp } from "./ops.js";

function fail(op: Op, why: string): never {
  throw new NetstateError("OP_NOT_APPLICABLE", `${op.op}: ${why}`, { op });
}

/** The state after applying `ops` in order (the input is not modified). */
export function applyOps(state: HostState, ops: readonly Op[]): HostState {
  const links = new Map<string, Link>(state.links.map((l) => [l.name, { ...l }]));
  const ports = new Map<string, Port>(state.ports.map((p) => [p.dev, p]));
  const addrs = new Map<string, Address>(state.addresses.map((a) => [addressKey(a), a]));
  const routes = new Map<string, Route>(state.routes.map((r) => [routeKey(r), r]));
  const fdb = new Map<string, FdbEntry>(state.fdb.map((f) => [fdbKey(f), f]));
  const sysctls = new Map<string, Sysctl>(state.sysctls.map((s) => [s.key, s]));
  const files = new Map<string, ManagedFile>(state.files.map((f) => [f.path, f]));
  const services = new Map<string, Service>(state.services.map((s) => [s.name, s]));

  for (const op of ops) {
    switch (op.op) {
      case "link.add": {
        if (links.has(op.name)) fail(op, `link ${op.name} exists`);
        links.set(op.name, linkOfOp(op));
        break;
      }
      case "link.del": {
        if (!links.delete(op.name)) fail(op, `no link ${op.name}`);
        for (const [k, a] of addrs) if (a.dev === op.name) addrs.delete(k);
        for (const [k, f] of fdb) if (f.dev === op.name) fdb.delete(k);
        for (const [k, p] of ports) if (p.master === op.name) ports.delete(k);
        for (const l of links.values()) if (l.master === op.name) delete l.master;
        for (const [k, r] of routes) if (r.dev === op.name) routes.delete(k);
        break;
      }
      case "link.set": {
        const l = links.get(op.name);
        if (l) {
          const s = op.set;
          if (s.mtu !== undefined) l.mtu = s.mtu;
          if (s.up !== undefined) l.up = s.up;
          if (s.alias !== undefined) {
            if (s.alias === null) delete l.alias;
            else l.alias = s.alias;
          }
          if (s.master !== undefined) {
            if (s.master === null) delete l.master;
            else {
              if (!links.has(s.master)) fail(op, `no master ${s.master}`);
              l.master = s.master;
            }
            // A foreign interface enslaved to one of fleetnet's links is a port.
            if (!isOwnedAlias(l.alias)) {
              if (s.master === null) ports.delete(op.name);
              else ports.set(op.name, { dev: op.name, master: s.master });
            }
          }
        } else if (op.set.master !== undefined) {
          // A foreign interface (bridge port).
          if (op.set.master === null) ports.delete(op.name);
          else {
            if (!links.has(op.set.master)) fail(op, `no master ${op.set.master}`);
            ports.set(op.name, { dev: op.name, master: op.set.master });
          }
        }
        break;
      }
      case "addr.add": {
        const a = { dev: op.dev, address: op.address };
        if (!links.has(op.dev)) fail(op, `no link ${op.dev}`);
        if (addrs.has(addressKey(a))) fail(op, `address ${op.address} already assigned on ${op.dev}`);
        addrs.set(addressKey(a), a);
        break;
      }
      case "addr.del":
        if (!addrs.delete(addressKey(op))) fail(op, `no address ${op.address} on ${op.dev}`);
        break;
      case "route.replace": {
        const r = routeOfOp(op);
        routes.set(routeKey(r), r);
        break;
      }
      case "route.del":
        if (!routes.delete(routeKey(op))) fail(op, `no route ${op.destination} in table ${op.table}`);
        break;
      case "fdb.append": {
        if (!links.has(op.dev)) fail(op, `no link ${op.dev}`);
        const f = { dev: op.dev, mac: op.mac, dst: op.dst };
        fdb.set(fdbKey(f), f);
        break;
      }
      case "fdb.del":
        if (!fdb.delete(fdbKey(op))) fail(op, `no fdb entry ${op.mac} dst ${op.dst} on ${op.dev}`);
        break;
      case "sysctl.set": {
        const cur = sysctls.get(op.key);
        if (op.value === null) {
          if (op.ownership !== "release") fail(op, "a null value is only allowed on release");
          sysctls.delete(op.key);
          break;
        }
        const s: Sysctl = { key: op.key, value: op.value, persist: op.ownership !== "release" && op.persist };
        if (op.ownership === "acquire") s.original = op.previous;
        else if (op.ownership === "keep") {
          if (cur?.original !== undefined) s.original = cur.original;
        }
        sysctls.set(op.key, s);
        break;
      }
      case "file.write":
        files.set(op.path, fileOfOp(op));
        break;
      case "file.remove":
        if (!files.delete(op.path)) fail(op, `no file ${op.path}`);
        break;
      case "service.start":
        services.set(op.service, {
          name: op.service,
          running: true,
          configHash: op.configHash,
          configPaths: op.configPaths,
        });
        break;
      case "service.stop":
        services.delete(op.service);
        break;
      case "service.reload": {
        const s = services.get(op.service);
        if (!s?.running) fail(op, `${op.service} is not running`);
        services.set(op.service, { ...s, configHash: op.configHash, configPaths: op.configPaths });
        break;
      }
    }
  }
  return normalizeHostState({
    links: [...links.values()],
    ports: [...ports.values()],
    addresses: [...addrs.values()],
    routes: [...routes.values()],
    fdb: [...fdb.values()],
    sysctls: [...sysctls.values()],
    files: [...files.values()],
    services: [...services.values()],
  });
}

/**
 * The part of a state fleetnet owns, in canonical order, for comparisons: owned links, their
 * addresses/FDB, ports, fleetnet routes, files, running services, and sysctls — all of a
 * desired state's, and those of an observed state that carry `original` (as `{key, value}`,
 * `persist` cleared).
 */
export function ownedView(state: HostState, role: "desired" | "observed"): HostState {
  const s = normalizeHostState(state);
  const owned = new Set(
    s.links.filter((l) => role === "desired" || isOwnedAlias(l.alias)).map((l) => l.name),
  );
  return {
    links: s.links.filter((l) => owned.has(l.name)),
    ports: s.ports.filter((p) => owned.has(p.master)),
    addresses: s.addresses.filter((a) => owned.has(a.dev) && !/^fe[89ab][0-9a-f]:/i.test(a.address)),
    routes: s.routes.filter((r) => role === "desired" || r.protocol === FLEETNET_ROUTE_PROTOCOL),
    fdb: s.fdb.filter((f) => owned.has(f.dev)),
    sysctls: s.sysctls
      .filter((x) => role === "desired" || x.original !== undefined)
      // `persist` is informational (the sysctl.d file realises it), so it is not compared.
      .map((x) => ({ key: x.key, value: x.value, persist: false })),
    files: s.files,
    services: s.services.filter((x) => x.running),
  };
}
