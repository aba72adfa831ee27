#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests use
# as independent witnesses (Debian packages), checks formatting and lints,
# runs unit + root integration tests, and proves the host's own network
# (root namespace) is exactly as it was before.
#
# Usage (as root): scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "scripts/test.sh must run as root (the integration tests create namespaces)" >&2
  exit 2
fi

# Witness tools the tests call (never the product): ip/tc, ping, tcpdump,
# nft, iperf3, and for the console tests curl, socat and python3.
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v nft >/dev/null || need+=(nftables)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v curl >/dev/null || need+=(curl)
command -v socat >/dev/null || need+=(socat)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  echo "*** installing test witnesses: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

snapshot() {
  {
    echo "## links"; ip -d -j link show | python3 -c 'import json,sys
for l in json.load(sys.stdin):
    for k in ("stats","stats64"): l.pop(k,None)
    print(json.dumps(l, sort_keys=True))'
    echo "## addresses"; ip -j addr show | python3 -c 'import json,sys
for l in json.load(sys.stdin):
    for a in l.get("addr_info",[]): a.pop("valid_life_time",None); a.pop("preferred_life_time",None)
    print(l["ifname"], json.dumps(l.get("addr_info"), sort_keys=True))'
    echo "## routes"; ip route show table all
    echo "## rules"; ip rule show; ip -6 rule show
    echo "## nft"; nft list ruleset
    echo "## sysctls"
    for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv4.conf.all.forwarding \
             net.ipv4.neigh.default.gc_thresh1 net.ipv4.neigh.default.gc_thresh2 net.ipv4.neigh.default.gc_thresh3 \
             net.ipv6.neigh.default.gc_thresh3 net.core.netdev_max_backlog; do
      printf '%s=%s\n' "$k" "$(cat /proc/sys/${k//.//})"
    done
    echo "## netns"; ls /run/netns 2>/dev/null | grep '^nlab-t' || true
  }
}

before=$(mktemp); after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
snapshot >"$before"

echo "*** cargo fmt --check"
cargo fmt --all -- --check
echo "*** cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "*** cargo test"
status=0
# Passing tests' output is captured by the harness; --show-output keeps it
# in the log so every `SKIP: reason` a test prints is reported below.
log=target/nlab-test.log
mkdir -p target
cargo test --all-targets --no-fail-fast -- --show-output >"$log" 2>&1 || status=$?
# The console gets the verdicts, the skips and the failures in full.
grep -E '^(test |SKIP|     Running|test result)' "$log" | grep -v '^test result: ok. 0 passed' || true
awk '/^failures:$/ {on=1} on {print} /^test result/ {on=0}' "$log"
cargo test --doc 2>&1 | tail -3 || status=$?

snapshot >"$after"
if ! diff -u "$before" "$after"; then
  echo "FAIL: the root namespace changed during the test suite (diff above)" >&2
  status=1
else
  echo "*** root namespace unchanged (links, addresses, routes, rules, nft, forwarding sysctls)"
fi
left=$(ls /run/netns 2>/dev/null | grep -c '^nlab-t' || true)
if [ "$left" != 0 ]; then
  echo "FAIL: $left nlab namespaces left after the suite" >&2
  status=1
fi
passed=$(grep -Eo '^test result: .* [0-9]+ passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: .* [0-9]+ failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
skipped=$(grep -c '^SKIP' "$log" || true)
if [ "$skipped" != 0 ]; then
  echo "*** skipped (whole tests or parts of them; the reason is the kernel or a missing tool):"
  grep '^SKIP' "$log" | sort | uniq -c
fi
echo "suite: $passed passed, $failed failed, $skipped skipped"
exit $status
