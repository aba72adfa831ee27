"""The API through the real package and binary: shells that keep state,
sendCmd/monitor, popen/pexec, addresses, link status, and cleanup."""

import os
import subprocess
import sys
import textwrap

from mininet.link import TCLink
from mininet.net import Mininet
from mininet.topo import SingleSwitchTopo


def lab_namespaces(lab):
    return [n for n in os.listdir("/run/netns") if n.startswith("nlab-%s-" % lab)]


def test_shell_keeps_cd_and_env_and_api(root_sandbox):
    net = Mininet(topo=SingleSwitchTopo(2), link=TCLink, autoSetMacs=True)
    try:
        net.start()
        h1, h2 = net.get("h1", "h2")
        assert net["h1"] is h1 and "s1" in net and len(net.hosts) == 2
        assert h1.cmd("cd /tmp") == ""
        assert h1.cmd("pwd").strip() == "/tmp"
        h1.cmd("export NLAB_X=1")
        assert h1.cmd("echo $NLAB_X").strip() == "1"
        assert h2.cmd("echo ${NLAB_X:-unset}").strip() == "unset"
        # The shell is the node's: its addresses are the node's.
        assert "10.0.0.1/8" in h1.cmd("ip -o addr show dev h1-eth0")
        assert h1.IP() == "10.0.0.1" and h2.MAC() == "00:00:00:00:00:02"
        assert [str(i) for i in h1.intfList()] == ["h1-eth0"]
        assert str(h1.defaultIntf()) == "h1-eth0"
        ((mine, theirs),) = h1.connectionsTo(net["s1"])
        assert (str(mine), str(theirs)) == ("h1-eth0", "s1-eth1")
        h1.sendCmd("sleep 0.3; echo done")
        assert h1.waiting
        assert "done" in h1.waitOutput() and not h1.waiting
        h1.cmd("sleep 30 &")
        assert h1.lastPid and os.path.exists("/proc/%d" % h1.lastPid)
        out, err, code = h2.pexec("ping -c1 -W2 %s" % h1.IP())
        assert code == 0 and "1 received" in out
        p = h2.popen(["sh", "-c", "echo $0 from popen", "hi"])
        assert p.communicate()[0].decode().strip() == "hi from popen"
        assert net.pingAll() == 0
        net.configLinkStatus("s1", "h1", "down")
        assert net.pingPair() == 100
        net.configLinkStatus("s1", "h1", "up")
        assert net.ping([h1, h2], timeout=2) == 0
        shell_pid = h1.pid
    finally:
        net.stop()
    assert lab_namespaces(net.lab) == []
    assert not os.path.exists("/proc/%d" % shell_pid)


def test_lab_removed_when_the_script_forgets_stop(root_sandbox):
    script = textwrap.dedent("""
        from mininet.net import Mininet
        from mininet.topo import SingleSwitchTopo
        net = Mininet(topo=SingleSwitchTopo(2))
        net.start()
        print(net.lab, net["h1"].cmd("echo up").strip())
        raise SystemExit(3)
    """)
    p = subprocess.run(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, check=False
    )
    assert p.returncode == 3
    lab, word = p.stdout.split()
    assert word == "up"
    assert lab_namespaces(lab) == []


def test_custom_topology_through_nlab_up(root_sandbox):
    data = os.path.join(os.path.dirname(__file__), "data", "mytopo.py")
    env = dict(os.environ, NLAB_PYTHON=sys.executable)
    nlab = os.environ["NLAB"]
    up = subprocess.run(
        [nlab, "up", "--custom", data, "--topo", "mytopo,3", "--name", "mncust"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    try:
        assert up.returncode == 0, up.stdout
        ping = subprocess.run(
            [nlab, "pingall", "mncust"], stdout=subprocess.PIPE, text=True, check=False
        )
        assert "0% dropped (6/6 received)" in ping.stdout
        assert sorted(lab_namespaces("mncust")) == [
            "nlab-mncust-%s" % n for n in ("h1", "h2", "h3", "s1", "s2")
        ]
    finally:
        subprocess.run([nlab, "down", "mncust"], stdout=subprocess.DEVNULL, check=False)
    bad = subprocess.run(
        [nlab, "up", "--custom", data, "--topo", "nope"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "the file offers mytopo, pair" in bad.stdout


def test_commands_a_node_gives_itself_before_the_build(root_sandbox):
    """A Host subclass that configures itself in __init__ (as Mininet's
    treeping64.HostV4 does): its commands run once its namespace exists,
    in its own shell, several nodes' shells side by side."""
    from mininet.node import Host

    class Marked(Host):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.cmd("export MARK=%s" % self.name)
            self.cmd("cd /proc/sys/net")
            self.cmd("sysctl -w net.ipv6.conf.all.disable_ipv6=1")

    net = Mininet(topo=SingleSwitchTopo(7), host=Marked)
    try:
        net.start()
        for h in net.hosts:
            assert h.cmd("echo $MARK $PWD").split() == [h.name, "/proc/sys/net"]
            assert h.cmd("cat ipv6/conf/all/disable_ipv6").strip() == "1"
    finally:
        net.stop()
    assert lab_namespaces(net.lab) == []
