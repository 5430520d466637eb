"""Built-in plugin: the base callbacks every run has (they come before any plugin's or user's)."""

from __future__ import annotations

from trainrig.hooks.markers import hookimpl


@hookimpl(tryfirst=True)
def trainrig_register_callbacks(trainer):
    from trainrig.callbacks import base_callbacks

    return base_callbacks(trainer)


@hookimpl
def trainrig_run_error(trainer, error):
    """A run that fails inside ``--trainer.profile``'s range still writes the profile it took."""
    from trainrig.callbacks.profiler import stop_left_running

    stop_left_running()
