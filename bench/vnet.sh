#!/usr/bin/env bash
# vnet::realize at scale: one network with N instance ports (10.0.0.0/16),
# applied from scratch, again with nothing to change (the "service start
# with the kernel already matching" case of issue 15), then with one port
# more; each step's time split into the lab (Lab::up_valid), the
# security-group tables and reading port statuses back. Variants: plain,
# with a security group on every port (--sg), with DHCP (--dhcp).
#
#   scripts/sandbox.sh bench/vnet.sh          (as root, in a sandbox)
#   N=200 RUNS=1 scripts/sandbox.sh bench/vnet.sh    quick smoke
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
command -v nft >/dev/null || { echo "needs nft" >&2; exit 2; }
N=${N:-1000}
RUNS=${RUNS:-3}
VARIANTS=${VARIANTS:-"plain --sg --dhcp"}
cargo build --release --quiet --bin nlab --example vnet_apply
X=$PWD/target/release/examples/vnet_apply
# The lab's supervisor (DHCP) is the nlab binary; the example is not it.
export NLAB_EXE=$PWD/target/release/nlab
# Medians per variant and step, one table.
SUMMARY=$(cat <<'PY'
import json, sys, statistics
by = {}
for line in sys.stdin:
    r = json.loads(line)
    by.setdefault((r["variant"], r["line"]["step"]), []).append(r["line"])
cols = ["secs", "lab_secs", "tables_secs", "status_secs", "changes", "tables_applied", "active"]
print("%-7s %-18s %4s %8s %7s %9s %9s %8s %7s %7s" % ("variant", "step", "runs", "total s", "lab s", "tables s", "status s", "changes", "tables", "active"))
for (v, step), ls in by.items():
    m = [statistics.median(x.get(k, 0) for x in ls) for k in cols]
    print("%-7s %-18s %4d %8.2f %7.2f %9.2f %9.2f %8.0f %7.0f %7.0f" % (v, step, len(ls), *m))
PY
)
echo "machine: $(nproc) cores, kernel $(uname -r), $(date -u +'%F %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for v in $VARIANTS; do
  flag=$v; [ "$v" = plain ] && flag=""
  for r in $(seq "$RUNS"); do
    $X "$N" $flag | sed "s/^/{\"variant\":\"$v\",\"run\":$r,\"line\":/; s/\$/}/"
  done
done | python3 -c "$SUMMARY"
