"""The pluggy markers of the ``trainrig`` project (importing this module imports no TensorFlow)."""

import pluggy

PROJECT = "trainrig"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
