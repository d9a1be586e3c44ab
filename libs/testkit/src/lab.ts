/** Test helpers (lab): not built yet. */
export {};
