#!/usr/bin/env python3
"""The client half of the RFC 4787 witness (runs behind the NAT).

Usage: stun_client.py A1 A2 P1 P2 LOCALPORT
Prints one JSON line:
  mapping: the mapped endpoint seen by A1:P1, A2:P1 and A1:P2 from one
           local endpoint (RFC 4787 section 4.1's three tests);
  filtering: after sending only to A1:P1 from a fresh local endpoint,
           whether replies from A1:P2 (same address, other port) and
           A2:P1 (other address) got through (section 5).
"""
import json
import socket
import sys

a1, a2, p1, p2, local = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])


def ask(s, dst, msg=b"map", wait=1.0):
    s.settimeout(wait)
    for _ in range(3):
        s.sendto(msg, dst)
        try:
            return s.recvfrom(512)[0].decode()
        except socket.timeout:
            continue
    return None


def sock(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    return s


s = sock(local)
mapping = {
    "a1p1": ask(s, (a1, p1)),
    "a2p1": ask(s, (a2, p1)),
    "a1p2": ask(s, (a1, p2)),
}
s.close()


def arrives(via_addr, via_port):
    f = sock(local + 1 if via_addr == a1 else local + 2)
    first = ask(f, (a1, p1))  # opens the mapping toward A1:P1 only
    f.settimeout(1.0)
    got = False
    for _ in range(3):
        f.sendto(("via %s %d" % (via_addr, via_port)).encode(), (a1, p1))
        try:
            while True:
                data = f.recvfrom(512)[0].decode()
                if data.startswith("from "):
                    got = True
                    break
        except socket.timeout:
            pass
        if got:
            break
    f.close()
    return first is not None and got


filtering = {"same_addr_other_port": arrives(a1, p2), "other_addr": arrives(a2, p1)}
print(json.dumps({"local": local, "mapping": mapping, "filtering": filtering}))
