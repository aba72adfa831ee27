"""Mininet's own examples, where they are installed (Debian's ``mininet``).

nlab's ``mininet`` package shadows Mininet's; this subpackage extends its
search path with every other ``mininet/examples`` directory on ``sys.path``,
so ``python -m mininet.examples.linuxrouter`` and ``from
mininet.examples.treeping64 import HostV4`` load the installed example
files, which then import nlab's API.
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
for _entry in sys.path:
    _cand = os.path.join(_entry or os.getcwd(), "mininet", "examples")
    if os.path.isdir(_cand) and os.path.abspath(_cand) != _here and _cand not in __path__:
        __path__.append(_cand)
