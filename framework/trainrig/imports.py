"""Import objects named ``"package.module:Attribute"`` with one-line errors that say what failed."""

from __future__ import annotations

import importlib

from trainrig.errors import TrainrigError


def object_path(obj) -> str:
    """``"module:QualName"`` of a class or function, the form :func:`import_object` reads."""
    return f"{obj.__module__}:{obj.__qualname__}"


def import_object(path: str, what: str = "object"):
    """Import ``"pkg.mod:Name"`` (``"pkg.mod.Name"`` also accepted); errors name the module or attribute."""
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise TrainrigError(f"{what} {path!r} is not of the form 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise TrainrigError(
            f"cannot import module {module_name!r} for {what} {path!r}: {e} (is its package installed?)"
        ) from None
    except Exception as e:  # the user's module raised while importing
        raise TrainrigError(f"importing module {module_name!r} for {what} {path!r} failed: {type(e).__name__}: {e}") from e
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            public = sorted(n for n in dir(module) if not n.startswith("_"))
            raise TrainrigError(
                f"module {module_name!r} has no attribute {attr!r} ({what}); it has: {', '.join(public) or '(nothing)'}"
            ) from None
    return obj
