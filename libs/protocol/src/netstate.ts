/**
 * The netstate schemas the protocol carries (desired/observed HostState, Op). Kept in one
 * place so the messages module does not care where they come from.
 */
import { z } from "zod";

/**
 * A host's desired or observed state (`@fleetnet/netstate` HostState). Placeholder until
 * netstate exports its schema: any JSON object.
 */
export const HostStateWireSchema = z.record(z.string(), z.unknown());
/** Wire type of a HostState. */
export type HostStateWire = z.infer<typeof HostStateWireSchema>;

/** One typed op (`@fleetnet/netstate` Op). Placeholder: an object with a string `op`. */
export const OpWireSchema = z.looseObject({ op: z.string().min(1) });
/** Wire type of an Op. */
export type OpWire = z.infer<typeof OpWireSchema>;
