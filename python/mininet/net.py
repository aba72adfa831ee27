"""``Mininet``: a network built by nlab (``nlab up``) from Mininet's API.

The network is one nlab lab (``mn<pid>x<n>``, or ``$NLAB_MN_LAB``): built
when a topology is given (or on ``start()``), changed in place by
``nlab up`` when nodes or links are added later, removed by ``stop()``
(``nlab down``), and also when the script exits without calling it.
"""

import atexit
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time

from . import _export, _nlab
from .link import Intf, Link
from .log import debug, error, info, output
from .node import (
    Controller,
    DefaultController,
    Host,
    Node,
    OVSKernelSwitch,
    Switch,
    _current_net,
)
from .nodelib import NAT
from .util import ipAdd, macColonHex, netParse, waitListening


class Mininet:
    """Mininet's network class over nlab."""

    def __init__(
        self,
        topo=None,
        switch=OVSKernelSwitch,
        host=Host,
        controller=DefaultController,
        link=Link,
        intf=Intf,
        build=True,
        xterms=False,
        cleanup=False,
        ipBase="10.0.0.0/8",
        inNamespace=False,
        autoSetMacs=False,
        autoStaticArp=False,
        autoPinCpus=False,
        listenPort=None,
        waitConnected=False,
    ):
        self.topo = topo
        self.switch = switch
        self.host = host
        self.controller = controller
        self.link = link
        self.intf = intf
        self.ipBase = ipBase
        self.ipBaseNum, self.prefixLen = netParse(ipBase)
        self.nextIP = 1
        self.autoSetMacs = autoSetMacs
        self.autoStaticArp = autoStaticArp
        self.waitConn = waitConnected
        self.hosts, self.switches, self.controllers, self.links = [], [], [], []
        self.nameToNode = {}
        self.lab = _nlab.new_lab_name()
        self._dir = tempfile.mkdtemp(prefix="nlab-mn-")  # mode 0700
        self._file = os.path.join(self._dir, "topology.json")
        self._built = False
        self._dirty = True
        self._up = False
        self._live = None
        self.built = False
        # A running lab this process attached to (mininet._attach), not
        # built: never changed nor removed from here.
        self._attached = False
        atexit.register(self._atexit)
        _catch_sigterm()
        _raise_fd_limit()
        if topo and build:
            self.build()

    # --- making nodes and links ------------------------------------------
    def _register(self, node):
        self.nameToNode[node.name] = node

    def _make(self, cls, name, **params):
        _current_net.append(self)
        try:
            node = cls(name, **params)
        finally:
            _current_net.pop()
        if getattr(node, "net", None) is None:
            node.net = self
        self.nameToNode[node.name] = node
        self._dirty = True
        return node

    def addHost(self, name, cls=None, **params):
        """Adds a host (``ip`` default: the next address of ``ipBase``)."""
        defaults = {
            "ip": "%s/%s"
            % (
                ipAdd(self.nextIP, ipBaseNum=self.ipBaseNum, prefixLen=self.prefixLen),
                self.prefixLen,
            )
        }
        if self.autoSetMacs:
            defaults["mac"] = macColonHex(self.nextIP)
        self.nextIP += 1
        defaults.update(params)
        h = self._make(cls or self.host, name, **defaults)
        self.hosts.append(h)
        return h

    def addSwitch(self, name, cls=None, **params):
        """Adds a switch (a Linux bridge, whatever its class)."""
        sw = self._make(cls or self.switch, name, **params)
        self.switches.append(sw)
        return sw

    def addController(self, name="c0", controller=None, **params):
        """Accepted and not run: bridges need no controller."""
        if isinstance(name, Controller):
            c = name
        else:
            cls = controller or self.controller or Controller
            if isinstance(cls, (list, tuple)):
                cls = cls[0]
            try:
                c = cls(name, **params)
            except TypeError:
                c = Controller(name)
        self.controllers.append(c)
        self.nameToNode[c.name] = c
        return c

    def addNAT(self, name="nat0", connect=True, inNamespace=False, **params):
        """Adds a NAT to the first switch (nlab's ``uplink: host``) and routes
        every host through it."""
        nat = self.addHost(name, cls=NAT, inNamespace=inNamespace, subnet=self.ipBase, **params)
        if connect:
            if not isinstance(connect, Node):
                connect = self.switches[0]
            self.addLink(nat, connect)
            natIP = nat.params["ip"].split("/")[0]
            for host in self.hosts:
                if host is not nat and host.inNamespace:
                    host.setDefaultRoute("via %s" % natIP)
        return nat

    def addLink(self, node1, node2, port1=None, port2=None, cls=None, **params):
        """Adds a link (``bw``, ``delay``, ... with ``TCLink``)."""
        node1 = self[node1] if isinstance(node1, str) else node1
        node2 = self[node2] if isinstance(node2, str) else node2
        options = dict(params)
        options.setdefault("intf", self.intf)
        cls = self.link if cls is None else cls
        link = cls(node1, node2, port1=port1, port2=port2, **options)
        self.links.append(link)
        self._dirty = True
        return link

    def delLinkBetween(self, node1, node2, index=0, allLinks=False):
        """Not offered: remove links by building the network again."""
        raise NotImplementedError("delLinkBetween is not offered by nlab's Mininet API")

    def buildFromTopo(self, topo=None):
        """Adds the topology's nodes and links."""
        info("*** Creating network\n")
        if self.controller:
            info("*** Adding controller\n")
            self.addController("c0")
        info("*** Adding hosts:\n")
        for name in topo.hosts():
            self.addHost(name, **topo.nodeInfo(name))
            info(name + " ")
        info("\n*** Adding switches:\n")
        for name in topo.switches():
            params = dict(topo.nodeInfo(name))
            params.pop("isSwitch", None)
            self.addSwitch(name, **params)
            info(name + " ")
        info("\n*** Adding links:\n")
        for src, dst, params in topo.links(sort=True, withInfo=True):
            self.addLink(**params)
            info("(%s, %s) " % (src, dst))
        info("\n")

    # --- nlab -------------------------------------------------------------
    def _nodes(self):
        return self.hosts + self.switches

    def _apply_defaults(self):
        """A node's ``ip``/``mac`` go to its default interface, as Mininet's
        config does."""
        for node in self.hosts:
            d = node.defaultIntf()
            if d is None:
                continue
            ip = node.params.get("ip")
            if ip and d.ip is None:
                d.ip = str(ip).split("/")[0]
                d.prefixLen = int(str(ip).split("/")[1]) if "/" in str(ip) else self.prefixLen
            if node.params.get("mac") and d.mac is None:
                d.mac = node.params["mac"]

    def _sync(self):
        """Brings the lab in line with the network (``nlab up``)."""
        if not self._dirty:
            return
        if self._attached:
            from ._attach import note_not_applied

            note_not_applied(self)
            self._dirty = False
            return
        self._apply_defaults()
        topo = _export.topology(self.lab, self._nodes(), self.links)
        fd = os.open(self._file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(topo, f, indent=1)
        self._up = True
        _nlab.run("up", self._file, "--name", self.lab)
        self._dirty = False
        self._live = None

    def _live_mac(self, node, ifname):
        if not self._up:
            return None
        if self._live is None:
            self._live = {}
            for n in _nlab.run_json("inspect", self.lab).get("nodes", []):
                for i in n.get("interfaces", []):
                    self._live[n["name"], i["name"]] = i.get("mac")
        return self._live.get((node, ifname))

    def build(self):
        """Builds the lab (``nlab up``) and configures the nodes."""
        if self.topo:
            self.buildFromTopo(self.topo)
        self._sync()
        self._built = self.built = True
        info("*** Configuring hosts\n")
        # Commands nodes gave themselves before their namespaces existed
        # (a Host subclass's __init__): a window of shells is started and
        # sent its commands, then their answers are read, so a few shells
        # start side by side (each start is an `nlab exec`, CPU-bound:
        # more at once than cores only queues them).
        nodes = self._nodes()
        window = 2 * (os.cpu_count() or 1)
        for i in range(0, len(nodes), window):
            for node in nodes[i : i + window]:
                node._send_deferred()
            for node in nodes[i : i + window]:
                node._finish_deferred()
        for node in self.hosts:
            info(node.name + " ")
            node.configDefault()
        info("\n")

    def start(self):
        """Builds the lab if needed; nothing else starts (no controller)."""
        if not self._built:
            self.build()
        self._sync()
        info("*** Starting controller\n")
        for c in self.controllers:
            info(c.name + " ")
            c.start()
        info("\n*** Starting %s switches\n" % len(self.switches))
        for sw in self.switches:
            info(sw.name + " ")
        info("...\n")
        if self.autoStaticArp:
            self.staticArp()

    def stop(self):
        """Ends the nodes' shells and removes the lab (``nlab down``)."""
        info("*** Stopping %i controllers\n" % len(self.controllers))
        for c in self.controllers:
            info(c.name + " ")
        info("\n*** Stopping %i links\n" % len(self.links))
        info("\n*** Stopping %i switches\n" % len(self.switches))
        for sw in self.switches:
            info(sw.name + " ")
            self._terminate(sw)
        info("\n*** Stopping %i hosts\n" % len(self.hosts))
        for h in self.hosts:
            info(h.name + " ")
            self._terminate(h)
        info("\n")
        self._down()
        info("*** Done\n")

    @staticmethod
    def _terminate(node):
        try:
            node.terminate()
        except Exception as e:  # a subclass's terminate must not keep the lab up
            error("*** %s: terminate failed: %s\n" % (node.name, e))
            Node.terminate(node)

    def _down(self):
        if self._up:
            self._up = False
            if not self._attached:
                _nlab.run("down", self.lab)
        self._built = self.built = False
        shutil.rmtree(self._dir, ignore_errors=True)

    def _atexit(self):
        if self._up:
            for node in self._nodes():
                if node.shell is not None:
                    node.shell.close()
                    node.shell = None
            try:
                self._down()
            except _nlab.NlabError as e:
                sys.stderr.write("*** nlab: removing lab %s failed: %s\n" % (self.lab, e))
        shutil.rmtree(self._dir, ignore_errors=True)

    def run(self, test, *args, **kwargs):
        """Starts the network, runs ``test``, stops the network."""
        self.start()
        try:
            result = test(*args, **kwargs)
        finally:
            self.stop()
        return result

    def interact(self):
        """Starts, opens the console, stops."""
        from .cli import CLI

        self.start()
        result = CLI(self)
        self.stop()
        return result

    def waitConnected(self, timeout=None, delay=0.5):
        """Always true: ``nlab up`` returns once the bridges forward."""
        return True

    def staticArp(self):
        """Accepted: the kernel resolves addresses (nlab's ``--arp`` adds
        static entries)."""
        debug("*** nlab: autoStaticArp: addresses are resolved by ARP\n")

    # --- lookups ----------------------------------------------------------
    def getNodeByName(self, *args):
        """The node(s) of these names."""
        if len(args) == 1:
            return self.nameToNode[args[0]]
        return [self.nameToNode[n] for n in args]

    def get(self, *args):
        """The node(s) of these names."""
        return self.getNodeByName(*args)

    def __getitem__(self, key):
        return self.nameToNode[key]

    def __delitem__(self, key):
        raise NotImplementedError("removing a node is not offered by nlab's Mininet API")

    def __iter__(self):
        for node in self.hosts + self.switches + self.controllers:
            yield node.name

    def __len__(self):
        return len(self.hosts) + len(self.switches) + len(self.controllers)

    def __contains__(self, item):
        return item in self.nameToNode

    def keys(self):
        return list(self)

    def values(self):
        return [self[n] for n in self]

    def items(self):
        return zip(self.keys(), self.values())

    # --- tests ------------------------------------------------------------
    @staticmethod
    def _parsePing(pingOutput):
        if "connect: Network is unreachable" in pingOutput:
            return 1, 0
        m = re.search(r"(\d+) packets transmitted, (\d+)( packets)? received", pingOutput)
        if m is None:
            error("*** Error: could not parse ping output: %s\n" % pingOutput)
            return 1, 0
        return int(m.group(1)), int(m.group(2))

    def ping(self, hosts=None, timeout=None):
        """Pings between every pair of ``hosts``; returns the loss in %."""
        packets = lost = 0
        if not hosts:
            hosts = self.hosts
        output("*** Ping: testing ping reachability\n")
        for node in hosts:
            output("%s -> " % node.name)
            for dest in hosts:
                if node is dest:
                    continue
                opts = "-W %s" % timeout if timeout else ""
                if dest.intfs:
                    result = node.cmd("LANG=C ping -c1 %s %s" % (opts, dest.IP()))
                    sent, received = self._parsePing(result)
                else:
                    sent = received = 0
                packets += sent
                lost += sent - received
                output(("%s " % dest.name) if received else "X ")
            output("\n")
        if packets > 0:
            ploss = 100.0 * lost / packets
            output(
                "*** Results: %i%% dropped (%d/%d received)\n" % (ploss, packets - lost, packets)
            )
        else:
            ploss = 0
            output("*** Warning: No packets sent\n")
        return ploss

    def pingAll(self, timeout=None):
        """Pings between all hosts."""
        return self.ping(timeout=timeout)

    def pingPair(self):
        """Pings between the first two hosts."""
        return self.ping([self.hosts[0], self.hosts[1]])

    @staticmethod
    def _parseIperf(iperfOutput):
        found = re.findall(r"([\d\.]+ \w+/sec)", iperfOutput)
        if found:
            return found[-1]
        error("could not parse iperf output: " + iperfOutput)
        return ""

    def iperf(self, hosts=None, l4Type="TCP", udpBw="10M", fmt=None, seconds=5, port=5001):
        """Measures bandwidth with iperf (2) from the first host to the
        second; returns ``[server, client]`` (``[udpBw, server, client]``)."""
        hosts = hosts or [self.hosts[0], self.hosts[-1]]
        client, server = hosts
        output("*** Iperf: testing", l4Type, "bandwidth between", client, "and", server, "\n")
        args = "iperf -p %d " % port
        bwArgs = ""
        if l4Type == "UDP":
            args += "-u "
            bwArgs = "-b " + udpBw + " "
        elif l4Type != "TCP":
            raise ValueError("Unexpected l4 type: %s" % l4Type)
        if fmt:
            args += "-f %s " % fmt
        log = server.cmd("mktemp /tmp/nlab-iperf.XXXXXX").strip()
        server.cmd("stdbuf -oL %s-s > %s 2>&1 &" % (args, log))
        spid = server.lastPid
        if l4Type == "TCP":
            waitListening(client, server.IP(), port)
        else:
            time.sleep(0.5)
        before = len(re.findall(r"/sec", server.cmd("cat %s" % log)))
        cliout = client.cmd(args + "-t %d -c " % seconds + server.IP() + " " + bwArgs)
        debug("Client output: %s\n" % cliout)
        servout = ""
        for _ in range(100):
            servout = server.cmd("cat %s" % log)
            if len(re.findall(r"/sec", servout)) > before:
                break
            time.sleep(0.1)
        if spid:
            server.cmd("kill %d; wait %d 2>/dev/null" % (spid, spid))
        server.cmd("rm -f %s" % log)
        debug("Server output: %s\n" % servout)
        result = [self._parseIperf(servout), self._parseIperf(cliout)]
        if l4Type == "UDP":
            result.insert(0, udpBw)
        output("*** Results: %s\n" % result)
        return result

    def runCpuLimitTest(self, cpu, duration=5):
        """Spins ``ceil(cores * cpu)`` loops per host for ``duration`` s;
        prints and returns each second's CPU use per host, in % of the
        machine."""
        import math

        info("*** Testing CPU %.0f%% bandwidth limit\n" % (cpu * 100))
        cores = os.cpu_count() or 1
        hz = os.sysconf("SC_CLK_TCK")
        procs = int(math.ceil(cores * cpu))
        pids = {}
        for h in self.hosts:
            pids[h] = []
            for _ in range(procs):
                h.cmd("while true; do a=1; done &")
                pids[h].append(int(h.cmd("echo $!").strip()))

        def ticks(h):
            total = 0
            for pid in pids[h]:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            return total

        last = {h: ticks(h) for h in self.hosts}
        outputs = {h: [] for h in self.hosts}
        for _ in range(duration):
            time.sleep(1)
            for h in self.hosts:
                now = ticks(h)
                outputs[h].append((now - last[h]) / hz / cores * 100)
                last[h] = now
        for h, hp in pids.items():
            for pid in hp:
                h.cmd("kill -9 %d" % pid)
        fractions = [pct for h in self.hosts for pct in outputs[h]]
        output("*** Results: %s\n" % fractions)
        return fractions

    def configLinkStatus(self, src, dst, status):
        """Sets every link between ``src`` and ``dst`` up or down."""
        if status not in ("up", "down"):
            error("link status must be up or down, not %r\n" % status)
            return
        a, b = self[src], self[dst]
        pairs = a.connectionsTo(b)
        if not pairs:
            error("src and dst not connected: %s %s\n" % (src, dst))
            return
        for intf, _other in pairs:
            _nlab.run("link", "set", self.lab, "%s:%s" % (a.name, intf.name), "--" + status)
            intf.link.up = status == "up"


def _raise_fd_limit():
    """Each node's shell holds two pipes: a 1,024-host network needs more
    descriptors than the usual soft limit, so take the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _catch_sigterm():
    """SIGTERM ends the script through ``sys.exit``, so the lab is removed."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class MininetWithControlNet(Mininet):
    """Accepted as a plain :class:`Mininet`."""


__all__ = ["Mininet", "MininetWithControlNet", "Switch", "Host"]
