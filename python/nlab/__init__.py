"""nlab's Python entry points.

``python3 -m nlab.mininet SCRIPT [ARGS]`` runs a Mininet script unchanged
with the ``mininet`` import names resolving to nlab's package, even where
Debian's real ``mininet`` comes first on ``sys.path`` (see
:mod:`nlab.mininet`).  ``python3 -m nlab.console_py LAB`` is the helper
nlab's console starts for ``py``/``px`` (see :mod:`nlab.console_py`).
"""
