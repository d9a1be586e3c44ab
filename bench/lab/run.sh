#!/usr/bin/env bash
# bench/lab/run.sh [HOSTS] [EXTRA lab-up ARGS...]
#
# Times `fleetnet lab up --hosts N` and `fleetnet lab down` (wall clock, including Node start-up
# of the CLI; the library's own time for up is printed too), and the 1-minute load average
# before the run (the machine is shared: other work slows everything down). It checks that the lab was complete (status --json healthy, root reaches the first
# and last host) and that down left nothing: no namespace or link with the prefix, no process
# from the lab (PIDs recorded by up, checked after down), no state file.
# Runs as root. Uses a private state dir; prefix/subnet are the product defaults unless
# LAB_PREFIX / LAB_SUBNET are set.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-200}; shift || true
prefix=${LAB_PREFIX:-fn-}
subnet=${LAB_SUBNET:-10.250.0.0/16}
export FLEETNET_STATE_DIR
FLEETNET_STATE_DIR=$(mktemp -d /tmp/fleetnet-bench-lab.XXXXXX)
trap 'node cli/dist/bin.js lab down >/dev/null 2>&1 || true; rm -rf "$FLEETNET_STATE_DIR"' EXIT
[[ -f cli/dist/bin.js ]] || pnpm exec tsc -b cli
fleetnet() { node cli/dist/bin.js "$@"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

t=$(date +%s%N)
load=$(cut -d' ' -f1 /proc/loadavg)
upjson=$(fleetnet lab up --hosts "$n" --prefix "$prefix" --subnet "$subnet" --quiet --json "$@")
up_ms=$(ms "$t")
up_lib_ms=$(node -e 'console.log(JSON.parse(process.argv[1]).elapsedMs)' "$upjson")

status=$(fleetnet lab status --json)
node -e '
  const s = JSON.parse(process.argv[1]);
  if (!s.healthy) { console.error("lab not healthy", s.summary); process.exit(1); }
  const net = require("node:net");
  const hosts = [s.hosts[0], s.hosts[s.hosts.length - 1]].map((h) => h.address.split("/")[0]);
  Promise.all(hosts.map((h) => new Promise((ok) => {
    const c = net.connect({ host: h, port: 9 });
    c.on("error", (e) => ok(e.code === "ECONNREFUSED")); c.on("connect", () => ok(true));
    setTimeout(() => ok(false), 2000);
  }))).then((r) => { if (!r.every(Boolean)) { console.error("unreachable from root:", hosts, r); process.exit(1); } process.exit(0); });
' "$status"
pids=$(node -e 'const s = JSON.parse(process.argv[1]); console.log(s.hosts.flatMap((h) => h.processes.map((p) => p.pid)).join(" "))' "$status")
nproc=$(wc -w <<<"$pids")
# PID + start time (field 22 of /proc/PID/stat): a PID reused by another process later is not a leftover.
starttime() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0; s=${s##*) }; set -- $s; echo "${20}:$1"; }
declare -A started=()
for p in $pids; do started[$p]=$(starttime "$p"); done

t=$(date +%s%N)
fleetnet lab down >/dev/null
down_ms=$(ms "$t")

left_ns=$(ip netns list | awk '{print $1}' | grep -c "^${prefix}" || true)
left_links=$(ip -o link show | grep -c "${prefix}" || true)
left_procs=0
for p in $pids; do
  now=$(starttime "$p")
  [[ -n $now && ${now%%:*} == "${started[$p]%%:*}" && ${now#*:} != Z ]] && left_procs=$((left_procs + 1))
done
left_state=$([[ -e $FLEETNET_STATE_DIR/lab/state.json ]] && echo 1 || echo 0)

echo "hosts=$n args=[$*] load1=$load up_ms=$up_ms (in library: $up_lib_ms) down_ms=$down_ms processes=$nproc left: namespaces=$left_ns links=$left_links processes=$left_procs state=$left_state"
(( left_ns == 0 && left_links == 0 && left_procs == 0 && left_state == 0 )) || { echo "LEFTOVERS" >&2; exit 1; }
