"""Shared fixtures of trainrig's tests.

``tests/`` is put on ``sys.path`` here, and on ``PYTHONPATH`` for every subprocess (see
``fixtures_pkg.helpers.subprocess_env`` and the ``pythonpath_env`` fixture), so the tiny test models
in ``tests/fixtures_pkg`` are importable by module path in this process and in fresh ones: exports
made by the tests name ``fixtures_pkg.tinymodels:...`` objects.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fixtures_pkg import helpers  # noqa: E402


@pytest.fixture
def pythonpath_env(monkeypatch):
    """Put ``tests/`` on ``PYTHONPATH`` of this process' environment (for subprocesses the code under test starts)."""
    env = helpers.subprocess_env()
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    return env


@pytest.fixture
def tiny_params(tmp_path):
    """A factory of fast ``TrainerParams`` writing under ``tmp_path``: ``tiny_params("run", epochs=3)``."""

    def make(name: str = "run", **overrides):
        return helpers.make_params(tmp_path / name, **overrides)

    return make


@pytest.fixture
def tiny_data():
    """A fresh ``TinyData`` (64 training / 32 validation rows, inputs ``x``, targets ``y`` and ``label``)."""
    from fixtures_pkg.tinymodels import TinyData

    return TinyData()


@pytest.fixture
def umask_027():
    """The process umask set to 027 for one test (tests that check files follow the umask)."""
    umask = os.umask  # the real one: the test replaces os.umask before this fixture is torn down
    previous = umask(0o027)
    try:
        yield
    finally:
        umask(previous)
