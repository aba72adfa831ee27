"""``CLI(net)`` opens nlab's console (``nlab cli LAB``) on the network:
Mininet's commands (``pingall``, ``h1 ping h2``, ``net``, ``dump``, ...)
with its output.  Without a terminal it reads commands from standard
input, as ``nlab cli LAB < script`` does."""

import subprocess
import sys

from . import _nlab


class CLI:
    """Runs nlab's console on ``mininet`` until it exits."""

    prompt = "mininet> "

    def __init__(self, mininet, stdin=sys.stdin, script=None, cmd=None, **_kwargs):
        self.mn = mininet
        mininet._sync()
        sys.stdout.flush()
        sys.stderr.flush()
        argv = [_nlab.binary(), "cli", mininet.lab]
        if cmd:
            argv += ["-c", cmd]
            subprocess.run(argv, stdin=subprocess.DEVNULL, check=False)
        elif script:
            with open(script) as f:
                subprocess.run(argv, stdin=f, check=False)
        else:
            subprocess.run(argv, stdin=stdin if hasattr(stdin, "fileno") else None, check=False)
