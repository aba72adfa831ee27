"""What serves the console's ``py EXPR`` and ``px STMT`` (Mininet's): one
request per line, ``py SRC`` or ``px SRC``, evaluated with ``net`` and
every node name bound to the network's objects, in one namespace that
lasts from one request to the next (``px x = 5`` then ``py x`` prints 5).
Output goes where the process's own goes (the console's terminal); the
answer line, ``ok`` or ``err``, says when it is complete.

Two servers use it: ``CLI(net)`` in a script (a thread on a Unix socket
whose path the console gets in ``NLAB_PY_SOCKET``, so ``py`` sees the
script's own ``net``), and ``python3 -m nlab.console_py LAB``, the helper
the console starts on a lab no Python built (attached: ``mininet._attach``).
"""

import os
import socket
import sys
import threading
import time
import traceback


def namespace(net):
    """The names ``py``/``px`` start with: Mininet's CLI module's useful
    ones, and ``net``."""
    from . import log, util

    ns = {"__name__": "__console__", "os": os, "sys": sys, "time": time, "net": net}
    for name in ("info", "output", "error", "warn", "debug", "setLogLevel"):
        ns[name] = getattr(log, name)
    for name in ("dumpNodeConnections", "dumpPorts", "dumpNetConnections", "quietRun"):
        if hasattr(util, name):
            ns[name] = getattr(util, name)
    return ns


def evaluate(net, ns, op, src):
    """Runs one request; True when it succeeded. As Mininet's: ``py``
    prints a string result as it is, anything else but None as its
    repr."""
    for name in net.keys():
        ns[name] = net[name]
    try:
        if op == "py":
            result = eval(compile(src, "<py>", "eval"), ns)
            if result is not None:
                sys.stdout.write((result if isinstance(result, str) else repr(result)) + "\n")
        elif op == "px":
            exec(compile(src, "<px>", "exec"), ns)
        else:
            sys.stderr.write("*** unknown request %r (py or px)\n" % op)
            return False
        return True
    except KeyboardInterrupt:
        sys.stderr.write("*** %s: interrupted\n" % op)
        return False
    except BaseException as e:  # SystemExit too: the console lives on
        if os.environ.get("NLAB_PY_TRACEBACK"):
            traceback.print_exc()
        sys.stderr.write("*** %s: %s: %s\n" % (op, type(e).__name__, e))
        return False
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def serve(net, reader, writer, ns=None):
    """Answers requests from ``reader`` on ``writer`` until the reader ends."""
    ns = namespace(net) if ns is None else ns
    while True:
        line = reader.readline()
        if not line:
            return
        op, _, src = line.rstrip("\n").partition(" ")
        ok = evaluate(net, ns, op, src)
        writer.write("ok\n" if ok else "err\n")
        writer.flush()


class SocketServer:
    """``CLI(net)``'s server: a Unix socket in the network's private
    directory (mode 0700), one console connection at a time, served by a
    daemon thread while the console runs."""

    def __init__(self, net):
        self.net = net
        self.ns = namespace(net)
        self.path = os.path.join(net._dir, "py.sock")
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self.sock.listen(1)
        self.thread = threading.Thread(target=self._run, name="nlab-py", daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("r") as r, conn.makefile("w") as w:
                try:
                    serve(self.net, r, w, self.ns)
                except OSError:
                    pass

    def close(self):
        """Stops listening and removes the socket."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
