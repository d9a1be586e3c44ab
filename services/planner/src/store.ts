/**
 * Rollout persistence in Redis.
 *
 * Design: one hash per rollout (`redisKeys.rollout(id)`) holds the whole machine state as
 * JSON (`state`), its revision (`rev`), `status`, and the operator's control commands
 * (`cmd:<seq>`, numbered by `cmdSeq`, consumed up to `cmdDone`). Saving is a compare-and-set
 * on `rev` in one Lua script, so two planners that both believe they drive a rollout
 * cannot interleave writes: the stale one gets `ROLLOUT_CONFLICT` and stops. Commands are
 * marked consumed in the same script that saves the state they produced, so a planner
 * killed between reading a command and saving never loses or doubles it. The jobs a
 * rollout has published are recorded in `redisKeys.rolloutJobs(id)` (jobId → host) after
 * each publish, so a resumed planner skips them. The desired state per host lives with the
 * plan (`redisKeys.plan(hash)`).
 */
import type { HostState } from "@fleetnet/netstate";
import { FleetnetError, redisKeys } from "@fleetnet/protocol";
import type { Redis } from "ioredis";
import type { RolloutEvent, RolloutState } from "./machine.js";

/** Error codes of the rollout store. */
export const StoreErrorCodes = {
  /** Another writer saved this rollout since it was loaded. Not retryable by the same writer. */
  ROLLOUT_CONFLICT: "ROLLOUT_CONFLICT",
  /** No rollout with that id. */
  ROLLOUT_NOT_FOUND: "ROLLOUT_NOT_FOUND",
  /** A rollout with that id exists already. */
  ROLLOUT_EXISTS: "ROLLOUT_EXISTS",
  /** The plan a rollout refers to is not stored. */
  PLAN_NOT_FOUND: "PLAN_NOT_FOUND",
} as const;

/** A loaded rollout: its state, revision and the commands not yet consumed. */
export interface StoredRollout {
  state: RolloutState;
  rev: number;
  /** Control commands after `cmdDone`, in order. */
  commands: { seq: number; event: ControlEvent }[];
  cmdDone: number;
}

/** An operator command, queued for the rollout's runner. */
export type ControlEvent = Extract<RolloutEvent, { type: "pause" | "resume" | "abort" | "rollback" }>;

const SAVE = `
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'status', ARGV[3], 'rev', tonumber(ARGV[1]) + 1, 'cmdDone', ARGV[4])
for seq = tonumber(ARGV[5]), tonumber(ARGV[4]) do redis.call('HDEL', KEYS[1], 'cmd:' .. seq) end
return 1
`;

const COMMAND = `
if redis.call('HEXISTS', KEYS[1], 'rev') == 0 then return 0 end
local seq = redis.call('HINCRBY', KEYS[1], 'cmdSeq', 1)
redis.call('HSET', KEYS[1], 'cmd:' .. seq, ARGV[1])
return seq
`;

/** Rollout records in Redis. */
export class RolloutStore {
  constructor(private readonly redis: Redis) {}

  /** Store a plan's desired state per host under its hash (idempotent). */
  async putPlan(planHash: string, desired: Record<string, HostState>): Promise<void> {
    await this.redis.set(redisKeys.plan(planHash), JSON.stringify({ desired }));
  }

  /** The desired state of every host of a plan. */
  async getPlan(planHash: string): Promise<Record<string, HostState>> {
    const raw = await this.redis.get(redisKeys.plan(planHash));
    if (raw === null)
      throw new FleetnetError(StoreErrorCodes.PLAN_NOT_FOUND, `plan ${planHash} is not stored`, {
        details: { planHash },
      });
    return (JSON.parse(raw) as { desired: Record<string, HostState> }).desired;
  }

  /**
   * Create a rollout record (revision 1).
   * @throws FleetnetError `ROLLOUT_EXISTS` when the id is taken.
   */
  async create(state: RolloutState, planHash: string): Promise<void> {
    const key = redisKeys.rollout(state.id);
    const ok = await this.redis.hsetnx(key, "rev", "1");
    if (ok === 0)
      throw new FleetnetError(StoreErrorCodes.ROLLOUT_EXISTS, `rollout ${state.id} exists already`, {
        details: { rolloutId: state.id },
      });
    await this.redis
      .multi()
      .hset(key, {
        state: JSON.stringify(state),
        status: state.status,
        planHash,
        cmdSeq: "0",
        cmdDone: "0",
      })
      .zadd(redisKeys.rolloutIndex(), state.createdAt, state.id)
      .exec();
  }

  /**
   * Load a rollout with its pending commands.
   * @throws FleetnetError `ROLLOUT_NOT_FOUND`.
   */
  async load(id: string): Promise<StoredRollout & { planHash: string }> {
    const h = await this.redis.hgetall(redisKeys.rollout(id));
    if (!h.state || !h.rev)
      throw new FleetnetError(StoreErrorCodes.ROLLOUT_NOT_FOUND, `no rollout ${id}`, {
        details: { rolloutId: id },
      });
    const cmdDone = Number(h.cmdDone ?? 0);
    const commands = Object.entries(h)
      .filter(([k]) => k.startsWith("cmd:"))
      .map(([k, v]) => ({ seq: Number(k.slice(4)), event: JSON.parse(v) as ControlEvent }))
      .filter((c) => c.seq > cmdDone)
      .sort((a, b) => a.seq - b.seq);
    return {
      state: JSON.parse(h.state) as RolloutState,
      rev: Number(h.rev),
      commands,
      cmdDone,
      planHash: h.planHash ?? "",
    };
  }

  /**
   * Save `state` if the record is still at `rev`, marking commands up to `cmdDone` consumed.
   * Returns the new revision.
   * @throws FleetnetError `ROLLOUT_CONFLICT` when someone else saved in between.
   */
  async save(state: RolloutState, rev: number, cmdDone: number, prevCmdDone = cmdDone): Promise<number> {
    const ok = await this.redis.eval(
      SAVE,
      1,
      redisKeys.rollout(state.id),
      String(rev),
      JSON.stringify(state),
      state.status,
      String(cmdDone),
      String(prevCmdDone + 1),
    );
    if (ok !== 1)
      throw new FleetnetError(
        StoreErrorCodes.ROLLOUT_CONFLICT,
        `rollout ${state.id} was saved by another planner since revision ${rev}`,
        { details: { rolloutId: state.id, rev } },
      );
    return rev + 1;
  }

  /** Queue an operator command for the rollout's runner; returns its sequence number. */
  async command(id: string, event: ControlEvent): Promise<number> {
    const seq = (await this.redis.eval(COMMAND, 1, redisKeys.rollout(id), JSON.stringify(event))) as number;
    if (seq === 0)
      throw new FleetnetError(StoreErrorCodes.ROLLOUT_NOT_FOUND, `no rollout ${id}`, {
        details: { rolloutId: id },
      });
    return seq;
  }

  /** Whether job `jobId` of rollout `id` was published already. */
  async wasSent(id: string, jobId: string): Promise<boolean> {
    return (await this.redis.hexists(redisKeys.rolloutJobs(id), jobId)) === 1;
  }

  /** Record that job `jobId` (for `host`) was published. */
  async markSent(id: string, jobId: string, host: string): Promise<void> {
    await this.redis.hset(redisKeys.rolloutJobs(id), jobId, host);
  }

  /** Every job a rollout published: jobId → host. */
  async sentJobs(id: string): Promise<Record<string, string>> {
    return this.redis.hgetall(redisKeys.rolloutJobs(id));
  }

  /** Rollout ids, oldest first. */
  async list(): Promise<string[]> {
    return this.redis.zrange(redisKeys.rolloutIndex(), "0", "-1");
  }

  /** Remove a rollout's records (tests, retention). */
  async remove(id: string): Promise<void> {
    await this.redis
      .multi()
      .del(redisKeys.rollout(id), redisKeys.rolloutJobs(id))
      .zrem(redisKeys.rolloutIndex(), id)
      .exec();
  }
}
