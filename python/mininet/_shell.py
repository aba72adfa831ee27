"""One persistent bash per node, as Mininet keeps one: ``cd`` and
``export`` last from one ``cmd`` to the next.

The shell runs through ``nlab exec LAB NODE -- bash`` (so it gets the
node's network, hosts file and limits), with its stdout and stderr on one
pipe.  Each command is sent as ``{ CMD\\n} </dev/null`` followed by a
sentinel the reader waits for, so a command that reads its standard input
cannot swallow the next one.
"""

import os
import select
import signal
import subprocess

from . import _nlab

SENTINEL = "\x1f\x7f"
_SENTINEL_CMD = "printf '\\037\\177'"
# Mininet's marker for the pid of a command sent with a trailing '&'.
PID_MARK = "\x01"


class Shell:
    """A bash inside one node."""

    def __init__(self, lab, node):
        argv = _nlab.exec_argv(lab, node, ["bash", "--norc", "--noprofile"])
        env = dict(os.environ, PS1="", PS2="")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.fd = self.proc.stdout.fileno()
        self.buf = ""
        self.node = node

    def write(self, text):
        """Writes raw text to the shell's standard input."""
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def send(self, cmd):
        """Starts ``cmd``; the answer is read by :meth:`read_until_done`."""
        line = cmd.rstrip()
        if line.endswith("&"):
            # As Mininet does: report the background job's pid.
            tail = "printf '\\001%d\\n' $!; " + _SENTINEL_CMD
        else:
            tail = _SENTINEL_CMD
        self.write("{ %s\n} </dev/null\n%s\n" % (line, tail))

    def read(self, timeout=None):
        """What the shell wrote within ``timeout`` seconds (None: wait)."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN | select.POLLHUP)
        if not poller.poll(None if timeout is None else int(timeout * 1000)):
            return ""
        data = os.read(self.fd, 65536)
        if not data:
            raise EOFError("the shell of node %s ended" % self.node)
        return data.decode(errors="replace")

    def close(self):
        """Ends the shell and every process of its session."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                os.killpg(self.pid, signal.SIGHUP)
            except OSError:
                pass
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.kill_tree()
                self.proc.wait()
        self.proc.stdout.close()

    def kill_tree(self):
        """SIGKILL to the shell's process group."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass

    def children(self):
        """Pids whose parent is the shell (its running commands)."""
        kids = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.pid:
                kids.append(int(pid))
        return kids
