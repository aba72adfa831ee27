"""Makes ``import mininet`` (and ``mininet.*``) load nlab's package, the
``mininet`` directory installed beside this one, whatever else
``sys.path`` holds: Debian's ``mininet`` may come first there (a system
Python, no venv).  Only the top-level name needs redirecting: submodules
are found through the package's ``__path__``, and ``mininet.examples``
(nlab's) extends its own path with the installed examples directories."""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mininet")


class NlabMininetFinder(importlib.abc.MetaPathFinder):
    """Finds the top-level ``mininet`` package in nlab's directory only."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "mininet":
            return None
        return importlib.util.spec_from_file_location(
            "mininet",
            os.path.join(PACKAGE_DIR, "__init__.py"),
            submodule_search_locations=[PACKAGE_DIR],
        )


def is_nlabs(module):
    """Whether ``module`` (a ``mininet`` package) is nlab's."""
    return "+nlab" in str(getattr(module, "VERSION", ""))


def install():
    """Puts the finder first and imports nlab's ``mininet``; returns it.

    Raises ``ImportError`` with what to do when nlab's package is not
    beside this one."""
    if not os.path.isfile(os.path.join(PACKAGE_DIR, "__init__.py")):
        raise ImportError(
            "nlab's mininet package is not installed beside nlab (%s): install both from "
            "nlab's checkout (pip install ./python)" % PACKAGE_DIR
        )
    # Anything of another mininet imported already goes, so nothing mixes.
    if "mininet" in sys.modules and not is_nlabs(sys.modules["mininet"]):
        for name in [n for n in sys.modules if n == "mininet" or n.startswith("mininet.")]:
            del sys.modules[name]
    if not any(isinstance(f, NlabMininetFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, NlabMininetFinder())
    import mininet

    if not is_nlabs(mininet):
        raise ImportError("importing mininet gave %s, not nlab's package" % mininet.__file__)
    return mininet
