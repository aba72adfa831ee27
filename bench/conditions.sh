#!/usr/bin/env bash
# Link conditions on the kernel backend: how close iperf3 TCP goodput comes
# to the configured rate (tbf), median of 3 runs per rate, with the sender's
# CPU share. Delay and loss rows need netem; where the kernel lacks it they
# point at the userspace emulator's benchmark.
#
# Usage: bench/conditions.sh [seconds-per-run]   (NLAB=path/to/nlab to override)
# Only the two namespaces of lab `bcond` carry traffic; the lab is removed at
# the end (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
NLAB=${NLAB:-target/debug/nlab}
SECS=${1:-5}
RUNS=3
LAB=bcond
[ -x "$NLAB" ] || cargo build -q --bin nlab
topo=$(mktemp --suffix=.yaml)
trap '"$NLAB" down $LAB >/dev/null 2>&1 || true; rm -f "$topo"' EXIT
cat >"$topo" <<YAML
name: $LAB
topology:
  nodes: {h1: {}, h2: {}}
  links:
    - endpoints: [{node: h1, iface: eth0, ip: 10.9.0.1/24}, {node: h2, iface: eth0, ip: 10.9.0.2/24}]
YAML
"$NLAB" down $LAB >/dev/null 2>&1 || true
"$NLAB" up "$topo" >/dev/null

# One iperf3 run h1 -> h2: "goodput_mbit sender_cpu_percent". A fresh port
# per run, so a one-shot server still exiting never answers the next client.

run() {
  PORT=$((20000 + RANDOM % 20000))
  ip netns exec nlab-$LAB-h2 iperf3 -s -1 -D -p $PORT
  for _ in $(seq 50); do
    ip netns exec nlab-$LAB-h2 ss -Hltn "sport = :$PORT" | grep -q . && break
    sleep 0.05
  done
  ip netns exec nlab-$LAB-h1 iperf3 -c 10.9.0.2 -p $PORT -t "$SECS" -J | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["end"]["sum_received"]["bits_per_second"] / 1e6,
      d["end"]["cpu_utilization_percent"]["host_total"])'
}

# Median of $RUNS runs: "goodput cpu".
median() {
  for _ in $(seq $RUNS); do run; done | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'
}

echo "kernel $(uname -r), $(nproc) cores, iperf3 TCP h1->h2 over one veth, ${SECS}s x $RUNS runs, median"
printf '%-12s %-10s %14s %8s %10s\n' condition backend goodput ratio "cpu(snd)"
read -r g c < <(median)
printf '%-12s %-10s %10.1f Mb/s %8s %9.0f%%\n' "none" "none" "$g" "-" "$c"
for r in ${RATES:-1 10 100 1000}; do
  "$NLAB" link set $LAB h1:eth0 --rate "${r}mbit" --direction out >/dev/null
  read -r g c < <(median)
  ratio=$(python3 -c "print(f'{$g / $r:.3f}')")
  printf '%-12s %-10s %10.2f Mb/s %8s %9.0f%%\n' "rate ${r}mbit" kernel "$g" "$ratio" "$c"
done
"$NLAB" link reset $LAB --all >/dev/null

# The same rates with htb instead of tbf, set with tc directly: not a path
# nlab takes, only the comparison that decided for tbf.
if [ -z "${NO_HTB:-}" ]; then
  for r in ${RATES:-1 10 100 1000}; do
    tc -n nlab-$LAB-h1 qdisc replace dev eth0 root handle 3: htb default 1
    tc -n nlab-$LAB-h1 class replace dev eth0 parent 3: classid 3:1 htb rate "${r}mbit"
    read -r g c < <(median)
    ratio=$(python3 -c "print(f'{$g / $r:.3f}')")
    printf '%-12s %-10s %10.2f Mb/s %8s %9.0f%%\n' "rate ${r}mbit" "htb (tc)" "$g" "$ratio" "$c"
    tc -n nlab-$LAB-h1 qdisc del dev eth0 root
  done
fi

netem=$("$NLAB" features --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["netem"])')
for row in "delay 10ms" "delay 100ms" "loss 1%"; do
  if [ "$netem" != "True" ]; then
    printf '%-12s %s\n' "$row" "netem missing: userspace backend, see bench/emulator.sh"
    continue
  fi
  set -- $row
  "$NLAB" link set $LAB h1:eth0 "--$1" "$2" --direction out >/dev/null
  if [ "$1" = delay ]; then
    rtt=$(ip netns exec nlab-$LAB-h1 ping -c 20 -i 0.05 -q 10.9.0.2 | awk -F/ '/rtt/ {print $5}')
    printf '%-12s %-10s rtt %s ms (one-way delay %s, no return delay)\n' "$row" kernel "$rtt" "$2"
  else
    loss=$(ip netns exec nlab-$LAB-h1 ping -c 2000 -i 0.002 -q 10.9.0.2 | grep -o '[0-9.]*% packet loss')
    printf '%-12s %-10s %s over 2000 pings\n' "$row" kernel "$loss"
  fi
  "$NLAB" link reset $LAB --all >/dev/null
done
