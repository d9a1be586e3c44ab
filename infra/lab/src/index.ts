/**
 * Public API of @fleetnet/lab: a lab fleet of hosts as network namespaces (fabric bridge,
 * management veth, optional sshd and softflowd per host), built from a host count or an
 * Inventory, recorded in a state file so `down` removes exactly what `up` created.
 */
export * from "./daemons.js";
export * from "./errors.js";
export * from "./exec.js";
export * from "./inventory.js";
export * from "./lab.js";
export * from "./probe.js";
export * from "./state.js";
export * from "./topology.js";
