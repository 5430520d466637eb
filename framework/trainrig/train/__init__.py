"""Training: ``TrainerParams``, the ``Trainer``, the compiled steps and the run's environment."""
