/** Exit statuses of the executor's commands: 0 done, 1 failed, 2 usage. A module of its own so
 * the entry point can use them without loading the engine (bin.ts). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;
