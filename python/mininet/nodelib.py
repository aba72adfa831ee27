"""Mininet's node library: ``NAT`` and ``LinuxBridge``.

A ``NAT`` becomes an nlab ``kind: nat`` node (masquerade through nft,
applied by nlab).  With ``inetIntf`` linked to a switch, the first other
host on that segment stands in for the internet (``kind: internet``); a
NAT with no such link (``net.addNAT()``) is nlab's ``uplink: host``,
which reaches what this machine reaches.
"""

from .node import LinuxBridge, Node

__all__ = ["NAT", "LinuxBridge"]


class NAT(Node):
    """A NAT gateway for ``subnet`` through ``inetIntf``."""

    def __init__(self, name, subnet="10.0/8", localIntf=None, flush=False, inetIntf=None, **params):
        Node.__init__(self, name, **params)
        self.subnet = subnet
        self.localIntf = localIntf
        self.inetIntf = inetIntf
