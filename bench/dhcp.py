#!/usr/bin/env python3
"""DHCP benchmark (run through bench/dhcp.sh). Only namespaces of the
lab it makes carry traffic; dnsmasq runs inside the lab's server node."""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

NLAB = os.environ.get("NLAB", "target/release/nlab")
CLIENTS = "target/release/examples/dhcp_clients"
LAB = "bdhcp"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def topology(n, hosts, server):
    """single,n-like: switch s1, server d1 (10.0.0.2/16), hosts h1..hn.
    hosts: 'dhcp', 'static' or 'none'; server: 'nlab' or 'plain'."""
    out = [f"name: {LAB}", "topology:", "  nodes:"]
    if server == "nlab":
        out += ["    d1:", "      kind: dhcp",
                "      dhcp: {pool: 10.0.1.0-10.0.8.255, lease: 1h, router: 10.0.0.1}"]
    else:
        out.append("    d1: {}")
    out.append("    s1: {kind: switch}")
    out += [f"    h{k}: {{}}" for k in range(1, n + 1)]
    out += ["  links:", '    - endpoints: [{node: d1, iface: eth0, ip: 10.0.0.2/16}, "s1:p0"]']
    for k in range(1, n + 1):
        ip = {"dhcp": ", ip: dhcp",
              "static": f", ip: 10.0.{1 + k // 256}.{k % 256}/16",
              "none": ""}[hosts]
        out.append(f'    - endpoints: [{{node: h{k}, iface: eth0{ip}}}, "s1:p{k}"]')
    return "\n".join(out) + "\n"


def up(text, env=None):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        t = time.monotonic()
        sh([NLAB, "up", f.name], env=env)
        return time.monotonic() - t
    finally:
        os.unlink(f.name)


def down():
    subprocess.run([NLAB, "down", LAB], capture_output=True)
    # Let the kernel free the namespaces before the next run.
    time.sleep(3)


def clients(n):
    out = sh([CLIENTS, LAB, "--hosts", "h", str(n), "eth0"]).stdout
    r = json.loads(out.strip().splitlines()[-1])
    if r["bound"] != n:
        raise SystemExit(f"only {r['bound']} of {n} clients bound: {r}")
    return r


def dnsmasq_run(n):
    up(topology(n, "none", "plain"))
    ns = f"nlab-{LAB}-d1"
    d = subprocess.Popen(
        ["ip", "netns", "exec", ns, "dnsmasq", "--no-daemon", "--port=0", "--no-resolv",
         "--no-hosts", "--interface=eth0", "--bind-interfaces", "--no-ping",
         "--dhcp-authoritative", "--dhcp-range=10.0.1.0,10.0.8.255,255.255.0.0,1h",
         "--dhcp-option=3,10.0.0.1", "--dhcp-lease-max=5000",
         f"--dhcp-leasefile=/run/nlab/{LAB}/dnsmasq.leases", "--log-facility=/dev/null"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        return clients(n)
    finally:
        d.terminate()
        d.wait()
        down()


def nlab_server_run(n):
    up(topology(n, "none", "nlab"))
    try:
        return clients(n)
    finally:
        down()


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    n = a.n
    res = {"static_up": [], "dhcp_up": [], "nlab": [], "dnsmasq": []}
    for r in range(a.runs):
        res["static_up"].append(up(topology(n, "static", "plain")))
        down()
        res["dhcp_up"].append(up(topology(n, "dhcp", "nlab")))
        down()
        # Alternate who goes first, so neither always gets the warmer cache.
        order = [("nlab", nlab_server_run), ("dnsmasq", dnsmasq_run)]
        for name, f in (order if r % 2 == 0 else order[::-1]):
            res[name].append(f(n))
        print(f"run {r + 1}: static up {res['static_up'][-1]:.2f} s, dhcp up {res['dhcp_up'][-1]:.2f} s, "
              f"nlab {res['nlab'][-1]['leases_per_s']:.0f} leases/s (last at {res['nlab'][-1]['last_ms']} ms), "
              f"dnsmasq {res['dnsmasq'][-1]['leases_per_s']:.0f} leases/s (last at {res['dnsmasq'][-1]['last_ms']} ms)",
              flush=True)
    s, d = med(res["static_up"]), med(res["dhcp_up"])
    ln = med([x["leases_per_s"] for x in res["nlab"]])
    ld = med([x["leases_per_s"] for x in res["dnsmasq"]])
    tn = med([x["last_ms"] for x in res["nlab"]])
    td = med([x["last_ms"] for x in res["dnsmasq"]])
    print(f"\nsingle,{n}, medians of {a.runs} runs")
    print("| | nlab | peer | ratio |")
    print("|---|---|---|---|")
    print(f"| `nlab up`, every host `ip: dhcp` vs static addresses (s) | {d:.2f} | {s:.2f} | {d / s:.2f}x |")
    print(f"| server: leases/s, same built-in client (nlab vs dnsmasq) | {ln:.0f} | {ld:.0f} | {ln / ld:.2f}x |")
    print(f"| server: time until every host has its address (ms) | {tn:.0f} | {td:.0f} | {tn / td:.2f}x |")


if __name__ == "__main__":
    main()
