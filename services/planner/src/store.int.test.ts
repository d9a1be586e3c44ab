import { randomBytes } from "node:crypto";
import { RolloutPolicySpecSchema } from "@fleetnet/intent";
import { isFleetnetError } from "@fleetnet/protocol";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { machineConfig, newRollout, reduce } from "./machine.js";
import { RolloutStore } from "./store.js";
import { planWaves } from "./waves.js";

const id = `r-store-${randomBytes(3).toString("hex")}`;
let redis: Redis;
let store: RolloutStore;

beforeAll(async () => {
  redis = new Redis("redis://127.0.0.1:6379", { lazyConnect: true });
  await redis.connect();
  store = new RolloutStore(redis);
});
afterAll(async () => {
  await store.remove(id);
  redis.disconnect();
});

describe("rollout store (real Redis)", () => {
  it("create, compare-and-set save, commands consumed exactly once", async () => {
    const policy = RolloutPolicySpecSchema.parse({});
    const hosts = [{ name: "a1", labels: {} }];
    const s0 = newRollout(id, planWaves(hosts, policy).waves, machineConfig(policy, 1), 0);
    await store.create(s0, "plan-x");
    await expect(store.create(s0, "plan-x")).rejects.toSatisfy((e) => isFleetnetError(e, "ROLLOUT_EXISTS"));
    expect(await store.list()).toContain(id);

    const c1 = await store.command(id, { type: "pause", at: 1, by: "u" });
    const c2 = await store.command(id, { type: "resume", at: 2 });
    expect(c2).toBe(c1 + 1);
    const loaded = await store.load(id);
    expect(loaded).toMatchObject({ rev: 1, cmdDone: 0, planHash: "plan-x" });
    expect(loaded.commands.map((c) => c.event.type)).toEqual(["pause", "resume"]);

    const s1 = reduce(loaded.state, { type: "start", at: 3 });
    const rev = await store.save(s1, loaded.rev, c1, loaded.cmdDone); // consumed the pause only
    expect(rev).toBe(2);
    const again = await store.load(id);
    expect(again.state.status).toBe("running");
    expect(again.commands.map((c) => c.seq)).toEqual([c2]);
    // a writer holding an old revision is refused and changes nothing
    await expect(store.save(s0, 1, c2)).rejects.toSatisfy((e) => isFleetnetError(e, "ROLLOUT_CONFLICT"));
    expect((await store.load(id)).state.status).toBe("running");
    await expect(store.command("r-missing-x", { type: "abort", at: 1 })).rejects.toSatisfy((e) =>
      isFleetnetError(e, "ROLLOUT_NOT_FOUND"),
    );
    await expect(store.getPlan("plan-missing-x")).rejects.toSatisfy((e) =>
      isFleetnetError(e, "PLAN_NOT_FOUND"),
    );
  });
});
