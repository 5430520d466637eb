"""Fixtures of the trainrig-tflite tests.

The plugin must be installed (``pip install -e plugins/trainrig-tflite``): it is found through its
``trainrig`` entry point, exactly as in a user's environment.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tflite_helpers import make_manager  # noqa: E402


@pytest.fixture
def manager(monkeypatch):
    """A fresh PluginManager that loads, of the installed plugins, only ``tflite``."""
    return make_manager(monkeypatch)
