#!/usr/bin/env python3
"""The kernel floor for binding N ports: what the objects of N instance
ports cost when made with `ip -batch` and nothing else (one bridge
namespace; per port a namespace, a veth whose one end is on the bridge and
whose other end is the instance's eth0, both up). bench/vnet_ports.py
compares nlab's API against it in the same run.

Usage (as root, in a throwaway namespace: scripts/sandbox.sh):
    bench/vnet_floor.py [N]     prints seconds and ports per second
"""
import subprocess
import sys
import time

PREFIX = "bfloor"


def run_batch(lines, ns=None):
    cmd = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
    subprocess.run(cmd, input="\n".join(lines) + "\n", text=True, check=True)


def build(n):
    """Two batches: the namespaces, then from inside the bridge's namespace
    every veth, one end up in its instance namespace, the other up on the
    bridge."""
    br = f"{PREFIX}-br"
    run_batch([f"netns add {br}"] + [f"netns add {PREFIX}-{i}" for i in range(n)])
    lines = ["link add br0 up type bridge"]
    for i in range(n):
        # The first end is made in the instance namespace, already up.
        lines += [f"link add eth0 netns {PREFIX}-{i} up type veth peer name tap{i}",
                  f"link set tap{i} master br0 up"]
    run_batch(lines, ns=br)


def teardown(n):
    lines = [f"netns del {PREFIX}-{i}" for i in range(n)]
    lines.append(f"netns del {PREFIX}-br")
    subprocess.run(["ip", "-force", "-batch", "-"], input="\n".join(lines) + "\n",
                   text=True, stderr=subprocess.DEVNULL)


def floor(n):
    """Seconds to make the objects of n bound ports with ip -batch."""
    teardown(n)
    start = time.monotonic()
    try:
        build(n)
        return time.monotonic() - start
    finally:
        teardown(n)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    secs = floor(count)
    print(f"kernel floor: {count} ports in {secs:.2f} s = {count / secs:.0f} ports/s")
