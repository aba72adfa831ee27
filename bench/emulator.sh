#!/usr/bin/env bash
# Userspace link emulator benchmark: throughput and packet rate through the
# emulator with no conditions against a plain veth (same run, medians of
# 3), the emulator's CPU seconds, and delay / loss / rate accuracy.
#
#   bench/emulator.sh             full run (~2 min)
#   SECS=2 RUNS=1 bench/emulator.sh   quick smoke
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
for t in ip ping iperf3 python3; do
  command -v $t >/dev/null || { echo "needs $t" >&2; exit 2; }
done
cargo build --release --quiet --example emu_link
# Leftovers of an interrupted run would distort the numbers.
for n in $(ip netns list | awk '/^nlab-bemu-|^nlab-bveth-/ {print $1}'); do ip netns del "$n"; done
echo "machine: $(nproc) cores, kernel $(uname -r), $(date -u +'%F %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
exec python3 bench/emulator.py
