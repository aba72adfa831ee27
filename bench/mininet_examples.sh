#!/usr/bin/env bash
# Mininet's tree1024.py and linearbandwidth.py under nlab's Python package,
# against Mininet itself (Debian's mininet 2.3) on the same topologies with
# --switch lxbr --controller none (this kernel has no Open vSwitch), plus
# the per-call costs of the package's approach (it drives the nlab binary).
# Everything runs inside scripts/sandbox.sh (Mininet's cleanup kills
# processes host-wide; the sandbox has its own PID namespace).
#
# Usage (as root): bench/mininet_examples.sh [ROUNDS]   (default 3)
# Prints medians; results are in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${NLAB_TEST_SANDBOX:-}" != 1 ]; then
  python/venv.sh >/dev/null
  exec scripts/sandbox.sh "$0" "$@"
fi
rounds=${1:-3}
export NLAB=$PWD/target/debug/nlab
py=$PWD/target/pyvenv/bin/python
ex=/usr/lib/python3/dist-packages/mininet/examples
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1 </dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
feed() { local input=$1; shift; printf '%b' "$input" | "$@"; }

# Real Mininet (Debian's, under /usr/bin/python3, which does not see
# nlab's package) running the examples' own code with Linux bridges and
# no controller in place of Open vSwitch and its controller.
mn_tree='
from mininet.log import setLogLevel
from mininet.cli import CLI
from mininet.nodelib import LinuxBridge
from mininet.topolib import TreeNet
from mininet.examples.treeping64 import HostV4
setLogLevel("info")
net = TreeNet(depth=2, fanout=32, host=HostV4, switch=LinuxBridge, controller=None)
net.run(CLI, net)'
mn_linear='
from functools import partial
import mininet.examples.linearbandwidth as lb
from mininet.log import setLogLevel
from mininet.nodelib import LinuxBridge
setLogLevel("info")
lb.OVSKernelSwitch = partial(LinuxBridge, stp=0)
lb.Controller = None
lb.linearBandwidthTest([1, 2, 3, 4])'

echo "# per-call costs of the binary approach (median of 200 calls, ms)"
"$py" - <<'PY'
import statistics, subprocess, time, os
from mininet.net import Mininet
from mininet.topo import SingleSwitchTopo
def ms(f, n=200):
    xs = []
    for _ in range(n):
        t = time.perf_counter(); f(); xs.append((time.perf_counter() - t) * 1000)
    return statistics.median(xs)
t = time.perf_counter()
net = Mininet(topo=SingleSwitchTopo(2)); net.start()
print("single,2 build (nlab up)            %.1f" % ((time.perf_counter() - t) * 1000))
h1 = net["h1"]
t = time.perf_counter(); h1.cmd("true")
print("first cmd (starts the node's shell)  %.1f" % ((time.perf_counter() - t) * 1000))
print("cmd round trip in the shell          %.3f" % ms(lambda: h1.cmd("true")))
print("nlab exec (popen + wait)             %.2f" % ms(lambda: h1.pexec("true")))
print("nlab link set (configLinkStatus)     %.2f" % ms(lambda: net.configLinkStatus("h1", "s1", "up"), 20))
t = time.perf_counter(); net.stop()
print("stop (nlab down)                     %.1f" % ((time.perf_counter() - t) * 1000))
PY

echo "# tree1024: depth 2, fanout 32 (1,024 hosts, 33 switches), up to the console and down (s)"
a=(); b=()
for _ in $(seq "$rounds"); do
  a+=("$(secs feed 'exit\n' "$py" "$ex/tree1024.py")")
  b+=("$(secs feed 'exit\n' /usr/bin/python3 -c "$mn_tree")")
  mn -c >/dev/null 2>&1 || true
done
echo "nlab   $(printf '%s\n' "${a[@]}" | median)   (${a[*]})"
echo "mn     $(printf '%s\n' "${b[@]}" | median)   (${b[*]})"

echo "# linearbandwidth: h1..h5 on s1..s4, TCLink bw=100 delay=30ms (s)"
a=(); b=()
for _ in $(seq "$rounds"); do
  a+=("$(secs unshare --net -- "$py" "$ex/linearbandwidth.py")")
  b+=("$(secs unshare --net -- /usr/bin/python3 -c "$mn_linear")")
  mn -c >/dev/null 2>&1 || true
done
echo "nlab   $(printf '%s\n' "${a[@]}" | median)   (${a[*]})"
echo "mn     $(printf '%s\n' "${b[@]}" | median)   (${b[*]})"
