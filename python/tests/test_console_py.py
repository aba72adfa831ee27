"""``py``/``px`` in nlab's console, over the real package and binary: in
the console a script's ``CLI(net)`` opens they evaluate on that script's
own objects; ``python3 -m nlab.console_py`` (what a plain console starts)
attaches the package to a running lab."""

import os
import subprocess
import sys
import textwrap

from conftest import nlab_binary

SCRIPT = textwrap.dedent("""
    from mininet.cli import CLI
    from mininet.net import Mininet
    from mininet.node import Host
    from mininet.topo import SingleSwitchTopo

    class Marked(Host):
        def __init__(self, name, **params):
            Host.__init__(self, name, **params)
            self.mark = "made-by-the-script-" + name

    net = Mininet(topo=SingleSwitchTopo(2), host=Marked)
    net.start()
    net.note = "the script's net"
    net["h1"].cmd("cd /tmp")
    CLI(net)
    print("after the console:", net.counter)
    net.stop()
""")

COMMANDS = (
    "py net.note\n"
    "py h2.mark\n"
    "py h1.cmd('pwd')\n"
    "px net.counter = 41\n"
    "px net.counter += 1; x = h1.IP()\n"
    "py x\n"
    "py [h.name for h in net.hosts]\n"
    "py nosuchname\n"
    "exit\n"
)


def test_py_in_cli_net_sees_the_scripts_objects(root_sandbox):
    p = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        input=COMMANDS,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
    out = p.stdout
    assert p.returncode == 0, out
    lines = out.splitlines()
    assert "the script's net" in lines, out
    assert "made-by-the-script-h2" in lines, out
    # The node object's own shell, where the script did `cd /tmp`.
    assert "/tmp" in lines, out
    assert "10.0.0.1" in lines and "['h1', 'h2']" in lines, out
    assert "*** py: NameError: name 'nosuchname' is not defined" in out, out
    # px changed the script's object: the script sees it after the console.
    assert "after the console: 42" in lines, out


def test_console_py_helper_attaches_to_a_running_lab(root_sandbox, tmp_path):
    nlab = nlab_binary()
    lab = "pyat%d" % os.getpid()
    subprocess.run([nlab, "up", "--topo", "linear,2", "--name", lab], check=True)
    try:
        r_req, w_req = os.pipe()
        r_ans, w_ans = os.pipe()
        helper = subprocess.Popen(
            [sys.executable, "-m", "nlab.console_py", lab],
            close_fds=False,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: (os.dup2(r_req, 3), os.dup2(w_ans, 4)),
        )
        os.close(r_req)
        os.close(w_ans)
        req, ans = os.fdopen(w_req, "w"), os.fdopen(r_ans)
        assert ans.readline() == "ready\n"
        for line in (
            "py net.hosts, net.switches",
            "py [str(i) for i in s2.intfList()], h2.IP()",
            "py h1.connectionsTo(s1)",
            "py net.pingAll()",
        ):
            req.write(line + "\n")
            req.flush()
            assert ans.readline() == "ok\n", line
        req.close()
        out, _ = helper.communicate(timeout=30)
        assert helper.returncode == 0
    finally:
        subprocess.run([nlab, "down", lab], check=False)
    lines = out.splitlines()
    assert lines[0].startswith("([<Host h1: h1-eth0:10.0.0.1 ")
    assert "<LinuxBridge s2: lo:127.0.0.1,s2-eth1:None,s2-eth2:None>])" in lines[0]
    assert lines[1] == "(['s2-eth1', 's2-eth2'], '10.0.0.2')"
    assert lines[2] == "[(<Intf h1-eth0>, <Intf s1-eth1>)]"
    # The nodes' shells, started by the helper, answered the pings.
    assert "0% dropped (2/2 received)" in out
