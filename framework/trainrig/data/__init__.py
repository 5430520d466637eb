"""The data: ``DataBase``, ``ArraySequence`` and the conversion of sequences to ``tf.data``."""
