"""Mininet's logging: ``setLogLevel``, ``info``, ``output``, ``debug``, ...

Like Mininet's, the functions take several arguments and join them with
spaces, and write without adding a newline.
"""

import sys

LEVELS = {
    "debug": 10,
    "info": 20,
    "output": 25,
    "warning": 30,
    "warn": 30,
    "error": 40,
    "critical": 50,
}


class _Logger:
    """The ``lg`` object Mininet scripts use (``lg.setLogLevel('info')``)."""

    def __init__(self):
        self.level = LEVELS["output"]

    def setLogLevel(self, level=None):
        """Sets the level by name (``info``, ``output``, ...)."""
        if level is None:
            level = "output"
        if level not in LEVELS:
            raise ValueError("unknown log level %r: use one of %s" % (level, " ".join(LEVELS)))
        self.level = LEVELS[level]

    def emit(self, level, *args):
        """Writes the joined arguments when ``level`` is on."""
        if LEVELS[level] < self.level:
            return
        stream = sys.stderr if LEVELS[level] >= LEVELS["warning"] else sys.stdout
        stream.write(" ".join(str(a) for a in args))
        stream.flush()

    def isEnabledFor(self, level):
        """Whether messages of ``level`` (a number) are shown."""
        return level >= self.level

    def debug(self, *args):
        self.emit("debug", *args)

    def info(self, *args):
        self.emit("info", *args)

    def output(self, *args):
        self.emit("output", *args)

    def warn(self, *args):
        self.emit("warning", *args)

    warning = warn

    def error(self, *args):
        self.emit("error", *args)


lg = _Logger()
setLogLevel = lg.setLogLevel
debug = lg.debug
info = lg.info
output = lg.output
warn = lg.warn
warning = lg.warning
error = lg.error
