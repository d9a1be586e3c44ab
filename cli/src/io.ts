/** Shared output conventions for every command. */

/** Exit status: success, or valid input. */
export const EXIT_OK = 0;
/** Exit status: invalid input, or the operation failed. */
export const EXIT_FAILED = 1;
/** Exit status: usage or I/O error. */
export const EXIT_USAGE = 2;

/** A usage or I/O problem: the CLI prints the message and exits with {@link EXIT_USAGE}. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Print one value as JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** ANSI colours, only when stdout is a TTY and NO_COLOR is unset. */
export const colour = (() => {
  const on = process.stdout.isTTY === true && !process.env.NO_COLOR;
  const wrap = (code: number) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
  return { green: wrap(32), red: wrap(31), yellow: wrap(33), dim: wrap(2), bold: wrap(1) };
})();
