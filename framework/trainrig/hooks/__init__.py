"""pluggy hooks: how plugins (and trainrig's own built-in features) join a run."""

from trainrig.hooks.markers import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec"]
