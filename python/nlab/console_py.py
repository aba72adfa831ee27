"""The helper nlab's console starts for ``py``/``px`` on a lab no Python
script built::

    python3 -m nlab.console_py LAB      (requests on fd 3, answers on fd 4)

It attaches nlab's Mininet API to the running lab (``mininet._attach``),
says ``ready`` (or ``fail WHY``) on fd 4, then answers the console's
requests (``mininet._console_py.serve``) until fd 3 ends, when the node
shells it started end with it; the lab stays up.  ``mininet`` is nlab's
package even where Debian's comes first on ``sys.path`` (``nlab._alias``).
"""

import os
import sys

from nlab import _alias


def main(argv):
    """Serves the console on descriptors 3 and 4; returns an exit code."""
    if len(argv) != 1:
        sys.stderr.write("usage: python3 -m nlab.console_py LAB (run by nlab's console)\n")
        return 2
    try:
        answers = os.fdopen(4, "w")
        requests = os.fdopen(3, "r")
    except OSError as e:
        sys.stderr.write("nlab.console_py: no request/answer descriptors 3 and 4 (%s)\n" % e)
        return 2
    try:
        _alias.install()
        from mininet._attach import attach

        net = attach(argv[0])
    except Exception as e:
        answers.write("fail %s\n" % str(e).replace("\n", " "))
        answers.flush()
        return 1
    from mininet._console_py import serve

    answers.write("ready\n")
    answers.flush()
    serve(net, requests, answers)
    for node in net.hosts + net.switches:
        node.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
