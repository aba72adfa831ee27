"""``CLI(net)`` opens nlab's console (``nlab cli LAB``) on the network:
Mininet's commands (``pingall``, ``h1 ping h2``, ``net``, ``dump``, ...)
with its output.  Without a terminal it reads commands from standard
input, as ``nlab cli LAB < script`` does.

``py``/``px`` in that console run in this process, on this ``net`` and
its node objects (a thread serves them on a Unix socket in the network's
private directory while the console runs).  The nodes' Python objects
keep their own shells (``h1.cmd``), apart from the console's."""

import os
import signal
import subprocess
import sys
import threading

from . import _nlab
from ._console_py import SocketServer


class CLI:
    """Runs nlab's console on ``mininet`` until it exits."""

    prompt = "mininet> "

    def __init__(self, mininet, stdin=sys.stdin, script=None, cmd=None, **_kwargs):
        self.mn = mininet
        mininet._sync()
        sys.stdout.flush()
        sys.stderr.flush()
        argv = [_nlab.binary(), "cli", mininet.lab]
        server = SocketServer(mininet)
        env = dict(os.environ, NLAB_PY_SOCKET=server.path)
        # Ctrl-C at the console is the console's (it stops a node's
        # command): this process, in the same terminal group, ignores it
        # while the console runs.
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            if cmd:
                argv += ["-c", cmd]
                subprocess.run(argv, stdin=subprocess.DEVNULL, env=env, check=False)
            elif script:
                with open(script) as f:
                    subprocess.run(argv, stdin=f, env=env, check=False)
            else:
                stdin = stdin if hasattr(stdin, "fileno") else None
                subprocess.run(argv, stdin=stdin, env=env, check=False)
        finally:
            if main:
                signal.signal(signal.SIGINT, old)
            server.close()
