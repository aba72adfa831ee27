"""How the package drives the ``nlab`` binary: one place for every call.

``NLAB`` names the binary (default ``nlab`` on ``PATH``).  A failed call
raises :class:`NlabError` with the command, its exit code and nlab's own
message, which says what failed and what to do.
"""

import itertools
import json
import os
import shutil
import subprocess

_counter = itertools.count(1)


class NlabError(RuntimeError):
    """An ``nlab`` command failed (its message is nlab's)."""


def binary():
    """The nlab binary: ``$NLAB``, else ``nlab`` on ``PATH``."""
    name = os.environ.get("NLAB", "nlab")
    path = shutil.which(name)
    if path is None:
        raise NlabError(
            "cannot find the nlab binary %r: build it (cargo build) and put it on PATH, "
            "or set NLAB=/path/to/nlab" % name
        )
    return path


def run(*args, check=True, capture=True):
    """Runs ``nlab ARGS``; returns its stdout (text)."""
    cmd = [binary()] + [str(a) for a in args]
    res = subprocess.run(
        cmd,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        stdin=subprocess.DEVNULL,
        text=True,
        check=False,
    )
    if check and res.returncode != 0:
        msg = (res.stderr or "").strip() or (res.stdout or "").strip()
        raise NlabError("%s failed (exit %d): %s" % (" ".join(cmd[1:3]), res.returncode, msg))
    return res.stdout or ""


def run_json(*args):
    """Runs ``nlab ARGS --json`` and parses its answer."""
    return json.loads(run(*args, "--json"))


def exec_argv(lab, node, argv):
    """The command line that runs ``argv`` inside ``node`` of ``lab``."""
    return [binary(), "exec", lab, node, "--"] + list(argv)


def new_lab_name():
    """A lab name of this process: ``$NLAB_MN_LAB`` for the first, else
    ``mn<pid>x<n>`` (at most 24 characters, as nlab allows)."""
    n = next(_counter)
    fixed = os.environ.get("NLAB_MN_LAB")
    if fixed:
        return fixed if n == 1 else "%s%d" % (fixed[:20], n)
    return ("mn%dx%d" % (os.getpid(), n))[:24]
