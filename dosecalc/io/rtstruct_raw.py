"""The fast path of the RTSTRUCT reader: the file is read by pydicom up to
ROIContourSequence (3006,0039), whose bytes :mod:`.rawseq` walks for the few attributes
used, and pydicom reads the rest.  Anything it is not sure to read exactly as pydicom
sends the file down the pydicom path (see :mod:`dosecalc.io.rtstruct`).
"""

from __future__ import annotations

import mmap
import re
import warnings
from typing import BinaryIO, cast

from pydicom.dataelem import RawDataElement
from pydicom.filereader import read_dataset as pydicom_read_dataset
from pydicom.filereader import read_partial
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from . import rawseq
from .integrity import find_truncation
from .rawseq import Unsupported, Want
from .rtstruct_contours import (
    CONTOUR_DATA, CONTOUR_SEQUENCE, DISPLAY_COLOR, GEOMETRIC_TYPE, N_POINTS, REFERENCED_ROI_NUMBER,
    ROI_CONTOUR_SEQUENCE, _Collector, _int)
from .scan import looks_like_dicom

_CONTOUR_WANT = {GEOMETRIC_TYPE: Want(b"CS"), N_POINTS: Want(b"IS"), CONTOUR_DATA: Want(b"DS")}
_ROI_WANT = {REFERENCED_ROI_NUMBER: Want(b"IS"), DISPLAY_COLOR: Want(b"IS"),
             CONTOUR_SEQUENCE: Want(b"SQ", _CONTOUR_WANT)}
# IS values the raw path converts itself; anything else (signs, decimals, NULs, another
# number of colour components) is left to pydicom's conversion by falling back.
_PLAIN_INT = re.compile(rb" *([0-9]{1,9}) *")
_PLAIN_RGB = re.compile(rb" *([0-9]{1,9}) *\\ *([0-9]{1,9}) *\\ *([0-9]{1,9}) *")


class _Merged:
    """The attributes before and after ROIContourSequence, read separately; later ones
    win, as in one pydicom read where a repeated tag replaces the earlier element."""

    def __init__(self, head, tail) -> None:
        self._head, self._tail = head, tail

    def get(self, keyword: str, default=None):
        if keyword in self._tail:
            return self._tail.get(keyword, default)
        return self._head.get(keyword, default)


def _stop_at_contours(tag, vr, length) -> bool:
    return tag == ROI_CONTOUR_SEQUENCE


def _raw_read(path: str):
    """(dataset without ROIContourSequence, raw ROI items) or None to read with pydicom."""
    try:
        ok, force = looks_like_dicom(path)
        if not ok:
            return None
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            stream = cast(BinaryIO, mm)  # for pydicom: an mmap reads, seeks and tells like a file
            if find_truncation(mm) is not None:
                return None  # read_dataset below raises the error that names the cut
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                head = read_partial(stream, _stop_at_contours, force=force)
                meta = getattr(head, "file_meta", None)
                syntax = str(meta.get("TransferSyntaxUID", "") or "") if meta is not None else ""
                implicit, little = head.original_encoding
                # Any other syntax may have been decompressed or byte-swapped by pydicom:
                # the file offset would not point into the data it read.
                if syntax not in ("", ImplicitVRLittleEndian, ExplicitVRLittleEndian) or not little:
                    return None
                items, end = rawseq.sequence_element(mm, mm.tell(), ROI_CONTOUR_SEQUENCE,
                                                     implicit_vr=bool(implicit), wanted=_ROI_WANT)
                mm.seek(end)
                tail = pydicom_read_dataset(stream, bool(implicit), True,
                                            parent_encoding=head.original_character_set)
        if ROI_CONTOUR_SEQUENCE in tail:
            return None
        return _Merged(head, tail), items
    except Exception:  # noqa: BLE001 - Unsupported or any reader failure: the pydicom path decides
        return None


def _raw_from_dataset(ds):
    """Raw ROI items from an already read dataset whose ROIContourSequence pydicom has
    kept undecoded (a defined-length sequence not yet accessed); None otherwise."""
    try:
        elem = ds.get_item(ROI_CONTOUR_SEQUENCE)
        if (not isinstance(elem, RawDataElement) or not elem.is_little_endian or elem.value is None
                or elem.length != len(elem.value)
                or (not elem.is_implicit_VR and elem.VR != "SQ")):
            return None
        return ds, rawseq.sequence_value(elem.value, implicit_vr=bool(elem.is_implicit_VR), wanted=_ROI_WANT)
    except Exception:  # noqa: BLE001
        return None


def _plain_int(raw) -> int:
    m = _PLAIN_INT.fullmatch(raw) if raw is not None else None
    if m is None:
        raise Unsupported("not a plain integer")
    return int(m.group(1))


def _decode(raw) -> str:
    """A short text value as ``_text`` gives it for a raw pydicom element."""
    return "" if raw is None else raw.decode("latin-1").strip(" \x00")


def _collect_raw(items, roi_info, path, notes, acc: _Collector) -> None:
    """The loop of :func:`_collect_pydicom` over the walker's items.  Errors need not match
    that loop's: any exception here sends the file through the pydicom path."""
    for item in items:
        number = _plain_int(item.get(REFERENCED_ROI_NUMBER))
        if number not in roi_info:
            notes.append(f"{path}: ROIContourSequence refers to ROI number {number}, absent from "
                         f"StructureSetROISequence; its contours are ignored")
            continue
        color = item.get(DISPLAY_COLOR)
        if color is not None:
            m = _PLAIN_RGB.fullmatch(color)
            if m is None:
                raise Unsupported("ROIDisplayColor is not three plain integers")
            roi_info[number]["color"] = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        for citem in item.get(CONTOUR_SEQUENCE) or ():
            kind = _decode(citem.get(GEOMETRIC_TYPE)).upper()
            stated = _decode(citem.get(N_POINTS))
            declared = None if stated == "" else _int(stated, "NumberOfContourPoints", path)
            raw = citem.get(CONTOUR_DATA)
            if raw is None:
                if declared:
                    raise Unsupported("a contour without ContourData")
                continue
            acc.add(number, kind, declared, raw, None)
