/**
 * Quoting for the one place a command line must be a string: SSH `exec` hands one
 * string to the remote user's POSIX shell. Every argument is wrapped in single quotes
 * (inside which the shell interprets nothing), with embedded `'` written as `'\''`.
 * NUL cannot be passed at all; newlines are refused so that one argv element can never
 * become two shell lines (nothing fleetnet sends legitimately contains one).
 */
import { ExecutorError } from "./errors.js";

/** Quote one argument for a POSIX shell. Throws `UNSAFE_ARGUMENT` for NUL or newlines. */
export function shQuote(arg: string): string {
  if (/[\0\n\r]/.test(arg)) {
    throw new ExecutorError(
      "UNSAFE_ARGUMENT",
      `argument ${JSON.stringify(arg)} contains NUL or a line break`,
    );
  }
  if (arg !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Quote an argv for a POSIX shell: the result runs exactly that argv. */
export function shJoin(argv: readonly string[]): string {
  if (argv.length === 0) throw new ExecutorError("UNSAFE_ARGUMENT", "empty argv");
  return argv.map(shQuote).join(" ");
}
