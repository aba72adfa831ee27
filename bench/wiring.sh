#!/usr/bin/env bash
# `nlab wiring` on a host holding a big lab: how long reading every
# namespace's links from the kernel and pairing every veth takes, for
# linear,N (the worst case for index matching: every host's eth0 has the
# same index pair) and single,N. Reports the median wall time of RUNS runs
# of `nlab wiring --json`, the time nlab itself reports, and checks that
# every veth end found its peer.
#
#   scripts/sandbox.sh bench/wiring.sh             (as root, in a sandbox)
#   SPECS="linear,100" RUNS=3 scripts/sandbox.sh bench/wiring.sh   quick
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
RUNS=${RUNS:-5}
SPECS=${SPECS:-"linear,500 single,1000"}
cargo build --release --quiet
N=$PWD/target/release/nlab
LAB=bwirebench
d=$(mktemp -d)
cleanup() { "$N" down $LAB >/dev/null 2>&1 || true; rm -rf "$d"; }
trap cleanup EXIT
echo "machine: $(nproc) cores, kernel $(uname -r), $(date -u +'%F %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for spec in $SPECS; do
  "$N" down $LAB >/dev/null 2>&1 || true
  "$N" up --topo "$spec" --name $LAB >/dev/null
  walls=() ; own=()
  for _ in $(seq "$RUNS"); do
    s=$(date +%s%N)
    "$N" wiring --json >"$d/w.json"
    e=$(date +%s%N)
    walls+=("$(( (e - s) / 1000000 ))")
    own+=("$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["elapsed_ms"]))' "$d/w.json")")
  done
  python3 - "$d/w.json" "$spec" "${walls[*]}" "${own[*]}" <<'PY'
import json, statistics, sys
w = json.load(open(sys.argv[1]))
walls = [int(x) for x in sys.argv[3].split()]
own = [int(x) for x in sys.argv[4].split()]
ends = [i for n in w["namespaces"] for i in n["interfaces"] if i["kind"] == "veth"]
lost = [i["name"] for i in ends if (i.get("peer") or {}).get("namespace") is None]
print(f"{sys.argv[2]}: {len(w['namespaces'])} namespaces, {len(ends)} veth ends, "
      f"unpaired {len(lost)}; nlab wiring --json median {statistics.median(walls)} ms wall "
      f"(read {statistics.median(own)} ms as nlab reports it), runs {walls}")
PY
  s=$(date +%s%N); "$N" inspect $LAB --wiring >/dev/null; e=$(date +%s%N)
  echo "  inspect $LAB --wiring: $(( (e - s) / 1000000 )) ms wall"
done
