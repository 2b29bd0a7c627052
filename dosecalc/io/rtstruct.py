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

One job a module: :mod:`.rtstruct_contours` (collecting and converting ContourData),
:mod:`.rtstruct_raw` (the walker's fast path) and this module (the rules above: ROIs,
planes, checks).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ContourError, DicomError, GeometryError, MissingAttributeError
from ..model import ContourPlane, Structure, StructureSet
from .rtstruct_contours import (  # noqa: F401  (ROI_CONTOUR_SEQUENCE: re-exported)
    ROI_CONTOUR_SEQUENCE, _Collector, _collect_pydicom, _int, _parse_joined)
from .rtstruct_raw import _collect_raw, _raw_from_dataset, _raw_read
from .scan import guarded, read_dataset

# Contour points of one axial contour may differ in z by rounding in the exporting
# system; more than this is a genuinely tilted contour.
Z_TOL_MM = 1e-3
# Distinct-vertex test for degenerate contours.
_POINT_TOL_MM = 1e-6


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
