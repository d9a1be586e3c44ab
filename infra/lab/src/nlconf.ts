/**
 * Configure many host namespaces from ONE process.
 *
 * Why: `ip -n NS -batch` per host costs a process start plus iproute2's namespace switch, which
 * also remounts /sys in a private mount namespace; on a busy 2-core machine that is ~25 ms per
 * host and dominated `lab up` (5 s of 8 s at 200 hosts). Node cannot `setns(2)`, so a constant
 * Perl program (perl-base is Essential on Debian, so always present) enters each namespace with
 * `setns(CLONE_NEWNET)` only, opens a rtnetlink socket there and sends the requests itself:
 * link up, address add (`NLM_F_EXCL`, like `ip addr add`), permanent neighbours
 * (`NLM_F_REPLACE`, like `ip neigh replace`). All requests of a namespace are sent before the
 * acknowledgements are read; any error names the namespace and the request and stops.
 *
 * Input (stdin, one request per line, values already validated by the topology):
 *   ns NAME | up IFNAME | addr IFNAME A.B.C.D PREFIXLEN | neigh IFNAME A.B.C.D MAC
 * Output: `ok NAME` per finished namespace; on error `err MESSAGE` and exit status 1.
 */
import { spawn } from "node:child_process";
import { run } from "./exec.js";
import type { LabHost, LabTopology } from "./topology.js";
import { hostNeighbours } from "./topology.js";

const PROGRAM = String.raw`
use strict; use warnings;
my ($SYS_setns, $SYS_prctl, $parent) = @ARGV;
# Die with the caller: a killed "lab up" must not leave a helper still creating things that
# "lab down" would race with (PR_SET_PDEATHSIG = 1, SIGKILL = 9).
syscall($SYS_prctl, 1, 9, 0, 0, 0) == 0 or die "prctl: $!";
exit 1 if getppid() != $parent;
my ($nl, $seq, $ns, %idx, %what, %body, $pending, $out) = (undef, 0, undef);
$out = "";
$| = 1;
sub fail { print "err $_[0]\n"; exit 1; }
sub attr { my ($t, $d) = @_; my $l = 4 + length($d); return pack("S S", $l, $t) . $d . ("\0" x ((4 - $l % 4) % 4)); }
sub ip4 { return pack("C4", split(/\./, $_[0])); }
sub ifindex {
  my $n = shift; return $idx{$n} if $idx{$n};
  socket(my $s, 2, 2, 0) or fail("$ns: socket: $!");
  my $req = pack("a16 x24", $n);
  ioctl($s, 0x8933, $req) or fail("$ns: no interface $n: $!");
  close($s); return $idx{$n} = unpack("x16 i", $req);
}
sub req {
  my ($type, $flags, $body, $desc) = @_; $seq++;
  $out .= pack("L S S L L", 16 + length($body), $type, $flags | 5, $seq, 0) . $body;
  $what{$seq} = $desc; $pending++;
  flush() if length($out) > 32768;
}
sub flush { return if $out eq ""; send($nl, $out, 0) or fail("$ns: send: $!"); $out = ""; }
sub drain {
  flush();
  while ($pending > 0) {
    defined(recv($nl, my $buf, 1 << 16, 0)) or fail("$ns: recv: $!");
    while (length($buf) >= 16) {
      my ($len, $type, undef, $s) = unpack("L S S L", $buf);
      if ($type == 2) {
        my $e = unpack("x16 i", $buf);
        if ($e) { local $! = -$e; fail("$ns: $what{$s}: $!"); }
        $pending--;
      }
      substr($buf, 0, ($len + 3) & ~3) = "";
    }
  }
}
sub finish { return unless defined $ns; drain(); close($nl); print "ok $ns\n"; }
while (my $line = <STDIN>) {
  chomp $line; my @f = split(/ /, $line); next unless @f;
  if ($f[0] eq "ns") {
    finish();
    $ns = $f[1]; %idx = (); %what = (); $pending = 0;
    open(my $fh, "<", "/run/netns/$ns") or fail("$ns: $!");
    syscall($SYS_setns, fileno($fh), 0x40000000) == 0 or fail("$ns: setns: $!");
    close($fh);
    socket($nl, 16, 3, 0) or fail("$ns: netlink: $!");
    bind($nl, pack("S S L L", 16, 0, 0, 0)) or fail("$ns: bind: $!");
  } elsif ($f[0] eq "up") {
    req(16, 0, pack("C x S i L L", 0, 0, ifindex($f[1]), 1, 1), "link set $f[1] up");
  } elsif ($f[0] eq "addr") {
    req(20, 0x600, pack("C C C C L", 2, $f[3], 0, 0, ifindex($f[1])) . attr(2, ip4($f[2])) . attr(1, ip4($f[2])), "addr add $f[2]/$f[3] dev $f[1]");
  } elsif ($f[0] eq "neigh") {
    my $i = ifindex($f[1]);
    my $b = $body{"$i $f[2] $f[3]"} //= pack("C x x2 i S C C", 2, $i, 0x80, 0, 0) . attr(1, ip4($f[2])) . attr(2, join("", map { chr(hex($_)) } split(/:/, $f[3])));
    req(28, 0x500, $b, $line);
  } else { fail("bad request: $line"); }
  drain() if $pending >= 1024;
}
finish();
`;

/** prctl(2) syscall numbers by Node architecture name. */
const PRCTL: Partial<Record<NodeJS.Architecture, number>> = {
  x64: 157,
  arm64: 167,
  riscv64: 167,
  loong64: 167,
};

/** setns(2) syscall numbers by Node architecture name (others use the `ip` fallback). */
const SETNS: Partial<Record<NodeJS.Architecture, number>> = {
  x64: 308,
  arm64: 268,
  riscv64: 268,
  loong64: 268,
};

/** The request lines for one host (see the module header). */
export function hostRequests(t: LabTopology, h: LabHost): string[] {
  return [
    `ns ${h.namespace}`,
    "up lo",
    `addr ${h.iface} ${h.address} ${h.prefixLength}`,
    `up ${h.iface}`,
    ...hostNeighbours(t, h).map((n) => `neigh ${h.iface} ${n.address} ${n.mac}`),
  ];
}

/**
 * Configure `hosts` with one Perl process. Returns false (nothing done) when this path is not
 * available (no perl, unknown architecture), so the caller falls back to `ip -n NS -batch`;
 * throws on a kernel error.
 */
export async function configureHostsInOneProcess(
  t: LabTopology,
  hosts: readonly LabHost[],
): Promise<boolean> {
  const setns = SETNS[process.arch];
  const prctl = PRCTL[process.arch];
  if (setns === undefined || prctl === undefined || hosts.length === 0) return hosts.length === 0;
  const input = `${hosts.flatMap((h) => hostRequests(t, h)).join("\n")}\n`;
  let r: Awaited<ReturnType<typeof run>>;
  try {
    r = await run(["perl", "-e", PROGRAM, String(setns), String(prctl), String(process.pid)], {
      input,
      allowFailure: true,
      timeoutMs: 120_000,
    });
  } catch {
    return false; // perl could not start
  }
  const done = r.stdout.split("\n").filter((l) => l.startsWith("ok ")).length;
  if (r.code === 0 && done === hosts.length) return true;
  if (done === 0 && /setns: Operation not permitted|Can't locate/.test(r.stdout + r.stderr)) return false;
  const err = r.stdout.split("\n").find((l) => l.startsWith("err "));
  throw new Error(
    `configuring host namespaces failed: ${err ? err.slice(4) : `perl exited ${r.code}: ${r.stderr.trim()}`}`,
  );
}

/**
 * Constant Perl program that starts daemons in namespaces: per input line
 * `NS<TAB>ARGV0<TAB>ARGV1…` it enters NS (`setns` only — unlike `ip netns exec` it builds no
 * mount namespace, which is what makes 200 spawns slow), forks, and the child starts a new
 * session with stdio on /dev/null and execs argv. It prints `pid PID` once the exec succeeded
 * (a close-on-exec pipe reports exec failures as `err …`).
 */
const SPAWNER = String.raw`
use strict; use warnings; use POSIX ();
my ($SYS_setns, $SYS_prctl, $parent) = @ARGV;
# Die with the caller: a killed "lab up" must not leave a helper still creating things that
# "lab down" would race with (PR_SET_PDEATHSIG = 1, SIGKILL = 9).
syscall($SYS_prctl, 1, 9, 0, 0, 0) == 0 or die "prctl: $!";
exit 1 if getppid() != $parent;
$| = 1;
while (my $line = <STDIN>) {
  chomp $line; my ($ns, @argv) = split(/\t/, $line);
  next unless defined $ns && @argv;
  open(my $fh, "<", "/run/netns/$ns") or do { print "err $ns: $!\n"; exit 1; };
  syscall($SYS_setns, fileno($fh), 0x40000000) == 0 or do { print "err $ns: setns: $!\n"; exit 1; };
  close($fh);
  pipe(my $r, my $w) or do { print "err pipe: $!\n"; exit 1; };
  my $pid = fork();
  defined $pid or do { print "err fork: $!\n"; exit 1; };
  if ($pid == 0) {
    close($r); POSIX::setsid();
    open(STDIN, "<", "/dev/null"); open(STDOUT, ">", "/dev/null"); open(STDERR, ">", "/dev/null");
    exec { $argv[0] } @argv;
    print $w "$!"; close($w); POSIX::_exit(127);
  }
  close($w);
  my $err = do { local $/; <$r> }; close($r);
  if (defined $err && length $err) { waitpid($pid, 0); print "err $ns: exec $argv[0]: $err\n"; exit 1; }
  print "pid $pid\n";
}
`;

/**
 * Start one daemon per entry with one Perl process; `onPid` is called as each one runs.
 * Returns undefined (nothing started) when this path is not available, so the caller falls
 * back to `ip netns exec` per daemon; throws when a daemon could not be started.
 */
export function spawnDaemonsInOneProcess(
  list: readonly { ns: string; argv: readonly string[] }[],
  onPid?: (done: number) => void,
): Promise<number[] | undefined> {
  const setns = SETNS[process.arch];
  const prctl = PRCTL[process.arch];
  if (setns === undefined || prctl === undefined) return Promise.resolve(undefined);
  for (const e of list) {
    if ([e.ns, ...e.argv].some((a) => /[\t\n]/.test(a))) {
      return Promise.reject(new Error(`daemon argv must not contain tabs or newlines: ${e.argv.join(" ")}`));
    }
  }
  return new Promise((resolve, reject) => {
    const child = spawn("perl", ["-e", SPAWNER, String(setns), String(prctl), String(process.pid)], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    const pids: number[] = [];
    let buf = "";
    let stderr = "";
    let failure: string | undefined;
    child.on("error", () => resolve(undefined)); // no perl
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("pid ")) {
          pids.push(Number(line.slice(4)));
          onPid?.(pids.length);
        } else if (line.startsWith("err ")) failure = line.slice(4);
        nl = buf.indexOf("\n");
      }
    });
    child.on("close", (code) => {
      if (code === 0 && pids.length === list.length) resolve(pids);
      else if (pids.length === 0 && failure === undefined && /Can't locate/.test(stderr)) resolve(undefined);
      else {
        const err = new Error(
          `starting daemons failed after ${pids.length}/${list.length}: ${failure ?? stderr.trim()}`,
        );
        Object.assign(err, { pids });
        reject(err);
      }
    });
    child.stdin.on("error", () => {});
    child.stdin.end(list.map((e) => `${[e.ns, ...e.argv].join("\t")}\n`).join(""));
  });
}
