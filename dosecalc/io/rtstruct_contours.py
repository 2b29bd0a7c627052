"""Collecting the contours of an RTSTRUCT: ContourData (3006,0050) kept as raw bytes,
joined and converted to numbers in one pass (a numba parser for plain decimals, numpy
for the rest), the ROI colours and the contour items walked the pydicom way.  The rules
and the reasons for the speed are in :mod:`dosecalc.io.rtstruct`.  Coordinates in mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataelem import RawDataElement

from ..errors import ContourError, DicomError
from ..kernels.dsparse import POW10, parse_ds

ROI_CONTOUR_SEQUENCE = 0x30060039
REFERENCED_ROI_NUMBER = 0x30060084
DISPLAY_COLOR = 0x3006002A
CONTOUR_SEQUENCE = 0x30060040
CONTOUR_DATA = 0x30060050
GEOMETRIC_TYPE = 0x30060042
N_POINTS = 0x30060046

@dataclass
class _Contour:
    roi_number: int
    kind: str
    declared: int | None
    start: int  # index into the joined coordinate array
    count: int


def _raw_bytes(item) -> tuple[bytes | None, np.ndarray | None]:
    """ContourData of a sequence item as raw bytes (fast path) or as an array."""
    try:
        elem = item.get_item(CONTOUR_DATA)
    except KeyError:
        return None, None
    if elem is None:
        return None, None
    if isinstance(elem, RawDataElement):
        return (elem.value or b""), None
    value = elem.value
    if value is None or value == "":
        return b"", None
    if isinstance(value, (str, bytes, float, int)) or not hasattr(value, "__len__"):
        value = [value]
    return None, np.asarray([float(v) for v in value], dtype=np.float64)


def _text(item, tag: int) -> str:
    """A short text attribute from its raw bytes, without pydicom's value conversion."""
    try:
        elem = item.get_item(tag)
    except KeyError:
        return ""
    if elem is None:
        return ""
    value = elem.value
    if isinstance(value, bytes):
        return value.decode("latin-1").strip(" \x00")
    return "" if value is None else str(value).strip()


def _parse_joined(chunks: list[bytes], path: str) -> np.ndarray:
    if not chunks:
        return np.zeros(0, dtype=np.float64)
    joined = b"\\".join(chunks)
    # one numba pass takes every plain decimal exactly (Clinger's fast path); fields with
    # an exponent, many digits or anything odd go through numpy's general parser
    n_fields = joined.count(b"\\") + 1
    values = np.empty(n_fields, dtype=np.float64)
    ok = np.empty(n_fields, dtype=np.uint8)
    parse_ds(np.frombuffer(joined, dtype=np.uint8), POW10, values, ok)
    slow = np.flatnonzero(ok == 0)
    if slow.size:
        fields = joined.split(b"\\")
        try:
            values[slow] = np.array([fields[i] for i in slow], dtype=np.float64)
        except (ValueError, TypeError) as exc:
            bad = _first_bad_number(chunks)
            raise ContourError(f"ContourData (3006,0050) holds a value that is not a number: {bad!r}",
                               path=path) from exc
    if not np.all(np.isfinite(values)):
        raise ContourError("ContourData (3006,0050) holds a non-finite coordinate (NaN or inf)", path=path)
    return values


def _first_bad_number(chunks: list[bytes]) -> str:
    for chunk in chunks:
        for part in chunk.split(b"\\"):
            try:
                float(part)
            except ValueError:
                return part[:40].decode("ascii", "replace")
    return "?"


def _int(value, what: str, path: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise DicomError(f"{what} must be an integer, got {value!r}", path=path) from exc


class _Collector:
    """Contours of the whole file: raw ContourData chunks back to back, plus the few
    already converted by pydicom."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.contours: list[_Contour] = []
        self.converted: dict[int, np.ndarray] = {}  # contour index -> values already converted
        self.pos = 0

    def add(self, number: int, kind: str, declared: int | None, raw, arr) -> None:
        if arr is not None:
            self.converted[len(self.contours)] = arr
            self.contours.append(_Contour(number, kind, declared, -1, arr.size))
            return
        count = raw.count(b"\\") + 1 if raw.strip() else 0
        if count:
            self.chunks.append(raw)
        self.contours.append(_Contour(number, kind, declared, self.pos, count))
        self.pos += count


def _collect_pydicom(ds, roi_info, path, notes, acc: _Collector) -> None:
    for item in ds.get("ROIContourSequence", None) or []:
        ref = item.get("ReferencedROINumber")
        if ref is None:
            raise DicomError("an item of ROIContourSequence has no ReferencedROINumber", path=path)
        number = _int(ref, "ReferencedROINumber", path)
        if number not in roi_info:
            notes.append(f"{path}: ROIContourSequence refers to ROI number {number}, absent from "
                         f"StructureSetROISequence; its contours are ignored")
            continue
        color = item.get("ROIDisplayColor")
        if color is not None:
            try:
                rgb = tuple(int(c) for c in color)
                if len(rgb) == 3:
                    roi_info[number]["color"] = rgb
            except (TypeError, ValueError):
                pass
        for citem in item.get("ContourSequence", None) or []:
            kind = _text(citem, GEOMETRIC_TYPE).upper()
            stated = _text(citem, N_POINTS)
            declared = None if stated == "" else _int(stated, "NumberOfContourPoints", path)
            raw, arr = _raw_bytes(citem)
            if raw is None and arr is None:
                if declared:
                    raise ContourError(f"ROI '{roi_info[number]['name']}': a contour declares {declared} "
                                       f"points but has no ContourData (3006,0050)", path=path)
                continue
            acc.add(number, kind, declared, raw, arr)
