# Shared set-up for the shell benchmarks that run one lab of their own.
# Source it after `cd` to the checkout:  . bench/lib.sh
#
#   bench_need TOOL...     exit 2 unless root and every TOOL is on PATH
#   bench_lab NAME         build the release binary ($N), make a scratch dir
#                          ($d), take NAME down now and again on exit
#   bench_machine          one line: cores, kernel, time and load
#   median FILE            median of the numbers in FILE, one per line

bench_need() {
  [ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 2; }
  done
}

bench_lab() {
  LAB=$1
  cargo build --release --quiet
  N=$PWD/target/release/nlab
  d=$(mktemp -d)
  trap bench_cleanup EXIT
  "$N" down "$LAB" >/dev/null 2>&1 || true
}

# Also stops the iperf3 server a benchmark started with --pidfile "$d/iperf.pid".
bench_cleanup() {
  if [ -s "$d/iperf.pid" ]; then kill "$(cat "$d/iperf.pid")" 2>/dev/null || true; fi
  "$N" down "$LAB" >/dev/null 2>&1 || true
  rm -rf "$d"
}

bench_machine() {
  echo "machine: $(nproc) cores, kernel $(uname -r), $(date -u +'%F %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
}

median() {
  sort -n "$1" | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'
}
