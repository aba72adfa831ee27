"""Mininet's utilities that scripts import."""

import os
import re
import select
import subprocess
from functools import partial

from .log import output
from .topo import natural


def decode(s):
    """Bytes to text (text stays text)."""
    return s.decode(errors="replace") if isinstance(s, bytes) else s


def encode(s):
    """Text to bytes."""
    return s.encode() if isinstance(s, str) else s


def errRun(*cmd, **kwargs):
    """Runs a command on this machine: ``(stdout, stderr, exit code)``;
    a single string is split on spaces unless ``shell=True``."""
    stderr = kwargs.get("stderr", subprocess.PIPE)
    shell = kwargs.get("shell", False)
    if len(cmd) == 1:
        cmd = cmd[0]
    if isinstance(cmd, str) and not shell:
        cmd = [c for c in cmd.split(" ") if c]
    elif isinstance(cmd, (list, tuple)) and shell:
        cmd = " ".join(str(c) for c in cmd)
    p = subprocess.run(
        cmd,
        stdout=subprocess.PIPE,
        stderr=stderr,
        shell=shell,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    err = decode(p.stderr) if p.stderr is not None else ""
    return decode(p.stdout), err, p.returncode


def quietRun(cmd, **kwargs):
    """Runs a command on this machine; its stdout and stderr as one text."""
    out, err, _ = errRun(cmd, stderr=subprocess.STDOUT, **kwargs)
    return out + err


def run(cmd):
    """Runs a command on this machine; its stdout."""
    return errRun(cmd)[0]


def checkRun(cmd):
    """Runs a command; raises if it fails."""
    return subprocess.check_output(cmd.split(" ") if isinstance(cmd, str) else cmd)


def irange(start, end):
    """``range`` including ``end``."""
    return range(start, end + 1)


def custom(cls, **params):
    """``cls`` with default parameters (what ``partial`` does)."""

    def customized(*args, **kwargs):
        kwargs = kwargs.copy()
        kwargs.update(params)
        return cls(*args, **kwargs)

    customized.__name__ = "custom(%s,%s)" % (cls, params)
    customized.cls = cls
    customized.params = params
    return customized


def splitArgs(argstr):
    """``'tree,2,depth=3'`` into ``('tree', [2], {'depth': 3})``."""
    split = argstr.split(",")
    fn = split[0]
    params = split[1:]
    args = [makeNumeric(s) for s in params if "=" not in s]
    kwargs = {}
    for s in [p for p in params if "=" in p]:
        key, val = s.split("=", 1)
        kwargs[key] = makeNumeric(val)
    return fn, args, kwargs


def makeNumeric(s):
    """``'3'`` to 3, ``'0.5'`` to 0.5, anything else unchanged."""
    try:
        return int(s)
    except ValueError:
        try:
            return float(s)
        except ValueError:
            return s


def customClass(classes, argStr):
    """A class from a dict by ``'name,args'``, with those parameters."""
    cname, args, kwargs = splitArgs(argStr)
    cls = classes.get(cname)
    if not cls:
        raise KeyError("error: %s is unknown - please specify one of %s" % (cname, sorted(classes)))
    if not args and not kwargs:
        return cls
    return partial(cls, *args, **kwargs)


def buildTopo(topos, topoStr):
    """A topology object from a dict of constructors by ``'name,args'``."""
    topo, args, kwargs = splitArgs(topoStr)
    if topo not in topos:
        raise KeyError("unknown topology %r: the file offers %s" % (topo, ", ".join(sorted(topos))))
    return topos[topo](*args, **kwargs)


def ipStr(ip):
    """A 32-bit number as dotted quad."""
    return ".".join(str((ip >> s) & 0xFF) for s in (24, 16, 8, 0))


def ipNum(w, x, y, z):
    """Four bytes as a 32-bit number."""
    return (w << 24) | (x << 16) | (y << 8) | z


def ipParse(ip):
    """A dotted quad (maybe short, ``10.1``) as a number."""
    args = [int(arg) for arg in ip.split(".")]
    while len(args) < 4:
        args.insert(len(args) - 1, 0)
    return ipNum(*args)


def ipAdd(i, prefixLen=8, ipBaseNum=0x0A000000):
    """The ``i``-th address of the network ``ipBaseNum/prefixLen``."""
    imax = 0xFFFFFFFF >> prefixLen
    if i > imax:
        raise ValueError("address %d does not fit in a /%d" % (i, prefixLen))
    mask = 0xFFFFFFFF ^ imax
    return ipStr((ipBaseNum & mask) + i)


def netParse(ipstr):
    """``'10.0.0.0/8'`` as ``(number, prefix length)``."""
    prefixLen = 0
    if "/" in ipstr:
        ip, pf = ipstr.split("/")
        prefixLen = int(pf)
    else:
        ip = ipstr
        prefixLen = 24
    return ipParse(ip), prefixLen


def macColonHex(mac):
    """A 48-bit number as ``00:00:00:00:00:01``."""
    return ":".join("%02x" % ((mac >> s) & 0xFF) for s in range(40, -1, -8))


def numCores():
    """CPU cores of this machine."""
    return os.cpu_count() or 1


def fixLimits():
    """Accepted: nlab needs no raised limits for its labs."""


def moveIntf(*_args, **_kwargs):
    """Accepted: nlab creates each interface in its namespace."""
    return True


def waitListening(client=None, server="127.0.0.1", port=80, timeout=None):
    """Waits until ``server:port`` accepts TCP connections from ``client``."""
    ip = server if isinstance(server, str) else server.IP()
    loops = int((timeout or 10) / 0.1)
    probe = (
        "for i in $(seq %d); do (exec 3<>/dev/tcp/%s/%s) 2>/dev/null && exit 0; "
        "sleep 0.1; done; exit 1" % (loops, ip, port)
    )
    if client is None:
        return subprocess.run(["bash", "-c", probe], check=False).returncode == 0
    return client.cmd("(%s) && echo listening" % probe).strip().endswith("listening")


def pmonitor(popens, timeoutms=500, readline=True, readmax=1024):
    """Yields ``(host, line)`` from a dict of host to Popen as lines come,
    ``(None, '')`` on a timeout, until every process has ended."""
    poller = select.poll()
    fdToHost = {}
    for host, popen in popens.items():
        fd = popen.stdout.fileno()
        fdToHost[fd] = host
        poller.register(fd, select.POLLIN)
        if not readline:
            os.set_blocking(fd, False)
    while popens:
        fds = poller.poll(timeoutms)
        if fds:
            for fd, event in fds:
                host = fdToHost[fd]
                popen = popens[host]
                if event & select.POLLIN or event & select.POLLHUP:
                    while True:
                        try:
                            f = popen.stdout
                            line = f.readline() if readline else f.read(readmax)
                        except OSError:
                            line = ""
                        if line == "" or line == b"":
                            break
                        yield host, decode(line)
                        if readline:
                            break
                if popen.poll() is not None:
                    rest = popen.stdout.read()
                    for extra in decode(rest or b"").splitlines(True):
                        yield host, extra
                    poller.unregister(fd)
                    del popens[host]
        else:
            yield None, ""


def dumpNodeConnections(nodes):
    """Prints each node's links: ``h1 h1-eth0:s1-eth1``."""
    for node in nodes:
        output(node.name)
        for intf in node.intfList():
            output(" %s:" % intf)
            if intf.link:
                peer = intf.link.intf2 if intf.link.intf1 is intf else intf.link.intf1
                output(peer)
            else:
                output(" ")
        output("\n")


def dumpNetConnections(net):
    """Prints every node's links."""
    dumpNodeConnections(net.controllers + net.switches + net.hosts)


def dumpPorts(switches):
    """Prints each switch's ports: ``s1 lo:0 s1-eth1:1``."""
    for switch in switches:
        output("%s " % switch.name)
        for intf in switch.intfList():
            output("%s:%d " % (intf, switch.ports[intf]))
        output("\n")


def sortedkeys(d):
    """Keys in natural order."""
    return sorted(d, key=natural)


def quietRunRe(cmd, pattern):
    """Whether ``pattern`` appears in the output of ``cmd``."""
    return re.search(pattern, quietRun(cmd)) is not None
