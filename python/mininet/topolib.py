"""Mininet's topology library: trees and tori."""

from .net import Mininet
from .topo import Topo


class TreeTopo(Topo):
    """A tree of switches: ``depth`` levels, ``fanout`` children each."""

    def build(self, depth=1, fanout=2):
        self.hostNum = 1
        self.switchNum = 1
        self.addTree(depth, fanout)

    def addTree(self, depth, fanout):
        """Adds a subtree; returns its root."""
        if depth > 0:
            node = self.addSwitch("s%s" % self.switchNum)
            self.switchNum += 1
            for _ in range(fanout):
                child = self.addTree(depth - 1, fanout)
                self.addLink(node, child)
        else:
            node = self.addHost("h%s" % self.hostNum)
            self.hostNum += 1
        return node


def TreeNet(depth=1, fanout=2, **kwargs):
    """A Mininet network of a :class:`TreeTopo`."""
    return Mininet(TreeTopo(depth, fanout), **kwargs)


class TorusTopo(Topo):
    """An x by y torus of switches, n hosts each (needs spanning tree,
    which nlab turns on for looped switches)."""

    def build(self, x, y, n=1):
        if x < 3 or y < 3:
            raise ValueError("a torus needs x and y of at least 3")
        switches = {}
        for i in range(x):
            for j in range(y):
                loc = "%dx%d" % (i + 1, j + 1)
                sw = switches[i, j] = self.addSwitch("s" + loc)
                for k in range(n):
                    name = "h%s" % loc if n == 1 else "h%sx%d" % (loc, k + 1)
                    self.addLink(self.addHost(name), sw)
        for i in range(x):
            for j in range(y):
                self.addLink(switches[i, j], switches[i, (j + 1) % y])
                self.addLink(switches[i, j], switches[(i + 1) % x, j])
