"""Prints a Mininet custom topology as an nlab topology (JSON).

``python3 -m mininet.nlab_export FILE.py NAME[,ARGS]`` loads ``FILE.py``
as ``mn --custom`` does (its ``topos = {...}`` dict), builds
``topos[NAME](*ARGS)`` and prints the nodes and links as nlab's topology
file.  ``nlab up --custom FILE.py --topo NAME,ARGS`` runs this.
"""

import json
import re
import runpy
import sys

from . import _export
from .log import lg
from .net import Mininet
from .util import buildTopo


def export(path, spec):
    """The nlab topology (a dict) of ``topos[NAME](ARGS)`` in ``path``."""
    lg.setLogLevel("warning")
    scope = runpy.run_path(path, run_name="__nlab_custom__")
    topos = scope.get("topos")
    if not isinstance(topos, dict) or not topos:
        raise SystemExit(
            "%s defines no topos = {'name': TopoClass} dict: Mininet's --custom files name "
            "their topologies there" % path
        )
    try:
        topo = buildTopo(topos, spec)
    except KeyError as e:
        raise SystemExit("%s: %s" % (path, e.args[0])) from None
    net = Mininet(build=False, controller=None)
    net.buildFromTopo(topo)
    net._apply_defaults()
    name = re.sub(r"[^a-z0-9_-]", "-", spec.split(",")[0].lower()).strip("-")[:24] or "custom"
    data = _export.topology(name, net._nodes(), net.links)
    net._atexit()
    return data


def main(argv=None):
    """Command line: ``FILE.py NAME[,ARGS]``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        sys.stderr.write("usage: python3 -m mininet.nlab_export FILE.py NAME[,ARGS]\n")
        return 2
    json.dump(export(argv[0], argv[1]), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
