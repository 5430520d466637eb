"""``trainrig sweep``: many runs of one experiment over a grid or a random sample of params.

- :mod:`~trainrig.sweep.space`: the configurations of ``--grid`` and ``--random N --space``;
- :mod:`~trainrig.sweep.plan`: the sweep's ``sweep.json`` (its command and configurations), checked up front;
- :mod:`~trainrig.sweep.runner`: every configuration as a ``trainrig train`` process (``--parallel K``),
  skipping finished runs and resuming interrupted ones;
- :mod:`~trainrig.sweep.summary`: ``summary.csv`` and the console table.

Nothing here imports TensorFlow: every run is a process of its own.
"""
