/**
 * The netstate schemas the protocol carries, re-exported under wire names so the
 * messages module does not care where they come from: a job carries a desired
 * `HostState`, a state report an observed one, a result the `Op`s that ran.
 */
import { HostStateSchema, OpSchema } from "@fleetnet/netstate";

/** A host's desired or observed state (`@fleetnet/netstate` HostStateSchema). */
export const HostStateWireSchema = HostStateSchema;
/** One typed op (`@fleetnet/netstate` OpSchema). */
export const OpWireSchema = OpSchema;
