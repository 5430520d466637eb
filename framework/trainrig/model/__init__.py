"""The model: ``ModelBase``, its definitions, ``MultiMetric`` and the losses/metrics of a step."""
