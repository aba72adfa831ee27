#!/usr/bin/env bash
# NAT benchmark: TCP goodput (iperf3) from a host through a NAT node to a
# server in the lab's internet node, against the same path through a plain
# router, in the same lab and the same run, alternating. Three paths of the
# same shape (client - gateway - internet node, one veth each hop):
#   routed   a `kind: router` (forwarding only; the internet routes back)
#   nat      a `kind: nat` with the default behaviour (port-restricted:
#            masquerade and conntrack's own filtering)
#   cone     a `kind: nat` with `nat: full-cone` (its learning chain sees
#            every outbound packet)
# Prints each run, the medians over RUNS runs, their ratios to `routed`,
# and the median of each round's ratios (steadier on a shared machine).
# It is the kernel's work either way: the figure shows what nlab's rules
# cost, not nlab.
#
#   scripts/sandbox.sh bench/nat.sh               (as root, in a sandbox)
#   RUNS=3 SECS=2 scripts/sandbox.sh bench/nat.sh   quick smoke
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_need ip iperf3 python3
RUNS=${RUNS:-5}
SECS=${SECS:-5}
bench_lab bnatbench
cat >"$d/topo.yaml" <<YAML
name: $LAB
topology:
  nodes:
    inet:
      kind: internet
      routes: [{dst: 192.168.3.0/24, via: 198.51.100.2}]
    c1: {gateway: 192.168.1.1}
    c2: {gateway: 192.168.2.1}
    c3: {gateway: 192.168.3.1}
    nat1: {kind: nat, uplink: inet}
    nat2: {kind: nat, uplink: inet, nat: full-cone}
    r1: {kind: router, gateway: 198.51.100.1}
  links:
    - endpoints: [{node: c1, iface: eth0, ip: 192.168.1.10/24}, {node: nat1, iface: lan, ip: 192.168.1.1/24}]
    - endpoints: [{node: nat1, iface: wan, ip: 203.0.113.2/24}, {node: inet, iface: n1, ip: 203.0.113.1/24}]
    - endpoints: [{node: c2, iface: eth0, ip: 192.168.2.10/24}, {node: nat2, iface: lan, ip: 192.168.2.1/24}]
    - endpoints: [{node: nat2, iface: wan, ip: 192.0.2.2/24}, {node: inet, iface: n2, ip: 192.0.2.1/24}]
    - endpoints: [{node: c3, iface: eth0, ip: 192.168.3.10/24}, {node: r1, iface: lan, ip: 192.168.3.1/24}]
    - endpoints: [{node: r1, iface: wan, ip: 198.51.100.2/24}, {node: inet, iface: r, ip: 198.51.100.1/24}]
YAML
"$N" up "$d/topo.yaml" >/dev/null
ns() { echo "nlab-$LAB-$1"; }
ip netns exec "$(ns inet)" iperf3 -s -D -p 5201 --pidfile "$d/iperf.pid"
sleep 0.5
bench_machine
echo "iperf3 TCP, 1 stream, ${SECS}s per run, $RUNS runs of each path, alternating"

# Goodput in Mb/s the receiver saw for one run from node $1 to address $2.
run() {
  ip netns exec "$(ns "$1")" iperf3 -c "$2" -t "$SECS" -J >"$d/i.json"
  python3 -c 'import json,sys; print("%.0f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))' "$d/i.json"
}

printf '%-4s %10s %10s %10s\n' run routed nat cone
: >"$d/routed"; : >"$d/nat"; : >"$d/cone"
for r in $(seq "$RUNS"); do
  a=$(run c3 198.51.100.1); echo "$a" >>"$d/routed"
  b=$(run c1 203.0.113.1); echo "$b" >>"$d/nat"
  c=$(run c2 192.0.2.1); echo "$c" >>"$d/cone"
  printf '%-4s %10s %10s %10s\n' "$r" "$a" "$b" "$c"
done
mr=$(median "$d/routed"); mn=$(median "$d/nat"); mc=$(median "$d/cone")
printf '%-4s %10s %10s %10s   (Mb/s)\n' median "$mr" "$mn" "$mc"
python3 -c 'import sys; r,n,c=map(float,sys.argv[1:]); print("ratio of medians to routed: nat %.2f, cone %.2f" % (n/r, c/r))' "$mr" "$mn" "$mc"
# The runs of one round follow each other within seconds: their ratios
# drift less with the machine's load than the medians do.
python3 - "$d" <<'PY'
import statistics, sys
d = sys.argv[1]
col = {k: [float(x) for x in open(f"{d}/{k}")] for k in ("routed", "nat", "cone")}
per = {k: statistics.median(v / r for v, r in zip(col[k], col["routed"])) for k in ("nat", "cone")}
print("median of per-round ratios to routed: nat %.2f, cone %.2f" % (per["nat"], per["cone"]))
PY
