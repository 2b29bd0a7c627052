"""RT Structure Set -> :class:`~dosecalc.model.StructureSet`.

Rules
-----
* ROI number, name and frame of reference come from StructureSetROISequence, the
  RTROIInterpretedType from RTROIObservationsSequence, ROIDisplayColor and contours from
  ROIContourSequence.  ROIs without contours are kept as empty structures.
* CLOSED_PLANAR contours are grouped by plane z (contours within ``Z_TOL_MM`` of each
  other share a plane); several polygons on a plane combine by the even-odd rule later.
  A closed contour whose z varies beyond ``Z_TOL_MM`` is not axial: GeometryError.
* A closed contour with fewer than 3 distinct points encloses no area.  Planning systems
  do emit them (a 2-point "contour" from a slip of the mouse), so it is skipped with a
  note naming the ROI and the plane instead of failing the whole file.
* POINT contours go to ``points_mm``; OPEN_PLANAR / OPEN_NONPLANAR to ``open_contours``.
* NumberOfContourPoints must agree with the length of ContourData (ContourError).

Speed: pydicom converts ContourData value by value (about 2.3 us per number, 4-5 s for
the 2 M coordinates of a large export).  The file is read lazily, the raw bytes of every
ContourData element are collected, joined and converted by numpy in one call, which is
about ten times faster (see ``benchmarks/bench_load.py``).

pydicom also builds one Dataset per contour item (about 50 us each, a second for the
20 000 items of a large export).  So ROIContourSequence (3006,0039) is not parsed by
pydicom: the dataset is read up to that element, :mod:`.rawseq` walks its bytes for the
few attributes used here, and pydicom reads the rest of the file.  Whenever the walker
meets anything it is not sure to read exactly as pydicom (other transfer syntaxes,
truncated or inconsistent lengths, unexpected VRs or delimiters, values that are not
plain integers where pydicom would convert them) or the reading ends in any error, the
file is read again the pydicom way, so results and error messages are those of that path.
"""

from __future__ import annotations

import mmap
import re
import warnings
from dataclasses import dataclass
from typing import BinaryIO, cast

import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.filereader import read_dataset as pydicom_read_dataset
from pydicom.filereader import read_partial
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ..errors import ContourError, DicomError, GeometryError, MissingAttributeError
from ..kernels.dsparse import POW10, parse_ds
from ..model import ContourPlane, Structure, StructureSet
from . import rawseq
from .integrity import find_truncation
from .rawseq import Unsupported, Want
from .scan import guarded, looks_like_dicom, read_dataset

ROI_CONTOUR_SEQUENCE = 0x30060039
REFERENCED_ROI_NUMBER = 0x30060084
DISPLAY_COLOR = 0x3006002A
CONTOUR_SEQUENCE = 0x30060040
CONTOUR_DATA = 0x30060050
GEOMETRIC_TYPE = 0x30060042
N_POINTS = 0x30060046
_CONTOUR_WANT = {GEOMETRIC_TYPE: Want(b"CS"), N_POINTS: Want(b"IS"), CONTOUR_DATA: Want(b"DS")}
_ROI_WANT = {REFERENCED_ROI_NUMBER: Want(b"IS"), DISPLAY_COLOR: Want(b"IS"),
             CONTOUR_SEQUENCE: Want(b"SQ", _CONTOUR_WANT)}
# IS values the raw path converts itself; anything else (signs, decimals, NULs, another
# number of colour components) is left to pydicom's conversion by falling back.
_PLAIN_INT = re.compile(rb" *([0-9]{1,9}) *")
_PLAIN_RGB = re.compile(rb" *([0-9]{1,9}) *\\ *([0-9]{1,9}) *\\ *([0-9]{1,9}) *")
# Contour points of one axial contour may differ in z by rounding in the exporting
# system; more than this is a genuinely tilted contour.
Z_TOL_MM = 1e-3
# Distinct-vertex test for degenerate contours.
_POINT_TOL_MM = 1e-6


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


def read_rtstruct(path, ds=None) -> tuple[StructureSet, list[str]]:
    """Read an RT Structure Set file.

    Parameters
    ----------
    path : str or Path
        The RTSTRUCT file.
    ds : pydicom Dataset, optional
        The dataset if already read (it is read lazily otherwise).

    Returns
    -------
    (StructureSet, notes)
        Structures with contours in patient mm; notes on skipped degenerate contours.

    Raises
    ------
    ContourError, GeometryError, DicomError
    """
    path = str(path)
    fast = _raw_read(path) if ds is None else _raw_from_dataset(ds)
    if fast is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return _read(fast[0], path, fast[1])
        except Exception:  # noqa: BLE001 - the pydicom path below gives the result or the error
            pass
    if ds is None:
        ds = read_dataset(path)
    return guarded("RT Structure Set", path, _read, ds, path)


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


def _read(ds, path: str, raw_items=None) -> tuple[StructureSet, list[str]]:
    notes: list[str] = []
    for_uid = None
    for item in ds.get("ReferencedFrameOfReferenceSequence", None) or []:
        uid = item.get("FrameOfReferenceUID")
        if uid:
            for_uid = str(uid)
            break

    # Both sequences are Type 1 (PS3.3 C.8.8.5, C.8.8.6).  Without them a file cut at an
    # element boundary would load as a structure set with no ROIs or no contours.
    if ds.get("StructureSetROISequence", None) is None:
        raise MissingAttributeError("StructureSetROISequence (3006,0020)", path=path,
                                    context="Type 1 in the Structure Set module; the file may be cut short")
    if raw_items is None and ds.get("ROIContourSequence", None) is None:
        raise MissingAttributeError("ROIContourSequence (3006,0039)", path=path,
                                    context="Type 1 in the ROI Contour module; the file may be cut short")
    roi_info: dict[int, dict] = {}
    order: list[int] = []
    for item in ds.get("StructureSetROISequence", None) or []:
        if "ROINumber" not in item:
            raise DicomError("an item of StructureSetROISequence has no ROINumber", path=path)
        number = _int(item.ROINumber, "ROINumber", path)
        if number in roi_info:
            raise DicomError(f"ROINumber {number} appears twice in StructureSetROISequence", path=path)
        name = str(item.get("ROIName", "") or "").strip() or f"ROI_{number}"
        roi_info[number] = {"name": name, "type": "", "color": None,
                            "for": str(item.get("ReferencedFrameOfReferenceUID", "") or "") or None}
        order.append(number)
        if for_uid is None and roi_info[number]["for"]:
            for_uid = roi_info[number]["for"]
    if ds.get("RTROIObservationsSequence", None) is None:
        notes.append(f"{path}: no RTROIObservationsSequence (3006,0080): ROI types (PTV, ORGAN...) "
                     f"are unknown")
    for item in ds.get("RTROIObservationsSequence", None) or []:
        ref = item.get("ReferencedROINumber")
        if ref is None:
            continue
        number = _int(ref, "ReferencedROINumber", path)
        if number in roi_info:
            roi_info[number]["type"] = str(item.get("RTROIInterpretedType", "") or "").strip()

    acc = _Collector()
    if raw_items is None:
        _collect_pydicom(ds, roi_info, path, notes, acc)
    else:
        _collect_raw(raw_items, roi_info, path, notes, acc)
    chunks, contours, converted, pos = acc.chunks, acc.contours, acc.converted, acc.pos

    values = _parse_joined(chunks, path)
    if values.size != pos:  # cannot happen unless a value holds an escaped separator
        raise ContourError("ContourData (3006,0050) could not be split into numbers", path=path)

    for k, c in enumerate(contours):
        n_values = converted[k].size if k in converted else c.count
        name = roi_info[c.roi_number]["name"]
        if n_values % 3:
            raise ContourError(f"ROI '{name}': ContourData has {n_values} numbers, not a multiple of 3 "
                               f"(x, y, z triplets)", path=path)
        if c.declared is not None and c.declared != n_values // 3:
            raise ContourError(f"ROI '{name}': NumberOfContourPoints is {c.declared} but ContourData "
                               f"holds {n_values // 3} points", path=path)
        if c.kind not in ("CLOSED_PLANAR", "POINT", "OPEN_PLANAR", "OPEN_NONPLANAR") and n_values:
            raise ContourError(f"ROI '{name}': unknown ContourGeometricType {c.kind!r} (expected "
                               f"CLOSED_PLANAR, POINT, OPEN_PLANAR or OPEN_NONPLANAR)", path=path)
    xyz_all = values.reshape(-1, 3)
    z_span, quick3 = _contour_checks(xyz_all, contours, converted)

    planes: dict[int, list[tuple[float, np.ndarray]]] = {n: [] for n in order}
    points: dict[int, list[np.ndarray]] = {n: [] for n in order}
    opens: dict[int, list[np.ndarray]] = {n: [] for n in order}
    skipped: dict[int, list[float]] = {}  # ROI number -> z of each degenerate contour skipped
    for k, c in enumerate(contours):
        if k in converted:
            xyz = converted[k].reshape(-1, 3)
        else:
            xyz = xyz_all[c.start // 3:(c.start + c.count) // 3]
        if len(xyz) == 0:
            continue
        name = roi_info[c.roi_number]["name"]
        if c.kind == "POINT":
            points[c.roi_number].append(xyz)
        elif c.kind in ("OPEN_PLANAR", "OPEN_NONPLANAR"):
            opens[c.roi_number].append(xyz.copy())
        else:  # CLOSED_PLANAR
            zmin, zmax = z_span[k]
            if zmax - zmin > Z_TOL_MM:
                raise GeometryError(
                    f"ROI '{name}': a CLOSED_PLANAR contour is not axial (z from {zmin:.4f} to "
                    f"{zmax:.4f} mm); only axial contours are supported", path=path)
            z_mm = 0.5 * (zmin + zmax)
            xy = xyz[:, :2]
            if not quick3[k] and _distinct_points(xy) < 3:
                skipped.setdefault(c.roi_number, []).append(z_mm)
                continue
            planes[c.roi_number].append((z_mm, xy))

    for number, zs in skipped.items():
        # one line per ROI: an export with hundreds of mouse-slip contours stays readable
        where = ", ".join(f"{z:.2f}" for z in zs[:5]) + (f", ... ({len(zs) - 5} more)" if len(zs) > 5 else "")
        what = "contour" if len(zs) == 1 else "contours"
        left = "" if planes[number] else "; no closed contour with an area is left"
        notes.append(f"{path}: ROI '{roi_info[number]['name']}': skipped {len(zs)} degenerate closed "
                     f"{what} with fewer than 3 distinct points at z = {where} mm{left}")
    structures = []
    for number in order:
        info = roi_info[number]
        structures.append(Structure(
            number=number, name=info["name"], roi_type=info["type"], color=info["color"],
            degenerate_contours=len(skipped.get(number, ())),
            planes=_group_planes(planes[number]),
            points_mm=np.concatenate(points[number]) if points[number] else np.zeros((0, 3)),
            open_contours=tuple(opens[number]),
        ))
    label = str(ds.get("StructureSetLabel", "") or "")
    sop = ds.get("SOPInstanceUID")
    return StructureSet(structures=tuple(structures), frame_of_reference_uid=for_uid,
                        sop_instance_uid=str(sop) if sop else None, label=label,
                        source_path=path), notes


def _contour_checks(xyz_all, contours, converted):
    """Per contour: z span (min, max), and True when 3 distinct vertices are certain.

    Vectorised over every contour of the file: a Python loop of numpy calls per contour
    would cost more than parsing the coordinates.
    """
    n = len(contours)
    z_span = np.zeros((n, 2))
    quick3 = np.zeros(n, dtype=bool)
    idx = np.array([k for k, c in enumerate(contours) if k not in converted and c.count > 0], dtype=np.int64)
    if idx.size:
        starts = np.array([contours[k].start // 3 for k in idx], dtype=np.int64)
        counts = np.array([contours[k].count // 3 for k in idx], dtype=np.int64)
        z = np.ascontiguousarray(xyz_all[:, 2])
        # Contours are stored back to back, so reduceat over their starts covers each one.
        z_span[idx, 0] = np.minimum.reduceat(z, starts)
        z_span[idx, 1] = np.maximum.reduceat(z, starts)
        ok = counts >= 3
        s = starts[ok]
        p0, p1, p2 = xyz_all[s, :2], xyz_all[s + 1, :2], xyz_all[s + 2, :2]

        def differ(a, b):
            return np.any(np.abs(a - b) > _POINT_TOL_MM, axis=1)

        quick3[idx[ok]] = differ(p0, p1) & differ(p0, p2) & differ(p1, p2)
    for k in converted:
        xyz = converted[k].reshape(-1, 3)
        if len(xyz):
            z_span[k] = (xyz[:, 2].min(), xyz[:, 2].max())
    return z_span, quick3


def _distinct_points(xy: np.ndarray) -> int:
    """Number of distinct vertices, counted up to 3 (enough to tell a polygon)."""
    if len(xy) == 0:
        return 0
    differs0 = np.any(np.abs(xy - xy[0]) > _POINT_TOL_MM, axis=1)
    if not differs0.any():
        return 1
    i1 = int(np.argmax(differs0))
    differs1 = np.any(np.abs(xy - xy[i1]) > _POINT_TOL_MM, axis=1)
    return 3 if bool(np.any(differs0 & differs1)) else 2


def _group_planes(items: list[tuple[float, np.ndarray]]) -> tuple[ContourPlane, ...]:
    """Group polygons whose z agree within Z_TOL_MM into one plane each."""
    if not items:
        return ()
    items = sorted(items, key=lambda t: t[0])
    groups: list[list[tuple[float, np.ndarray]]] = [[items[0]]]
    for z, xy in items[1:]:
        if z - groups[-1][0][0] <= Z_TOL_MM:
            groups[-1].append((z, xy))
        else:
            groups.append([(z, xy)])
    return tuple(ContourPlane(z_mm=float(np.mean([g[0] for g in grp])), polygons=tuple(g[1] for g in grp))
                 for grp in groups)
