"""TensorBoard: the ``TensorBoardDataHandler`` and the writers of a run."""
