"""Runs a Mininet script unchanged over nlab::

    python3 -m nlab.mininet SCRIPT.py [ARGS...]
    python3 -m nlab.mininet -m mininet.examples.linuxrouter [ARGS...]

``import mininet`` and ``from mininet.net import Mininet`` in the script
(and in everything it imports) load nlab's package, even when Debian's
real ``mininet`` is installed and comes first on ``sys.path``, so no venv
is needed.  The script runs as ``__main__`` with ``sys.argv`` and
``sys.path[0]`` as ``python3 SCRIPT.py ARGS`` would set them.
"""

import os
import runpy
import sys

from nlab import _alias

USAGE = "usage: python3 -m nlab.mininet SCRIPT.py [ARGS...] | -m MODULE [ARGS...]\n"


def main(argv):
    """Runs the script or module ``argv`` names; returns an exit code."""
    if not argv or argv[0] in ("-h", "--help"):
        sys.stderr.write(USAGE)
        return 0 if argv else 2
    try:
        _alias.install()
    except ImportError as e:
        sys.stderr.write("nlab.mininet: %s\n" % e)
        return 2
    if argv[0] == "-m":
        if len(argv) < 2:
            sys.stderr.write(USAGE)
            return 2
        sys.argv = [argv[1]] + argv[2:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    if not os.path.isfile(script):
        sys.stderr.write("nlab.mininet: no such script: %s\n" % script)
        return 2
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
