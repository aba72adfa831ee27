#!/usr/bin/env bash
# Scale benchmark: nlab vs the `ip -batch` kernel floor vs Mininet, side by
# side in one run, medians of several runs. Installs what it needs.
#
#   bench/scale.sh            full run (Mininet from Debian's packages)
#   bench/scale.sh --quick    CI smoke: single,100 only, no Mininet
#   bench/scale.sh --runs 5   more runs per scenario
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
quick=0
for a in "$@"; do [ "$a" = --quick ] && quick=1; done
need=()
command -v ip >/dev/null || need+=(iproute2)
[ -x /usr/bin/time ] || need+=(time)
if [ $quick = 0 ] && ! command -v mn >/dev/null; then need+=(mininet); fi
# Mininet's LinuxBridge switch drives brctl.
if [ $quick = 0 ] && ! command -v brctl >/dev/null; then need+=(bridge-utils); fi
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release --quiet
# Leftovers of an interrupted run would distort the numbers.
target/release/nlab down bench >/dev/null 2>&1 || true
for n in $(ip netns list | awk '/^fl-/ {print $1}'); do ip netns del "$n"; done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(date -u +%F)"
exec python3 bench/scale.py "$@"
