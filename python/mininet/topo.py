"""Mininet's ``Topo``: a plain description of nodes and links that
``Mininet(topo=...)`` builds with nlab."""

import re


def natural(text):
    """Key for natural order: ``h2`` before ``h10``."""
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", str(text))]


class Topo:
    """Nodes (hosts, switches) and links, with their options."""

    def __init__(self, *args, **params):
        self.nodeOpts = {}
        self.linkList = []
        self.hopts = params.pop("hopts", {})
        self.sopts = params.pop("sopts", {})
        self.lopts = params.pop("lopts", {})
        self.ports = {}
        self.build(*args, **params)

    def build(self, *args, **params):
        """Overridden by subclasses to add nodes and links."""

    def addNode(self, name, **opts):
        """Adds a node with options (``cls``, ``ip``, ...)."""
        self.nodeOpts[name] = opts
        return name

    def addHost(self, name, **opts):
        """Adds a host."""
        if not opts and self.hopts:
            opts = self.hopts
        return self.addNode(name, **opts)

    def addSwitch(self, name, **opts):
        """Adds a switch."""
        if not opts and self.sopts:
            opts = self.sopts
        return self.addNode(name, isSwitch=True, **opts)

    def addPort(self, src, dst, sport=None, dport=None):
        """Numbers the ports of a new link like Mininet (switches from 1)."""
        ports = self.ports
        ports.setdefault(src, {})
        ports.setdefault(dst, {})
        if sport is None:
            sport = len(ports[src]) + (1 if self.isSwitch(src) else 0)
        if dport is None:
            dport = len(ports[dst]) + (1 if self.isSwitch(dst) else 0)
        ports[src][sport] = (dst, dport)
        ports[dst][dport] = (src, sport)
        return sport, dport

    def addLink(self, node1, node2, port1=None, port2=None, key=None, **opts):
        """Adds a link (options: ``bw``, ``delay``, ``intfName1``, ...)."""
        if not opts and self.lopts:
            opts = self.lopts
        port1, port2 = self.addPort(node1, node2, port1, port2)
        info = dict(opts, node1=node1, node2=node2, port1=port1, port2=port2)
        self.linkList.append((node1, node2, len(self.linkList), info))
        return len(self.linkList) - 1

    def nodes(self, sort=True):
        """Node names (natural order when sorted)."""
        names = list(self.nodeOpts)
        return sorted(names, key=natural) if sort else names

    def isSwitch(self, n):
        """Whether ``n`` was added as a switch."""
        return bool(self.nodeOpts.get(n, {}).get("isSwitch", False))

    def switches(self, sort=True):
        """Switch names."""
        return [n for n in self.nodes(sort) if self.isSwitch(n)]

    def hosts(self, sort=True):
        """Names of the nodes that are not switches."""
        return [n for n in self.nodes(sort) if not self.isSwitch(n)]

    def links(self, sort=False, withKeys=False, withInfo=False):
        """Links as ``(src, dst)``, with key and/or info when asked."""
        out = []
        for src, dst, key, info in self.linkList:
            if sort:
                src, dst = sorted((src, dst), key=natural)
            if withKeys and withInfo:
                out.append((src, dst, key, info))
            elif withKeys:
                out.append((src, dst, key))
            elif withInfo:
                out.append((src, dst, info))
            else:
                out.append((src, dst))
        return out

    def port(self, src, dst):
        """Ports of the first link between ``src`` and ``dst``."""
        for sport, (d, dport) in sorted(self.ports.get(src, {}).items()):
            if d == dst:
                return sport, dport
        raise KeyError("no link between %s and %s" % (src, dst))

    def nodeInfo(self, name):
        """The options ``name`` was added with."""
        return self.nodeOpts[name]

    def setNodeInfo(self, name, info):
        """Replaces the options of ``name``."""
        self.nodeOpts[name] = info

    def linkInfo(self, src, dst, key=None):
        """The options of a link."""
        for s, d, k, info in self.linkList:
            if {s, d} == {src, dst} and (key is None or k == key):
                return info
        raise KeyError("no link between %s and %s" % (src, dst))

    def convertTo(self, cls, data=True, keys=True):
        """Not offered: nlab keeps no graph object."""
        raise NotImplementedError("Topo.convertTo is not offered by nlab's Mininet API")


class SingleSwitchTopo(Topo):
    """k hosts on one switch."""

    def build(self, k=2, **_opts):
        self.k = k
        switch = self.addSwitch("s1")
        for h in range(1, k + 1):
            host = self.addHost("h%s" % h)
            self.addLink(host, switch)


class SingleSwitchReversedTopo(Topo):
    """k hosts on one switch, ports in reverse order."""

    def build(self, k=2):
        switch = self.addSwitch("s1")
        for h in range(1, k + 1):
            host = self.addHost("h%s" % h)
            self.addLink(host, switch, port1=0, port2=(k - h + 1))


class MinimalTopo(SingleSwitchTopo):
    """Two hosts on one switch."""

    def build(self):
        return SingleSwitchTopo.build(self, k=2)


class LinearTopo(Topo):
    """k switches in a chain, n hosts on each."""

    def build(self, k=2, n=1, **_opts):
        self.k = k
        self.n = n
        if n == 1:

            def genHostName(i, j):
                return "h%s" % i
        else:

            def genHostName(i, j):
                return "h%ss%d" % (j, i)

        lastSwitch = None
        for i in range(1, k + 1):
            switch = self.addSwitch("s%s" % i)
            for j in range(1, n + 1):
                host = self.addHost(genHostName(i, j))
                self.addLink(host, switch)
            if lastSwitch:
                self.addLink(switch, lastSwitch)
            lastSwitch = switch
