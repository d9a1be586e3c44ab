/**
 * Host locks: one rollout per host at a time.
 *
 * Design: each host's lock is a Redis string `<rolloutId>:<token>` with a lease (PX TTL).
 * A rollout takes the locks of all its hosts in one Lua script — all or nothing, so two
 * rollouts racing for overlapping hosts can never each hold half. Every acquisition draws
 * a fencing token from one monotonic counter (INCR); renew and release only act when the
 * stored value is exactly the caller's `<rolloutId>:<token>`, so a planner that lost its
 * lease (paused process, network split) cannot extend or drop a lock that a newer holder
 * took. Re-acquiring by the same rollout (a restarted planner resuming it) is allowed and
 * yields a newer token, which fences off the old process. All keys carry the `{locks}` hash
 * tag (libs/protocol), so the script stays in one slot on Redis Cluster too.
 */
import { FleetnetError, redisKeys } from "@fleetnet/protocol";
import type { Redis } from "ioredis";

/** Error codes of host locking. */
export const LockErrorCodes = {
  /** A host is held by another rollout (details: host, holder). Retryable once it finishes. */
  HOST_LOCKED: "HOST_LOCKED",
  /** The caller's lease on some hosts is gone (expired or taken over). Not retryable. */
  LOCK_LOST: "LOCK_LOST",
} as const;

/** A held set of host locks. */
export interface HostLease {
  rolloutId: string;
  /** Fencing token: larger than every token issued before it. */
  token: number;
  hosts: string[];
  ttlMs: number;
}

const ACQUIRE = `
local n = #KEYS - 1
local mine = ARGV[1]
for i = 1, n do
  local v = redis.call('GET', KEYS[i])
  if v then
    local holder = string.match(v, '^(.*):%d+$')
    if holder ~= mine then return {'LOCKED', i, v} end
  end
end
local token = redis.call('INCR', KEYS[#KEYS])
local value = mine .. ':' .. token
for i = 1, n do redis.call('SET', KEYS[i], value, 'PX', ARGV[2]) end
return {'OK', token}
`;

const RENEW = `
local lost = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then table.insert(lost, i) end
end
if #lost > 0 then return lost end
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return {}
`;

const RELEASE = `
local released = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    table.insert(released, i)
  end
end
return released
`;

function sortedUnique(hosts: readonly string[]): string[] {
  return [...new Set(hosts)].sort();
}

/**
 * Take the locks of every host for `rolloutId`, or none. Re-acquiring hosts the same
 * rollout already holds succeeds with a new token.
 * @throws FleetnetError `HOST_LOCKED` naming the first locked host and its holder's rollout id.
 */
export async function acquireHosts(
  redis: Redis,
  rolloutId: string,
  hosts: readonly string[],
  ttlMs: number,
): Promise<HostLease> {
  const names = sortedUnique(hosts);
  if (names.length === 0) throw new TypeError("acquireHosts: no hosts");
  const keys = [...names.map((h) => redisKeys.hostLock(h)), redisKeys.lockFence()];
  redisKeys.rollout(rolloutId); // validates the id (no ':' can reach the lock value)
  const res = (await redis.eval(ACQUIRE, keys.length, ...keys, rolloutId, String(ttlMs))) as [
    string,
    number,
    string?,
  ];
  if (res[0] === "LOCKED") {
    const host = names[res[1] - 1] as string;
    const holder = (res[2] ?? "").replace(/:\d+$/, "");
    throw new FleetnetError(
      LockErrorCodes.HOST_LOCKED,
      `host ${host} is locked by rollout ${holder}; one rollout per host at a time`,
      { retryable: true, details: { host, holder } },
    );
  }
  return { rolloutId, token: res[1], hosts: names, ttlMs };
}

/**
 * Extend the lease of every host in `lease` by its TTL.
 * @throws FleetnetError `LOCK_LOST` naming the hosts no longer held with this token (nothing is extended).
 */
export async function renewHosts(redis: Redis, lease: HostLease): Promise<void> {
  const keys = lease.hosts.map((h) => redisKeys.hostLock(h));
  const lost = (await redis.eval(
    RENEW,
    keys.length,
    ...keys,
    `${lease.rolloutId}:${lease.token}`,
    String(lease.ttlMs),
  )) as number[];
  if (lost.length > 0) {
    const hosts = lost.map((i) => lease.hosts[i - 1] as string);
    throw new FleetnetError(
      LockErrorCodes.LOCK_LOST,
      `rollout ${lease.rolloutId} lost its lock on ${hosts.join(", ")} (lease expired or taken over)`,
      { details: { hosts, rolloutId: lease.rolloutId, token: lease.token } },
    );
  }
}

/**
 * Release the hosts of `lease` (or only `hosts` of it) that are still held with its token;
 * a lock held by anyone else (or with another token) is left alone. Returns the released hosts.
 */
export async function releaseHosts(
  redis: Redis,
  lease: Pick<HostLease, "rolloutId" | "token" | "hosts">,
  hosts: readonly string[] = lease.hosts,
): Promise<string[]> {
  const names = sortedUnique(hosts);
  if (names.length === 0) return [];
  const keys = names.map((h) => redisKeys.hostLock(h));
  const released = (await redis.eval(
    RELEASE,
    keys.length,
    ...keys,
    `${lease.rolloutId}:${lease.token}`,
  )) as number[];
  return released.map((i) => names[i - 1] as string);
}

/** Who holds each host's lock now: host → `{rolloutId, token}` (unlocked hosts are absent). */
export async function lockHolders(
  redis: Redis,
  hosts: readonly string[],
): Promise<Record<string, { rolloutId: string; token: number }>> {
  const names = sortedUnique(hosts);
  if (names.length === 0) return {};
  const values = await redis.mget(...names.map((h) => redisKeys.hostLock(h)));
  const out: Record<string, { rolloutId: string; token: number }> = {};
  names.forEach((h, i) => {
    const m = /^(.*):(\d+)$/.exec(values[i] ?? "");
    if (m) out[h] = { rolloutId: m[1] as string, token: Number(m[2]) };
  });
  return out;
}
