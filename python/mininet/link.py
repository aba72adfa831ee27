"""Mininet's links and interfaces.  A link is a veth pair nlab creates;
``TCLink``/``TCIntf`` parameters (``bw``, ``delay``, ``jitter``, ``loss``,
``max_queue_size``) become the link's nlab conditions, carried by the
kernel's qdiscs or nlab's userspace emulator (``nlab link show``)."""

# Parameters of TCIntf that nlab carries, and those it accepts as no-ops.
TC_KEYS = ("bw", "delay", "jitter", "loss", "max_queue_size")
TC_IGNORED = (
    "use_htb",
    "use_hfsc",
    "use_tbf",
    "latency_ms",
    "enable_ecn",
    "enable_red",
    "speedup",
    "smooth_change",
    "enable_gro",
)


class Intf:
    """An interface: a name on a node, maybe an address and a MAC."""

    def __init__(self, name, node=None, port=None, link=None, mac=None, ip=None, **params):
        self.name = name
        self.node = node
        self.link = link
        self.mac = mac
        self.ip = None
        self.prefixLen = None
        self.params = params
        if ip is not None:
            self.setIP(ip)
        if node is not None:
            node.addIntf(self, port=port)

    def setIP(self, ip, prefixLen=None):
        """Sets the address (``10.0.0.1/8`` or ``10.0.0.1`` and a length)."""
        if "/" in str(ip):
            ip, plen = str(ip).split("/", 1)
            prefixLen = int(plen)
        self.ip = ip
        self.prefixLen = prefixLen
        if self.node is not None:
            self.node._changed()

    def setMAC(self, mac):
        """Sets the MAC address."""
        self.mac = mac
        if self.node is not None:
            self.node._changed()

    def IP(self):
        """The address, without its prefix length."""
        return self.ip

    def MAC(self):
        """The MAC the kernel holds (after the network is built)."""
        if self.node is not None and self.node.net is not None:
            live = self.node.net._live_mac(self.node.name, self.name)
            if live:
                return live
        return self.mac

    def isUp(self, setUp=False):
        """Whether the link is administratively up."""
        return True if self.link is None else self.link.up

    def tc_params(self):
        """This interface's TC parameters (empty for a plain Intf)."""
        return {}

    def config(self, **_params):
        """Accepted: nlab configures interfaces when it builds the network."""
        return {}

    def delete(self):
        """Accepted: ``nlab down`` removes every interface."""

    def rename(self, newname):
        """Renames the interface (before the network is built)."""
        self.name = newname
        if self.node is not None:
            self.node._changed()

    def __repr__(self):
        return "<%s %s>" % (self.__class__.__name__, self.name)

    def __str__(self):
        return self.name


class TCIntf(Intf):
    """An interface whose sent traffic is shaped: ``bw`` (Mbit/s), ``delay``,
    ``jitter``, ``loss`` (%), ``max_queue_size`` (packets)."""

    def tc_params(self):
        return {k: self.params[k] for k in TC_KEYS if self.params.get(k) not in (None, 0, "")}


class Link:
    """A link between two nodes: interfaces ``node-ethN`` numbered like
    Mininet's (switch ports from 1, other nodes from 0)."""

    def __init__(
        self,
        node1,
        node2,
        port1=None,
        port2=None,
        intfName1=None,
        intfName2=None,
        addr1=None,
        addr2=None,
        intf=Intf,
        cls1=None,
        cls2=None,
        params1=None,
        params2=None,
        fast=True,
        **params,
    ):
        params1 = dict(params, **(params1 or {}))
        params2 = dict(params, **(params2 or {}))
        if port1 is None:
            port1 = node1.newPort()
        if port2 is None:
            port2 = node2.newPort()
        if intfName1 is None:
            intfName1 = "%s-eth%s" % (node1.name, port1)
        if intfName2 is None:
            intfName2 = "%s-eth%s" % (node2.name, port2)
        cls1 = cls1 or intf
        cls2 = cls2 or intf
        self.up = True
        self.intf1 = cls1(name=intfName1, node=node1, port=port1, link=self, mac=addr1, **params1)
        self.intf2 = cls2(name=intfName2, node=node2, port=port2, link=self, mac=addr2, **params2)

    def intfs(self):
        """Both interfaces."""
        return self.intf1, self.intf2

    def delete(self):
        """Accepted: ``nlab down`` removes every link."""

    def stop(self):
        """Accepted: ``nlab down`` removes every link."""

    def status(self):
        """``(OK OK)`` or ``(MISSING ...)`` as Mininet's ``links`` prints."""
        return "(OK OK)" if self.up else "(DOWN DOWN)"

    def __str__(self):
        return "%s<->%s" % (self.intf1, self.intf2)

    def __repr__(self):
        return "<%s %s>" % (self.__class__.__name__, self)


class TCLink(Link):
    """A link whose both ends are :class:`TCIntf` with the same parameters."""

    def __init__(
        self,
        node1,
        node2,
        port1=None,
        port2=None,
        intfName1=None,
        intfName2=None,
        addr1=None,
        addr2=None,
        **params,
    ):
        params1 = dict(params, **(params.pop("params1", None) or {}))
        params2 = dict(params, **(params.pop("params2", None) or {}))
        params1.pop("params2", None)
        params2.pop("params1", None)
        Link.__init__(
            self,
            node1,
            node2,
            port1=port1,
            port2=port2,
            intfName1=intfName1,
            intfName2=intfName2,
            cls1=TCIntf,
            cls2=TCIntf,
            addr1=addr1,
            addr2=addr2,
            params1=params1,
            params2=params2,
        )


class OVSLink(Link):
    """Accepted as a plain veth :class:`Link` (nlab has no Open vSwitch)."""


class OVSIntf(Intf):
    """Accepted as a plain :class:`Intf`."""
