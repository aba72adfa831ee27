#!/usr/bin/env bash
# DHCP benchmark, side by side in one run, medians of several runs:
#   - the whole lab: `nlab up` of single,N with every host `ip: dhcp`
#     (nlab's server and built-in clients) against the same lab with
#     static addresses;
#   - the servers: nlab's against dnsmasq on the same segment of the same
#     lab, each answering the same client (nlab's built-in one, from
#     examples/dhcp_clients.rs): leases per second, time until the last
#     host has its address.
#
#   bench/dhcp.sh                 N=1000, 3 runs
#   bench/dhcp.sh --n 200 --runs 5
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
command -v dnsmasq >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends dnsmasq-base >/dev/null
}
cargo build --release --quiet --bins --examples
target/release/nlab down bdhcp >/dev/null 2>&1 || true
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), dnsmasq $(dnsmasq --version | awk 'NR==1 {print $3}'), $(date -u +%F)"
python3 bench/dhcp.py "$@"
