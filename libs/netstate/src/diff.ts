/**
 * `diff(desired, observed) → Op[]`: what an executor must do to turn what it sees into what
 * fleetnet wants, touching only what fleetnet owns.
 *
 * Design:
 * - Two phases. DELETE first, children before parents: service.stop, file.remove, fdb.del,
 *   route.del, addr.del, link.set (release enslaved links/ports), link.del (deepest first),
 *   sysctl.set (release). Then CREATE/UPDATE, parents before children: sysctl.set,
 *   link.add (shallowest first), link.set, addr.add, route.replace, fdb.append, file.write,
 *   service.start/reload. Within a category the delete phase uses the reverse of the create
 *   phase's canonical order, so removing everything an intent added yields exactly
 *   `added.reverse().map(invertOp)`.
 * - Deleting a link deletes its children explicitly first (addresses, FDB entries, ports,
 *   owned links enslaved to it), although the kernel would drop them: the op list then
 *   says everything that will change, and the inverse property holds.
 * - A link attribute that cannot change in place (kind, VXLAN vni/local/port/dev/group/
 *   learning, VLAN id/parent, veth peer) makes the link be deleted and added again, with
 *   its children.
 * - Ownership (see model.ts): owned links by alias, routes by protocol, addresses/FDB by
 *   owned device, sysctls/files/services as the observed state lists them. A desired link
 *   whose name a foreign link already has is adopted when compatible (link.set alias) and
 *   otherwise refused with FOREIGN_LINK_CONFLICT.
 * - A sysctl an intent names becomes fleetnet's (`acquire`) even when it already has the
 *   value, so that removing the intent restores the original. A desired route whose key
 *   (table, destination) holds a foreign route replaces it (`route.replace` keeps the
 *   foreign route as `previous` for revert).
 * - Linear in the size of both states: collections are merge-joined in canonical order
 *   (a 1000-member full mesh has ~1000 FDB entries per host); identical objects (shared
 *   by `compile`, or reused via `compile({previous})`) compare by identity first.
 * - Ops are immutable values and may be shared between hosts' lists (one `fdb.append` per
 *   shared FDB entry object); consumers must not mutate them.
 */
import { NetstateError } from "./errors.js";
import {
  type Address,
  type FdbEntry,
  FLEETNET_ROUTE_PROTOCOL,
  type HostState,
  isOwnedAlias,
  type Link,
  type ManagedFile,
  normalizeHostState,
  ORDER,
  type Port,
  type Route,
  type Service,
  type Sysctl,
} from "./model.js";
import type { LinkChanges, Op } from "./ops.js";

/**
 * Merge-join two arrays sorted by `cmp`: calls `onlyA`, `onlyB` or `both` for each key.
 * Duplicate keys on either side are paired in order.
 */
export function mergeJoin<A, B>(
  a: readonly A[],
  b: readonly B[],
  cmp: (x: A, y: B) => number,
  onlyA: (x: A) => void,
  onlyB: (y: B) => void,
  both: (x: A, y: B) => void,
): void {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as A;
    const y = b[j] as B;
    const c = x === (y as unknown) ? 0 : cmp(x, y);
    if (c === 0) {
      both(x, y);
      i++;
      j++;
    } else if (c < 0) {
      onlyA(x);
      i++;
    } else {
      onlyB(y);
      j++;
    }
  }
  while (i < a.length) onlyA(a[i++] as A);
  while (j < b.length) onlyB(b[j++] as B);
}

/**
 * Depth of each link in the enslavement/parent graph of `links`: a link whose master, VLAN
 * parent or VXLAN underlay device is in the same set sits one level below it.
 */
export function linkDepths(links: readonly Link[]): Map<string, number> {
  const byName = new Map(links.map((l) => [l.name, l]));
  const depth = new Map<string, number>();
  const visit = (l: Link, seen: Set<string>): number => {
    const known = depth.get(l.name);
    if (known !== undefined) return known;
    if (seen.has(l.name)) return 0; // a cycle is invalid input; do not loop
    seen.add(l.name);
    let d = 0;
    const parents = [
      l.master,
      l.kind === "vlan" ? l.parent : undefined,
      l.kind === "vxlan" ? l.dev : undefined,
    ];
    for (const p of parents) {
      const pl = p === undefined ? undefined : byName.get(p);
      if (pl) d = Math.max(d, visit(pl, seen) + 1);
    }
    depth.set(l.name, d);
    return d;
  };
  for (const l of links) visit(l, new Set());
  return depth;
}

/** Whether two links differ in an attribute that cannot be changed in place. */
export function needsRecreate(d: Link, o: Link): boolean {
  if (d.kind !== o.kind) return true;
  switch (d.kind) {
    case "bridge":
      return false;
    case "vxlan": {
      const x = o as typeof d;
      return (
        d.vni !== x.vni ||
        d.local !== x.local ||
        d.port !== x.port ||
        d.dev !== x.dev ||
        d.learning !== x.learning ||
        d.group !== x.group
      );
    }
    case "vlan": {
      const x = o as typeof d;
      return d.id !== x.id || d.parent !== x.parent;
    }
    case "veth": {
      const x = o as typeof d;
      return d.peer !== undefined && d.peer !== x.peer;
    }
  }
}

/** In-place changes from `o` to `d` (only attributes `d` specifies; master/alias always). */
function linkChanges(d: Link, o: Link): { set: LinkChanges; previous: LinkChanges } | undefined {
  const set: LinkChanges = {};
  const previous: LinkChanges = {};
  if (d.mtu !== undefined && d.mtu !== o.mtu) {
    set.mtu = d.mtu;
    if (o.mtu !== undefined) previous.mtu = o.mtu;
  }
  if ((d.master ?? null) !== (o.master ?? null)) {
    set.master = d.master ?? null;
    previous.master = o.master ?? null;
  }
  if ((d.alias ?? null) !== (o.alias ?? null)) {
    set.alias = d.alias ?? null;
    previous.alias = o.alias ?? null;
  }
  if (d.up !== o.up) {
    set.up = d.up;
    previous.up = o.up;
  }
  return Object.keys(set).length === 0 ? undefined : { set, previous };
}

function sameNexthops(a: Route["nexthops"], b: Route["nexthops"]): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  const key = (n: NonNullable<Route["nexthops"]>[number]) => `${n.via} ${n.weight} ${n.dev ?? ""}`;
  const ka = a.map(key).sort();
  const kb = b.map(key).sort();
  return ka.every((k, i) => k === kb[i]);
}

/** Whether two routes at the same key are the same route. */
export function sameRoute(a: Route, b: Route): boolean {
  return (
    a.protocol === b.protocol &&
    a.gateway === b.gateway &&
    a.dev === b.dev &&
    sameNexthops(a.nexthops, b.nexthops)
  );
}

function sameSecrets(a: ManagedFile["secrets"], b: ManagedFile["secrets"]): boolean {
  if (a === b) return true;
  return JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b ?? {}).sort());
}

/** Whether the file content/mode/secret refs are the same. */
export function sameFile(a: ManagedFile, b: ManagedFile): boolean {
  return a.content === b.content && a.mode === b.mode && sameSecrets(a.secrets, b.secrets);
}

function fileBody(f: ManagedFile): Omit<ManagedFile, "path"> {
  const b: Omit<ManagedFile, "path"> = { content: f.content, mode: f.mode };
  if (f.secrets !== undefined) b.secrets = f.secrets;
  return b;
}

/**
 * `fdb.append` ops are shared per (immutable, often shared) FDB entry object: a full mesh of
 * N hosts then allocates N ops instead of N·(N−1). Ops are treated as immutable.
 */
const appendOps = new WeakMap<FdbEntry, Op>();
function appendOpOf(d: FdbEntry): Op {
  let op = appendOps.get(d);
  if (!op) {
    op = { op: "fdb.append", dev: d.dev, mac: d.mac, dst: d.dst };
    appendOps.set(d, op);
  }
  return op;
}

/** IPv6 link-local addresses are the kernel's, never fleetnet's. */
function isLinkLocal(a: Address): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(a.address);
}

const byDepthAsc = (depth: Map<string, number>) => (a: { name: string }, b: { name: string }) =>
  (depth.get(a.name) ?? 0) - (depth.get(b.name) ?? 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Ops that turn `observed` into `desired` (see the module comment for order and ownership).
 * Both states may come in any order; they are normalized first.
 */
export function diff(desiredIn: HostState, observedIn: HostState): Op[] {
  const desired = normalizeHostState(desiredIn);
  const observed = normalizeHostState(observedIn);

  // ---- links: decide create / recreate / update / delete -------------------------------
  const obsLinks = new Map(observed.links.map((l) => [l.name, l]));
  const desLinks = new Map(desired.links.map((l) => [l.name, l]));
  const toAdd: Link[] = [];
  const toDel: Link[] = [];
  const updates: { d: Link; o: Link }[] = [];
  for (const d of desired.links) {
    const o = obsLinks.get(d.name);
    if (!o) toAdd.push(d);
    else if (needsRecreate(d, o)) {
      if (!isOwnedAlias(o.alias)) {
        throw new NetstateError(
          "FOREIGN_LINK_CONFLICT",
          `link ${d.name} exists as a ${o.kind} that fleetnet did not create and differs from the wanted ${d.kind}; rename the intent's interface or remove the existing link`,
          { link: d.name },
        );
      }
      toDel.push(o);
      toAdd.push(d);
    } else updates.push({ d, o });
  }
  for (const o of observed.links) if (!desLinks.has(o.name) && isOwnedAlias(o.alias)) toDel.push(o);
  const gone = new Set(toDel.map((l) => l.name));
  // Devices whose addresses/FDB fleetnet owns: owned observed links that stay, plus desired links.
  const ownedDevs = new Set<string>();
  for (const o of observed.links) if (isOwnedAlias(o.alias) && !gone.has(o.name)) ownedDevs.add(o.name);
  for (const d of desired.links) ownedDevs.add(d.name);

  const del: Op[][] = [[], [], [], [], [], [], [], []]; // index = delete category
  const add: Op[][] = [[], [], [], [], [], [], [], [], []];
  const [dService, dFile, dFdb, dRoute, dAddr, dLinkSet, dLink, dSysctl] = del as [
    Op[],
    Op[],
    Op[],
    Op[],
    Op[],
    Op[],
    Op[],
    Op[],
  ];
  const [aSysctl, aLink, aLinkSet, aAddr, aRoute, aFdb, aFile, aService] = add as [
    Op[],
    Op[],
    Op[],
    Op[],
    Op[],
    Op[],
    Op[],
    Op[],
  ];

  // link.del (deepest first, reverse name order) and link.add (shallowest first).
  // Depth among fleetnet's own links only, so that both phases rank links alike.
  const obsDepth = linkDepths(observed.links.filter((l) => isOwnedAlias(l.alias)));
  toDel.sort(byDepthAsc(obsDepth)).reverse();
  for (const l of toDel) dLink.push({ op: "link.del", ...l } as Op);
  const desDepth = linkDepths(desired.links);
  toAdd.sort(byDepthAsc(desDepth));
  for (const l of toAdd) aLink.push({ op: "link.add", ...l } as Op);

  // Kept links enslaved to a link that goes away lose their master first (explicitly).
  const releasedSlaves: Op[] = [];
  for (const { d, o } of updates) {
    let oo = o;
    if (o.master !== undefined && gone.has(o.master)) {
      releasedSlaves.push({
        op: "link.set",
        name: o.name,
        set: { master: null },
        previous: { master: o.master },
      });
      const { master: _m, ...rest } = o;
      oo = rest as Link;
    }
    const ch = linkChanges(d, oo);
    if (ch) aLinkSet.push({ op: "link.set", name: d.name, set: ch.set, previous: ch.previous });
  }
  // ---- ports: foreign interfaces enslaved to fleetnet's bridges --------------------------
  const portDel: Op[] = [];
  mergeJoin(
    desired.ports,
    observed.ports.filter((p) => ownedDevs.has(p.master) || gone.has(p.master)),
    ORDER.ports,
    (d: Port) =>
      aLinkSet.push({ op: "link.set", name: d.dev, set: { master: d.master }, previous: { master: null } }),
    (o: Port) =>
      portDel.push({ op: "link.set", name: o.dev, set: { master: null }, previous: { master: o.master } }),
    (d, o) => {
      if (d.master === o.master) return;
      if (gone.has(o.master)) {
        portDel.push({ op: "link.set", name: o.dev, set: { master: null }, previous: { master: o.master } });
        aLinkSet.push({ op: "link.set", name: d.dev, set: { master: d.master }, previous: { master: null } });
      } else {
        aLinkSet.push({
          op: "link.set",
          name: d.dev,
          set: { master: d.master },
          previous: { master: o.master },
        });
      }
    },
  );
  aLinkSet.sort((a, b) => byDepthAsc(desDepth)(nameOf(a), nameOf(b)));
  pushAll(
    dLinkSet,
    [...releasedSlaves, ...portDel].sort((a, b) => -cmpName(nameOf(a), nameOf(b))),
  );

  // ---- addresses -------------------------------------------------------------------------
  const addrDel: Op[] = [];
  mergeJoin(
    desired.addresses,
    observed.addresses.filter((a) => (ownedDevs.has(a.dev) || gone.has(a.dev)) && !isLinkLocal(a)),
    ORDER.addresses,
    (d: Address) => aAddr.push({ op: "addr.add", dev: d.dev, address: d.address }),
    (o: Address) => addrDel.push({ op: "addr.del", dev: o.dev, address: o.address }),
    (d, o) => {
      if (!gone.has(o.dev)) return;
      addrDel.push({ op: "addr.del", dev: o.dev, address: o.address });
      aAddr.push({ op: "addr.add", dev: d.dev, address: d.address });
    },
  );
  pushAll(dAddr, addrDel.reverse());

  // ---- routes ----------------------------------------------------------------------------
  const routeDel: Op[] = [];
  mergeJoin(
    desired.routes,
    observed.routes,
    ORDER.routes,
    (d: Route) => aRoute.push({ op: "route.replace", ...d }),
    (o: Route) => {
      if (o.protocol === FLEETNET_ROUTE_PROTOCOL) routeDel.push({ op: "route.del", ...o });
    },
    (d, o) => {
      if (!sameRoute(d, o)) aRoute.push({ op: "route.replace", ...d, previous: o });
    },
  );
  pushAll(dRoute, routeDel.reverse());

  // ---- FDB -------------------------------------------------------------------------------
  const obsFdb = ownedRuns(observed.fdb, (dev) => ownedDevs.has(dev) || gone.has(dev));
  diffFdb(desired.fdb, obsFdb, gone, aFdb, dFdb);

  // ---- sysctls ---------------------------------------------------------------------------
  const sysDel: Op[] = [];
  mergeJoin(
    desired.sysctls,
    observed.sysctls,
    ORDER.sysctls,
    (d: Sysctl) =>
      aSysctl.push({
        op: "sysctl.set",
        key: d.key,
        value: d.value,
        previous: null,
        persist: d.persist,
        ownership: "acquire",
      }),
    (o: Sysctl) => {
      if (o.original === undefined) return;
      sysDel.push({
        op: "sysctl.set",
        key: o.key,
        value: o.original,
        previous: o.value,
        persist: o.persist,
        ownership: "release",
      });
    },
    (d, o) => {
      // A key an intent names becomes fleetnet's even when it already has the value, so that
      // removing the intent restores it and drift on it is fleetnet's business.
      if (d.value === o.value && o.original !== undefined) return;
      aSysctl.push({
        op: "sysctl.set",
        key: d.key,
        value: d.value,
        previous: o.value,
        persist: d.persist,
        ownership: o.original === undefined ? "acquire" : "keep",
      });
    },
  );
  pushAll(dSysctl, sysDel.reverse());

  // ---- files -----------------------------------------------------------------------------
  const fileDel: Op[] = [];
  mergeJoin(
    desired.files,
    observed.files,
    ORDER.files,
    (d: ManagedFile) => aFile.push({ op: "file.write", ...d, previous: null }),
    (o: ManagedFile) => fileDel.push({ op: "file.remove", path: o.path, previous: fileBody(o) }),
    (d, o) => {
      if (!sameFile(d, o)) aFile.push({ op: "file.write", ...d, previous: fileBody(o) });
    },
  );
  pushAll(dFile, fileDel.reverse());

  // ---- services --------------------------------------------------------------------------
  const svcDel: Op[] = [];
  const stop = (o: Service) =>
    svcDel.push({
      op: "service.stop",
      service: o.name,
      configHash: o.configHash,
      configPaths: o.configPaths,
    });
  const start = (d: Service) =>
    aService.push({
      op: "service.start",
      service: d.name,
      configHash: d.configHash,
      configPaths: d.configPaths,
    });
  mergeJoin(
    desired.services,
    observed.services,
    ORDER.services,
    (d: Service) => {
      if (d.running) start(d);
    },
    (o: Service) => {
      if (o.running) stop(o);
    },
    (d, o) => {
      if (!d.running) {
        if (o.running) stop(o);
      } else if (!o.running) start(d);
      else if (d.configHash !== o.configHash) {
        aService.push({
          op: "service.reload",
          service: d.name,
          configHash: d.configHash,
          previousHash: o.configHash,
          configPaths: d.configPaths,
        });
      }
    },
  );
  pushAll(dService, svcDel.reverse());

  return ([] as Op[]).concat(...del, ...add);
}

/**
 * FDB merge-join (the hot path of a full mesh, ~N entries per host), kept small so that the
 * engine optimizes it on its own: appends to `adds`, and deletes (reverse order) to `dels`.
 */
function diffFdb(
  desFdb: readonly FdbEntry[],
  obsFdb: readonly FdbEntry[],
  gone: ReadonlySet<string>,
  adds: Op[],
  dels: Op[],
): void {
  if (obsFdb.length === 0) {
    for (let i = 0; i < desFdb.length; i++) adds.push(appendOpOf(desFdb[i] as FdbEntry));
    return;
  }
  const fdbDel: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < desFdb.length && j < obsFdb.length) {
    const x = desFdb[i] as FdbEntry;
    const y = obsFdb[j] as FdbEntry;
    const c = x === y ? 0 : ORDER.fdb(x, y);
    if (c < 0) {
      adds.push(appendOpOf(x));
      i++;
    } else if (c > 0) {
      fdbDel.push({ op: "fdb.del", dev: y.dev, mac: y.mac, dst: y.dst });
      j++;
    } else {
      if (gone.has(y.dev)) {
        fdbDel.push({ op: "fdb.del", dev: y.dev, mac: y.mac, dst: y.dst });
        adds.push(appendOpOf(x));
      }
      i++;
      j++;
    }
  }
  for (; i < desFdb.length; i++) adds.push(appendOpOf(desFdb[i] as FdbEntry));
  for (; j < obsFdb.length; j++) {
    const y = obsFdb[j] as FdbEntry;
    fdbDel.push({ op: "fdb.del", dev: y.dev, mac: y.mac, dst: y.dst });
  }
  pushAll(dels, fdbDel.reverse());
}

/**
 * The FDB entries whose device passes `keep`, testing each run of one device once (entries
 * are sorted by device). Returns `fdb` itself when every entry is kept.
 */
function ownedRuns(fdb: readonly FdbEntry[], keep: (dev: string) => boolean): readonly FdbEntry[] {
  const first = fdb[0];
  // One device (the common case): one test, no scan.
  if (first === undefined || first.dev === fdb[fdb.length - 1]?.dev) {
    return first === undefined || keep(first.dev) ? fdb : [];
  }
  let out: FdbEntry[] | undefined;
  let dev: string | undefined;
  let ok = true;
  for (let i = 0; i < fdb.length; i++) {
    const e = fdb[i] as FdbEntry;
    if (e.dev !== dev) {
      dev = e.dev;
      ok = keep(dev);
    }
    if (ok) out?.push(e);
    else if (!out) out = fdb.slice(0, i);
  }
  return out ?? fdb;
}

/** Append all of `src` to `target` (no spread: arrays may hold millions of ops). */
function pushAll<T>(target: T[], src: readonly T[]): void {
  for (let i = 0; i < src.length; i++) target.push(src[i] as T);
}

function nameOf(op: Op): { name: string } {
  return { name: (op as { name?: string }).name ?? "" };
}

function cmpName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
