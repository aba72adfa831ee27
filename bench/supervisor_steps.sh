#!/usr/bin/env bash
# How punctually the supervisor applies schedule steps, and what starting
# it costs. A `minimal` lab; the supervisor runs a schedule that toggles
# h1's link down/up every INTERVAL ms (kernel-state driver: both veth ends,
# over netlink from a thread in each namespace). Lateness = applied time -
# due time, from the supervisor's own step history; reported as median,
# p95 and max over all steps of all runs.
#
#   bench/supervisor_steps.sh                 5 runs x 40 steps, 50 ms apart
#   bench/supervisor_steps.sh RUNS STEPS MS
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
runs=${1:-5}; steps=${2:-40}; interval=${3:-50}
command -v socat >/dev/null || { echo "needs socat" >&2; exit 2; }
cargo build --release -q
nlab=target/release/nlab
lab=benchsup$$
trap '$nlab down $lab >/dev/null 2>&1 || true' EXIT
$nlab up --topo minimal --name $lab >/dev/null
sock=/run/nlab/$lab/supervisor.sock
starts=(); late=()
for r in $(seq "$runs"); do
  $nlab supervisor stop $lab >/dev/null
  t0=$(date +%s%N)
  $nlab supervisor start $lab >/dev/null
  t1=$(date +%s%N)
  starts+=("$(( (t1 - t0) / 1000 ))")
  req=$(python3 - "$steps" "$interval" <<'PY'
import json, sys, time
n, ms = int(sys.argv[1]), int(sys.argv[2])
start = time.time_ns() + 200_000_000
steps = [{"at": (i + 1) * ms * 1_000_000, "action": "down" if i % 2 == 0 else "up"} for i in range(n)]
if n % 2: steps.append({"at": (n + 1) * ms * 1_000_000, "action": "up"})
print(json.dumps({"op": "set-schedule", "key": "h1:h1-eth0", "steps": steps, "start_unix_ns": start}))
PY
)
  echo "$req" | socat -t5 - UNIX-CONNECT:$sock >/dev/null
  sleep "$(python3 -c "print(0.4 + ($steps + 2) * $interval / 1000)")"
  out=$(echo '{"op":"status"}' | socat -t5 - UNIX-CONNECT:$sock)
  late+=("$(python3 -c '
import json, sys
h = json.loads(sys.argv[1])["ok"]["links"][0]["schedule"]["history"]
print(" ".join("%f,%f" % ((a["began_unix_ns"] - a["due_unix_ns"]) / 1e6, (a["applied_unix_ns"] - a["due_unix_ns"]) / 1e6) for a in h))' "$out")")
done
python3 - "${starts[*]}" "${late[*]}" "$runs" "$steps" "$interval" <<'PY'
import statistics, sys
starts = [int(x) / 1000 for x in sys.argv[1].split()]
pairs = [x.split(",") for x in sys.argv[2].split()]
runs, steps, ms = sys.argv[3:6]
print(f"supervisor start (nlab supervisor start, until the socket answers): median {statistics.median(starts):.1f} ms over {runs} runs")
for name, col in (("woke (handed to the driver)", 0), ("applied (driver done)", 1)):
    late = sorted(float(p[col]) for p in pairs)
    p95 = late[int(0.95 * (len(late) - 1))]
    print(f"{name:28} after due, {len(late)} steps ({runs} runs x {steps}+, {ms} ms apart): "
          f"median {statistics.median(late):.2f} ms, p95 {p95:.2f} ms, max {late[-1]:.2f} ms")
PY
