"""A :class:`~mininet.net.Mininet` over a lab that is already running
(``nlab up``, ``nlab up --topo``, a console's lab): its nodes, interfaces,
addresses and links read from the kernel (``nlab inspect``), so Mininet's
API (``net.hosts``, ``h1.IP()``, ``h1.cmd(...)``, ``net.pingAll()``) works
on it.  The lab is not this process's: ``stop()`` and the end of the
process end the node shells it started and leave the lab up, and changes
to its structure (``addLink``, ``setIP``) are not applied."""

import json
import re

from . import _nlab
from .link import Link
from .log import warn
from .net import Mininet
from .node import Host, LinuxBridge

SWITCH_KINDS = ("switch", "bridge")


def _inspect(lab):
    # `inspect` exits 1 when something drifted: its description still
    # stands, so its answer is read whatever the exit code.
    out = _nlab.run("inspect", lab, "--json", check=False)
    try:
        return json.loads(out)
    except ValueError:
        raise _nlab.NlabError(
            "cannot attach to lab %r: `nlab inspect %s` gave no description; "
            "is the lab up (nlab list)?" % (lab, lab)
        ) from None


def _port(node, ifname):
    m = re.search(r"-eth(\d+)$", ifname)
    if m and int(m.group(1)) not in node.intfs:
        return int(m.group(1))
    return node.newPort()


def _ipv4(iface):
    for a in iface.get("addrs", []):
        if ":" not in a:
            return a
    return None


def attach(lab):
    """The network of running lab ``lab``, as a :class:`Mininet`."""
    desc = _inspect(lab)
    net = Mininet(build=False, controller=None)
    net.lab = lab
    net._attached = True
    ifaces = {}
    for n in sorted(desc.get("nodes", []), key=lambda n: _natural(n["name"])):
        if n.get("kind") in SWITCH_KINDS:
            net.addSwitch(n["name"], cls=LinuxBridge)
        else:
            net.addHost(n["name"], cls=Host, ip=None)
        for i in n.get("interfaces", []):
            if i["name"] != "lo" and i.get("kind") != "bridge":
                ifaces[n["name"], i["name"]] = i
    done = set()
    for (node, ifname), i in sorted(ifaces.items(), key=lambda kv: _natural("%s %s" % kv[0])):
        if (node, ifname) in done:
            continue
        peer = tuple(i.get("peer", "").split(":", 1))
        n1 = net[node]
        if len(peer) == 2 and peer in ifaces and peer not in done:
            n2 = net[peer[0]]
            link = Link(
                n1,
                n2,
                port1=_port(n1, ifname),
                port2=_port(n2, peer[1]),
                intfName1=ifname,
                intfName2=peer[1],
            )
            link.up = bool(i.get("up", True)) and bool(ifaces[peer].get("up", True))
            net.links.append(link)
            done.add(peer)
        else:
            from .link import Intf

            Intf(ifname, node=n1, port=_port(n1, ifname))
        done.add((node, ifname))
    for (node, ifname), i in ifaces.items():
        ip = _ipv4(i)
        if ip:
            net[node].intf(ifname).setIP(ip)
    net._up = net._built = net.built = True
    net._dirty = False
    return net


def _natural(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def note_not_applied(net):
    """What an attached network says when asked to change the lab."""
    if not getattr(net, "_noted", False):
        net._noted = True
        warn(
            "*** nlab: lab %s was attached, not built by this process: changes to its nodes, "
            "links and addresses are not applied (edit its topology and run nlab up)\n" % net.lab
        )
