#!/usr/bin/env bash
# pingall at scale with and without static ARP (`nlab up --arp`, Mininet's
# --arp): medians of several runs, cold caches (a fresh lab per run).
# Run it inside the sandbox, so its labs touch nothing of the host's:
#
#   scripts/sandbox.sh bench/pingall_arp.sh                 # single,1000 --arp; single,300 both ways
#   scripts/sandbox.sh bench/pingall_arp.sh --runs 5
#   scripts/sandbox.sh bench/pingall_arp.sh --arp-sizes "300 1000" --plain-sizes "100 300"
#
# Prints one line per run and a table of medians (seconds): static ARP
# setup (part of `up --arp`), and `nlab pingall` as it reports itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (inside scripts/sandbox.sh)" >&2; exit 2; }
[ "${NLAB_TEST_SANDBOX:-}" = 1 ] || { echo "run inside scripts/sandbox.sh" >&2; exit 2; }
runs=3
arp_sizes="1000"
plain_sizes="300"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --arp-sizes) arp_sizes=$2; shift 2 ;;
    --plain-sizes) plain_sizes=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
NLAB=target/release/nlab
[ -x $NLAB ] || { echo "build first: cargo build --release" >&2; exit 2; }
lab=pab
trap '$NLAB down $lab >/dev/null 2>&1 || true' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
one() { # $1 size, $2 "--arp" or ""; prints "arp_setup pingall_secs dropped"
  local n=$1 flag=$2 out ping
  $NLAB down $lab >/dev/null 2>&1 || true
  out=$($NLAB up --topo single,$n --name $lab $flag 2>&1) || { echo "$out" >&2; exit 1; }
  local setup
  setup=$(echo "$out" | sed -n 's/^\*\*\* Static ARP: .* in \([0-9.]*\) \(m\?s\)$/\1 \2/p')
  case "$setup" in *" ms") setup=$(echo "$setup" | awk '{print $1/1000}') ;; *" s") setup=${setup% s} ;; "") setup=- ;; esac
  ping=$($NLAB pingall $lab --json 2>/dev/null) || true
  local secs dropped
  secs=$(echo "$ping" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
  dropped=$(echo "$ping" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dropped_percent"])')
  $NLAB down $lab >/dev/null 2>&1
  echo "$setup $secs $dropped"
}
echo "machine: $(nproc) cores, kernel $(uname -r), $(date -u '+%F %H:%M') UTC, sandbox (its own network namespace)"
table=()
for mode in arp plain; do
  sizes=$arp_sizes; flag=--arp
  [ $mode = plain ] && { sizes=$plain_sizes; flag=; }
  for n in $sizes; do
    setups=(); times=(); drops=()
    for r in $(seq "$runs"); do
      read -r s t d < <(one "$n" "$flag")
      echo "single,$n ${flag:-(no --arp)} run $r: static ARP ${s} s, pingall ${t} s, ${d}% dropped"
      setups+=("$s"); times+=("$t"); drops+=("$d")
    done
    ms=$(printf '%s\n' "${setups[@]}" | grep -v '^-$' | median || true)
    mt=$(printf '%s\n' "${times[@]}" | median)
    table+=("| single,$n | $((n * (n - 1))) | ${flag:-no} | ${ms:--} | $mt | $(printf '%s ' "${drops[@]}")|")
  done
done
echo
echo "| topology | pairs | --arp | static ARP setup (s, median) | pingall (s, median of $runs) | % dropped per run |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${table[@]}"
