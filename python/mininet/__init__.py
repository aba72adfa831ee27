"""Mininet's Python API over nlab.

Scripts written for Mininet (``from mininet.net import Mininet``) run
unchanged: every node is an nlab namespace, every switch a Linux bridge,
and the network is built by the ``nlab`` binary (``nlab up``), so no
controller, Open vSwitch or ``mnexec`` is needed.  ``NLAB`` names the
binary (default: ``nlab`` on ``PATH``).
"""

VERSION = "2.3.0+nlab"
