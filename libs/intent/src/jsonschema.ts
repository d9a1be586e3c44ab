/**
 * JSON Schema of the intent format, for editors (e.g. yaml-language-server's
 * `# yaml-language-server: $schema=...`). Generated from the zod schemas in input form, so
 * it describes what an author writes (defaults are shown, not required). Cross-document
 * rules (collisions, host references) cannot be expressed in JSON Schema; `fleetnet
 * validate` checks those.
 */
import { z } from "zod";
import { IntentDocumentSchema } from "./schema.js";

/** Stable `$id` of the exported schema. */
export const JSON_SCHEMA_ID = "https://fleetnet.dev/schemas/fleetnet-v1.json";

/** The JSON Schema (draft-07) of one fleetnet document of any kind. */
export function intentJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(IntentDocumentSchema, {
    io: "input",
    target: "draft-7",
    unrepresentable: "any",
  });
  return {
    ...schema,
    $id: JSON_SCHEMA_ID,
    title: "fleetnet intent document (apiVersion fleetnet/v1)",
    description:
      "One YAML document of a fleetnet intent file: Inventory, Bridge, Vlan, VxlanOverlay, BgpMultipath, EcmpRoute, KeepalivedPair, SysctlBaseline or RolloutPolicy.",
  };
}
