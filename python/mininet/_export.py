"""A network's nodes and links as an nlab topology (plain data, JSON)."""

import os
import re

from .link import TCIntf
from .node import CPULimitedHost, Switch
from .nodelib import NAT
from .topo import natural


def _kind(node):
    if isinstance(node, Switch):
        return "switch"
    if isinstance(node, NAT):
        return "nat"
    return "host"


def _gateway(node):
    route = node.params.get("defaultRoute")
    if not route:
        return None
    m = re.match(r"^\s*via\s+([0-9.]+)\s*$", str(route))
    if not m:
        raise ValueError(
            "node %s: defaultRoute=%r: nlab takes 'via ADDRESS' (a gateway on one of the "
            "node's subnets)" % (node.name, route)
        )
    return m.group(1)


def _rate(bw):
    return "%gmbit" % float(bw)


def _time(value):
    text = str(value).strip()
    return text if re.search(r"[a-z]$", text) else "%sms" % text


def conditions(params):
    """TCIntf parameters as nlab link conditions."""
    c = {}
    if params.get("bw"):
        c["rate"] = _rate(params["bw"])
    if params.get("delay"):
        c["delay"] = _time(params["delay"])
    if params.get("jitter"):
        c["jitter"] = _time(params["jitter"])
    if params.get("loss"):
        c["loss"] = "%g%%" % float(params["loss"])
    if params.get("max_queue_size"):
        c["limit"] = int(params["max_queue_size"])
    return c


def _endpoint(intf):
    if isinstance(intf.node, Switch):
        return "%s:%s" % (intf.node.name, intf.name)
    ep = {"node": intf.node.name, "iface": intf.name}
    if intf.ip:
        ep["ip"] = "%s/%s" % (intf.ip, intf.prefixLen or 8)
    if intf.mac:
        ep["mac"] = intf.mac
    return ep


def _internet_behind(nat, links_of):
    """The first host (natural order) on the switched segment of the
    NAT's ``inetIntf``."""
    start = nat.intf(nat.inetIntf) if nat.inetIntf else None
    if start is None or start.link is None:
        return None
    seen, todo, hosts = set(), [start.link], []
    while todo:
        link = todo.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        for intf in link.intfs():
            node = intf.node
            if node is nat:
                continue
            if isinstance(node, Switch):
                todo.extend(links_of.get(node.name, []))
            elif not isinstance(node, NAT):
                hosts.append(node.name)
    return sorted(set(hosts), key=natural)[0] if hosts else None


def topology(name, nodes, links):
    """The nlab topology (a dict) of ``nodes`` and ``links``."""
    links_of = {}
    for link in links:
        for intf in link.intfs():
            links_of.setdefault(intf.node.name, []).append(link)
    out_nodes = {}
    internet = {}
    for node in nodes:
        spec = {"kind": _kind(node)}
        if spec["kind"] == "host":
            gw = _gateway(node)
            if gw:
                spec["gateway"] = gw
            cpu = node.params.get("cpu")
            if isinstance(node, CPULimitedHost) and cpu is not None and float(cpu) > 0:
                if node.sched == "rt":
                    # Real-time time is per CPU: F of each period, as is.
                    spec["cpu"] = round(float(cpu), 4)
                    spec["cpu_sched"] = "rt"
                else:
                    spec["cpu"] = round(float(cpu) * (os.cpu_count() or 1), 4)
        if spec["kind"] == "nat":
            inet = _internet_behind(node, links_of)
            spec["uplink"] = inet or "host"
            if inet:
                internet[inet] = True
        out_nodes[node.name] = spec
    for inet in internet:
        out_nodes[inet]["kind"] = "internet"
        out_nodes[inet].pop("cpu", None)
    out_links = []
    for link in links:
        entry = {"endpoints": [_endpoint(link.intf1), _endpoint(link.intf2)]}
        c1 = conditions(link.intf1.params) if isinstance(link.intf1, TCIntf) else {}
        c2 = conditions(link.intf2.params) if isinstance(link.intf2, TCIntf) else {}
        if c1 and c1 == c2:
            entry["conditions"] = c1
        elif c1 or c2:
            entry["conditions"] = {}
            if c1:
                entry["conditions"]["%s:%s" % (link.intf1.node.name, link.intf1.name)] = c1
            if c2:
                entry["conditions"]["%s:%s" % (link.intf2.node.name, link.intf2.name)] = c2
        if not link.up:
            entry["up"] = False
        out_links.append(entry)
    return {"name": name, "topology": {"nodes": out_nodes, "links": out_links}}
