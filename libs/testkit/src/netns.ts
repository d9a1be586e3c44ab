/** Test helpers (netns): not built yet. */
export {};
