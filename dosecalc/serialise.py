"""Numbers and settings as JSON: the one helper every JSON output uses.

* :func:`jsonable`: settings and nested records as plain JSON types (tuples -> lists,
  numpy scalars -> Python numbers, NaN/inf -> null, anything else -> its text).
* :func:`finite_or_none`: a metric value for JSON (NaN and inf -> None: "no value").
* numbers in labels and sentences (``2.5``, ``10``): :func:`dosecalc.quantity.format_g`.
"""

from __future__ import annotations

import math

__all__ = ["jsonable", "finite_or_none"]


def jsonable(obj):
    """``obj`` as plain JSON types (dict keys as text; see the module docstring)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if any(c.__name__ == "generic" and c.__module__ == "numpy" for c in type(obj).__mro__):
        # a numpy scalar; told apart without importing numpy, which the CLI's
        # `--help` (that imports this module) does not need
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def finite_or_none(x) -> float | None:
    """``float(x)``, or None when ``x`` is None, NaN or infinite."""
    return None if x is None or not math.isfinite(float(x)) else float(x)
