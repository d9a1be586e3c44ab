/** Test helpers (services): not built yet. */
export {};
