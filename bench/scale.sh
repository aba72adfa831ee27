#!/usr/bin/env bash
# Scale benchmark: nlab vs the `ip -batch` kernel floor vs Mininet, side by
# side in one run, medians of several runs. Installs what it needs.
#
#   bench/scale.sh            full run (Mininet from Debian's packages)
#   bench/scale.sh --quick    CI smoke: single,100 only, no Mininet
#   bench/scale.sh --runs 5   more runs per scenario
#   bench/scale.sh --only build --spec single,1000   one build scenario
#   bench/scale.sh --spec tree,2,100   any generator spec (10,101 nodes)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
quick=0
# --spec runs named build scenarios only: no Mininet needed for those.
for a in "$@"; do case "$a" in --quick|--spec) quick=1 ;; esac; done
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
# Mininet raises host-wide limits when it starts (its fixLimits) and never
# puts them back. This script ran it, so this script restores them.
limits="net.core.wmem_max net.core.rmem_max net.ipv4.tcp_rmem net.ipv4.tcp_wmem
  net.core.netdev_max_backlog net.ipv4.neigh.default.gc_thresh1
  net.ipv4.neigh.default.gc_thresh2 net.ipv4.neigh.default.gc_thresh3
  net.ipv4.route.max_size kernel.pty.max"
saved=$(mktemp)
for k in $limits; do printf '%s\t%s\n' "$k" "$(cat "/proc/sys/${k//.//}")"; done >"$saved"
restore_limits() {
  while IFS=$'\t' read -r k v; do printf '%s' "$v" >"/proc/sys/${k//.//}"; done <"$saved"
  rm -f "$saved"
}
trap restore_limits EXIT
cargo build --release --quiet
# Leftovers of an interrupted run would distort the numbers.
target/release/nlab down bench >/dev/null 2>&1 || true
for n in $(ip netns list | awk '/^fl-/ {print $1}'); do ip netns del "$n"; done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(date -u +%F)"
python3 bench/scale.py "$@"
