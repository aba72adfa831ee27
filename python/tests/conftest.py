"""Shared fixtures: where nlab is, and whether root tests may run here.

Tests that build labs run only inside scripts/sandbox.sh (or the suite's
sandbox: NLAB_TEST_SANDBOX=1), as root; elsewhere they skip, saying so."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = pathlib.Path("/usr/lib/python3/dist-packages/mininet/examples")


def nlab_binary():
    return os.environ.get("NLAB") or str(REPO / "target" / "debug" / "nlab")


@pytest.fixture(scope="session", autouse=True)
def _nlab_env():
    os.environ.setdefault("NLAB", nlab_binary())


@pytest.fixture
def root_sandbox():
    if os.geteuid() != 0:
        pytest.skip("SKIP: needs root (labs are namespaces)")
    if os.environ.get("NLAB_TEST_SANDBOX") != "1":
        pytest.skip("SKIP: labs are made only inside scripts/sandbox.sh")
    if not os.access(nlab_binary(), os.X_OK):
        pytest.skip("SKIP: %s is not built (cargo build)" % nlab_binary())


@pytest.fixture
def examples(root_sandbox):
    if not (EXAMPLES / "linuxrouter.py").exists():
        pytest.skip("SKIP: Debian's mininet package (its examples) is not installed")
    return EXAMPLES
