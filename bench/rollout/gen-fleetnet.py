#!/usr/bin/env python3
"""bench/rollout/gen-fleetnet.py N OUTDIR: the shared harness's change as fleetnet intents.

Writes OUTDIR/inventory.yaml (hosts fnb-h001..fnb-hNNN = the namespaces of run.sh's copy of
the harness lab, underlay veth0 10.243.X.Y/16, netns transport) and OUTDIR/intents.yaml: VxlanOverlay VNI 5001 (device
vx5001, bridge br5001, head-end replication, overlay pool 172.30.0.0/16), one EcmpRoute per
host (10.252.0.0/16 via the next two hosts, as gen.py's peers2), SysctlBaseline (ip_forward,
tcp_rmem), and the rollout policy of issue 6: waves [{hosts: 1}, {percent: 10}, {percent: 100}],
soak 0. Names and addressing mirror the harness's gen.py as run.sh rewrites it (fb- → fnb-,
10.251. → 10.243.), so its check.py verifies the result.
"""
import os, sys


def uip(i):
    return f"10.243.{(i-1)//250}.{(i-1)%250+1}"


def name(i):
    return f"fnb-h{i:03d}"


def peers2(i, n):
    return (i % n) + 1, ((i + 1) % n) + 1


def main(n, out):
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/inventory.yaml", "w") as f:
        f.write("apiVersion: fleetnet/v1\nkind: Inventory\nmetadata: {name: fnb}\nspec:\n  hosts:\n")
        for i in range(1, n + 1):
            f.write(f"    - name: {name(i)}\n"
                    f"      underlay: {{interface: veth0, address: {uip(i)}/16}}\n"
                    f"      transport: {{driver: netns, namespace: {name(i)}}}\n")
    all_hosts = "{matchLabels: {}}"
    docs = [f"""apiVersion: fleetnet/v1
kind: VxlanOverlay
metadata: {{name: vni5001}}
spec:
  hosts: {all_hosts}
  vni: 5001
  port: 4789
  device: vx5001
  bridge: br5001
  replication: {{mode: unicast}}
  addresses: {{pool: 172.30.0.0/16}}
""", f"""apiVersion: fleetnet/v1
kind: SysctlBaseline
metadata: {{name: fnb}}
spec:
  hosts: {all_hosts}
  settings:
    net.ipv4.ip_forward: "1"
    net.ipv4.tcp_rmem: "4096 131072 16777216"
  persist: false
""", """apiVersion: fleetnet/v1
kind: RolloutPolicy
metadata: {name: bench}
spec:
  waves: [{hosts: 1}, {percent: 10}, {percent: 100}]
  maxUnavailable: 100%
  soak: 0s
  confirmTimeout: 600s
  autoRollback: none
  gates: []
"""]
    for i in range(1, n + 1):
        a, b = peers2(i, n)
        docs.append(f"""apiVersion: fleetnet/v1
kind: EcmpRoute
metadata: {{name: ecmp-{name(i)}}}
spec:
  hosts: {{names: [{name(i)}]}}
  destination: 10.252.0.0/16
  nexthops: [{{via: {uip(a)}}}, {{via: {uip(b)}}}]
""")
    with open(f"{out}/intents.yaml", "w") as f:
        f.write("---\n".join(docs))
    print(f"gen-fleetnet: {n} hosts -> {out}")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
