import { FleetnetError } from "../errors.js";

/**
 * The `code` of the FleetnetError `fn` throws; `NOT_FLEETNET` when it throws something else,
 * undefined when it does not throw.
 */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof FleetnetError ? err.code : "NOT_FLEETNET";
  }
  return undefined;
}
