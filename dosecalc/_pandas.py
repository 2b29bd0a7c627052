"""pandas is optional (the ``pandas`` extra): one import with a clear error."""

from __future__ import annotations

from typing import Any

from .errors import ParameterError


def pandas_module(what: str) -> Any:
    """The pandas module, or a ParameterError naming ``what`` needs it."""
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ParameterError(f"{what} needs pandas: pip install \"dosecalc[pandas]\"") from exc
    return pandas
