"""A Mininet custom topology file, as `mn --custom` loads it."""

from mininet.topo import Topo


class MyTopo(Topo):
    "n hosts on a chain of two switches, with shaped links"

    def build(self, n=2):
        left = self.addSwitch("s1")
        right = self.addSwitch("s2")
        self.addLink(left, right, bw=50)
        for i in range(1, n + 1):
            host = self.addHost("h%d" % i)
            self.addLink(host, left if i % 2 else right)


topos = {"mytopo": MyTopo, "pair": (lambda: MyTopo(n=2))}
