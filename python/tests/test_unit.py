"""The package's model without root: topologies, their export to nlab's
format, and the utilities scripts import."""

import json

from mininet import _export
from mininet.link import TCIntf, TCLink
from mininet.net import Mininet
from mininet.node import CPULimitedHost
from mininet.nodelib import NAT
from mininet.topo import LinearTopo, SingleSwitchTopo, Topo
from mininet.topolib import TreeTopo
from mininet.util import buildTopo, custom, ipAdd, irange, macColonHex, splitArgs


def exported(topo, **kwargs):
    net = Mininet(topo=topo, build=False, **kwargs)
    net.buildFromTopo(topo)
    net._apply_defaults()
    data = _export.topology("t", net._nodes(), net.links)
    net._atexit()
    return data


def test_ports_and_names_follow_mininet():
    topo = SingleSwitchTopo(3)
    assert topo.hosts() == ["h1", "h2", "h3"]
    assert topo.port("h1", "s1") == (0, 1)
    assert topo.port("h3", "s1") == (0, 3)
    links = exported(topo)["topology"]["links"]
    assert links[0]["endpoints"] == [
        {"node": "h1", "iface": "h1-eth0", "ip": "10.0.0.1/8"},
        "s1:s1-eth1",
    ]
    assert links[2]["endpoints"][1] == "s1:s1-eth3"


def test_tree_and_linear_sizes():
    t = TreeTopo(depth=2, fanout=32)
    assert len(t.hosts()) == 1024 and len(t.switches()) == 33 and len(t.links()) == 1056
    lin = LinearTopo(k=3, n=2)
    assert lin.hosts() == ["h1s1", "h1s2", "h1s3", "h2s1", "h2s2", "h2s3"]


def test_tclink_params_become_conditions():
    class T(Topo):
        def build(self):
            self.addLink(
                self.addHost("h1"),
                self.addSwitch("s1"),
                bw=10,
                delay="5ms",
                loss=10,
                jitter=1,
                max_queue_size=100,
                use_htb=True,
            )

    link = exported(T(), link=TCLink)["topology"]["links"][0]
    assert link["conditions"] == {
        "rate": "10mbit",
        "delay": "5ms",
        "jitter": "1ms",
        "loss": "10%",
        "limit": 100,
    }
    # A plain Link ignores them, as Mininet's does.
    assert "conditions" not in exported(T())["topology"]["links"][0]
    # Mininet(intf=custom(TCIntf, bw=...)) shapes every link.
    link = exported(SingleSwitchTopo(2), intf=custom(TCIntf, bw=150))["topology"]["links"][0]
    assert link["conditions"] == {"rate": "150mbit"}


def test_cpu_fraction_is_of_the_whole_machine(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)

    class T(Topo):
        def build(self):
            self.addLink(self.addHost("h1", cpu=0.25), self.addSwitch("s1"))

    nodes = exported(T(), host=CPULimitedHost)["topology"]["nodes"]
    assert nodes["h1"]["cpu"] == 0.5
    assert "cpu" not in exported(T())["topology"]["nodes"]["h1"]
    # sched='rt': the fraction of each period per CPU, as is.
    rt = custom(CPULimitedHost, sched="rt")
    nodes = exported(T(), host=rt)["topology"]["nodes"]
    assert (nodes["h1"]["cpu"], nodes["h1"]["cpu_sched"]) == (0.25, "rt")


def test_nat_with_inet_intf_makes_the_segment_host_the_internet():
    class T(Topo):
        def build(self):
            s0 = self.addSwitch("s0")
            self.addLink(s0, self.addHost("h0"))
            nat = self.addNode(
                "nat1",
                cls=NAT,
                subnet="192.168.1.0/24",
                inetIntf="nat1-eth0",
                localIntf="nat1-eth1",
            )
            s1 = self.addSwitch("s1")
            self.addLink(nat, s0, intfName1="nat1-eth0")
            self.addLink(nat, s1, intfName1="nat1-eth1", params1={"ip": "192.168.1.1/24"})
            h1 = self.addHost("h1", ip="192.168.1.100/24", defaultRoute="via 192.168.1.1")
            self.addLink(h1, s1)

    data = exported(T())
    nodes = data["topology"]["nodes"]
    assert nodes["h0"]["kind"] == "internet"
    assert nodes["nat1"] == {"kind": "nat", "uplink": "h0"}
    assert nodes["h1"]["gateway"] == "192.168.1.1"
    eps = [e for link in data["topology"]["links"] for e in link["endpoints"]]
    assert {"node": "nat1", "iface": "nat1-eth1", "ip": "192.168.1.1/24"} in eps
    # Mininet numbers hosts in natural order: h0, h1, nat1 (10.0.0.3).
    assert {"node": "nat1", "iface": "nat1-eth0", "ip": "10.0.0.3/8"} in eps
    json.dumps(data)


def test_add_nat_routes_hosts_through_it():
    net = Mininet(topo=SingleSwitchTopo(2), build=False)
    net.buildFromTopo(net.topo)
    nat = net.addNAT()
    net._apply_defaults()
    nodes = _export.topology("t", net._nodes(), net.links)["topology"]["nodes"]
    net._atexit()
    assert nodes["nat0"] == {"kind": "nat", "uplink": "host"}
    assert nodes["h1"]["gateway"] == nat.IP() == "10.0.0.3"


def test_util():
    assert list(irange(1, 3)) == [1, 2, 3]
    assert splitArgs("tree,2,fanout=3") == ("tree", [2], {"fanout": 3})
    assert ipAdd(5) == "10.0.0.5"
    assert macColonHex(1) == "00:00:00:00:00:01"
    assert len(buildTopo({"single": SingleSwitchTopo}, "single,4").hosts()) == 4


def test_auto_set_macs():
    data = exported(SingleSwitchTopo(2), autoSetMacs=True)
    assert data["topology"]["links"][1]["endpoints"][0]["mac"] == "00:00:00:00:00:02"
