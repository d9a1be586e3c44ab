/**
 * Test helper: an in-memory stdout/stderr pair with the shape the command handlers take
 * (`{stdout(text), stderr(text)}`), so tests run a command in-process and read what it printed.
 */
export function captureOutput(): {
  out: string;
  err: string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
} {
  const o = {
    out: "",
    err: "",
    stdout: (text: string) => {
      o.out += text;
    },
    stderr: (text: string) => {
      o.err += text;
    },
  };
  return o;
}
