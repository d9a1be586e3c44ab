#!/bin/bash
# bench/rollout/run.sh : issue 6's rollout bench — fleetnet as one more column of the shared
# harness (/work/shared/bench/rollout), beside the no-orchestration floor, in ONE run on ONE lab.
#
#   N=200 REPS=3 bench/rollout/run.sh   (repository root; root; ~6 min)
#
# Steps: copy the harness to $W (it may be read-only; adds methods/fleetnet.sh), `lab.sh up N`
# (namespaces fnb-h001.., one sshd each, static underlay), floor-seq × REPS_FLOOR (default 1),
# then REPS (default 3) interleaved pairs: floor-p2, then a fresh stack (`fleetnet up`: private
# nats-server + redis-server, planner, one executor pool serving all N netns hosts, telemetry),
# SETTLE s, one timed fleetnet rollout (fleetnet-method.sh: `fleetnet apply --yes --json` → all
# hosts confirmed, then the same ping phase as the floor), `fleetnet down`. Every run starts
# from a reset lab (checked 0/N) and is verified by check.py. `lab.sh down` (also on failure),
# report (medians).
# Build first: pnpm exec tsc -b cli services/planner services/executor
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
N=${N:-200}
REPS_FLOOR=${REPS_FLOOR:-1}
REPS=${REPS:-3}
H=${HARNESS:-/work/shared/bench/rollout}
W=${W:-/tmp/fnb-harness}
S=${S:-/tmp/fnb-stack}
export RESULTS=${RESULTS:-$W/results.jsonl}
export FLEETNET_STATE_DIR=$S/state FNB_REPO=$REPO FNB_GEN=$S/gen
export NATS_URL=${NATS_URL:-nats://127.0.0.1:14622} REDIS_URL=${REDIS_URL:-redis://127.0.0.1:16622}
rm -rf "$W" "$S" && mkdir -p "$W" "$S" && cp -r "$H"/. "$W"/ && rm -f "$W/results.jsonl"
cp "$REPO/bench/rollout/fleetnet-method.sh" "$W/methods/fleetnet.sh"
# Our copy of the harness uses our names and an underlay /16 that no test lab uses: prefix
# fnb- (namespaces fnb-h001.., fnb-fab, fnb-mgmt0, /tmp/fnb-work) and 10.243.0.0/16 — the
# harness's 10.251.0.0/16 in the root namespace would make every parallel test lab
# (10.251.16-239.0/24) refuse to start for the length of the run.
sed -i 's/fb-/fnb-/g; s/10\.251\./10.243./g' "$W"/lab.sh "$W"/gen.py "$W"/check.py "$W"/reset.sh \
  "$W"/bench.py "$W"/methods/floor.sh
cd "$W" || exit 1
FLEETNET=(node "$REPO/cli/dist/bin.js")
# Our own nats-server (JetStream, default 1 MiB max_payload: the planner pages large plans),
# so the bench's streams and consumers stay out of the machine's shared server. `fleetnet up`
# reuses a JetStream server answering at NATS_URL; Redis it starts itself (infra/dev/services).
NATS_PORT=${NATS_URL##*:}
mkdir -p "$S/nats"
cat > "$S/nats.conf" <<C
listen: 127.0.0.1:$NATS_PORT
jetstream { store_dir: "$S/nats" }
C
nats-server -c "$S/nats.conf" > "$S/nats.log" 2>&1 &
NATS_PID=$!
export FNB_NATS_PID=$NATS_PID
cleanup() {
  "${FLEETNET[@]}" down >/dev/null 2>&1
  ./lab.sh down >/dev/null 2>&1
  rm -rf /dev/shm/fleetnet-netns/fnb-* # the executor's netns hosts' /run (the harness does not know it)
  kill "$NATS_PID" 2>/dev/null
}
trap cleanup EXIT
./lab.sh down >/dev/null 2>&1
./lab.sh up "$N" || exit 1
reset_check() {
  ./reset.sh || { echo "reset failed" >&2; exit 1; }
  local pre; pre=$(./check.py --quiet | head -1)
  [[ $pre == "state_ok=0/$N" ]] || { echo "after reset expected 0/$N correct, got $pre" >&2; exit 1; }
}
for ((r = 1; r <= REPS_FLOOR; r++)); do
  reset_check
  ./bench.py run floor-seq "$N" "$r" 300 -- methods/floor.sh 1
done
python3 "$REPO/bench/rollout/gen-fleetnet.py" "$N" "$FNB_GEN" || exit 1
# FNB_PROFILE=1: the planner, executor pool and telemetry write V8 CPU profiles to $S/prof
# when they stop (Node refuses --cpu-prof in NODE_OPTIONS: `fleetnet up` starts each through a
# wrapper, FLEETNET_*_BIN, that runs the inspector's profiler around the real bin).
PROF=()
if [[ -n ${FNB_PROFILE:-} ]]; then
  mkdir -p "$S/prof"
  for svc in planner executor telemetry; do
    cat > "$S/prof-$svc.mjs" <<JS
import { mkdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
const s = new Session();
s.connect();
s.post("Profiler.enable");
s.post("Profiler.start");
process.on("exit", () =>
  s.post("Profiler.stop", (err, r) => {
    if (!err) writeFileSync("$S/prof/$svc-" + process.pid + ".cpuprofile", JSON.stringify(r.profile));
  }),
);
await import("$REPO/services/$svc/dist/bin.js");
JS
  done
  PROF=(env FLEETNET_PLANNER_BIN="$S/prof-planner.mjs" FLEETNET_EXECUTOR_BIN="$S/prof-executor.mjs"
    FLEETNET_TELEMETRY_BIN="$S/prof-telemetry.mjs")
fi
# REPS pairs, interleaved so that both columns sample the same machine (its speed drifts by tens
# of per cent within minutes here): floor-p2 with no stack running, then a fresh stack
# (`fleetnet up`), SETTLE, one timed fleetnet rollout, `fleetnet down`.
for ((r = 1; r <= REPS; r++)); do
  reset_check
  ./bench.py run floor-p2 "$N" "$r" 300 -- methods/floor.sh 2
  reset_check
  t0=$(date +%s.%N)
  "${PROF[@]}" "${FLEETNET[@]}" up -f "$FNB_GEN/inventory.yaml" --lab-state-dir "$S/lab" --timeout 600s || exit 1
  printf 'fleetnet up (stack for %d hosts heartbeating): %.1f s\n' "$N" "$(echo "$(date +%s.%N) - $t0" | bc)"
  # A rollout goes to a running fleet, not one that booted a second ago: every executor makes
  # its first state report (an observation of its host) at a random moment of its first 10 s,
  # then one a minute. SETTLE (seconds, default 12) lets those first reports pass before the
  # timed apply; SETTLE=0 measures a rollout submitted right after start-up.
  sleep "${SETTLE:-12}"
  ./bench.py run fleetnet "$N" "$r" 1800 -- methods/fleetnet.sh
  grep -h '^@@note' /tmp/fnb-work/logs/fleetnet-n"$N"-r"$r".out
  cp /tmp/fnb-work/logs/fleetnet-events.json /tmp/fnb-work/logs/fleetnet-events-r"$r".json 2>/dev/null
  "${FLEETNET[@]}" down >/dev/null
done
./lab.sh down
rm -rf /dev/shm/fleetnet-netns/fnb-*
kill "$NATS_PID"
trap - EXIT
./bench.py report "$RESULTS"
echo "results: $RESULTS"
