/**
 * The README cannot rot: every fenced block of README.md whose info string is `sh tour` is run
 * here, in document order. Covered: the five-minute tour (lab up → validate → up → plan →
 * apply → status → health → down → lab down) and the `nats-config` block of "Running against
 * real hosts". Not run here: the two setup commands (`npm run demo`, `npm test` — CI runs
 * them) and the developer commands of "Working on fleetnet" (`pnpm build`, `pnpm test:*`,
 * `pnpm lint`, which CI runs anyway).
 *
 * In a block, a line `$ CMD` is a command and the lines after it (up to the next `$`) are its
 * expected output; `…` marks lines left out. Each command is split into argv by a tiny
 * splitter (plain words and '…'/"…" quotes only — no shell; anything else is refused) and
 * spawned; `fleetnet` is the built CLI (`node cli/dist/bin.js`), `export K=V` sets the
 * environment of later commands. Each must exit 0 and print every expected line (on stdout
 * or stderr, any order), compared after normalising what legitimately differs between runs:
 * numbers (pids, times, addresses, counts of time), rollout ids and plan hashes.
 *
 * The stack is private: NATS + Redis from @fleetnet/testkit, `/tmp/tour` mapped to a temp
 * dir (so FLEETNET_STATE_DIR is private), and `lab up` gets its own prefix (`fnr<pid>-`) and
 * a free subnet so parallel labs do not collide. afterAll runs `fleetnet down` and
 * `fleetnet lab down` again (idempotent) and removes whatever is left of our prefix.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildProjects, type PrivateServer, startNatsServer, startRedisServer } from "@fleetnet/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..");
const CLI = join(ROOT, "cli", "dist", "bin.js");
const README_TMP = "/tmp/tour";
const PREFIX = `fnr${process.pid % 100000}-`;

interface Step {
  line: string;
  argv: string[];
  expected: string[];
}

/** Split a command line into argv: plain words and quoted strings only, no shell syntax. */
function splitArgv(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated quote in: ${line}`);
      cur += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === " " || c === "\t") {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else if ("$|;&<>`()\\*?".includes(c)) {
      throw new Error(`shell syntax (${c}) is not supported in a README command: ${line}`);
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** The `$` steps of README.md's `sh tour` blocks, in order. */
function readmeSteps(): Step[] {
  const text = readFileSync(join(ROOT, "README.md"), "utf8");
  const steps: Step[] = [];
  const fence = /^```sh tour\n([\s\S]*?)^```$/gm;
  for (const m of text.matchAll(fence)) {
    for (const raw of (m[1] as string).split("\n")) {
      if (raw.startsWith("$ ")) {
        const line = raw.slice(2).trim();
        steps.push({ line, argv: splitArgv(line), expected: [] });
      } else if (raw.trim() !== "" && raw.trim() !== "…") {
        const last = steps.at(-1);
        if (!last) throw new Error(`README: output before any command in a sh tour block: ${raw}`);
        last.expected.push(raw);
      }
    }
  }
  return steps;
}

/** What legitimately differs between runs becomes a fixed token. */
function norm(s: string): string {
  return s
    .replace(/r-[a-z0-9]+-[0-9a-f]+/g, "r-ID")
    .replace(/sha256[:-][0-9a-f]+/g, "sha256:H")
    .replace(/\d+(\.\d+)?(ms|s)\b/g, "T")
    .replace(/\d+/g, "0")
    .replace(/[ \t]+/g, " ")
    .trim();
}

function freeSubnet(): string {
  const routes = spawnSync("ip", ["-o", "route", "show", "table", "all"], { encoding: "utf8" }).stdout;
  const addrs = spawnSync("ip", ["-o", "addr"], { encoding: "utf8" }).stdout;
  for (let i = 0; i < 200; i++) {
    const x = 20 + ((process.pid + i * 7) % 200);
    if (!routes.includes(`10.252.${x}.`) && !addrs.includes(`10.252.${x}.`)) return `10.252.${x}.0/24`;
  }
  throw new Error("no free 10.252.X.0/24");
}

let nats: PrivateServer | undefined;
let redis: PrivateServer | undefined;
let dir = "";
let env: NodeJS.ProcessEnv = {};
const subnet = freeSubnet();
const steps = readmeSteps();

interface Run {
  code: number | null;
  out: string;
}

function run(argv: string[], timeoutMs = 60_000): Promise<Run> {
  const [cmd, ...args] = argv as [string, ...string[]];
  const file = cmd === "fleetnet" ? process.execPath : cmd;
  const full = cmd === "fleetnet" ? [CLI, ...args] : args;
  return new Promise((res, rej) => {
    const c = spawn(file, full, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    c.stdout.on("data", (b: Buffer) => {
      out += b;
    });
    c.stderr.on("data", (b: Buffer) => {
      out += b;
    });
    const t = setTimeout(() => c.kill("SIGKILL"), timeoutMs);
    c.once("error", rej);
    c.once("exit", (code) => {
      clearTimeout(t);
      res({ code, out });
    });
  });
}

/** README argv → the argv this test runs: private paths, and our own lab prefix/subnet. */
function localise(argv: string[]): string[] {
  const a = argv.map((w) => w.split(README_TMP).join(dir));
  if (a[0] === "fleetnet" && a[1] === "lab" && a[2] === "up") a.push("--prefix", PREFIX, "--subnet", subnet);
  return a;
}

beforeAll(async () => {
  await buildProjects(["cli", "services/planner", "services/executor", "services/telemetry"]);
  dir = mkdtempSync(join(tmpdir(), "fnr-readme-"));
  nats = await startNatsServer();
  redis = await startRedisServer();
  env = { ...process.env, NATS_URL: nats.url, REDIS_URL: redis.url, NO_COLOR: "1" };
  delete env.FLEETNET_STATE_DIR;
}, 180_000);

afterAll(async () => {
  try {
    if (dir && env.FLEETNET_STATE_DIR) {
      await run(["fleetnet", "down"]);
      await run(["fleetnet", "lab", "down"]);
    }
    // whatever a failed run left behind under our prefix
    const ns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    for (const l of ns.split("\n")) {
      const name = l.split(" ")[0] ?? "";
      if (name.startsWith(PREFIX)) spawnSync("ip", ["netns", "del", name]);
    }
    spawnSync("ip", ["link", "del", `${PREFIX}mgmt`], { stdio: "ignore" });
  } finally {
    await nats?.[Symbol.asyncDispose]();
    await redis?.[Symbol.asyncDispose]();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

describe("README.md: every `sh tour` command runs and prints what the README shows", () => {
  it("the README has the tour (validate → plan → apply → status → health) and nats-config", () => {
    const cmds = steps.map((s) => s.argv.slice(0, 3).join(" "));
    for (const c of ["validate", "plan", "apply", "status", "health", "nats-config"])
      expect(
        cmds.some((x) => x.startsWith(`fleetnet ${c}`)),
        c,
      ).toBe(true);
    expect(cmds.indexOf("fleetnet validate -f")).toBeLessThan(cmds.indexOf("fleetnet plan -f"));
  });

  it("the splitter takes plain words and quotes and refuses shell syntax", () => {
    expect(splitArgv(`a 'b c' "d"e  f`)).toEqual(["a", "b c", "de", "f"]);
    expect(() => splitArgv("a | b")).toThrow(/shell syntax/);
    expect(() => splitArgv("a > f")).toThrow(/shell syntax/);
    expect(() => splitArgv("echo 'x")).toThrow(/unterminated/);
  });

  for (const step of steps) {
    it(`$ ${step.line}`, async () => {
      if (step.argv[0] === "export") {
        for (const kv of step.argv.slice(1)) {
          const eq = kv.indexOf("=");
          expect(eq, kv).toBeGreaterThan(0);
          env[kv.slice(0, eq)] = kv
            .slice(eq + 1)
            .split(README_TMP)
            .join(dir);
        }
        return;
      }
      const r = await run(localise(step.argv));
      const out = r.out.split(dir).join(README_TMP).split(PREFIX).join("fn-");
      expect(r.code, out).toBe(0);
      const got = new Set(out.split("\n").map(norm));
      for (const line of step.expected) expect(got.has(norm(line)), `${line}\n--- got:\n${out}`).toBe(true);
    }, 90_000);
  }
});
