/**
 * Typed operations: what `diff` emits and an executor applies. Names are the contract of
 * INTENTS.md. Each op carries what an executor needs to build argv (never a shell string)
 * and, where undoing it needs more than the op itself, the previous value — so that
 * {@link invertOp} turns any op into the op that undoes it, and the revert plan of a
 * batch is `ops.reverse().map(invertOp)`.
 */
import { z } from "zod";
import type { Link, ManagedFile, Route } from "./model.js";
import {
  BridgeLinkSchema,
  ManagedFileSchema,
  RouteFields,
  RouteSchema,
  ServiceNameSchema,
  VethLinkSchema,
  VlanLinkSchema,
  VxlanLinkSchema,
} from "./model.js";

/** Every op name, in the order of INTENTS.md. */
export const OP_NAMES = [
  "link.add",
  "link.set",
  "link.del",
  "addr.add",
  "addr.del",
  "route.replace",
  "route.del",
  "fdb.append",
  "fdb.del",
  "sysctl.set",
  "file.write",
  "file.remove",
  "service.reload",
  "service.start",
  "service.stop",
] as const;
export type OpName = (typeof OP_NAMES)[number];

function linkOp<N extends "link.add" | "link.del">(op: N) {
  return z.discriminatedUnion("kind", [
    BridgeLinkSchema.extend({ op: z.literal(op) }),
    VxlanLinkSchema.extend({ op: z.literal(op) }),
    VlanLinkSchema.extend({ op: z.literal(op) }),
    VethLinkSchema.extend({ op: z.literal(op) }),
  ]);
}

/** `link.add`: create the link as given (all its fields), then set it up when `up`. */
export const LinkAddOpSchema = linkOp("link.add");
/** `link.del`: delete the link; carries the whole link as it was, for revert. */
export const LinkDelOpSchema = linkOp("link.del");

/**
 * Attributes `link.set` may change in place. `master: null` = `nomaster`,
 * `alias: null` = clear the alias.
 */
export const LinkChangesSchema = z.strictObject({
  mtu: z.number().int().min(68).max(65535).optional(),
  master: z.string().nullable().optional(),
  alias: z.string().nullable().optional(),
  up: z.boolean().optional(),
});
export type LinkChanges = z.infer<typeof LinkChangesSchema>;

/** `link.set`: change attributes of an existing link (`set`), `previous` has their old values. */
export const LinkSetOpSchema = z.strictObject({
  op: z.literal("link.set"),
  name: z.string(),
  set: LinkChangesSchema,
  previous: LinkChangesSchema,
});

const AddrOp = <N extends string>(op: N) =>
  z.strictObject({ op: z.literal(op), dev: z.string(), address: z.string() });
/** `addr.add`: `ip addr add ADDRESS dev DEV`. */
export const AddrAddOpSchema = AddrOp("addr.add");
/** `addr.del`: `ip addr del ADDRESS dev DEV`. */
export const AddrDelOpSchema = AddrOp("addr.del");

const RouteShape = RouteFields;
/** `route.replace`: install the route; `previous` = the route it replaces at the same key, if any. */
export const RouteReplaceOpSchema = z.strictObject({
  op: z.literal("route.replace"),
  ...RouteShape,
  previous: RouteSchema.optional(),
});
/** `route.del`: delete the route (all its fields, for revert). */
export const RouteDelOpSchema = z.strictObject({ op: z.literal("route.del"), ...RouteShape });

const FdbOp = <N extends string>(op: N) =>
  z.strictObject({ op: z.literal(op), dev: z.string(), mac: z.string(), dst: z.string() });
/** `fdb.append`: `bridge fdb append MAC dev DEV dst DST`. */
export const FdbAppendOpSchema = FdbOp("fdb.append");
/** `fdb.del`: `bridge fdb del MAC dev DEV dst DST`. */
export const FdbDelOpSchema = FdbOp("fdb.del");

/**
 * `sysctl.set`: write `value` to `key`. `previous` is the value before (null: the key was
 * not readable/absent). `ownership`: `acquire` = fleetnet starts owning the key (the executor
 * records `previous` as the original in its ledger), `keep` = it already owns it,
 * `release` = `value` is the original and fleetnet stops owning the key (the executor drops
 * it from its ledger). `value` is `null` only on `release` of a key whose original was
 * unreadable: nothing is written then.
 */
export const SysctlSetOpSchema = z.strictObject({
  op: z.literal("sysctl.set"),
  key: z.string(),
  value: z.string().nullable(),
  previous: z.string().nullable(),
  persist: z.boolean(),
  ownership: z.enum(["acquire", "keep", "release"]),
});

const FilePrevious = ManagedFileSchema.omit({ path: true });
/** `file.write`: write the file atomically (secrets resolved on the host); `previous` null = new file. */
export const FileWriteOpSchema = ManagedFileSchema.extend({
  op: z.literal("file.write"),
  previous: FilePrevious.nullable(),
});
/** `file.remove`: remove a file fleetnet wrote; `previous` is its content, for revert. */
export const FileRemoveOpSchema = z.strictObject({
  op: z.literal("file.remove"),
  path: z.string(),
  previous: FilePrevious,
});

/** `service.start`: start the daemon with its config files. */
export const ServiceStartOpSchema = z.strictObject({
  op: z.literal("service.start"),
  service: ServiceNameSchema,
  configHash: z.string(),
  configPaths: z.array(z.string()),
});
/** `service.stop`: stop the daemon (fields as it was running, for revert). */
export const ServiceStopOpSchema = z.strictObject({
  op: z.literal("service.stop"),
  service: ServiceNameSchema,
  configHash: z.string(),
  configPaths: z.array(z.string()),
});
/** `service.reload`: make the running daemon load its (new) config. */
export const ServiceReloadOpSchema = z.strictObject({
  op: z.literal("service.reload"),
  service: ServiceNameSchema,
  configHash: z.string(),
  previousHash: z.string(),
  configPaths: z.array(z.string()),
});

/**
 * Any op, discriminated on `op` (link.add/link.del further on `kind`). A discriminated union
 * picks the one schema an op's name selects (a plain union tried them in order: an
 * `fdb.append`, the bulk of a mesh's ops, was checked against seven schemas first).
 */
export const OpSchema = z.discriminatedUnion("op", [
  LinkAddOpSchema,
  LinkSetOpSchema,
  LinkDelOpSchema,
  AddrAddOpSchema,
  AddrDelOpSchema,
  RouteReplaceOpSchema,
  RouteDelOpSchema,
  FdbAppendOpSchema,
  FdbDelOpSchema,
  SysctlSetOpSchema,
  FileWriteOpSchema,
  FileRemoveOpSchema,
  ServiceReloadOpSchema,
  ServiceStartOpSchema,
  ServiceStopOpSchema,
]);

export type LinkAddOp = z.infer<typeof LinkAddOpSchema>;
export type LinkSetOp = z.infer<typeof LinkSetOpSchema>;
export type LinkDelOp = z.infer<typeof LinkDelOpSchema>;
export type AddrAddOp = z.infer<typeof AddrAddOpSchema>;
export type AddrDelOp = z.infer<typeof AddrDelOpSchema>;
export type RouteReplaceOp = z.infer<typeof RouteReplaceOpSchema>;
export type RouteDelOp = z.infer<typeof RouteDelOpSchema>;
export type FdbAppendOp = z.infer<typeof FdbAppendOpSchema>;
export type FdbDelOp = z.infer<typeof FdbDelOpSchema>;
export type SysctlSetOp = z.infer<typeof SysctlSetOpSchema>;
export type FileWriteOp = z.infer<typeof FileWriteOpSchema>;
export type FileRemoveOp = z.infer<typeof FileRemoveOpSchema>;
export type ServiceReloadOp = z.infer<typeof ServiceReloadOpSchema>;
export type ServiceStartOp = z.infer<typeof ServiceStartOpSchema>;
export type ServiceStopOp = z.infer<typeof ServiceStopOpSchema>;
/** One typed operation on one host. */
export type Op = z.infer<typeof OpSchema>;

/** The link an op `link.add`/`link.del` carries (without `op`). */
export function linkOfOp(op: LinkAddOp | LinkDelOp): Link {
  const { op: _op, ...link } = op;
  return link as Link;
}

/** The route a `route.replace`/`route.del` op carries (without `op`/`previous`). */
export function routeOfOp(op: RouteReplaceOp | RouteDelOp): Route {
  const r: Route = { destination: op.destination, table: op.table, protocol: op.protocol };
  if (op.gateway !== undefined) r.gateway = op.gateway;
  if (op.dev !== undefined) r.dev = op.dev;
  if (op.nexthops !== undefined) r.nexthops = op.nexthops.map((n) => ({ ...n }));
  return r;
}

/** The file a `file.write` op carries. */
export function fileOfOp(op: FileWriteOp): ManagedFile {
  const f: ManagedFile = { path: op.path, content: op.content, mode: op.mode };
  if (op.secrets !== undefined) f.secrets = op.secrets;
  return f;
}

/**
 * The op that undoes `op` (given that `op` was applied to the state it was computed from).
 * `invertOp(invertOp(x))` equals `x`.
 */
export function invertOp(op: Op): Op {
  switch (op.op) {
    case "link.add":
      return { ...op, op: "link.del" } as LinkDelOp;
    case "link.del":
      return { ...op, op: "link.add" } as LinkAddOp;
    case "link.set":
      return { op: "link.set", name: op.name, set: op.previous, previous: op.set };
    case "addr.add":
      return { op: "addr.del", dev: op.dev, address: op.address };
    case "addr.del":
      return { op: "addr.add", dev: op.dev, address: op.address };
    case "route.replace": {
      if (op.previous === undefined) return { op: "route.del", ...routeOfOp(op) };
      return { op: "route.replace", ...op.previous, previous: routeOfOp(op) };
    }
    case "route.del":
      return { op: "route.replace", ...routeOfOp(op) };
    case "fdb.append":
      return { op: "fdb.del", dev: op.dev, mac: op.mac, dst: op.dst };
    case "fdb.del":
      return { op: "fdb.append", dev: op.dev, mac: op.mac, dst: op.dst };
    case "sysctl.set":
      return {
        op: "sysctl.set",
        key: op.key,
        value: op.previous,
        previous: op.value,
        persist: op.persist,
        ownership: op.ownership === "acquire" ? "release" : op.ownership === "release" ? "acquire" : "keep",
      };
    case "file.write": {
      if (op.previous === null) return { op: "file.remove", path: op.path, previous: withoutPath(op) };
      return { op: "file.write", path: op.path, ...op.previous, previous: withoutPath(op) };
    }
    case "file.remove":
      return { op: "file.write", path: op.path, ...op.previous, previous: null };
    case "service.start":
      return { ...op, op: "service.stop" };
    case "service.stop":
      return { ...op, op: "service.start" };
    case "service.reload":
      return { ...op, configHash: op.previousHash, previousHash: op.configHash };
  }
}

function withoutPath(op: FileWriteOp): Omit<ManagedFile, "path"> {
  const f: Omit<ManagedFile, "path"> = { content: op.content, mode: op.mode };
  if (op.secrets !== undefined) f.secrets = op.secrets;
  return f;
}

/** Validate ops at an edge (e.g. a job received over NATS). */
export const OpListSchema = z.array(OpSchema);
