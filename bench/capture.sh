#!/usr/bin/env bash
# Capture benchmark: a 64-byte UDP flood (iperf3, 22-byte payload: 14 B
# Ethernet + 20 B IP + 8 B UDP + 22 = 64 B frames) across one veth between
# two namespaces of a lab this script makes, captured at the same time, on
# the same interface, by `nlab capture -w FILE` and by `tcpdump -w FILE`
# (both with the same kernel ring, BUF KiB). Each reports packets captured and
# dropped by the kernel; medians over RUNS runs, and nlab / tcpdump ratios.
#
#   scripts/sandbox.sh bench/capture.sh              (as root, in a sandbox)
#   RUNS=3 SECS=2 scripts/sandbox.sh bench/capture.sh  quick smoke
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_need ip tcpdump iperf3
RUNS=${RUNS:-5}
SECS=${SECS:-3}
BUF=${BUF:-8192}   # KiB of kernel ring for both
PAR=${PAR:-2}      # parallel iperf3 streams
bench_lab bcapbench
cat >"$d/topo.yaml" <<YAML
name: $LAB
topology:
  nodes: {h1: {}, h2: {}}
  links:
    - endpoints: [{node: h1, iface: eth0, ip: 10.0.0.1/24}, {node: h2, iface: eth0, ip: 10.0.0.2/24}]
YAML
"$N" up "$d/topo.yaml" >/dev/null
h1=nlab-$LAB-h1
h2=nlab-$LAB-h2
ip netns exec $h2 iperf3 -s -D -p 5201 --pidfile "$d/iperf.pid"
sleep 0.5
bench_machine
echo "flood: iperf3 -u -l 22 -b 0 -P $PAR for ${SECS}s, $RUNS runs, ring ${BUF} KiB, capture on h2:eth0 (inbound)"

# Waits until FILE has a line matching RE (a capture's "ready" message).
wait_for() { for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.02; done; echo "no '$2' in $1" >&2; cat "$1" >&2; exit 1; }

printf '%-4s %10s %12s %10s %12s %10s\n' run sent nlab_capt nlab_drop tcpd_capt tcpd_drop
for r in $(seq "$RUNS"); do
  rm -f "$d"/*.pcap*
  "$N" capture $LAB h2:eth0 -w "$d/n.pcapng" -B "$BUF" 2>"$d/n.err" & np=$!
  ip netns exec $h2 tcpdump -i eth0 -n -B "$BUF" -w "$d/t.pcap" 2>"$d/t.err" & tp=$!
  wait_for "$d/n.err" "capturing on"
  wait_for "$d/t.err" "listening on"
  ip netns exec $h1 iperf3 -c 10.0.0.2 -u -l 22 -b 0 -P "$PAR" -t "$SECS" -J >"$d/i.json"
  sleep 0.3
  kill -INT $np $tp
  wait $np $tp || true
  sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum"]["packets"])' "$d/i.json")
  nc=$(sed -n 's/.*: \([0-9]*\) packets captured, .*/\1/p' "$d/n.err")
  nd=$(sed -n 's/.*, \([0-9]*\) dropped by kernel/\1/p' "$d/n.err")
  tc=$(sed -n 's/^\([0-9]*\) packets captured/\1/p' "$d/t.err")
  td=$(sed -n 's/^\([0-9]*\) packets dropped by kernel/\1/p' "$d/t.err")
  printf '%-4s %10s %12s %10s %12s %10s\n' "$r" "$sent" "$nc" "$nd" "$tc" "$td"
  echo "$sent $nc $nd $tc $td" >>"$d/rows"
done
python3 - "$d/rows" "$SECS" <<'PY'
import statistics, sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1])]
secs = float(sys.argv[2])
med = lambda i: statistics.median(r[i] for r in rows)
sent, nc, nd, tc, td = (med(i) for i in range(5))
print(f"median sent      {sent/secs:12,.0f} pkt/s")
print(f"nlab captured    {nc/secs:12,.0f} pkt/s, dropped {nd/secs:10,.0f} pkt/s")
print(f"tcpdump captured {tc/secs:12,.0f} pkt/s, dropped {td/secs:10,.0f} pkt/s")
print(f"ratio nlab/tcpdump captured {nc/tc if tc else float('nan'):.2f}, "
      f"dropped {nd/td if td else float('nan'):.2f}")
PY
