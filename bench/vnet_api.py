"""Creates N ports on one network through `nlab serve` with C concurrent
clients (API and store only: ports are not bound, nothing is made in the
kernel) and prints ports per second and p50/p99 create latency.
Usage: vnet_api.py URL ADMIN_TOKEN [N] [C]  (bench/vnet_api.sh runs it)."""
import sys, time, json, urllib.request, concurrent.futures as cf
addr, tok = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
C = int(sys.argv[4]) if len(sys.argv) > 4 else 10
def call(m, p, b=None):
    r = urllib.request.Request(addr+p, method=m, data=json.dumps(b).encode() if b else None, headers={"X-Auth-Token": tok, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(r))
net = call("POST", "/v2.0/networks", {"network": {"name": "b"}})["network"]["id"]
call("POST", "/v2.0/subnets", {"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.0.0.0/20"}})
lat = []
def one(_):
    t = time.time(); call("POST", "/v2.0/ports", {"port": {"network_id": net}}); lat.append(time.time()-t)
t0 = time.time()
with cf.ThreadPoolExecutor(C) as ex: list(ex.map(one, range(N)))
el = time.time()-t0; lat.sort()
print(f"{N} ports, {C} clients: {N/el:.0f}/s, p50 {lat[len(lat)//2]*1000:.1f} ms, p99 {lat[int(len(lat)*0.99)]*1000:.1f} ms")
