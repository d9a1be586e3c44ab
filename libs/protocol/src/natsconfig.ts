/**
 * nats-server configuration with per-host permissions, generated from the inventory.
 *
 * Pure: host names (+ options and any existing keys) in → config text and user keys out.
 * The CLI (`fleetnet nats-config`) writes the files.
 *
 * Authentication is by nkey (Ed25519 challenge–response): the config lists only public
 * keys, so it is not a secret; each user's seed goes to its own 0600 file. Users live in
 * the top-level `authorization.users` of the global account, where `jetstream {}` is
 * enabled (nats-server 2.9.10 format).
 *
 * Permission model (everything not allowed is denied):
 * - host `<h>` (executor): publish only its pull-consumer requests
 *   (`$JS.API.CONSUMER.MSG.NEXT|INFO.FLEET_JOBS.exec-<h>`), its acks
 *   (`$JS.ACK.FLEET_JOBS.exec-<h>.>`), its events `fleet.v1.events.host.<h>.>`,
 *   `fleet.v1.heartbeat.<h>`, `fleet.v1.state.<h>`; subscribe only its own inbox
 *   `_INBOX_<h>.>` (client option `inboxPrefix`). It cannot subscribe to any job subject,
 *   so it reads jobs only through its consumer, and cannot read replies meant for others.
 * - planner: JetStream admin (`$JS.API.>`, `$JS.ACK.>`), publishes jobs and rollout/planner
 *   events, serves the API (`allow_responses`), reads all of `fleet.v1.>`; it may NOT
 *   publish as a host (host events, heartbeats, state are denied).
 * - telemetry: reads events/heartbeats/state, read-only JetStream on FLEET_EVENTS,
 *   publishes `fleet.v1.events.telemetry.>`.
 * - operator (the CLI): calls the planner API, watches events, reads FLEET_EVENTS.
 * - pool `<name>` (optional): one executor process for several hosts over one connection,
 *   with exactly the union of those hosts' rights and its own inbox `_INBOX_POOL_<name>`.
 * Service users use upper-case inbox prefixes (`_INBOX_PLANNER`…), which can never equal a
 * host's (host names are lower-case).
 */
import { z } from "zod";
import { FleetnetError, ProtocolErrorCodes } from "./errors.js";
import {
  assertHostName,
  EVENTS_STREAM,
  hostInboxPrefix,
  JOBS_STREAM,
  jobConsumerName,
  jsApi,
  SUBJECT_ROOT,
  subjects,
} from "./names.js";
import { generateUserNkey, isUserPublicKey, userNkeyFromSeed } from "./nkeys.js";

/** Roles of NATS users. */
export type NatsRole = "host" | "pool" | "planner" | "telemetry" | "operator";

/** Service roles (every role but `host`). */
export const SERVICE_ROLES = ["planner", "telemetry", "operator"] as const;

/** Inbox prefix of a service role's connections, e.g. `_INBOX_PLANNER`. */
export function serviceInboxPrefix(role: (typeof SERVICE_ROLES)[number]): string {
  return `_INBOX_${role.toUpperCase()}`;
}

/** User name (and credentials file stem) of an executor pool: `pool-<name>`. */
export function poolUserName(pool: string): string {
  return `pool-${assertHostName(pool)}`;
}

/**
 * Inbox prefix of an executor pool's connection: `_INBOX_POOL_<name>` (host names have no
 * `_`, service prefixes are all upper case, so it collides with neither).
 */
export function poolInboxPrefix(pool: string): string {
  return `_INBOX_POOL_${assertHostName(pool)}`;
}

/** User name (and credentials file stem) of a host: `host-<host>`. */
export function hostUserName(host: string): string {
  return `host-${assertHostName(host)}`;
}

/** Publish/subscribe permissions of one user. */
export interface NatsPermissions {
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[]; deny?: string[] };
  /** Lets the user reply to requests it received (`allow_responses`). */
  allowResponses?: boolean;
}

/** One generated NATS user. `seed` is secret; everything else may be shown. */
export interface NatsUser {
  /** `host-<h>`, `pool-<name>`, `planner`, `telemetry`, `operator`. */
  name: string;
  role: NatsRole;
  /** For role `host`. */
  host?: string;
  /** For role `pool`: the hosts it serves. */
  hosts?: string[];
  /** nkey public key (`U…`), in the config. */
  publicKey: string;
  /** nkey seed (`SU…`): secret, written to its own 0600 file. */
  seed: string;
  /** The client must connect with this `inboxPrefix`. */
  inboxPrefix: string;
  permissions: NatsPermissions;
}

/** Input of {@link generateNatsConfig}. */
export interface NatsConfigInput {
  /** Host names from the inventory (DNS labels, unique). */
  hosts: readonly string[];
  /** Name of the inventory (for the header comment). */
  inventoryName?: string;
  /** Listen address (default `127.0.0.1`). */
  listenHost?: string;
  /** Client port (default 4222). */
  port?: number;
  /** JetStream store directory (default `/var/lib/fleetnet/nats`). */
  storeDir?: string;
  /** Server name (default `fleetnet`). */
  serverName?: string;
  /** Seeds to keep, by user name: re-running the generator does not rotate them. */
  existingSeeds?: Readonly<Record<string, string>>;
  /**
   * Executor pools: one NATS user serving several hosts over one connection (e.g. the lab's
   * netns pool), with exactly the union of those hosts' rights. Name: a DNS label.
   */
  pools?: ReadonlyArray<{ name: string; hosts: readonly string[] }>;
  /**
   * Client TLS (recommended off loopback: nkey auth never sends a secret, but job payloads
   * describe the network). Absolute paths of PEM files; `caFile` + `verify` require client
   * certificates as well.
   */
  tls?: { certFile: string; keyFile: string; caFile?: string; verify?: boolean };
}

/** Output of {@link generateNatsConfig}. */
export interface NatsConfigOutput {
  /** nats-server config text (no secrets). */
  config: string;
  /** Every user: hosts in input order, then pools, then planner, telemetry, operator. */
  users: NatsUser[];
}

/** Permissions of a host's executor user. */
export function hostPermissions(host: string): NatsPermissions {
  const consumer = jobConsumerName(host);
  return {
    publish: {
      allow: [
        jsApi.consumerNext(JOBS_STREAM, consumer),
        jsApi.consumerInfo(JOBS_STREAM, consumer),
        jsApi.consumerAcks(JOBS_STREAM, consumer),
        subjects.hostEvents(host),
        subjects.heartbeat(host),
        subjects.state(host),
      ],
    },
    subscribe: { allow: [`${hostInboxPrefix(host)}.>`] },
  };
}

/**
 * Permissions of an executor pool serving `hosts`: the union of their host permissions,
 * with the pool's own inbox.
 */
export function poolPermissions(pool: string, hosts: readonly string[]): NatsPermissions {
  return {
    publish: { allow: hosts.flatMap((h) => hostPermissions(h).publish.allow) },
    subscribe: { allow: [`${poolInboxPrefix(pool)}.>`] },
  };
}

/** Read-only JetStream access to one stream (info, consumers, fetch, acks, get). */
function jsReadOnly(stream: string): string[] {
  return [
    "$JS.API.INFO",
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.CONSUMER.*.${stream}`,
    `$JS.API.CONSUMER.*.${stream}.>`,
    `$JS.API.CONSUMER.*.*.${stream}.>`,
    `$JS.ACK.${stream}.>`,
  ];
}

/** Permissions of a service role. */
export function servicePermissions(role: (typeof SERVICE_ROLES)[number]): NatsPermissions {
  const inbox = `${serviceInboxPrefix(role)}.>`;
  switch (role) {
    case "planner":
      return {
        publish: {
          allow: [`${SUBJECT_ROOT}.>`, "$JS.API.>", "$JS.ACK.>", "$SRV.>"],
          deny: [subjects.allHostEvents(), `${SUBJECT_ROOT}.heartbeat.>`, `${SUBJECT_ROOT}.state.>`],
        },
        subscribe: { allow: [`${SUBJECT_ROOT}.>`, inbox, "$SRV.>"] },
        allowResponses: true,
      };
    case "telemetry":
      return {
        publish: {
          allow: [
            `${SUBJECT_ROOT}.events.telemetry.>`,
            subjects.allTelemetryApi(),
            "$SRV.>",
            ...jsReadOnly(EVENTS_STREAM),
          ],
        },
        subscribe: {
          allow: [
            subjects.allEvents(),
            `${SUBJECT_ROOT}.heartbeat.>`,
            `${SUBJECT_ROOT}.state.>`,
            subjects.allTelemetryApi(),
            inbox,
            "$SRV.>",
          ],
        },
        allowResponses: true,
      };
    case "operator":
      return {
        publish: {
          allow: [subjects.allApi(), subjects.allTelemetryApi(), "$SRV.>", ...jsReadOnly(EVENTS_STREAM)],
        },
        subscribe: { allow: [subjects.allEvents(), inbox] },
      };
  }
}

function configError(message: string): FleetnetError {
  return new FleetnetError(ProtocolErrorCodes.NATS_CONFIG_INVALID, message);
}

/** A double-quoted config string; refuses characters that would need escaping. */
function q(value: string, what: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/["\\\u0000-\u001f\u007f]/.test(value)) {
    throw configError(
      `${what} ${JSON.stringify(value)} contains a character not allowed in the NATS config (", \\, control)`,
    );
  }
  return `"${value}"`;
}

function list(values: readonly string[], what: string, indent: string): string {
  return `[\n${values.map((v) => `${indent}  ${q(v, what)}`).join("\n")}\n${indent}]`;
}

function renderUser(u: NatsUser): string {
  const p = u.permissions;
  const i = "          ";
  const pub = [`allow: ${list(p.publish.allow, "subject", i)}`];
  if (p.publish.deny?.length) pub.push(`deny: ${list(p.publish.deny, "subject", i)}`);
  const sub = [`allow: ${list(p.subscribe.allow, "subject", i)}`];
  if (p.subscribe.deny?.length) sub.push(`deny: ${list(p.subscribe.deny, "subject", i)}`);
  const lines = [
    `    # ${u.name} (${u.role}); client inboxPrefix ${u.inboxPrefix}`,
    "    {",
    `      nkey: ${q(u.publicKey, "nkey")}`,
    "      permissions: {",
    `        publish: {\n          ${pub.join("\n          ")}\n        }`,
    `        subscribe: {\n          ${sub.join("\n          ")}\n        }`,
  ];
  if (p.allowResponses) lines.push("        allow_responses: true");
  lines.push("      }", "    }");
  return lines.join("\n");
}

/**
 * Generate the nats-server config and one nkey user per host plus planner, telemetry and
 * operator. Throws `NATS_CONFIG_INVALID` for no hosts, a duplicate host, a bad listen
 * address, port or store dir; `INVALID_NAME` for a host name that is not a DNS label;
 * `KEY_INVALID` for an unusable existing seed.
 */
export function generateNatsConfig(input: NatsConfigInput): NatsConfigOutput {
  if (input.hosts.length === 0) throw configError("the inventory has no hosts");
  const seen = new Set<string>();
  for (const h of input.hosts) {
    assertHostName(h);
    if (seen.has(h)) throw configError(`host ${h} appears twice in the inventory`);
    seen.add(h);
  }
  const port = input.port ?? 4222;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw configError(`port ${port} is not 1–65535`);
  const listenHost = input.listenHost ?? "127.0.0.1";
  if (!/^[A-Za-z0-9.:-]+$/.test(listenHost))
    throw configError(`listen address ${JSON.stringify(listenHost)} is not a host name or IP`);
  const storeDir = input.storeDir ?? "/var/lib/fleetnet/nats";
  if (!storeDir.startsWith("/"))
    throw configError(`store dir ${JSON.stringify(storeDir)} must be an absolute path`);
  const serverName = input.serverName ?? "fleetnet";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(serverName))
    throw configError(`server name ${JSON.stringify(serverName)} must be letters, digits, '_' or '-'`);

  const tlsLines: string[] = [];
  if (input.tls !== undefined) {
    const t = input.tls;
    for (const [what, path] of [
      ["TLS certificate", t.certFile],
      ["TLS key", t.keyFile],
      ...(t.caFile === undefined ? [] : [["TLS CA", t.caFile]]),
    ] as const) {
      if (!path.startsWith("/"))
        throw configError(`${what} ${JSON.stringify(path)} must be an absolute path`);
    }
    if (t.verify && t.caFile === undefined) throw configError("TLS client verification needs a CA file");
    tlsLines.push(
      "tls {",
      `  cert_file: ${q(t.certFile, "TLS certificate")}`,
      `  key_file: ${q(t.keyFile, "TLS key")}`,
      ...(t.caFile === undefined ? [] : [`  ca_file: ${q(t.caFile, "TLS CA")}`]),
      ...(t.verify ? ["  verify: true"] : []),
      "  timeout: 2",
      "}",
      "",
    );
  }

  const keyFor = (name: string) => {
    const existing = input.existingSeeds?.[name];
    if (existing === undefined) return generateUserNkey();
    try {
      return userNkeyFromSeed(existing);
    } catch (err) {
      throw new FleetnetError(
        ProtocolErrorCodes.KEY_INVALID,
        `existing seed of NATS user ${name}: ${(err as Error).message} (fix or delete it, or rotate)`,
        { cause: err },
      );
    }
  };
  const users: NatsUser[] = input.hosts.map((host) => {
    const name = hostUserName(host);
    return {
      name,
      role: "host",
      host,
      ...keyFor(name),
      inboxPrefix: hostInboxPrefix(host),
      permissions: hostPermissions(host),
    };
  });
  const poolNames = new Set<string>();
  for (const pool of input.pools ?? []) {
    const name = poolUserName(pool.name);
    if (poolNames.has(name)) throw configError(`pool ${pool.name} is defined twice`);
    poolNames.add(name);
    if (pool.hosts.length === 0) throw configError(`pool ${pool.name} serves no hosts`);
    const hosts = [...new Set(pool.hosts)];
    const unknown = hosts.filter((h) => !seen.has(h));
    if (unknown.length > 0) {
      throw configError(`pool ${pool.name} names host(s) not in the inventory: ${unknown.join(", ")}`);
    }
    users.push({
      name,
      role: "pool",
      hosts,
      ...keyFor(name),
      inboxPrefix: poolInboxPrefix(pool.name),
      permissions: poolPermissions(pool.name, hosts),
    });
  }
  for (const role of SERVICE_ROLES) {
    users.push({
      name: role,
      role,
      ...keyFor(role),
      inboxPrefix: serviceInboxPrefix(role),
      permissions: servicePermissions(role),
    });
  }
  for (const u of users) {
    if (!isUserPublicKey(u.publicKey)) throw configError(`internal: bad public key for ${u.name}`);
  }

  const header = [
    "# nats-server configuration for fleetnet (nats-server 2.9 format).",
    `# Generated by \`fleetnet nats-config\`${input.inventoryName ? ` from inventory ${input.inventoryName}` : ""}; re-run it instead of editing.`,
    "# Users authenticate with nkeys: this file holds only public keys, no secrets.",
    `# Streams ${JOBS_STREAM} and ${EVENTS_STREAM} are created by the planner user.`,
  ];
  const config = [
    ...header,
    "",
    `server_name: ${q(serverName, "server name")}`,
    `host: ${q(listenHost, "listen address")}`,
    `port: ${port}`,
    "max_payload: 8MB",
    "",
    ...tlsLines,
    "jetstream {",
    `  store_dir: ${q(storeDir, "store dir")}`,
    "}",
    "",
    "authorization {",
    "  users = [",
    users.map(renderUser).join("\n"),
    "  ]",
    "}",
    "",
  ].join("\n");
  return { config, users };
}

/** Suffix of a seed file: `<creds-dir>/<user>.nk`. */
export const SEED_FILE_SUFFIX = ".nk";

/** One entry of `<creds-dir>/users.json` (no secrets: the seed stays in `seedFile`). */
export const NatsUserManifestEntrySchema = z.strictObject({
  name: z.string().min(1),
  role: z.enum(["host", "pool", "planner", "telemetry", "operator"]),
  host: z.string().optional(),
  hosts: z.array(z.string()).optional(),
  publicKey: z.string().regex(/^U[A-Z2-7]{55}$/, "must be an nkey user public key"),
  inboxPrefix: z.string().regex(/^_INBOX_[A-Za-z0-9_-]+$/, "must be an _INBOX_<name> prefix"),
  seedFile: z.string().min(1),
});
/** `<creds-dir>/users.json`: how each NATS user connects (executor pools read it). */
export const NatsUsersManifestSchema = z.strictObject({ users: z.array(NatsUserManifestEntrySchema) });
/** Parsed `users.json`. */
export type NatsUsersManifest = z.infer<typeof NatsUsersManifestSchema>;

/** Path of a user's seed file in `credsDir`. */
export function seedFilePath(credsDir: string, userName: string): string {
  return `${credsDir.replace(/\/+$/, "")}/${userName}${SEED_FILE_SUFFIX}`;
}

/** The `users.json` manifest of generated users whose seeds live in `credsDir`. */
export function natsUsersManifest(users: readonly NatsUser[], credsDir: string): NatsUsersManifest {
  return {
    users: users.map((u) => ({
      name: u.name,
      role: u.role,
      ...(u.host === undefined ? {} : { host: u.host }),
      ...(u.hosts === undefined ? {} : { hosts: u.hosts }),
      publicKey: u.publicKey,
      inboxPrefix: u.inboxPrefix,
      seedFile: seedFilePath(credsDir, u.name),
    })),
  };
}
