#!/usr/bin/env python3
"""A STUN-like UDP witness for RFC 4787 tests (runs in the internet node).

Listens on every ADDR:PORT given. A datagram `map` is answered from the
socket it reached with `IP:PORT`, the source the server saw (the mapped
address). `via ADDR PORT` is answered from socket ADDR:PORT instead, so the
client can see which sources its NAT lets in (filtering).
"""
import select
import socket
import sys

socks = {}
for spec in sys.argv[1:]:
    a, p = spec.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a, int(p)))
    socks[(a, int(p))] = s
print("ready", flush=True)
while True:
    ready, _, _ = select.select(list(socks.values()), [], [])
    for s in ready:
        data, peer = s.recvfrom(512)
        words = data.decode(errors="replace").split()
        seen = "%s:%d" % peer
        if words[:1] == ["via"] and len(words) == 3:
            out = socks.get((words[1], int(words[2])))
            if out is not None:
                out.sendto(("from %s:%s" % (words[1], words[2])).encode(), peer)
        else:
            s.sendto(seen.encode(), peer)
