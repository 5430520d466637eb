"""``MultiMetric``: several keras metrics that share one precomputation."""

from __future__ import annotations

import keras


class MultiMetric(keras.metrics.Metric):
    """A keras metric whose children are fed from one shared precomputation.

    Override :meth:`_precompute_values` to turn ``(y_true, y_pred, sample_weight)`` into the
    arguments every child's ``update_state`` receives (for example counts of true positives, false
    positives and false negatives that precision, recall and F1 all need). Each child is logged under
    its own ``name``; the multi-metric's own name is not logged.
    """

    def __init__(self, children, name: str = "multi_metric", **kwargs):
        super().__init__(name=name, **kwargs)
        self.children = list(children)
        if not self.children:
            raise ValueError("a MultiMetric needs at least one child metric")

    def _precompute_values(self, y_true, y_pred, sample_weight=None):
        """Return the ``(y_true, y_pred, sample_weight)`` handed to every child (default: unchanged)."""
        return y_true, y_pred, sample_weight

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._precompute_values(y_true, y_pred, sample_weight)
        for child in self.children:
            child.update_state(*values)

    def result(self):
        return {child.name: child.result() for child in self.children}

    def reset_state(self):
        for child in self.children:
            child.reset_state()
