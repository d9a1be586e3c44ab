/**
 * Secrets in rendered files, without secrets in plans.
 *
 * How it works:
 * 1. `compile` renders a placeholder `@@fleetnet-secret:<id>@@` where a secret goes (e.g.
 *    keepalived `auth_pass`) and records the reference in the file's `secrets` map:
 *    `{ "<id>": {fromEnv: "VAR"} | {fromFile: "/path"} }`. Plans, hashes, logs and events
 *    only ever contain the placeholder and the reference.
 * 2. The executor, ON THE HOST, resolves each reference (`process.env[VAR]` of the executor,
 *    or the file's content without the trailing newline) and calls {@link resolveSecrets}
 *    just before writing the file (mode 0600).
 * 3. When the executor observes the file again it calls {@link maskSecrets} with the same
 *    resolved values, so the observed content equals the desired content and `diff` stays
 *    empty; a rotated secret is applied by re-running the plan (the executor compares).
 */
import { NetstateError } from "./errors.js";

const PREFIX = "@@fleetnet-secret:";
const SUFFIX = "@@";
const PLACEHOLDER_RE = /@@fleetnet-secret:([a-z0-9][a-z0-9_.-]*)@@/g;

/** The placeholder text for secret `id`. */
export function secretPlaceholder(id: string): string {
  return `${PREFIX}${id}${SUFFIX}`;
}

/** Secret ids referenced by placeholders in `content`, in order of first appearance. */
export function secretIds(content: string): string[] {
  return [...new Set([...content.matchAll(PLACEHOLDER_RE)].map((m) => m[1] as string))];
}

/**
 * Replace every placeholder with its resolved value. Throws COMPILE_UNRESOLVED when a
 * placeholder has no value, or a value contains a line break (it would inject config).
 */
export function resolveSecrets(content: string, values: Readonly<Record<string, string>>): string {
  return content.replace(PLACEHOLDER_RE, (_m, id: string) => {
    const v = Object.hasOwn(values, id) ? values[id] : undefined;
    if (v === undefined) {
      throw new NetstateError("COMPILE_UNRESOLVED", `secret ${id} has no value on this host`, { id });
    }
    if (/[\r\n\0]/.test(v)) {
      throw new NetstateError("COMPILE_UNRESOLVED", `secret ${id} contains a line break or NUL`, { id });
    }
    return v;
  });
}

/**
 * Inverse of {@link resolveSecrets} for observation: put the placeholders back where the
 * resolved values appear on the lines the desired content has placeholders on.
 */
export function maskSecrets(
  observed: string,
  desiredTemplate: string,
  values: Readonly<Record<string, string>>,
): string {
  const want = desiredTemplate.split("\n");
  const have = observed.split("\n");
  if (want.length !== have.length) return observed;
  return have
    .map((line, i) => {
      const tpl = want[i] as string;
      if (!tpl.includes(PREFIX)) return line;
      return resolveSecretsSafe(tpl, values) === line ? tpl : line;
    })
    .join("\n");
}

function resolveSecretsSafe(tpl: string, values: Readonly<Record<string, string>>): string | undefined {
  try {
    return resolveSecrets(tpl, values);
  } catch {
    return undefined;
  }
}
