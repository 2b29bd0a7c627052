"""Find the DICOM RT files among paths and read their headers cheaply.

Files are recognised by SOP Class UID, never by name.  A scan reads only the header
attributes the selection needs (``specific_tags``, no pixel data), so a folder of CT
slices and a large RTSTRUCT is scanned in milliseconds per file.  Unreadable or
non-DICOM files are skipped with a note.
"""

from __future__ import annotations

import mmap
import os
import re
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

import pydicom
from pydicom.filereader import read_partial
from pydicom.tag import BaseTag, Tag

from ..errors import (
    DicomError,
    DoseCalcError,
    ParameterError,
    SelectionError,
    TruncatedFileError,
)
from .integrity import InflateLimitError, find_truncation, inflate_bounded
from .uids import MODALITY_OF
from .walk import walk_files

_DEFLATED_SYNTAXES = ("1.2.840.10008.1.2.1.99",)  # Deflated Explicit VR Little Endian
_DEFLATED_UID = _DEFLATED_SYNTAXES[0].encode()

_HEADER_TAGS = [
    "SOPClassUID", "SOPInstanceUID", "Modality", "FrameOfReferenceUID", "SeriesInstanceUID",
    "StudyInstanceUID", "ReferencedRTPlanSequence", "ReferencedStructureSetSequence",
    "RTPlanLabel", "RTPlanName", "DoseSummationType", "DoseType", "DoseUnits",
    "ReferencedFrameOfReferenceSequence", "ImagePositionPatient", "ImageOrientationPatient",
    "Rows", "Columns", "PixelSpacing", "StructureSetLabel", "PatientID",
]


@dataclass
class Header:
    """What the selection needs to know about one recognised file."""

    path: str
    modality: str
    sop_class_uid: str
    sop_instance_uid: str
    frame_of_reference_uid: str | None = None
    series_instance_uid: str | None = None
    referenced_plan_uids: tuple[str, ...] = ()
    referenced_structure_set_uid: str | None = None
    label: str = ""
    name: str = ""
    summation_type: str = ""
    dose_type: str = ""
    referenced_series_uids: tuple[str, ...] = ()
    image_position: tuple[float, ...] | None = None
    image_orientation: tuple[float, ...] | None = None
    rows: int | None = None
    columns: int | None = None
    pixel_spacing: tuple[float, ...] | None = None
    patient_id: str = ""


@dataclass
class ScanResult:
    headers: list[Header] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def of(self, modality: str) -> list[Header]:
        return [h for h in self.headers if h.modality == modality]


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's text on one line (the CLI prints errors as one line)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "..."


def looks_like_dicom(path: str) -> tuple[bool, bool]:
    """(is DICOM, needs force): Part 10 files carry 'DICM' at byte 128; raw datasets
    without the preamble start with a group 0002 or 0008 tag."""
    with open(path, "rb") as fh:
        head = fh.read(132)
    if len(head) == 132 and head[128:132] == b"DICM":
        return True, False
    if len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[3:4] == b"\x00":
        return True, True
    return False, False


# A header scan stops at the first element it never needs: the contours of an RTSTRUCT
# (StructureSetROISequence onwards) and pixel data.  Elements are stored in tag order.
_STOP_TAGS = frozenset({0x30060020, 0x30060039, 0x30060080, 0x7FE00010, 0x7FE00008, 0x7FE00009})


def _stop_header(tag, vr, length) -> bool:
    return tag in _STOP_TAGS


def read_dataset(path, *, stop_before_pixels: bool = False, specific_tags=None):
    """Read a DICOM file, turning every reader failure into :class:`DicomError`."""
    path = str(path)
    try:
        ok, force = looks_like_dicom(path)
    except OSError as exc:
        raise DicomError(f"cannot be opened ({exc.strerror or exc})", path=path) from exc
    if not ok:
        raise DicomError("not a DICOM file (no 'DICM' marker at byte 128 and no DICOM tag at the start)",
                         path=path)
    try:
        # Read through a memory map: a corrupt element length then reads at most to the end
        # of the file, where a plain file object would first allocate the bytes it claims.
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            inflated: list = []

            def inflate(buf, pos):
                # a deflated data set is inflated once, bounded, and the same bytes are read
                data, complete = inflate_bounded(buf, pos)
                inflated.append(data)
                return data, complete

            try:
                cut = find_truncation(mm, inflate=inflate)
            except InflateLimitError as exc:
                raise DicomError(str(exc), path=path) from exc
            if cut is not None and not (cut.at_item_boundary and _unused_class(cut.sop_class_uid)):
                raise TruncatedFileError(cut.describe(), sop_class_uid=cut.sop_class_uid, path=path)
            tags: list[BaseTag | int] | None = None if specific_tags is None else [Tag(t) for t in specific_tags]
            stream = cast(BinaryIO, mm)  # for pydicom: an mmap reads, seeks and tells like a file
            stop = _stop_header if stop_before_pixels else None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if inflated or (_DEFLATED_UID in mm[:4096] and _is_deflated(mm)):
                    return _read_inflated(mm, inflated.pop() if inflated else None, path, force, stop, tags)
                if not stop_before_pixels:
                    return pydicom.dcmread(stream, force=force, specific_tags=specific_tags)
                return read_partial(stream, stop, force=force, specific_tags=tags)
    except DoseCalcError:
        raise
    except Exception as exc:  # pydicom raises many types on corrupt input
        raise DicomError(f"cannot be read as DICOM ({type(exc).__name__}: {one_line(exc)})", path=path) from exc


def _is_deflated(mm) -> bool:
    from pydicom.filereader import _read_file_meta_info, read_preamble

    mm.seek(0)
    try:
        read_preamble(mm, True)
        meta = _read_file_meta_info(mm)
    finally:
        mm.seek(0)
    return str(meta.get("TransferSyntaxUID", "")) in _DEFLATED_SYNTAXES


class _ViewReader:
    """A read-only file over bytes already in memory, without copying them (BytesIO
    would copy a bytearray): pydicom reads the inflated data set through it."""

    def __init__(self, data, name: str) -> None:
        self._view = memoryview(data)
        self._pos = 0
        self.name = name

    def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n is None or n < 0 else min(self._pos + n, len(self._view))
        out = bytes(self._view[self._pos:end])
        self._pos = max(self._pos, end)
        return out

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, len(self._view))[whence]
        self._pos = max(0, base + offset)
        return self._pos


def _read_inflated(mm, body, path: str, force: bool, stop, tags):
    """pydicom's reading of a deflated file, on the data set this module already
    inflated (pydicom would inflate the whole file again, unbounded)."""
    from pydicom.dataset import FileDataset
    from pydicom.filereader import _read_file_meta_info, read_preamble
    from pydicom.filereader import read_dataset as read_body

    mm.seek(0)
    preamble = read_preamble(mm, force)
    meta = _read_file_meta_info(mm)
    if body is None:  # the integrity walk gave no verdict before the data set
        try:
            body, _ = inflate_bounded(mm, mm.tell())
        except InflateLimitError as exc:
            raise DicomError(str(exc), path=path) from exc
        except zlib.error as exc:
            raise DicomError(f"the deflated data set is not a deflate stream ({exc})", path=path) from exc
    ds = read_body(cast(BinaryIO, _ViewReader(body, path)), False, True, stop_when=stop, specific_tags=tags)
    fds = FileDataset(path, ds, preamble, meta, False, True)
    fds.set_original_encoding(False, True, ds._character_set)
    return fds


def _feeds_dose(sop_class_uid: str) -> bool:
    """RT Dose, Structure Set and Plan feed dose numbers; CT (geometry only) and other
    classes do not.  This decides how strictly a damaged file is treated."""
    return MODALITY_OF.get(sop_class_uid) not in (None, "CT")


def _unused_class(sop_class_uid: str) -> bool:
    """A known SOP class whose content feeds no dose number: a file of it that only lacks
    its final sequence delimiter is read as pydicom reads it."""
    return bool(sop_class_uid) and not _feeds_dose(sop_class_uid)


def _str(ds, keyword) -> str:
    v = ds.get(keyword)
    return "" if v is None else str(v).strip()


def _floats(ds, keyword):
    v = ds.get(keyword)
    if v is None:
        return None
    try:
        return tuple(float(x) for x in (v if hasattr(v, "__iter__") and not isinstance(v, str) else [v]))
    except (TypeError, ValueError):
        return None


def _ref_uids(seq) -> tuple[str, ...]:
    out = []
    for item in seq or []:
        uid = item.get("ReferencedSOPInstanceUID")
        if uid:
            out.append(str(uid))
    return tuple(out)


def read_header(path) -> Header:
    """Header of one file (``modality`` '' when its SOP class is not one the loader reads).

    Raises :class:`DicomError` when the file is not readable DICOM.
    """
    path = str(path)
    ds = read_dataset(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
    return guarded("header", path, _header, ds, path)


def guarded(what: str, path: str, reader, *args):
    """``reader(*args)`` on a dataset read from ``path``, with one error policy for every
    reader: pydicom's warnings on non-conformant values it still reads are silenced, a
    :class:`DoseCalcError` passes through, and anything else becomes one
    :class:`DicomError` naming the file and ``what`` (never a raw pydicom traceback)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return reader(*args)
    except DoseCalcError:
        raise
    except Exception as exc:
        raise DicomError(f"{what} cannot be read ({type(exc).__name__}: {one_line(exc)})", path=path) from exc


def _header(ds, path: str) -> Header:
    sop_class = _str(ds, "SOPClassUID")
    if not sop_class:
        meta = getattr(ds, "file_meta", None)
        sop_class = str(meta.get("MediaStorageSOPClassUID", "") or "") if meta is not None else ""
    modality = MODALITY_OF.get(sop_class)
    if modality is None:
        return Header(path=path, modality="", sop_class_uid=sop_class, sop_instance_uid=_str(ds, "SOPInstanceUID"))
    h = Header(path=path, modality=modality, sop_class_uid=sop_class,
               sop_instance_uid=_str(ds, "SOPInstanceUID"),
               frame_of_reference_uid=_str(ds, "FrameOfReferenceUID") or None,
               series_instance_uid=_str(ds, "SeriesInstanceUID") or None,
               patient_id=_str(ds, "PatientID"))
    if modality == "RTDOSE":
        h.referenced_plan_uids = _ref_uids(ds.get("ReferencedRTPlanSequence"))
        refs = _ref_uids(ds.get("ReferencedStructureSetSequence"))
        h.referenced_structure_set_uid = refs[0] if refs else None
        h.summation_type = _str(ds, "DoseSummationType").upper()
        h.dose_type = _str(ds, "DoseType").upper()
    elif modality == "RTPLAN":
        refs = _ref_uids(ds.get("ReferencedStructureSetSequence"))
        h.referenced_structure_set_uid = refs[0] if refs else None
        h.label = _str(ds, "RTPlanLabel")
        h.name = _str(ds, "RTPlanName")
    elif modality == "RTSTRUCT":
        h.label = _str(ds, "StructureSetLabel")
        series = []
        for fr in ds.get("ReferencedFrameOfReferenceSequence") or []:
            if h.frame_of_reference_uid is None and fr.get("FrameOfReferenceUID"):
                h.frame_of_reference_uid = str(fr.FrameOfReferenceUID)
            for st in fr.get("RTReferencedStudySequence") or []:
                for se in st.get("RTReferencedSeriesSequence") or []:
                    if se.get("SeriesInstanceUID"):
                        series.append(str(se.SeriesInstanceUID))
        h.referenced_series_uids = tuple(series)
    elif modality == "CT":
        h.image_position = _floats(ds, "ImagePositionPatient")
        h.image_orientation = _floats(ds, "ImageOrientationPatient")
        h.pixel_spacing = _floats(ds, "PixelSpacing")
        rows, cols = ds.get("Rows"), ds.get("Columns")
        h.rows = int(rows) if rows is not None else None
        h.columns = int(cols) if cols is not None else None
    return h


# an RT SOP class UID (from the table in io/uids.py) anywhere in a file's first bytes
_RT_UID = re.compile(b"(" + b"|".join(re.escape(uid.encode()) for uid, m in MODALITY_OF.items() if m != "CT")
                     + rb")(?![0-9.])")


def _refuse_broken_rt(path: str, detail: str) -> None:
    """A file whose first bytes name an RT Dose / Structure Set / Plan SOP class but which
    cannot be read is an error, not a note: skipping it could load a case without its dose."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2048)
    except OSError:
        return
    m = _RT_UID.search(head)
    if m:
        modality = MODALITY_OF[m.group(1).decode()]
        raise DicomError(f"{modality} file is truncated or corrupt: {detail}", path=path)


def _refuse_truncated(path: str, exc: TruncatedFileError) -> None:
    """A truncated file is an error when it is (or may be) the case's dose, structures or
    plan: an RT file, or a Part 10 file cut before its SOP class can be read.  A truncated
    CT slice or a file of another SOP class is only skipped (no dose number uses the CT)."""
    if _feeds_dose(exc.sop_class_uid):
        raise TruncatedFileError(f"{MODALITY_OF[exc.sop_class_uid]} file: {exc.detail}",
                                 sop_class_uid=exc.sop_class_uid, path=path) from exc
    if not exc.sop_class_uid and not looks_like_dicom(path)[1]:
        raise TruncatedFileError(
            f"DICOM file cut before its SOP Class UID, so it may be the plan's dose, structures "
            f"or plan: {exc.detail}; remove it from the folder or pass the plan's files "
            f"explicitly if it does not belong to this case", path=path) from exc


def check_paths(paths) -> list:
    """``paths`` as a list of path-like objects, or :class:`SelectionError` /
    :class:`ParameterError` naming what is wrong (an empty string would mean the current
    folder, which nobody asks for on purpose)."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    out = []
    flat: list[Any] = []
    for p in paths:
        flat.extend(p if isinstance(p, (list, tuple)) else [p])
    for p in flat:
        if not isinstance(p, (str, bytes, os.PathLike)):
            raise ParameterError(f"paths must be folders or files (str or Path), got {type(p).__name__} {p!r:.60}")
        if not os.fspath(p):
            raise SelectionError("an empty path was given; pass folders or DICOM files "
                                 "(use '.' for the current folder)")
        out.append(p)
    if not out:
        raise SelectionError("no path given; pass folders or DICOM files")
    return out


def _walk(paths, notes: list[str]) -> list[str]:
    """Regular files below ``paths``; special files, loops and too-deep folders are left
    out with a note (see :mod:`.walk`), and nothing is opened."""
    found = walk_files(paths)
    notes.extend(found.notes)
    return found.files


def scan(paths) -> ScanResult:
    """Recognise the DICOM RT and CT files among ``paths`` (folders searched recursively).

    Returns a :class:`ScanResult` with one :class:`Header` per recognised file and notes
    on the files skipped (unreadable, not DICOM, other SOP classes).
    """
    paths = check_paths(paths)
    result = ScanResult()
    other: list[str] = []
    for f in _walk(paths, result.notes):
        try:
            h = read_header(f)
        except TruncatedFileError as exc:
            _refuse_truncated(f, exc)
            result.notes.append(f"skipped {f}: {exc.detail}")
            continue
        except DicomError as exc:
            _refuse_broken_rt(f, exc.detail)
            result.notes.append(f"skipped {f}: {exc.detail}")
            continue
        if not h.modality:
            other.append(f"{os.path.basename(f)} ({h.sop_class_uid or 'no SOPClassUID'})")
            continue
        if not h.sop_instance_uid:
            _refuse_broken_rt(f, "no SOPInstanceUID")
            result.notes.append(f"skipped {f}: no SOPInstanceUID")
            continue
        result.headers.append(h)
    if other:
        shown = ", ".join(other[:5]) + (f" and {len(other) - 5} more" if len(other) > 5 else "")
        result.notes.append(f"ignored {len(other)} DICOM file(s) of other SOP classes: {shown}")
    return result
