#!/usr/bin/env python3
"""Scale benchmark: nlab vs the `ip -batch` kernel floor vs Mininet.

Run through bench/scale.sh (which installs Mininet and builds nlab).
Every scenario runs the contenders side by side in the same run, several
times, and reports medians. Only namespaces this script creates carry
traffic; nothing leaves the machine.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

NLAB = os.environ.get("NLAB", "target/release/nlab")
LAB = "bench"


def sh(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def meminfo_kib(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def slab_kib():
    return meminfo_kib("Slab")


def netns_cleanup_running():
    """True while the kernel is freeing deleted namespaces: its cleanup
    work runs on the `netns` workqueue, and a kworker busy with it names
    itself `kworker/…+netns` (`-netns` once idle)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip().endswith("+netns"):
                    return True
        except OSError:
            pass
    return False


# When the last teardown of many nodes happened (monotonic seconds, nodes).
LAST_TEARDOWN = [0.0, 0]
# ext4 without a journal (this VM's root, which holds /run) skips inodes
# deleted in the last 30-35 s when it allocates new ones, reading each one's
# inode block: creating N pins right after deleting M costs O(N*M). Runs
# wait this long after a big teardown so none pays for the one before.
EXT4_RECENT_S = 40.0


def torn_down(nodes):
    LAST_TEARDOWN[0] = time.monotonic()
    LAST_TEARDOWN[1] = nodes


def settle(max_s=60.0):
    """Waits until the kernel has freed the namespaces of earlier runs
    (deleting is asynchronous, and the freeing holds the rtnl lock that the
    next run needs), so runs do not pay for each other: no kworker on the
    netns workqueue for 0.5 s, and Slab stable."""
    t0 = time.time()
    quiet = 0
    last = slab_kib()
    while time.time() - t0 < max_s:
        time.sleep(0.05)
        now = slab_kib()
        if netns_cleanup_running() or abs(now - last) > 256:
            quiet = 0
        else:
            quiet += 1
        last = now
        if quiet >= 10:
            break
    if LAST_TEARDOWN[1] >= 500:
        left = LAST_TEARDOWN[0] + EXT4_RECENT_S - time.monotonic()
        if left > 0:
            time.sleep(left)


def timed(cmd, allow_fail=False):
    """Runs cmd; returns (seconds, peak RSS of that command in KiB, stdout).
    Peak RSS comes from GNU time, which measures exactly this child."""
    with tempfile.NamedTemporaryFile("r") as rss_file:
        wrapped = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name] + cmd \
            if os.path.exists("/usr/bin/time") else cmd
        t0 = time.perf_counter()
        p = subprocess.run(wrapped, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if p.returncode != 0 and not allow_fail:
            raise RuntimeError(f"{' '.join(cmd)} failed: {p.stderr.strip()[-400:]}")
        try:
            rss = int(rss_file.read().strip().splitlines()[-1])
        except (ValueError, IndexError):
            rss = 0
    return dt, rss, p.stdout


# --- nlab -------------------------------------------------------------

def nlab_up_down(spec, n):
    subprocess.run([NLAB, "down", LAB], capture_output=True)
    settle()
    slab0, avail0 = slab_kib(), meminfo_kib("MemAvailable")
    up, rss, out = timed([NLAB, "up", "--topo", spec, "--name", LAB, "--json"])
    report = json.loads(out)
    slab1, avail1 = slab_kib(), meminfo_kib("MemAvailable")
    procs = sh(["pgrep", "-x", "nlab"], check=False).stdout.split()
    down, _, _ = timed([NLAB, "down", LAB])
    torn_down(n)
    visible = sh(["ip", "netns", "list"]).stdout.count(f"nlab-{LAB}-")
    phases = {name: secs for name, secs in report["timings"]["phases"]}
    return {
        "up": up, "down": down, "rss_mb": rss / 1024,
        "slab_mib_per_node": (slab1 - slab0) / 1024 / (n + 1),
        "avail_mib_per_node": (avail0 - avail1) / 1024 / (n + 1),
        "procs_after_up": len(procs), "visible_after_down": visible,
        "phases": phases,
    }


def nlab_pingall(spec):
    subprocess.run([NLAB, "down", LAB], capture_output=True)
    settle()
    up, _, _ = timed([NLAB, "up", "--topo", spec, "--name", LAB])
    t, _, out = timed([NLAB, "pingall", LAB, "--json"], allow_fail=True)
    res = json.loads(out)
    down, _, _ = timed([NLAB, "down", LAB])
    return {"up": up, "down": down, "pingall": t,
            "received": res["received"], "sent": res["sent"]}


# --- kernel floor: ip -batch -----------------------------------------

def floor_single(n):
    settle()
    with tempfile.TemporaryDirectory() as d:
        add = os.path.join(d, "add")
        links = os.path.join(d, "links")
        rm = os.path.join(d, "rm")
        with open(add, "w") as f:
            f.write("netns add fl-s1\n")
            for i in range(1, n + 1):
                f.write(f"netns add fl-h{i}\n")
        with open(links, "w") as f:
            f.write("link add s1 type bridge\nlink set s1 up\n")
            for i in range(1, n + 1):
                f.write(f"link add s1-eth{i} master s1 up type veth peer name h{i}-eth0 netns fl-h{i}\n")
        with open(rm, "w") as f:
            f.write("netns del fl-s1\n")
            for i in range(1, n + 1):
                f.write(f"netns del fl-h{i}\n")
        start = time.perf_counter()
        sh(["ip", "-batch", add])
        ns_secs = time.perf_counter() - start
        sh(["ip", "-n", "fl-s1", "-batch", links])
        up = time.perf_counter() - start
        start = time.perf_counter()
        sh(["ip", "-batch", rm])
        down = time.perf_counter() - start
        torn_down(n)
    return {"up": up, "down": down, "namespaces": ns_secs}


def floor_namespaces(n):
    """The kernel floor for the namespace phase alone (any topology): one
    `ip -batch` adding n namespaces, one deleting them."""
    settle()
    with tempfile.TemporaryDirectory() as d:
        add = os.path.join(d, "add")
        rm = os.path.join(d, "rm")
        with open(add, "w") as f:
            f.writelines(f"netns add fl-n{i}\n" for i in range(n))
        with open(rm, "w") as f:
            f.writelines(f"netns del fl-n{i}\n" for i in range(n))
        start = time.perf_counter()
        sh(["ip", "-batch", add])
        ns_secs = time.perf_counter() - start
        start = time.perf_counter()
        sh(["ip", "-batch", rm])
        down = time.perf_counter() - start
        torn_down(n)
    return {"namespaces": ns_secs, "down": down}


# --- Mininet -----------------------------------------------------------

MN_SCRIPT = r"""
import sys, time, json
from mininet.net import Mininet
from mininet.topo import SingleSwitchTopo, LinearTopo
from mininet.topolib import TreeTopo
from mininet.nodelib import LinuxBridge
from mininet.log import setLogLevel
setLogLevel('error')
kind, a, b, ping = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == '1'
topo = {'single': lambda: SingleSwitchTopo(a), 'linear': lambda: LinearTopo(a),
        'tree': lambda: TreeTopo(depth=a, fanout=b)}[kind]()
def meminfo():
    m = {}
    for line in open('/proc/meminfo'):
        k, v = line.split(':')
        m[k] = int(v.split()[0])
    return m
m0 = meminfo()
t0 = time.perf_counter()
net = Mininet(topo=topo, switch=LinuxBridge, controller=None, build=False)
net.build(); net.start()
up = time.perf_counter() - t0
m1 = meminfo()
nodes = len(net.hosts) + len(net.switches)
mem = {'slab_mib_per_node': (m1['Slab'] - m0['Slab']) / 1024 / nodes,
       'avail_mib_per_node': (m0['MemAvailable'] - m1['MemAvailable']) / 1024 / nodes}
loss = None; pt = None
if ping:
    t0 = time.perf_counter(); loss = net.pingAll(timeout=1); pt = time.perf_counter() - t0
t0 = time.perf_counter()
net.stop()
down = time.perf_counter() - t0
print(json.dumps(dict(mem, up=up, down=down, pingall=pt, loss=loss)))
"""


def mininet(kind, a, b=0, ping=False):
    settle()
    subprocess.run(["mn", "-c"], capture_output=True)
    # Debian's Mininet lives in the system Python, not in whatever python3
    # comes first on PATH.
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    p = subprocess.run([py, "-c", MN_SCRIPT, kind, str(a), str(b), "1" if ping else "0"],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError("mininet failed: " + p.stderr[-400:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="CI smoke: small sizes, no Mininet")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", help="write raw results here")
    ap.add_argument("--only", choices=["build", "pingall"], help="run one half")
    ap.add_argument("--spec", action="append",
                    help="run only these build scenarios (e.g. --spec single,1000 --spec tree,2,70)")
    args = ap.parse_args()
    runs = 1 if args.quick else args.runs
    results = {}
    # (spec, nodes, floor?, Mininet?). A Linux bridge takes 1,024 ports, so
    # the 5,000-node point is a tree; its floor is the namespace phase alone
    # (the part that does not grow linearly, see BENCHMARKS.md).
    scenarios = [("single,100", 100, True, not args.quick)]
    if not args.quick:
        scenarios += [("single,500", 500, True, True), ("single,1000", 1000, True, False),
                      ("tree,2,70", 4971, False, False)]
    if args.spec:
        known = {sc[0] for sc in scenarios}
        scenarios = [sc for sc in scenarios if sc[0] in args.spec]
        # Any other generator spec (e.g. tree,2,100): nlab alone, with the
        # namespace floor, its size from a dry run.
        for spec in args.spec:
            if spec not in known:
                dry = json.loads(sh([NLAB, "up", "--topo", spec, "--name", LAB,
                                     "--dry-run", "--json"]).stdout)
                scenarios.append((spec, dry["node_count"] - 1, False, False))
    out = []

    def row(*cols):
        line = "| " + " | ".join(str(c) for c in cols) + " |"
        out.append(line)
        print(line, flush=True)

    # 1. single,N: nlab vs floor (and Mininet at 100/500).
    row("scenario", "nlab up", "nlab down", "nlab total", "floor total", "nlab/floor",
        "Mininet total", "Mininet/nlab", "nlab ms/node", "slab MiB/node", "nlab RSS MB")
    row(*["---"] * 11)
    if args.only == "pingall":
        scenarios = []
    for spec, n, with_floor, with_mn in scenarios:
        # Interleaved, so slow drift of the machine hits both alike.
        nl, fl = [], []
        for _ in range(runs):
            nl.append(nlab_up_down(spec, n))
            fl.append(floor_single(n) if with_floor else floor_namespaces(n + 1))
        mn = [mininet("single", n) for _ in range(runs)] if with_mn else []
        nt = med(nl, "up") + med(nl, "down")
        ft = (med(fl, "up") + med(fl, "down")) if with_floor else None
        mt = (med(mn, "up") + med(mn, "down")) if mn else None
        results[spec] = {"nlab": nl, "floor": fl, "mininet": mn}
        row(spec, f"{med(nl,'up'):.3f} s", f"{med(nl,'down'):.3f} s", f"{nt:.3f} s",
            f"{ft:.3f} s" if ft else "-", f"{nt/ft:.2f}x" if ft else "-",
            f"{mt:.2f} s" if mt else "-", f"{mt/nt:.1f}x" if mt else "-",
            f"{nt*1000/(n+1):.3f}", f"{med(nl,'slab_mib_per_node'):.3f}", f"{med(nl,'rss_mb'):.1f}")
        ph = {}
        for r in nl:
            for k, v in r["phases"].items():
                ph.setdefault(k, []).append(v)
        print("    phases (median ms/node): " + ", ".join(
            f"{k} {statistics.median(v)*1000/(n+1):.3f}" for k, v in ph.items())
            + f", teardown {med(nl,'down')*1000/(n+1):.3f}"
            + f" (floor: namespaces {med(fl,'namespaces')*1000/(n+1):.3f},"
            + f" teardown {med(fl,'down')*1000/(n+1):.3f})"
            + f"; nlab processes after up: {max(r['procs_after_up'] for r in nl)}"
            + f"; lab namespaces visible after down: {max(r['visible_after_down'] for r in nl)}",
            flush=True)
        mem = (f"    memory per node (MiB): nlab Slab {med(nl,'slab_mib_per_node'):.3f},"
               f" MemAvailable {med(nl,'avail_mib_per_node'):.3f}")
        if mn:
            mem += (f"; Mininet Slab {med(mn,'slab_mib_per_node'):.3f},"
                    f" MemAvailable {med(mn,'avail_mib_per_node'):.3f}")
        print(mem, flush=True)
        results[spec]["phases_ms_per_node"] = {
            k: statistics.median(v) * 1000 / (n + 1) for k, v in ph.items()}

    # 2. pingall scenarios.
    out.append("")
    print()
    row("pingall scenario", "pairs", "nlab pingall", "nlab received", "Mininet pingall", "Mininet/nlab")
    row(*["---"] * 6)
    ping_cases = [] if args.only == "build" else [("single,100", ("single", 100, 0))]
    if not args.quick and args.only != "build":
        ping_cases += [("linear,50", ("linear", 50, 0)), ("tree,2,8", ("tree", 2, 8))]
    for spec, mnargs in ping_cases:
        nl = [nlab_pingall(spec) for _ in range(runs)]
        mn = [] if args.quick else [mininet(*mnargs, ping=True) for _ in range(runs)]
        pt = med(nl, "pingall")
        mt = med(mn, "pingall") if mn else None
        results[f"pingall {spec}"] = {"nlab": nl, "mininet": mn}
        row(spec, nl[0]["sent"], f"{pt:.3f} s", f"{nl[0]['received']}/{nl[0]['sent']}",
            f"{mt:.2f} s" if mt else "-", f"{mt/pt:.1f}x" if mt else "-")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print("\n".join(["", "markdown:"] + out))


if __name__ == "__main__":
    main()
