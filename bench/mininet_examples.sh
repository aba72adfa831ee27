#!/usr/bin/env bash
# Mininet's tree1024.py and linearbandwidth.py under nlab's Python package,
# against Mininet itself (Debian's mininet 2.3) on the same topologies with
# --switch lxbr --controller none (this kernel has no Open vSwitch), plus
# the per-call costs of the package's approach (it drives the nlab binary).
# Everything runs inside scripts/sandbox.sh with its own PID namespace
# and a private /tmp; Mininet's cleanup (mn -c) is never run.
#
# Usage (as root): bench/mininet_examples.sh [ROUNDS]   (default 3)
# Prints medians; results are in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${NLAB_TEST_SANDBOX:-}" != 1 ]; then
  # Mininet's LinuxBridge needs brctl; its examples come with mininet.
  for pkg in mininet bridge-utils iperf bc; do
    dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -q '^installed$' ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  done
  python/venv.sh >/dev/null
  cargo build --release --quiet
  exec scripts/sandbox.sh "$0" "$@"
fi
rounds=${1:-3}
# A private /tmp: Mininet and the examples write there (multipoll's
# /tmp/h1.out, Mininet's cleanup would delete /tmp/*.log), and the
# sandbox's mount namespace keeps this tmpfs from the host's /tmp.
mount -t tmpfs -o mode=1777 nlab-bench-tmp /tmp
export NLAB=$PWD/target/release/nlab
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
# Mininet 2.3 iperf() waits for two reports from the server, and iperf
# 2.1.8 gives one (its probe connection makes none): it hangs. The same
# client and server, run plainly, stand in for it.
import re
from mininet.net import Mininet
from mininet.util import waitListening
def iperf(self, hosts=None, l4Type="TCP", udpBw="10M", fmt=None, seconds=5, port=5001):
    client, server = hosts
    srv = server.popen(["iperf", "-s", "-p", str(port)])
    waitListening(client, server, port)
    out = client.cmd("iperf -p %d -t %d -c %s" % (port, seconds, server.IP()))
    srv.terminate(); srv.wait()
    bw = re.findall(r"([\d\.]+ \w+/sec)", out)[-1]
    return [bw, bw]
Mininet.iperf = iperf
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
# The floor any binding pays to start a program in a namespace (fork,
# setns, exec): what a PyO3 binding could save per popen is the rest.
ns = "nlab-%s-h1" % net.lab
print("ip netns exec (the floor)            %.2f" % ms(lambda: subprocess.run(["ip", "netns", "exec", ns, "true"])))
t = time.perf_counter(); net.stop()
print("stop (nlab down)                     %.1f" % ((time.perf_counter() - t) * 1000))
PY

echo "# nlab exec on a 1,057-node lab (tree,2,32), median of 50 calls (ms)"
"$NLAB" up --topo tree,2,32 --name big >/dev/null
"$py" - <<'PY'
import os, statistics, subprocess, time
xs = []
for i in range(50):
    t = time.perf_counter()
    subprocess.run([os.environ["NLAB"], "exec", "big", "h%d" % (i + 1), "--", "true"])
    xs.append((time.perf_counter() - t) * 1000)
print("nlab exec                            %.2f" % statistics.median(xs))
xs = []
for i in range(50):
    t = time.perf_counter()
    subprocess.run(["ip", "netns", "exec", "nlab-big-h%d" % (i + 1), "true"])
    xs.append((time.perf_counter() - t) * 1000)
print("ip netns exec (the floor)            %.2f" % statistics.median(xs))
PY
"$NLAB" down big >/dev/null

echo "# tree1024: depth 2, fanout 32 (1,024 hosts, 33 switches), up to the console and down (s)"
a=(); b=()
for _ in $(seq "$rounds"); do
  a+=("$(secs feed 'exit\n' "$py" "$ex/tree1024.py")")
  b+=("$(secs feed 'exit\n' /usr/bin/python3 -c "$mn_tree")")
done
echo "nlab   $(printf '%s\n' "${a[@]}" | median)   (${a[*]})"
echo "mn     $(printf '%s\n' "${b[@]}" | median)   (${b[*]})"

echo "# linearbandwidth: h1..h5 on s1..s4, TCLink bw=100 delay=30ms (s)"
a=(); b=()
for _ in $(seq "$rounds"); do
  t0=$(date +%s.%N); unshare --net -- "$py" "$ex/linearbandwidth.py" </dev/null >/tmp/nlab-bench-lb.log 2>&1
  a+=("$(echo "$(date +%s.%N) - $t0" | bc)")
  t0=$(date +%s.%N); unshare --net -- /usr/bin/python3 -c "$mn_linear" </dev/null >/tmp/nlab-bench-mn.log 2>&1
  b+=("$(echo "$(date +%s.%N) - $t0" | bc)")
  echo "nlab: $(grep -A5 'SwitchCount' /tmp/nlab-bench-lb.log | tr -s '\t\n' ' ')"
  echo "mn:   $(grep -A5 'SwitchCount' /tmp/nlab-bench-mn.log | tr -s '\t\n' ' ')"
  grep -m1 -i 'error' /tmp/nlab-bench-mn.log || true
  rm -f /tmp/nlab-bench-lb.log /tmp/nlab-bench-mn.log
done
echo "nlab   $(printf '%s\n' "${a[@]}" | median)   (${a[*]})"
echo "mn     $(printf '%s\n' "${b[@]}" | median)   (${b[*]})"
