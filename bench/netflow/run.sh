#!/bin/bash
# NetFlow benchmark of fleetnet, in one run (run as root: it raises net.core.rmem_max for the
# 16 MiB columns and restores it on exit, like the shared harness does):
#   1. in-process decode rate of @fleetnet/netflow (+ rollups) over the capture corpus and the
#      synthetic 30-record v9 / 25-record IPFIX streams          (bench/netflow/decode.mjs)
#   2. highest zero-loss UDP rate of `fleetnet-telemetry collect` side by side with nfcapd (nfdump)
#      and nfacctd (pmacct) on the same replayed v9 and IPFIX streams (sendmmsg generator nfgen),
#      each with the kernel-default and a 16 MiB receive buffer   (shared harness bench.py)
#
#   bench/netflow/run.sh                        # everything (~30-45 min on a quiet machine)
#   RATES=20000,60000 DURATION=5 bench/netflow/run.sh
# Knobs: HARNESS (default ../shared/bench/netflow), SCRATCH, DURATION, RATES, REFINE, IDLE_WAIT,
#        COLLECTORS_V9 / COLLECTORS_IPFIX (comma lists of harness builtins and NAME=CMD columns).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
H=${HARNESS:-$ROOT/../shared/bench/netflow}
S=${SCRATCH:-/tmp/fnf-bench}
DURATION=${DURATION:-10}
RATES=${RATES:-5000,10000,20000,40000,60000,80000,120000}
REFINE=${REFINE:-1}
IDLE_WAIT=${IDLE_WAIT:-30}
BIG=16777216
OUT=${OUT:-$S/results-$(date +%Y%m%d-%H%M%S).jsonl}
for t in gcc python3 node nfcapd nfdump nfacctd tshark ss; do
  command -v $t >/dev/null || { echo "missing $t (apt-get install nfdump pmacct tshark iproute2 gcc)"; exit 1; }
done
[ -f "$H/bench.py" ] || { echo "shared harness not found at $H (set HARNESS=)"; exit 1; }
mkdir -p "$S"

echo "== build (tsc -b libs/netflow services/telemetry)"
(cd "$ROOT" && ./node_modules/.bin/tsc -b libs/netflow services/telemetry)
BIN="$ROOT/services/telemetry/dist/bin.js"
FN="node $BIN collect"
# Columns: 1 process, and 2 cluster workers sharing the socket; default and 16 MiB buffers.
# (The harness runs `bash -c "exec CMD"` with RCVBUF=0, so the 16 MiB columns set it via env.)
OURS="fleetnet=env WORKERS=1 $FN,fleetnet-B16M=env WORKERS=1 RCVBUF=$BIG $FN,fleetnet-w2=env WORKERS=2 $FN,fleetnet-w2-B16M=env WORKERS=2 RCVBUF=$BIG $FN"
COLLECTORS_V9=${COLLECTORS_V9:-nfcapd,nfcapd-B16M,nfacctd-tuned,nfacctd-tuned-B16M,$OURS}
COLLECTORS_IPFIX=${COLLECTORS_IPFIX:-nfcapd,nfcapd-B16M,nfacctd-tuned,nfacctd-tuned-B16M,$OURS}

echo "== generator and streams in $S"
gcc -O2 -Wall -o "$S/nfgen" "$H/gen/nfgen.c"
python3 "$H/gen/mkstream.py" synth --version 9 --records 30 --out "$S/v9.nfs"
python3 "$H/gen/mkstream.py" synth --version 10 --records 25 --out "$S/ipfix.nfs"

echo "== in-process decode (records per CPU-second; wall rate alongside)"
node "$HERE/decode.mjs" --seconds 5 "$S/v9.nfs" "$S/ipfix.nfs" | tee "$S/decode.jsonl"

ORIG_RMEM_MAX=$(sysctl -n net.core.rmem_max)
restore() { sysctl -qw net.core.rmem_max="$ORIG_RMEM_MAX"; echo "== restored net.core.rmem_max=$(sysctl -n net.core.rmem_max)"; }
trap restore EXIT
trap 'exit 130' INT TERM
sysctl -qw net.core.rmem_max=33554432
echo "== net.core.rmem_default=$(sysctl -n net.core.rmem_default); rmem_max $ORIG_RMEM_MAX -> 33554432 for the 16 MiB columns"

common=(--gen "$S/nfgen" --rates "$RATES" --duration "$DURATION" --refine "$REFINE" --scratch "$S/work"
  --out "$OUT" --idle-wait "$IDLE_WAIT")
echo "== v9 stream (30 records/packet): $COLLECTORS_V9"
python3 "$H/bench.py" "${common[@]}" --stream "$S/v9.nfs" --collectors "$COLLECTORS_V9" --port 39100
echo "== IPFIX stream (25 records/packet): $COLLECTORS_IPFIX"
python3 "$H/bench.py" "${common[@]}" --stream "$S/ipfix.nfs" --collectors "$COLLECTORS_IPFIX" --port 41100
python3 "$H/report.py" "$OUT" | tee "${OUT%.jsonl}.md"
echo "== knees and records per collector CPU-second (robust to other tenants' load)"
python3 "$HERE/efficiency.py" "$OUT" | tee -a "${OUT%.jsonl}.md"
echo "raw: $OUT  decode: $S/decode.jsonl  table: ${OUT%.jsonl}.md"
