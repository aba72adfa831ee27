#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests use
# as independent witnesses (Debian packages), checks formatting and lints,
# builds everything, then runs unit + root integration tests in a sandbox,
# and proves the host was not touched.
#
# The sandbox is a throwaway "root namespace": new network, mount and PID
# namespaces with private tmpfs over /run/netns, /etc/netns and /run/nlab
# (as netavark's tests use `unshare -nm`). The tests, `nlab cleanup`
# included, see none of the host's labs and whatever they make or leak dies
# with the sandbox. Cargo and apt run outside it (apt needs the network).
#
# Host checks around the sandboxed run:
# - a lab brought up on the host before the suite is up and unchanged after
#   it (`nlab inspect --json` and `nlab pingall`), then removed;
# - the host's root namespace (links, addresses, routes, rules, nft,
#   sysctls) is unchanged;
# - no network namespace appeared on the host that a host process or mount
#   still holds (found by inode over every task, descriptor and nsfs mount,
#   not only /run/netns), and /run/netns, /etc/netns and /run/nlab hold
#   the same entries as before.
# Inside the sandbox, the tests clean up after themselves: its own root
# namespace is unchanged and its lab directories are empty afterwards.
#
# Usage (as root): scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "scripts/test.sh must run as root (the integration tests create namespaces)" >&2
  exit 2
fi

log=target/nlab-test.log
doclog=target/nlab-doctest.log
exlog=target/nlab-examples.log
pylog=target/nlab-python.log
tempestlog=target/nlab-tempest.log
lab_dirs=(/run/netns /etc/netns /run/nlab)

# The state of the root namespace the script runs in (the host's, or the
# sandbox's for the tests' own hygiene check).
snapshot() {
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
  # gc_thresh* exist only in the initial network namespace.
  for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv4.conf.all.forwarding \
           net.ipv4.neigh.default.gc_thresh1 net.ipv4.neigh.default.gc_thresh2 net.ipv4.neigh.default.gc_thresh3 \
           net.ipv6.neigh.default.gc_thresh3 net.core.netdev_max_backlog; do
    printf '%s=%s\n' "$k" "$(cat "/proc/sys/${k//.//}" 2>/dev/null || echo absent)"
  done
}

# Node cgroups (nlab's `nlab` parents and `nlab-LAB-NODE` dirs) in every
# hierarchy: cgroups are the host's even inside the sandbox (it has no
# cgroup namespace), so a test that leaks one leaks it on the host.
nlab_cgroups() {
  find /sys/fs/cgroup -maxdepth 10 -type d -name 'nlab*' 2>/dev/null | sort
}

# Entries of the directories labs live in (and lab locks).
lab_entries() {
  find "${lab_dirs[@]}" -mindepth 1 -maxdepth 2 2>/dev/null | sort
}

# --- inside the sandbox ------------------------------------------------------
if [ "${1:-}" = --in-sandbox ]; then
  [ "${NLAB_TEST_SANDBOX:-}" = 1 ] || { echo "--in-sandbox is internal to scripts/test.sh" >&2; exit 2; }
  status=0
  before=$(snapshot)
  # Passing tests' output is captured by the harness; --show-output keeps
  # it in the log so every `SKIP: reason` a test prints is reported.
  cargo test --offline --all-targets --no-fail-fast -- --show-output >"$log" 2>&1 || status=$?
  cargo test --offline --doc >"$doclog" 2>&1 || status=$?
  # The library examples are tests written the way users write them.
  : >"$exlog"
  for ex in builder ping_across ephemeral; do
    if cargo run --offline --quiet --example "$ex" >>"$exlog" 2>&1; then
      echo "example $ex: ok" >>"$exlog"
    else
      echo "example $ex: FAILED" >>"$exlog"
      status=1
    fi
  done
  # The Python package and Mininet's own examples (python/tests), under
  # the venv made outside the sandbox (it needs PyPI).
  NLAB=$PWD/target/debug/nlab target/pyvenv/bin/python -m pytest -q -p no:cacheprovider \
    python/tests >"$pylog" 2>&1 || status=$?
  # Upstream Tempest's network API tests against `nlab serve` (loopback;
  # the venv was prepared on the host, before the sandbox).
  scripts/tempest.sh >"$tempestlog" 2>&1 || status=$?
  if ! diff -u <(echo "$before") <(snapshot); then
    echo "FAIL: the tests changed their root namespace (the sandbox's; diff above)" >&2
    status=1
  fi
  left=$(lab_entries | grep -v '^/run/nlab/.locks$' || true)
  if [ -n "$left" ]; then
    echo "FAIL: the tests left lab entries behind (in the sandbox):" >&2
    echo "$left" >&2
    status=1
  fi
  exit $status
fi

# --- on the host -------------------------------------------------------------
# Every command the tests (and this script) call, with its Debian package.
# Checked by package, not by `command -v`, so a tool installed by hand on
# one machine does not hide a gap in this list.
tools=(
  ip:iproute2 tc:iproute2 ss:iproute2
  ping:iputils-ping iperf3:iperf3 socat:socat curl:curl python3:python3
  nft:nftables rdisc6:ndisc6
  tcpdump:tcpdump tshark:tshark capinfos:wireshark-common
  dhclient:isc-dhcp-client udhcpc:udhcpc dnsmasq:dnsmasq-base perfdhcp:kea-admin
  runuser:util-linux flock:util-linux lsns:util-linux unshare:util-linux mount:mount
  kill:procps pgrep:procps ps:procps getconf:libc-bin
  sh:dash bash:bash mkfifo:coreutils find:findutils sha256sum:coreutils
  qemu-system-x86_64:qemu-system-x86 busybox:busybox-static mknod:coreutils
  apt-get:apt dpkg-deb:dpkg
  nsenter:util-linux tar:tar
  # Containers (tests/image_nodes.rs): Podman with runc (crun refuses
  # hybrid cgroups), and a static busybox the tests import as an image
  # offline (no registry).
  podman:podman runc:runc
  # Mininet's examples run under nlab's Python package (python/tests).
  iperf:iperf stdbuf:coreutils mn:mininet python3:python3-venv
)
need=()
for t in "${tools[@]}"; do
  pkg=${t#*:}
  [[ " ${need[*]} " == *" $pkg "* ]] && continue
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]; then
    need+=("$pkg")
  fi
done
if [ ${#need[@]} -gt 0 ]; then
  echo "*** installing test witnesses: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for t in "${tools[@]}"; do
  command -v "${t%%:*}" >/dev/null || { echo "FAIL: ${t%%:*} (package ${t#*:}) is not on PATH" >&2; exit 1; }
done

# The VM tests' guest kernel: downloaded here (the sandbox has no
# network) and unpacked, never installed (tests/vm.rs skips without it).
scripts/vm-kernel.sh target/nlab-vm || echo "*** no guest kernel: the VM tests will skip"
# Tempest's venv (PyPI): made here, cached, used inside the sandbox.
scripts/tempest.sh --prepare

echo "*** python venv (target/pyvenv), ruff"
python/venv.sh >/dev/null
target/pyvenv/bin/ruff check python
target/pyvenv/bin/ruff format --check python

echo "*** cargo fmt --check"
cargo fmt --all -- --check
echo "*** cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "*** cargo doc (broken or private links in the docs fail the suite)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
echo "*** cargo build (tests and the nlab binary)"
cargo test --all-targets --no-run --quiet
nlab=target/debug/nlab
[ -x "$nlab" ] || { echo "FAIL: $nlab was not built" >&2; exit 1; }

# Every network namespace the host can see, by inode, with what holds it:
# `host` when a mount of the host's mount namespace, or a task or a
# descriptor of a process in the host's PID and mount namespaces does; else
# `other:PIDNS/MNTNS` for processes of other namespaces (someone else's
# container or sandbox, `unshare` itself included: the suite's sandbox and
# all its processes are gone by the time this runs).
netns_holders() {
  python3 - <<'EOF'
import os
host = (os.readlink("/proc/self/ns/pid"), os.readlink("/proc/self/ns/mnt"))
held = {}
def add(ns, who):
    if ns.startswith("net:["):
        held.setdefault(ns[5:-1], set()).add(who)
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        ns = (os.readlink(f"/proc/{pid}/ns/pid"), os.readlink(f"/proc/{pid}/ns/mnt"))
        who = "host" if ns == host else "other:%s/%s" % (ns[0][5:-1], ns[1][5:-1])
        links = [f"/proc/{pid}/task/{t}/ns/net" for t in os.listdir(f"/proc/{pid}/task")]
        links += [f"/proc/{pid}/fd/{f}" for f in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        continue
    for l in links:
        try:
            add(os.readlink(l), who)
        except OSError:
            pass
with open("/proc/self/mountinfo") as f:
    for line in f:
        add(line.split()[3], "host")
for ns in sorted(held):
    print(ns, " ".join(sorted(held[ns])))
EOF
}

# A user's lab on the host, which the suite must leave alone.
keep=tkeep$$
keep_up=0
cleanup() {
  if [ $keep_up = 1 ]; then "$nlab" down "$keep" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
for d in "${lab_dirs[@]}"; do mkdir -p "$d"; done
"$nlab" up --topo linear,3 --name "$keep" >/dev/null || { echo "FAIL: nlab up $keep on the host" >&2; exit 1; }
keep_up=1
"$nlab" pingall "$keep" >/dev/null || { echo "FAIL: nlab pingall $keep on the host, before the suite" >&2; exit 1; }
# `up` settles its bridges' link state before it returns; should anything
# still move, the reference is what inspect says once two looks a second
# apart agree.
keep_before=$("$nlab" inspect "$keep" --json)
for _ in $(seq 10); do
  sleep 1
  again=$("$nlab" inspect "$keep" --json)
  [ "$again" = "$keep_before" ] && break
  keep_before=$again
done

host_before=$(snapshot)
entries_before=$(lab_entries)
cgroups_before=$(nlab_cgroups)
ns_before=$(netns_holders)

echo "*** cargo test (in a sandbox: its own network, mount and PID namespaces)"
status=0
t0=$(date +%s)
unshare --net --mount --pid --fork --mount-proc --propagation private -- \
  env NLAB_TEST_SANDBOX=1 bash -c '
    set -e
    for d in /run/netns /etc/netns /run/nlab; do mount -t tmpfs -o mode=0755 nlab-test "$d"; done
    ip link set lo up
    exec "$@"' sandbox "$0" --in-sandbox || status=$?
echo "*** sandboxed run: $(( $(date +%s) - t0 )) s"
# The console gets the verdicts, the skips and the failures in full.
grep -E '^(test |SKIP|     Running|test result)' "$log" | grep -v '^test result: ok. 0 passed' || true
awk '/^failures:$/ {on=1} on {print} /^test result/ {on=0}' "$log"
tail -3 "$doclog"
grep -E '^example ' "$exlog" || true
echo "*** python/tests:"; grep -E 'passed|failed|error' "$pylog" | tail -3 || true
grep -E '^(FAILED|ERROR)' "$pylog" || true
grep -E '^tempest.sh:' "$tempestlog" || true
if grep -q '^example .*FAILED' "$exlog"; then echo "*** a failing example's output: $exlog"; tail -20 "$exlog"; fi

if ! diff -u <(echo "$host_before") <(snapshot); then
  echo "FAIL: the host's root namespace changed during the test suite (diff above)" >&2
  status=1
else
  echo "*** host root namespace unchanged (links, addresses, routes, rules, nft, sysctls)"
fi
if ! diff -u <(echo "$entries_before") <(lab_entries); then
  echo "FAIL: the host's ${lab_dirs[*]} changed during the test suite (diff above)" >&2
  status=1
fi
cgroups_left=$(comm -13 <(echo "$cgroups_before") <(nlab_cgroups) | sed '/^$/d')
if [ -n "$cgroups_left" ]; then
  echo "FAIL: the suite left node cgroups behind:" >&2
  echo "$cgroups_left" >&2
  status=1
else
  echo "*** no nlab cgroup left in any hierarchy"
fi
leaked=$(LC_ALL=C join -v2 <(echo "$ns_before" | cut -d' ' -f1) <(netns_holders) || true)
if echo "$leaked" | grep -q ' host'; then
  echo "FAIL: network namespaces appeared on the host during the suite and are still held there:" >&2
  echo "$leaked" | grep ' host' >&2
  status=1
fi
if [ -n "$leaked" ] && echo "$leaked" | grep -vq ' host'; then
  echo "*** note: new namespaces held only by processes of other namespaces (not the suite's):"
  echo "$leaked" | grep -v ' host' | sed 's/^/    /'
fi

if ! keep_after=$("$nlab" inspect "$keep" --json); then
  echo "FAIL: the host's lab $keep is gone after the suite" >&2
  status=1
elif [ "$keep_before" != "$keep_after" ]; then
  diff -u <(echo "$keep_before") <(echo "$keep_after") || true
  echo "FAIL: the host's lab $keep changed during the suite (nlab inspect --json, diff above)" >&2
  status=1
elif ! "$nlab" pingall "$keep" >/dev/null; then
  echo "FAIL: the host's lab $keep no longer pings after the suite" >&2
  status=1
else
  echo "*** a lab on the host ($keep) survived the suite unchanged and still pings"
fi
"$nlab" down "$keep" >/dev/null 2>&1 || true
keep_up=0

passed=$(grep -Eo '^test result: .* [0-9]+ passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: .* [0-9]+ failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
skipped=$(grep -c '^SKIP' "$log" || true)
if [ "$skipped" != 0 ]; then
  echo "*** skipped (whole tests or parts of them; the reason is the kernel, a missing tool or the sandbox):"
  grep '^SKIP' "$log" | sort | uniq -c
fi
echo "suite: $passed passed, $failed failed, $skipped skipped"
exit $status
