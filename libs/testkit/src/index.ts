/** Public API of @fleetnet/testkit: helpers for integration and netns tests. */
export * from "./build.js";
export * from "./fixtures.js";
export * from "./lab.js";
export * from "./netns.js";
export * from "./services.js";
export * from "./wait.js";
