#!/usr/bin/env python3
"""Bound ports per second through nlab's Neutron API, beside the kernel
floor, in the same run (issue 15's speed goals).

As root, in a throwaway namespace (it makes a lab and namespaces):
    scripts/sandbox.sh bench/vnet_ports.py [--ports 1000] [--clients 10] [--runs 3]

Each run: a fresh `nlab serve` (release build) on a temp database; one
network with a subnet (no DHCP, port security off: addresses are fixed and
no nft runs, so what is measured is binding; `--secured` adds the default
security group to every port); `--clients` threads POST
`--ports` ports bound to instance namespaces (`binding:profile {"nlab":
"instance"}`), timing each create; then the wall time until every port is
ACTIVE (its namespace and veth exist on the bridge). Then the service is
stopped and started again on the same database with the kernel matching:
it converges before it listens, so the time until it answers is the
convergence time. Last, the kernel floor for the same objects with
`ip -batch` (bench/vnet_floor.py). Medians over the runs.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vnet_floor  # noqa: E402

NLAB = os.path.abspath("target/release/nlab")
LAB = "bvports"


def call(url, token, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("X-Auth-Token", token)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=120) as r:
        text = r.read()
    return json.loads(text) if text else None


def start(db, users):
    """Starts nlab serve; returns (process, base URL, seconds to answer)."""
    t0 = time.monotonic()
    p = subprocess.Popen([NLAB, "serve", "--listen", "127.0.0.1:0", "--lab", LAB,
                          "--db", db, "--users", users],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        m = re.search(r"(http://[0-9.:]+)", line)
        if m:
            return p, m.group(1), time.monotonic() - t0
    raise SystemExit("nlab serve printed no address")


def admin_token(users):
    with open(users) as f:
        for line in f:
            if line.strip().startswith("admin_token:"):
                return line.split(":", 1)[1].strip()
    raise SystemExit("no admin_token in " + users)


def active(url, token):
    ports = call(url, token, "GET", "/v2.0/ports?fields=status")["ports"]
    return sum(1 for p in ports if p["status"] == "ACTIVE")


SECURED = False


def create_all(url, token, nid, n, clients):
    """n bound ports by `clients` threads; the create latencies."""
    lat, lock = [], threading.Lock()

    def worker(k):
        for i in range(k, n, clients):
            t = time.monotonic()
            call(url, token, "POST", "/v2.0/ports", {"port": {
                "network_id": nid, "name": f"p{i}", "port_security_enabled": SECURED,
                "binding:profile": {"nlab": "instance"}}})
            with lock:
                lat.append(time.monotonic() - t)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sorted(lat)


def one_run(n, clients):
    subprocess.run([NLAB, "down", LAB], capture_output=True)
    d = tempfile.mkdtemp()
    db, users = os.path.join(d, "vnet.db"), os.path.join(d, "users.yaml")
    p, url, _ = start(db, users)
    token = admin_token(users)
    try:
        nid = call(url, token, "POST", "/v2.0/networks",
                   {"network": {"name": "bench"}})["network"]["id"]
        call(url, token, "POST", "/v2.0/subnets", {"subnet": {
            "network_id": nid, "cidr": "10.64.0.0/16", "ip_version": 4,
            "enable_dhcp": False}})
        t0 = time.monotonic()
        lat = create_all(url, token, nid, n, clients)
        created = time.monotonic() - t0
        while active(url, token) < n:
            time.sleep(0.05)
        bound = time.monotonic() - t0
        p.terminate()
        p.wait()
        p, url, restart = start(db, users)
        return {
            "created_s": created, "bound_s": bound, "ports_per_s": n / bound,
            "p50_ms": 1e3 * lat[len(lat) // 2],
            "p99_ms": 1e3 * lat[max(0, int(len(lat) * 0.99) - 1)],
            "restart_s": restart,
        }
    finally:
        p.terminate()
        p.wait()
        subprocess.run([NLAB, "down", LAB], capture_output=True)


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--ports", type=int, default=1000)
    a.add_argument("--clients", type=int, default=10)
    a.add_argument("--runs", type=int, default=3)
    a.add_argument("--secured", action="store_true",
                   help="ports with port security and the default security group "
                        "(one nft batch per instance)")
    a = a.parse_args()
    global SECURED
    SECURED = a.secured
    if os.geteuid() != 0:
        raise SystemExit("run as root, inside scripts/sandbox.sh")
    subprocess.run(["cargo", "build", "--release", "--quiet"], check=True)
    print(f"machine: {os.cpu_count()} cores, kernel {os.uname().release}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load {open('/proc/loadavg').read().split()[0]}")
    rows, floors = [], []
    for r in range(a.runs):
        rows.append(one_run(a.ports, a.clients))
        floors.append(vnet_floor.floor(a.ports))
        x = rows[-1]
        print(f"run {r + 1}: {x['ports_per_s']:.0f} bound ports/s "
              f"(all ACTIVE after {x['bound_s']:.2f} s, creates returned in "
              f"{x['created_s']:.2f} s), create p50 {x['p50_ms']:.1f} ms "
              f"p99 {x['p99_ms']:.1f} ms, restart converged and answering in "
              f"{x['restart_s']:.2f} s; floor {a.ports / floors[-1]:.0f} ports/s")
    med = {k: statistics.median(x[k] for x in rows) for k in rows[0]}
    floor = a.ports / statistics.median(floors)
    print(f"median of {a.runs}: nlab API {med['ports_per_s']:.0f} bound ports/s, "
          f"kernel floor (ip -batch) {floor:.0f} ports/s, "
          f"ratio {med['ports_per_s'] / floor:.2f}; create p50 {med['p50_ms']:.1f} ms, "
          f"p99 {med['p99_ms']:.1f} ms; restart with {a.ports} ports converged in "
          f"{med['restart_s']:.2f} s")


if __name__ == "__main__":
    main()
