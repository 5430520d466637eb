"""The ``trainrig`` command line: one module per command; ``trainrig --help`` imports no TensorFlow."""
