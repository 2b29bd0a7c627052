"""RT Dose -> :class:`~dosecalc.model.DoseGrid`.

Geometry rule (DICOM PS3.3 C.7.6.2.1.1 Image Plane and C.8.8.3.2 Grid Frame Offset Vector)
-------------------------------------------------------------------------------------------
The centre of file voxel (frame f, row r, column c) lies at::

    P = IPP + c * PixelSpacing[1] * row_dir + r * PixelSpacing[0] * col_dir + o_f * normal

with ``row_dir = IOP[0:3]`` (direction of increasing column index), ``col_dir = IOP[3:6]``
(direction of increasing row index), ``PixelSpacing = (between rows, between columns)``
and ``normal = row_dir x col_dir``.  GridFrameOffsetVector ``o`` comes in two forms:

* relative (option a, first element 0): ``o_f`` is measured along ``normal``, positive in
  the direction of the cross product, whatever the orientation.  This is the rule the
  standard states and the one used here for HFS, HFP, FFS, FFP and decubitus grids; an
  FFS grid (``normal = -z``) with offsets 0, -2.5, -5 therefore runs towards +z.
* absolute (option b, first element equal to the IPP coordinate along the normal axis):
  ``o_f`` is the patient coordinate of plane f along that axis.  The standard defines it
  for HFS only; for other transverse orientations the values are still read as patient
  z (there is no other sensible reading of a z list that starts at IPP z).  When IPP z is
  0 both forms start with 0 and the relative form is used, as the standard prescribes.

Only axis-aligned grids are supported: every IOP component within ``ORIENT_TOL`` of 0 or
+-1 (any of the 48 axis permutations/signs, including sagittal and coronal frames).
The array is transposed and flipped once to (z, y, x) along +z, +y, +x; the file's IOP is
kept in ``DoseGrid.source_orientation``.  Oblique grids and non-uniform frame spacing
raise :class:`GeometryError`.

Values
------
Dose = stored value x DoseGridScaling (Gy).  DoseUnits RELATIVE are fractions of an
implicit reference dose (1.0 = 100 %); they are converted only when the caller gives
``prescription_gy`` (then dose = value x prescription, recorded in ``description``).
DoseType and DoseSummationType are kept as they are (FRACTION stays dose per fraction).
The pixel data length is checked against Rows x Columns x NumberOfFrames x
BitsAllocated / 8 from the raw element before any array is allocated.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ..errors import DicomError, GeometryError, MissingAttributeError, ParameterError
from ..model import DoseGrid
from ..provenance import DoseProvenance
from .scan import guarded, one_line, read_dataset
from .values import finite_number

PIXEL_DATA = 0x7FE00010
# Direction cosines within this of 0 or 1 count as axis-aligned (0.006 degrees: under
# 0.03 mm of displacement across a 300 mm grid).
ORIENT_TOL = 1e-4
# Frame spacing may vary by this much (mm) from uniform: export rounding, not geometry.
FRAME_TOL_MM = 1e-3
# A dose grid above this many voxels is refused rather than allocated (3.2 GB as float64).
MAX_VOXELS = 400_000_000
# RLE packs at most 128 bytes into a 2-byte run: decoded size <= 64 x encoded (+ headers).
_RLE_RATIO = 64
_OTHER_CODEC_RATIO = 2000
_RLE_LOSSLESS = "1.2.840.10008.1.2.5"


def _required(ds, keyword: str, path: str, context: str = ""):
    value = ds.get(keyword)
    if value is None or (isinstance(value, (str, bytes, list)) and len(value) == 0):
        raise MissingAttributeError(keyword, path=path, context=context)
    return value


def _numbers(value, keyword: str, n: int | None, path: str) -> list[float]:
    try:
        seq = list(value) if hasattr(value, "__iter__") and not isinstance(value, (str, bytes)) else [value]
    except TypeError:
        seq = [value]
    out = [finite_number(v, keyword, path) for v in seq]
    if n is not None and len(out) != n:
        raise DicomError(f"{keyword} must have {n} values, got {len(out)}", path=path)
    return out


def _int_attr(ds, keyword: str, path: str, default=None) -> int:
    value = ds.get(keyword, default)
    if value is None:
        raise MissingAttributeError(keyword, path=path)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise DicomError(f"{keyword} must be an integer, got {value!r}", path=path) from exc


def _axis_of(vec: list[float], what: str, path: str) -> tuple[int, int]:
    """(patient axis 0/1/2, sign) of a unit direction cosine vector."""
    v = np.asarray(vec, dtype=np.float64)
    k = int(np.argmax(np.abs(v)))
    if abs(abs(v[k]) - 1.0) > ORIENT_TOL or np.any(np.abs(np.delete(v, k)) > ORIENT_TOL):
        raise GeometryError(
            f"ImageOrientationPatient {what} direction {tuple(float(x) for x in v)} is not along a patient "
            f"axis: oblique dose grids are not supported", path=path)
    return k, (1 if v[k] > 0 else -1)


def _frame_positions(ds, nf: int, ipp: list[float], n_axis: int, n_sign: int, path: str) -> np.ndarray:
    """Patient coordinate (mm) along the normal's axis of every frame centre."""
    gfov = ds.get("GridFrameOffsetVector")
    if gfov is None or (hasattr(gfov, "__len__") and not isinstance(gfov, str) and len(gfov) == 0):
        if nf == 1:
            return np.array([ipp[n_axis]])
        raise MissingAttributeError("GridFrameOffsetVector", path=path,
                                    context=f"required when NumberOfFrames ({nf}) > 1")
    off = np.asarray(_numbers(gfov, "GridFrameOffsetVector", None, path), dtype=np.float64)
    if off.size != nf:
        raise DicomError(f"GridFrameOffsetVector has {off.size} values but NumberOfFrames is {nf}", path=path)
    if abs(off[0]) <= FRAME_TOL_MM:
        return ipp[n_axis] + n_sign * off
    if abs(off[0] - ipp[n_axis]) <= FRAME_TOL_MM and n_axis == 2:
        return off.copy()
    raise GeometryError(
        f"GridFrameOffsetVector starts with {off[0]:g}: expected 0 (relative offsets) or the "
        f"ImagePositionPatient coordinate along the frame normal ({ipp[n_axis]:g}, absolute offsets)", path=path)


def _pixel_dtype(ds, bits: int, path: str) -> np.dtype:
    signed = _int_attr(ds, "PixelRepresentation", path, default=0)
    if bits not in (8, 16, 32):
        raise DicomError(f"BitsAllocated must be 8, 16 or 32 for RT Dose, got {bits}", path=path)
    big = False
    meta = getattr(ds, "file_meta", None)
    ts = None if meta is None else meta.get("TransferSyntaxUID")
    if ts is not None:
        try:
            big = not ts.is_little_endian
        except Exception:
            big = False
    return np.dtype(("i" if signed else "u") + str(bits // 8)).newbyteorder(">" if big else "<")


def _stored_values(ds, nf: int, nr: int, nc: int, path: str) -> np.ndarray:
    """Stored pixel values as an array (frames, rows, columns), checked before allocation."""
    bits = _int_attr(ds, "BitsAllocated", path)
    spp = _int_attr(ds, "SamplesPerPixel", path, default=1)
    if spp != 1:
        raise DicomError(f"SamplesPerPixel must be 1 for RT Dose, got {spp}", path=path)
    if min(nf, nr, nc) <= 0:
        raise DicomError(f"Rows ({nr}), Columns ({nc}) and NumberOfFrames ({nf}) must be positive", path=path)
    n = nf * nr * nc
    dtype = _pixel_dtype(ds, bits, path)
    expected = n * dtype.itemsize
    if n > MAX_VOXELS:
        raise DicomError(f"Rows x Columns x NumberOfFrames = {nr} x {nc} x {nf} = {n} voxels exceeds the "
                         f"supported maximum of {MAX_VOXELS}", path=path)
    try:
        elem = ds.get_item(PIXEL_DATA)
    except KeyError:
        elem = None
    if elem is None:
        raise MissingAttributeError("PixelData", path=path)
    meta = getattr(ds, "file_meta", None)
    ts = None if meta is None else meta.get("TransferSyntaxUID")
    encapsulated = bool(ts is not None and ts.is_encapsulated)
    raw = elem.value
    if not encapsulated:
        if not isinstance(raw, (bytes, bytearray)):
            raise DicomError("PixelData (7FE0,0010) is not a byte string", path=path)
        if len(raw) < expected or len(raw) > expected + 1:
            raise DicomError(
                f"PixelData holds {len(raw)} bytes but Rows x Columns x NumberOfFrames x BitsAllocated/8 = "
                f"{nr} x {nc} x {nf} x {bits // 8} = {expected} bytes", path=path)
        bits_stored = _int_attr(ds, "BitsStored", path, default=bits)
        arr = np.frombuffer(raw, dtype=dtype, count=n).reshape(nf, nr, nc)
        if bits_stored < bits:
            arr = _mask_bits(arr, bits_stored, dtype.kind == "i")
        return arr
    # Compressed: bound the decoded size by the encoded size before pydicom allocates.
    enc_len = len(raw) if isinstance(raw, (bytes, bytearray)) else 0
    ratio = _RLE_RATIO if str(ts) == _RLE_LOSSLESS else _OTHER_CODEC_RATIO
    if expected > ratio * enc_len + 1024 * nf:
        raise DicomError(
            f"PixelData holds {enc_len} compressed bytes, too few for Rows x Columns x NumberOfFrames x "
            f"BitsAllocated/8 = {expected} bytes with transfer syntax {ts}", path=path)
    try:
        arr = ds.pixel_array
    except Exception as exc:
        raise DicomError(f"PixelData cannot be decoded (transfer syntax {ts}): {type(exc).__name__}: {one_line(exc)}",
                         path=path) from exc
    arr = np.asarray(arr)
    if arr.size != n:
        raise DicomError(f"decoded PixelData has {arr.size} values, expected Rows x Columns x "
                         f"NumberOfFrames = {n}", path=path)
    return arr.reshape(nf, nr, nc)


def _mask_bits(arr: np.ndarray, bits_stored: int, signed: bool) -> np.ndarray:
    a = arr.astype(np.int64)
    a &= (1 << bits_stored) - 1
    if signed:
        a = np.where(a >= (1 << (bits_stored - 1)), a - (1 << bits_stored), a)
    return a


def read_rtdose(path, *, prescription_gy: float | None = None, ds=None, keep_relative: bool = False) -> DoseGrid:
    """Read an RT Dose file into a :class:`DoseGrid` in Gy, (z, y, x) along +z, +y, +x.

    Parameters
    ----------
    path : str or Path
        The RTDOSE file.
    prescription_gy : float, optional
        Reference dose (Gy) for DoseUnits RELATIVE; required for such files.
    ds : pydicom Dataset, optional
        The dataset if already read.
    keep_relative : bool
        Without ``prescription_gy``, keep a RELATIVE grid's values as fractions of the
        implicit reference dose (``quantity`` ``"RELATIVE"``, never labelled Gy) instead
        of refusing it: for a header summary such as ``dosecalc info``.

    Returns
    -------
    DoseGrid

    Raises
    ------
    MissingAttributeError, GeometryError, DicomError, ParameterError
    """
    path = str(path)
    if ds is None:
        ds = read_dataset(path)
    return guarded("RT Dose", path, _read, ds, path, prescription_gy, keep_relative)


def _read(ds, path: str, prescription_gy: float | None, keep_relative: bool = False) -> DoseGrid:
    nr = _int_attr(ds, "Rows", path)
    nc = _int_attr(ds, "Columns", path)
    nf = _int_attr(ds, "NumberOfFrames", path, default=1)
    stored = _stored_values(ds, nf, nr, nc, path)  # size checks before anything else
    ipp = _numbers(_required(ds, "ImagePositionPatient", path), "ImagePositionPatient", 3, path)
    iop = _numbers(_required(ds, "ImageOrientationPatient", path), "ImageOrientationPatient", 6, path)
    ps = _numbers(_required(ds, "PixelSpacing", path), "PixelSpacing", 2, path)
    if ps[0] <= 0 or ps[1] <= 0:
        raise DicomError(f"PixelSpacing must be positive, got {ps}", path=path)
    scaling = finite_number(_required(ds, "DoseGridScaling", path, "stored values x DoseGridScaling = dose"),
                      "DoseGridScaling", path)
    if scaling <= 0:
        raise DicomError(f"DoseGridScaling must be > 0, got {scaling:g}", path=path)
    units = str(_required(ds, "DoseUnits", path)).strip().upper()
    dose_type = str(ds.get("DoseType", "PHYSICAL") or "PHYSICAL").strip().upper()
    summation = str(ds.get("DoseSummationType", "") or "").strip().upper()
    if dose_type not in ("PHYSICAL", "EFFECTIVE", "ERROR"):
        raise DicomError(f"DoseType must be PHYSICAL, EFFECTIVE or ERROR, got {dose_type!r}", path=path)

    r_axis, r_sign = _axis_of(iop[:3], "row", path)
    c_axis, c_sign = _axis_of(iop[3:], "column", path)
    if r_axis == c_axis:
        raise GeometryError(f"ImageOrientationPatient {iop}: row and column directions are parallel", path=path)
    n_axis = 3 - r_axis - c_axis
    normal = np.cross(np.eye(3)[r_axis] * r_sign, np.eye(3)[c_axis] * c_sign)
    n_sign = int(round(normal[n_axis]))
    frame_pos = _frame_positions(ds, nf, ipp, n_axis, n_sign, path)

    if nf > 1:
        steps = np.diff(frame_pos)
        step = (frame_pos[-1] - frame_pos[0]) / (nf - 1)
        if abs(step) <= FRAME_TOL_MM or np.any(np.abs(steps - step) > FRAME_TOL_MM):
            raise GeometryError(
                f"GridFrameOffsetVector is not uniformly spaced (steps from {steps.min():g} to "
                f"{steps.max():g} mm); non-uniform dose planes are not supported", path=path)
    else:
        thick = ds.get("SliceThickness")
        try:
            step = float(thick) if thick is not None else 0.0
        except (TypeError, ValueError):
            step = 0.0
        if not (math.isfinite(step) and step > 0):
            step = min(ps)

    if stored.dtype.kind == "i" and stored.size and stored.min() < 0:
        raise DicomError(f"PixelData holds negative stored values (min {int(stored.min())}): negative dose",
                         path=path)

    description = str(ds.get("DoseComment", "") or "")
    relative_kept = False
    if units == "RELATIVE" and prescription_gy is None and keep_relative:
        factor, relative_kept = scaling, True
        note = "DoseUnits RELATIVE kept as fractions of the implicit reference dose (no prescription given)"
        description = f"{description}; {note}" if description else note
    elif units == "RELATIVE":
        if prescription_gy is None:
            raise DicomError("DoseUnits is RELATIVE (dose relative to an implicit reference); pass "
                             "prescription_gy to convert it to Gy", path=path)
        p = float(prescription_gy)
        if not (math.isfinite(p) and p > 0):
            raise ParameterError(f"prescription_gy must be a positive number of Gy, got {prescription_gy!r}")
        factor = scaling * p
        note = f"DoseUnits RELATIVE converted to Gy: value x {p:g} Gy (prescription_gy, 1.0 = 100 %)"
        description = f"{description}; {note}" if description else note
    elif units == "GY":
        factor = scaling
    else:
        raise DicomError(f"DoseUnits must be GY or RELATIVE, got {units!r}", path=path)

    # File axes (frame, row, column) -> patient axes; then order as (z, y, x) and flip.
    axis_of_file = (n_axis, c_axis, r_axis)  # frame index moves along normal, row index along col_dir
    sign_of_file = (1 if step > 0 else -1, c_sign, r_sign)
    spacing_of_file = (abs(step), ps[0], ps[1])
    perm = [axis_of_file.index(a) for a in (2, 1, 0)]  # file axis giving patient z, y, x
    values = np.transpose(stored, perm)
    flips = tuple(k for k, fa in enumerate(perm) if sign_of_file[fa] < 0)
    if flips:
        values = np.flip(values, axis=flips)
    out = np.empty(values.shape, dtype=np.float64)  # C order whatever the view's strides
    np.multiply(values, factor, out=out)
    values = out
    if not np.all(np.isfinite(values)):
        raise DicomError("dose values are not finite (NaN or inf after DoseGridScaling)", path=path)

    first = np.array([ipp[0], ipp[1], ipp[2]], dtype=np.float64)
    first[n_axis] = frame_pos[0]
    extent = [0.0, 0.0, 0.0]
    counts = (nf, nr, nc)
    origin = first.copy()
    spacing = [0.0, 0.0, 0.0]
    for fa in range(3):
        a = axis_of_file[fa]
        spacing[a] = spacing_of_file[fa]
        extent[a] = sign_of_file[fa] * spacing_of_file[fa] * (counts[fa] - 1)
        if extent[a] < 0:
            origin[a] += extent[a]
    values.setflags(write=False)  # DoseGrid keeps a read-only array without copying it
    quantity, model = _effective_quantity(ds, dose_type)
    if relative_kept:
        quantity = "RELATIVE"
    plan_refs = ds.get("ReferencedRTPlanSequence") or []
    ss_refs = ds.get("ReferencedStructureSetSequence") or []
    return DoseGrid(
        values_gy=values,
        origin_mm=_xyz(origin),
        spacing_mm=_xyz(spacing),
        dose_type=dose_type,
        summation_type=summation,
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "") or "") or None,
        source_orientation=tuple(float(v) for v in iop),
        source_path=path,
        sop_instance_uid=str(ds.get("SOPInstanceUID", "") or "") or None,
        referenced_plan_uid=_first_ref(plan_refs),
        referenced_fraction_group=_fraction_group(plan_refs, path),
        referenced_structure_set_uid=_first_ref(ss_refs),
        description=description,
        quantity=quantity,
        model=DoseProvenance.from_dict(model),
    )


def _xyz(v) -> tuple[float, float, float]:
    """Three floats (x, y, z)."""
    return float(v[0]), float(v[1]), float(v[2])


def _effective_quantity(ds, dose_type: str) -> tuple[str, dict]:
    """What an EFFECTIVE grid's numbers are, from ``DerivationDescription``.

    dosecalc writes ``"<TG-263 label>: <model as JSON>"`` there (e.g.
    ``EQD2Gy(a/b=2.5): {...}``); other systems' EFFECTIVE doses keep a label that says the
    model is unknown, so their DVH metrics are never labelled as physical Gy.
    """
    if dose_type != "EFFECTIVE":
        return "dose", {}
    text = str(ds.get("DerivationDescription", "") or "").strip()
    label, sep, rest = text.partition(": ")
    if not sep or not label or " " in label:
        return "EFFECTIVE(model unknown)", {}
    try:
        model = json.loads(rest)
    except ValueError:
        model = {}  # cut at the attribute's length: keep the label, which is complete
    return label, model if isinstance(model, dict) else {}


def _fraction_group(plan_refs, path: str) -> int | None:
    """ReferencedFractionGroupNumber under ReferencedRTPlanSequence (the grid is the dose
    of that fraction group), or None."""
    for item in plan_refs:
        for g in item.get("ReferencedFractionGroupSequence") or []:
            n = g.get("ReferencedFractionGroupNumber")
            if n is None or str(n).strip() == "":
                continue
            try:
                return int(n)
            except (TypeError, ValueError) as exc:
                raise DicomError(f"ReferencedFractionGroupNumber must be an integer, got {n!r}",
                                 path=path) from exc
    return None


def _first_ref(seq) -> str | None:
    for item in seq:
        uid = item.get("ReferencedSOPInstanceUID")
        if uid:
            return str(uid)
    return None


def sum_beam_doses(grids: list[DoseGrid], tol_mm: float = 1e-3) -> DoseGrid:
    """Sum per-beam dose grids of one plan into the plan dose.

    The grids must share geometry (shape, origin and spacing within ``tol_mm``), DoseType
    and frame of reference.  The result's summation type is ``PLAN`` and its description
    says ``sum of N BEAM doses``; its ``source_path`` is the first file.

    Raises
    ------
    GeometryError
        When the grids do not match.
    """
    if not grids:
        raise ParameterError("sum_beam_doses needs at least one grid")
    if len(grids) == 1:
        return grids[0]
    first = grids[0]
    total = np.array(first.values_gy, dtype=np.float64, copy=True)
    for g in grids[1:]:
        if not first.same_geometry(g, tol_mm):
            raise GeometryError(
                f"BEAM doses cannot be summed: grid {g.shape} at {g.origin_mm} spacing {g.spacing_mm} differs "
                f"from {first.shape} at {first.origin_mm} spacing {first.spacing_mm}", path=g.source_path)
        if g.dose_type != first.dose_type:
            raise DicomError(f"BEAM doses cannot be summed: DoseType {g.dose_type} differs from "
                             f"{first.dose_type} of {first.source_path}", path=g.source_path)
        total += g.values_gy
    total.setflags(write=False)
    files = ", ".join(str(g.source_path) for g in grids)
    return first.with_values(total, summation_type="PLAN", sop_instance_uid=None,
                             description=f"sum of {len(grids)} BEAM doses ({files})")
