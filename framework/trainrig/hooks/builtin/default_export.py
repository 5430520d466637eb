"""Built-in plugin: the graphs the model itself declares in ``_export_graphs`` (``"default"``)."""

from __future__ import annotations

from trainrig.hooks.markers import hookimpl


@hookimpl(tryfirst=True)
def trainrig_register_export_graphs(model, inputs, outputs, targets):
    return model._export_graphs(inputs, outputs, targets)
