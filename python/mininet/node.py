"""Mininet's nodes over nlab: each is an nlab namespace.

``cmd`` runs in one persistent bash per node (started on first use,
ended by ``net.stop()``), so ``cd`` and ``export`` last like Mininet's.
Switches of every class (``OVSSwitch``, ``OVSKernelSwitch``,
``UserSwitch``, ``LinuxBridge``) are Linux bridges; controllers are
accepted and do nothing, since bridges need none.
"""

import os
import re
import signal
import subprocess

from . import _nlab
from ._shell import PID_MARK, SENTINEL, Shell
from .log import debug, info, output

# The network whose nodes are being made (set by Mininet around each
# constructor, so subclasses that call ``cmd`` in ``__init__`` work).
_current_net = []


class Node:
    """A namespace of the lab, with a lazily started shell."""

    portBase = 0

    def __init__(self, name, inNamespace=True, **params):
        self.name = str(name)
        self.inNamespace = inNamespace
        self.params = params
        self.intfs = {}
        self.ports = {}
        self.nameToIntf = {}
        self.net = _current_net[-1] if _current_net else None
        self.shell = None
        self.waiting = False
        self.lastCmd = None
        self.lastPid = None
        self.readbuf = ""
        self.stdin = self.stdout = None
        self.deferred = []
        if self.net is not None:
            self.net._register(self)

    # --- interfaces --------------------------------------------------------
    def newPort(self):
        """The next free port number."""
        return max(self.intfs) + 1 if self.intfs else self.portBase

    def addIntf(self, intf, port=None, moveIntfFn=None):
        """Adds an interface on ``port`` (default: the next one)."""
        if port is None:
            port = self.newPort()
        self.intfs[port] = intf
        self.ports[intf] = port
        self.nameToIntf[intf.name] = intf
        self._changed()

    def intfList(self):
        """Interfaces in port order."""
        return [self.intfs[p] for p in sorted(self.intfs)]

    def intfNames(self):
        """Interface names in port order."""
        return [str(i) for i in self.intfList()]

    def defaultIntf(self):
        """The interface with the lowest port, or None."""
        lst = self.intfList()
        return lst[0] if lst else None

    def intf(self, intf=None):
        """An interface by name (or object); the default one for None."""
        if intf is None:
            return self.defaultIntf()
        if isinstance(intf, str):
            return self.nameToIntf.get(intf)
        return intf

    def connectionsTo(self, node):
        """``[(my_intf, its_intf)]`` for every link to ``node``."""
        pairs = []
        for intf in self.intfList():
            link = intf.link
            if link is None:
                continue
            other = link.intf2 if link.intf1 is intf else link.intf1
            if other.node is node:
                pairs.append((intf, other))
        return pairs

    def deleteIntfs(self, checkName=True):
        """Accepted: ``nlab down`` removes every interface."""

    # --- addresses ---------------------------------------------------------
    def IP(self, intf=None):
        """The address of ``intf`` (default: the default interface)."""
        i = self.intf(intf)
        if i is not None and i.ip:
            return i.ip
        ip = self.params.get("ip")
        return str(ip).split("/")[0] if ip and i is None else (i.ip if i else None)

    def MAC(self, intf=None):
        """The MAC of ``intf``, as the kernel holds it once built."""
        i = self.intf(intf)
        return i.MAC() if i is not None else None

    def setIP(self, ip, prefixLen=8, intf=None, **_kwargs):
        """Sets the address of ``intf``; a built network is updated by
        ``nlab up`` (which recreates the node, and so its shell)."""
        i = self.intf(intf)
        if i is None:
            self.params["ip"] = ip if "/" in str(ip) else "%s/%s" % (ip, prefixLen)
            return None
        if "/" not in str(ip):
            ip = "%s/%s" % (ip, prefixLen)
        i.setIP(ip)
        return None

    def setMAC(self, mac, intf=None):
        """Sets the MAC of ``intf`` (applied by ``nlab up``)."""
        i = self.intf(intf)
        if i is not None:
            i.setMAC(mac)

    def setDefaultRoute(self, intf=None):
        """``'via 10.0.0.1'`` (or an address) becomes the node's gateway."""
        if isinstance(intf, str) and intf.startswith("via "):
            self.params["defaultRoute"] = intf
        elif isinstance(intf, str) and re.match(r"^[0-9.]+$", intf):
            self.params["defaultRoute"] = "via " + intf
        else:
            raise ValueError(
                "setDefaultRoute(%r) on %s: nlab takes a gateway address ('via 10.0.0.1'); "
                "a route through a device alone is not supported" % (intf, self.name)
            )
        self._changed()

    def setParam(self, results, method, **param):
        """Mininet's helper for config(): calls ``method(value)``."""
        name, value = list(param.items())[0]
        if value is None:
            return None
        f = getattr(self, method, None)
        if not f:
            return None
        result = (
            f(*value)
            if isinstance(value, list)
            else f(**value)
            if isinstance(value, dict)
            else f(value)
        )
        results[name] = result
        return result

    def config(self, mac=None, ip=None, defaultRoute=None, lo="up", **_params):
        """Node settings are applied by ``nlab up``; subclasses extend this
        (and may run commands, as Mininet's ``LinuxRouter`` does)."""
        return {}

    def configDefault(self, **moreParams):
        """``config`` with the node's parameters."""
        self.params.update(moreParams)
        self.config(**self.params)

    def _changed(self):
        if self.net is not None:
            self.net._dirty = True

    # --- commands ----------------------------------------------------------
    @property
    def pid(self):
        """The pid of the node's shell (started by this call if needed)."""
        return self._shell().pid

    def _shell(self):
        if self.net is None or not self.net._built:
            raise RuntimeError(
                "node %s has no namespace yet: build the network first (net.start())" % self.name
            )
        self.net._sync()
        if self.shell is None:
            self.shell = Shell(self.net.lab, self.name)
            self.stdin = self.shell.proc.stdin
            self.stdout = self.shell.proc.stdout
        return self.shell

    def sendCmd(self, *args, **kwargs):
        """Starts a command; read its output with ``waitOutput``/``monitor``."""
        if self.waiting:
            raise RuntimeError(
                "node %s is still running %r: call waitOutput() first" % (self.name, self.lastCmd)
            )
        cmd = _join(args)
        self.lastCmd = cmd
        self.lastPid = None
        self._shell().send(cmd)
        self.readbuf = ""
        self.waiting = True

    def sendInt(self, intr=None):
        """Interrupts the running command (SIGINT to the shell's children)."""
        if self.shell is None:
            return
        for pid in self.shell.children():
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass

    def write(self, data):
        """Writes to the shell's standard input."""
        self._shell().write(data)

    def read(self, size=1024, timeoutms=None):
        """Raw output of the shell (at most ``size`` characters)."""
        t = None if timeoutms is None else timeoutms / 1000.0
        return self._shell().read(t)[:size]

    def monitor(self, timeoutms=None, findPid=True):
        """Output so far of the command started by ``sendCmd`` (waits up to
        ``timeoutms``); sets ``waiting`` False once it has finished."""
        t = None if timeoutms is None else timeoutms / 1000.0
        data, self.readbuf = self.readbuf, ""
        if SENTINEL not in data:
            # Pipelined commands: the answer may already be buffered.
            data += self._shell().read(t)
        if findPid and PID_MARK in data:
            m = re.search("\x01(\\d+)\r?\n", data)
            if m:
                self.lastPid = int(m.group(1))
                data = data.replace(m.group(0), "")
        if SENTINEL in data:
            data, rest = data.split(SENTINEL, 1)
            self.readbuf = rest
            self.waiting = False
        elif data.endswith(SENTINEL[0]):
            self.readbuf = data[-1]
            data = data[:-1]
        return data

    def waitReadable(self, timeoutms=None):
        """Whether output is ready within ``timeoutms``."""
        import select

        poller = select.poll()
        poller.register(self._shell().fd, select.POLLIN)
        return bool(poller.poll(timeoutms))

    def waitOutput(self, verbose=False, findPid=True):
        """Everything the command started by ``sendCmd`` prints."""
        out = ""
        while self.waiting:
            data = self.monitor(findPid=findPid)
            out += data
            if verbose:
                output(data)
        return out

    def cmd(self, *args, **kwargs):
        """Runs a command in the node's shell and returns its output."""
        verbose = kwargs.get("verbose", False)
        if self.net is not None and not self.net._built:
            # Before the network exists (a subclass's __init__ configuring
            # itself): run it once the node's namespace is there.
            self.deferred.append(args)
            return ""
        self.sendCmd(*args)
        return self.waitOutput(verbose)

    def cmdPrint(self, *args):
        """``cmd``, printing the command and its output."""
        info("*** %s : %s\n" % (self.name, args))
        return self.cmd(*args, verbose=True)

    def popen(self, *args, **kwargs):
        """A ``subprocess.Popen`` of a program running in the node
        (through ``nlab exec``); stdout and stderr are pipes by default."""
        defaults = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        defaults.update(kwargs)
        shell = defaults.pop("shell", False)
        defaults.pop("mncmd", None)
        if len(args) == 1 and isinstance(args[0], list):
            cmd = args[0]
        elif len(args) == 1 and isinstance(args[0], str):
            cmd = ["bash", "-c", args[0]] if shell else args[0].split()
        else:
            cmd = [str(a) for a in args]
            if shell:
                cmd = ["bash", "-c", " ".join(cmd)]
        if self.net is None or not self.net._built:
            raise RuntimeError("node %s: build the network before popen()" % self.name)
        self.net._sync()
        return subprocess.Popen(_nlab.exec_argv(self.net.lab, self.name, cmd), **defaults)

    def pexec(self, *args, **kwargs):
        """Runs a program in the node: ``(stdout, stderr, exit code)``."""
        defaults = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        defaults.update(kwargs)
        p = self.popen(*args, **defaults)
        out, err = p.communicate()
        out = out.decode(errors="replace") if isinstance(out, bytes) else (out or "")
        err = err.decode(errors="replace") if isinstance(err, bytes) else (err or "")
        return out, err, p.returncode

    def _send_deferred(self):
        """Starts the shell and sends it the commands queued before the
        build, without waiting: every node's shell starts at once."""
        pending, self.deferred = self.deferred, []
        self._pending = len(pending)
        if pending:
            shell = self._shell()
            for args in pending:
                debug("*** %s (deferred): %s\n" % (self.name, args))
                shell.send(_join(args))

    def _finish_deferred(self):
        """Reads the answers of the commands :meth:`_send_deferred` sent."""
        while getattr(self, "_pending", 0):
            self.waiting = True
            self.waitOutput()
            self._pending -= 1

    def _run_deferred(self):
        self._send_deferred()
        self._finish_deferred()

    def terminate(self):
        """Ends the node's shell (the namespace goes with ``nlab down``)."""
        if self.shell is not None:
            self.shell.close()
            self.shell = None
        self.waiting = False

    def stop(self, deleteIntfs=False):
        """Ends the node's shell."""
        self.terminate()

    def cleanup(self):
        """Accepted: ``nlab down`` cleans up."""

    def isSwitch(self):
        """Whether the node is a switch."""
        return False

    def __repr__(self):
        intfs = ",".join("%s:%s" % (i.name, i.IP()) for i in self.intfList())
        pid = self.shell.pid if self.shell is not None else None
        return "<%s %s: %s pid=%s> " % (self.__class__.__name__, self.name, intfs, pid)

    def __str__(self):
        return self.name


def _join(args):
    """A command given as words (or one list of words) as one line."""
    cmd = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    return " ".join(str(c) for c in cmd) if not isinstance(cmd, str) else cmd


class Host(Node):
    """A host."""


class CPULimitedHost(Host):
    """A host with ``cpu=F``, a fraction of the whole machine's CPU time
    (Mininet's meaning), which nlab gives as F x cores of CFS bandwidth.
    ``sched='rt'``: real-time group scheduling, F of each period per CPU
    with SCHED_RR programs, where the kernel has it (``nlab up`` refuses
    otherwise, naming what is missing)."""

    def __init__(self, name, sched="cfs", **params):
        Host.__init__(self, name, **params)
        self.sched = sched

    def setCPUFrac(self, f, sched=None):
        """Sets the CPU fraction (applied by ``nlab up``)."""
        self.params["cpu"] = f
        self._changed()


class Switch(Node):
    """A switch: a Linux bridge in its own namespace."""

    portBase = 1

    def __init__(self, name, dpid=None, opts="", listenPort=None, **params):
        Node.__init__(self, name, **params)
        self.dpid = dpid

    def isSwitch(self):
        return True

    def start(self, controllers):
        """Accepted: the bridge forwards once ``nlab up`` returns."""

    def stop(self, deleteIntfs=True):
        self.terminate()

    def connected(self):
        """Always true: a bridge needs no controller."""
        return True

    def __repr__(self):
        intfs = ",".join("%s:%s" % (i.name, i.IP()) for i in self.intfList())
        return "<LinuxBridge %s: lo:127.0.0.1,%s>" % (self.name, intfs)


class OVSSwitch(Switch):
    """Run as a Linux bridge (this kernel has no Open vSwitch)."""


OVSKernelSwitch = OVSSwitch


class UserSwitch(Switch):
    """Run as a Linux bridge."""


class OVSBridge(OVSSwitch):
    """Run as a Linux bridge."""


class IVSSwitch(Switch):
    """Run as a Linux bridge."""


class LinuxBridge(Switch):
    """A Linux bridge (``stp`` is taken from nlab's own rules)."""

    def __init__(self, name, stp=False, prio=None, **kwargs):
        Switch.__init__(self, name, **kwargs)
        self.stp = stp


class Controller:
    """Accepted and unused: nlab's switches are Linux bridges, which need
    no OpenFlow controller."""

    _noted = False

    def __init__(
        self,
        name="c0",
        inNamespace=False,
        command="",
        cargs="",
        cdir=None,
        ip="127.0.0.1",
        port=6653,
        protocol="tcp",
        **params,
    ):
        self.name = name
        self.ip = ip
        self.port = port
        self.params = params
        if not Controller._noted:
            Controller._noted = True
            info(
                "*** nlab: controller %s accepted and not started (switches are Linux "
                "bridges)\n" % name
            )

    def start(self):
        """Nothing to start."""

    def stop(self, *args, **kwargs):
        """Nothing to stop."""

    def checkListening(self):
        """Nothing listens."""

    def IP(self, intf=None):
        return self.ip

    def isSwitch(self):
        return False

    def __repr__(self):
        return "<%s %s: %s:%s (not run: nlab needs no controller)>" % (
            self.__class__.__name__,
            self.name,
            self.ip,
            self.port,
        )

    def __str__(self):
        return self.name


class OVSController(Controller):
    """Accepted and unused (see :class:`Controller`)."""


class NOX(Controller):
    """Accepted and unused (see :class:`Controller`)."""


class Ryu(Controller):
    """Accepted and unused (see :class:`Controller`)."""


class RemoteController(Controller):
    """Accepted and unused (see :class:`Controller`)."""


DefaultController = Controller


def findController(controllers=None):
    """Mininet's lookup of an installed controller: always ``Controller``."""
    return Controller
