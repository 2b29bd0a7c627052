"""Attribute values every DICOM reader checks the same way: a number that must be finite,
with an error naming the attribute and the file."""

from __future__ import annotations

import math

from ..errors import DicomError


def finite_number(value, keyword: str, path: str) -> float:
    """``value`` as a finite float.

    Parameters
    ----------
    value : object
        The attribute's value (a DS/IS string, a number...).
    keyword : str
        The DICOM keyword, named in the error.
    path : str
        The file, named in the error.

    Raises
    ------
    DicomError
        Not a number, or NaN / infinite.
    """
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise DicomError(f"{keyword} must be a number, got {value!r}", path=path) from exc
    if not math.isfinite(v):
        raise DicomError(f"{keyword} must be finite, got {value!r}", path=path)
    return v
