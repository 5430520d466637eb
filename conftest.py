"""Root conftest: isolate every test from plugins that happen to be installed in the environment.

Only trainrig's built-in plugins load unless a test opts in (``monkeypatch.setenv(
"TRAINRIG_LOAD_PLUGINS", "name")`` and a fresh ``PluginManager``). Subprocesses inherit this.
"""

import os

os.environ["TRAINRIG_LOAD_PLUGINS"] = ""
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
