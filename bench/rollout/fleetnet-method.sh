#!/bin/bash
# bench/rollout/fleetnet-method.sh : the shared harness's "fleetnet" method (copied to
# <harness>/methods/fleetnet.sh by run.sh). The stack (private nats-server + redis-server,
# planner, one executor pool for the lab's hosts) is already up (`fleetnet up`, run.sh);
# this submits the change with `fleetnet apply --yes --json` — planner: waves
# [{hosts: 1}, {percent: 10}, {percent: 100}], soak 0; executors: each host a commit-confirmed
# transaction; the command returns once every host is confirmed — then runs floor.sh's
# ping phase. Env: FNB_REPO, FNB_GEN (inventory.yaml + intents.yaml), NATS_URL, REDIS_URL,
# FLEETNET_STATE_DIR. Prints the harness markers plus @@note lines: the stack's CPU seconds
# during the apply (planner, pool, nats-server, redis-server and their reaped children such as
# the pool's ip/bridge/sh processes: they are not children of this
# script, so bench.py's ctl_cpu does not see them) and their peak RSS.
set -u
: "${FNB_REPO:?}" "${FNB_GEN:?}" "${FLEETNET_STATE_DIR:?}"
G=/tmp/fnb-work/gen
HZ=$(getconf CLK_TCK)
stack_pids() {
  find "$FLEETNET_STATE_DIR" -name '*.pid' -print0 | xargs -0 -r cat |
    sed -n 's/.*"pid":\([0-9]*\).*/\1/p; s/^\([0-9][0-9]*\)$/\1/p' | sort -u
}
ticks() { local t=0 p; for p in $(stack_pids); do
  [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14+$15+$16+$17}' "/proc/$p/stat"))); done; echo $t; }
forks() { awk '/^processes /{print $2}' /proc/stat; }
# per process of the stack: "name self children" CPU ticks (children: reaped ones, e.g. the
# spawners' host commands), spawners found as the pool's children
cpu_table() {
  local p name
  for p in $(stack_pids) ${FNB_NATS_PID:-}; do
    [[ -r /proc/$p/stat ]] || continue
    name=$(tr '\0' ' ' < "/proc/$p/cmdline" | sed -E 's#.*/(planner|executor|telemetry)/dist/bin.js (run|spawner).*#\1-\2#; s#^([^ ]*/)?(redis-server|nats-server).*#\2#' | cut -c1-30)
    echo "$p $name $(awk '{print $14+$15, $16+$17}' "/proc/$p/stat")"
    for c in $(pgrep -P "$p" -f spawner); do
      echo "$c spawner $(awk '{print $14+$15, $16+$17}' "/proc/$c/stat")"
    done
  done
}
t0=$(ticks)
f0=$(forks)
cpu_table > /tmp/fnb-work/logs/cpu0.txt
node "$FNB_REPO/cli/dist/bin.js" apply -f "$FNB_GEN/inventory.yaml" -f "$FNB_GEN/intents.yaml" --yes --json \
  > /tmp/fnb-work/logs/fleetnet-apply.json
rc=$?
echo "@@apply_done $(date +%s.%N)"
t1=$(ticks)
f1=$(forks)
cpu_table > /tmp/fnb-work/logs/cpu1.txt
status=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["status"], sum(1 for h in r["hosts"].values() if h["status"] in ("confirmed","succeeded","applied")), len(r["hosts"]))' /tmp/fnb-work/logs/fleetnet-apply.json 2>/dev/null)
echo "@@apply_ok $(echo "$status" | cut -d' ' -f2)"
echo "@@note fleetnet apply rc=$rc status/confirmed/hosts: $status"
echo "@@note processes started on the machine during apply (all of them, /proc/stat): $((f1 - f0))"
echo "@@note cpu during apply by process, s (self + reaped children): $(python3 - "$HZ" <<'PY'
import sys, collections
hz = float(sys.argv[1])
def load(f):
    return {l.split()[0]: l.split()[1:] for l in open(f) if len(l.split()) == 4}
a, b = load("/tmp/fnb-work/logs/cpu0.txt"), load("/tmp/fnb-work/logs/cpu1.txt")
tot = collections.defaultdict(lambda: [0.0, 0.0])
for pid, (name, s1, c1) in b.items():
    s0, c0 = (a[pid][1], a[pid][2]) if pid in a else ("0", "0")
    tot[name][0] += (int(s1) - int(s0)) / hz
    tot[name][1] += (int(c1) - int(c0)) / hz
print(", ".join(f"{n} {v[0]:.2f}+{v[1]:.2f}" for n, v in sorted(tot.items())))
PY
)"
echo "@@note stack cpu during apply (planner+pool+nats+redis): $(echo "scale=2; ($t1-$t0)/$HZ" | bc) s"
# the rollout's audit trail (timestamps of every wave and host transition) next to the logs
rid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rolloutId"])' /tmp/fnb-work/logs/fleetnet-apply.json 2>/dev/null)
[[ -n $rid ]] && node "$FNB_REPO/cli/dist/bin.js" rollout events "$rid" --json > /tmp/fnb-work/logs/fleetnet-events.json 2>/dev/null
for p in $(stack_pids); do
  [[ -r /proc/$p/status ]] && echo "@@note peak rss $(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-90): $(awk '/VmHWM/{printf "%d MiB", $2/1024}' /proc/$p/status)"
done
ping_ok=$(xargs -P 2 -L1 sh -c '
  ip netns exec "$1" sh -c "ping -n -q -c1 -i0.2 -w3 $4 >/dev/null && ping -n -q -c1 -i0.2 -w3 $5 >/dev/null" && echo ok' _ < $G/hosts.txt | grep -c '^ok$')
echo "@@ping_ok $ping_ok"; echo "@@end $(date +%s.%N)"
