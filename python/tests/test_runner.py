"""``python3 -m nlab.mininet SCRIPT``: a Mininet script runs unchanged
over nlab with Debian's real ``mininet`` installed and first on
``sys.path``, under the system Python (no venv)."""

import subprocess

import pytest
from conftest import EXAMPLES, REPO
from test_examples import run_example

SYSTEM_PYTHON = "/usr/bin/python3"
# nlab's checkout goes at the END of sys.path, behind Debian's
# dist-packages: only the runner's aliasing can make `mininet` nlab's.
# `runpy.run_module(..., alter_sys=True)` is exactly what `-m` does.
LATE = (
    "import runpy, sys; sys.path.append(%r); "
    "runpy.run_module('nlab.mininet', run_name='__main__', alter_sys=True)" % str(REPO / "python")
)
RUNNER = (SYSTEM_PYTHON, "-c", LATE)

PROBE = """
import sys, mininet, mininet.net
from mininet.examples.linuxrouter import LinuxRouter
print("version", mininet.VERSION)
print("net", mininet.net.__file__)
print("router", LinuxRouter.__module__, sys.modules[LinuxRouter.__module__].__file__)
print("argv", sys.argv[1:], "main", __name__)
"""


@pytest.fixture
def debians_mininet():
    if not (EXAMPLES / "linuxrouter.py").exists():
        pytest.skip("SKIP: Debian's mininet package (its examples) is not installed")


def system_python(code, *args, cwd="/"):
    return subprocess.run(
        [SYSTEM_PYTHON, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_without_the_runner_debians_mininet_wins(debians_mininet):
    p = system_python(
        "import sys; sys.path.append(%r); import mininet; print(mininet.__file__)"
        % str(REPO / "python")
    )
    assert p.stdout.strip() == "/usr/lib/python3/dist-packages/mininet/__init__.py", p


def test_the_runner_aliases_mininet_to_nlabs_package(debians_mininet, tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    p = system_python(LATE, str(script), "a", "--b")
    assert p.returncode == 0, p.stderr
    out = dict(line.split(" ", 1) for line in p.stdout.splitlines())
    assert out["version"] == "2.3.0+nlab"
    assert out["net"] == str(REPO / "python" / "mininet" / "net.py")
    # Mininet's own example files, importing nlab's API.
    assert out["router"] == ("mininet.examples.linuxrouter %s/linuxrouter.py" % EXAMPLES), out
    assert out["argv"] == "['a', '--b'] main __main__"


def test_the_runner_says_how_to_call_it():
    p = system_python(LATE)
    assert p.returncode == 2 and "usage: python3 -m nlab.mininet SCRIPT.py" in p.stderr
    p = system_python(LATE, "/nonexistent/x.py")
    assert p.returncode == 2 and "no such script: /nonexistent/x.py" in p.stderr


def test_linuxrouter_under_the_system_python(examples):
    out = run_example(
        examples,
        "linuxrouter",
        "pingall\nh1 ping -c 1 h2\nexit\n",
        python=RUNNER,
    )
    assert "*** Results: 0% dropped (12/12 received)" in out, out[-2000:]
    assert "ttl=63" in out.split("h1 ping -c 1 h2", 1)[1], out[-2000:]


def test_the_runner_runs_a_module_with_m(debians_mininet, tmp_path):
    (tmp_path / "probe_mod.py").write_text(PROBE)
    p = system_python(LATE, "-m", "probe_mod", "x", cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    out = dict(line.split(" ", 1) for line in p.stdout.splitlines())
    assert out["version"] == "2.3.0+nlab"
    assert out["argv"] == "['x'] main __main__"
