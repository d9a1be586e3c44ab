#!/usr/bin/env bash
# bench/apply/run.sh — executor apply benchmark (see apply.bench.mjs). Runs as root.
# Builds the executor, creates a scratch namespace fnx-bench-$$ with an underlay veth, runs
# the benchmark, and removes the namespace and temp dir whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."
pnpm exec tsc -b services/executor >/dev/null
ns="fnx-bench-$$"
dir=$(mktemp -d /tmp/fnx-bench-apply.XXXXXX)
chmod 755 "$dir"
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" -batch - <<BATCH
link set lo up
link add fnxu0 type veth peer name fnxu1
addr add 10.77.0.1/24 dev fnxu0
link set fnxu0 up
link set fnxu1 up
BATCH
cat > "$dir/inventory.yaml" <<YAML
apiVersion: fleetnet/v1
kind: Inventory
metadata: {name: bench}
spec:
  hosts:
    - name: bench
      underlay: {interface: fnxu0, address: 10.77.0.1/24}
      transport: {driver: netns, namespace: $ns}
YAML
node bench/apply/apply.bench.mjs "$ns" "$dir" "$dir"
