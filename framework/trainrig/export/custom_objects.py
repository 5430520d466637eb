"""Find the custom classes an exported graph needs, record their import paths, and load with them."""

from __future__ import annotations

import warnings

import keras

from trainrig.imports import import_object, object_path


FRAMEWORK_PACKAGES = ("keras", "tensorflow", "tf_keras")


def _is_custom(cls: type) -> bool:
    return cls.__module__.split(".", 1)[0] not in FRAMEWORK_PACKAGES


def custom_objects_of(graphs: dict[str, keras.Model], additional: list) -> dict[str, str]:
    """``{registered name: "module:QualName"}`` of every non-keras layer in ``graphs`` plus ``additional``."""
    found: dict[str, object] = {}
    for graph in graphs.values():
        for layer in graph._flatten_layers(include_self=False, recursive=True):
            if _is_custom(type(layer)):
                found[keras.saving.get_registered_name(type(layer))] = type(layer)
    for obj in additional:
        found[keras.saving.get_registered_name(obj)] = obj
    paths = {}
    for name, obj in found.items():
        if obj.__module__ == "__main__":
            warnings.warn(
                f"custom object {obj.__qualname__} is defined in __main__; move it into an importable module "
                "so trainrig.load_model can reload the export in a fresh process",
                stacklevel=2,
            )
        paths[name] = object_path(obj)
    return paths


def load_keras_file(file, custom_objects: dict[str, str]) -> keras.Model:
    """A ``.keras`` file loaded in Keras' safe mode, uncompiled, with the recorded custom classes
    (``{registered name: "module:QualName"}``) imported by path first."""
    objects = {name: import_object(path, what="custom object") for name, path in custom_objects.items()}
    return keras.saving.load_model(file, custom_objects=objects, compile=False, safe_mode=True)

