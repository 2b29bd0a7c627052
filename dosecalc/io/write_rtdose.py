"""Write a :class:`~dosecalc.model.DoseGrid` as a DICOM RTDOSE file.

Dose is stored as uint32 with one ``DoseGridScaling`` chosen so that the maximum dose
maps just below 2**32 - 1: one stored step (a "quantum") is max / 4.29e9 Gy, so a read
back value differs from the grid by at most half a quantum (plus float rounding).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from .. import __version__
from ..errors import ParameterError
from ..summation import SUMMATION_TYPES
from .uids import RT_DOSE_STORAGE, RT_PLAN_STORAGE, RT_STRUCTURE_SET_STORAGE, new_uid
from .write_rt import (clean_lo, clean_lt, format_ds, new_dataset, patient_study, read_header,
                       save_dataset)

if TYPE_CHECKING:  # the writer reads a grid's fields; model imports it (DoseGrid.write)
    from ..model import DoseGrid

UINT32_MAX = 2**32 - 1


def dose_grid_scaling(max_gy: float) -> tuple[str, float]:
    """The DoseGridScaling for a grid whose maximum is ``max_gy``.

    Returns
    -------
    (text, value) : (str, float)
        The Decimal String written to the file and its exact float value; ``max_gy /
        value`` rounds to at most 2**32 - 1.
    """
    if max_gy <= 0.0:
        return "1.0", 1.0
    # A hair above max / (2^32 - 1) so that rounding the 16-character DS down can never
    # push the maximum above the uint32 range.
    target = max_gy / UINT32_MAX * (1.0 + 1e-9)
    text = format_ds(target)
    value = float(text)
    while round(max_gy / value) > UINT32_MAX:
        target *= 1.0 + 1e-9
        text = format_ds(target)
        value = float(text)
    return text, value


# what the writer reads of a DoseGrid (a duck-typed check: dosecalc.model imports this
# module from DoseGrid.write, so importing model back here would make a circle)
_GRID_FIELDS = ("values_gy", "origin_mm", "spacing_mm", "dose_type", "summation_type", "quantity",
                "model", "frame_of_reference_uid", "description", "source_path")


def describe(grid: DoseGrid) -> str:
    """The long, human-readable account of a grid written into ``ImageComments``."""
    parts = [f"Written by dosecalc {__version__}."]
    if grid.description:
        parts.append(f"Description: {grid.description}.")
    parts.append(f"Quantity: {grid.quantity}; DoseType {grid.dose_type}; "
                 f"DoseSummationType {grid.summation_type}; units Gy.")
    if grid.model or grid.dose_type == "EFFECTIVE":
        parts.append("Model: " + json.dumps(grid.model.to_dict(), sort_keys=True, default=str) + ".")
    if grid.source_path:
        parts.append(f"Source: {Path(grid.source_path).name}.")
    return " ".join(parts)


def write_rtdose(grid: DoseGrid, path, *, referenced_plan_uid: str | None = None,
                 referenced_structure_set_uid: str | None = None, comment: str | None = None,
                 inputs: Iterable = (), series_description: str | None = None,
                 patient: Mapping | Dataset | None = None, uid_seed: str | None = None) -> Path:
    """Write ``grid`` as an RTDOSE file (Explicit VR Little Endian), atomically.

    Parameters
    ----------
    grid : DoseGrid
        Dose in Gy, all values finite and >= 0.  ``dose_type``, ``summation_type``,
        ``frame_of_reference_uid`` (a new one when None), ``quantity`` and ``model`` are
        written with it.
    path : str or Path
        Output file; its folder must exist.  Never one of ``inputs`` or
        ``grid.source_path``.
    referenced_plan_uid, referenced_structure_set_uid : str, optional
        SOP Instance UIDs for ReferencedRTPlanSequence / ReferencedStructureSetSequence;
        default: the grid's own references.
    comment : str, optional
        DoseComment (LO, cut to 64 characters); default: the quantity for EFFECTIVE dose,
        else the grid's description.
    inputs : iterable of paths
        Files that must not be overwritten.
    series_description : str, optional
        SeriesDescription (LO, cut to 64 characters).
    patient : mapping or pydicom Dataset, optional
        Patient/study attributes to keep (``PatientName``, ``PatientID``,
        ``StudyInstanceUID``...).  Default: those of ``grid.source_path`` when it can be
        read, otherwise synthetic values and a new StudyInstanceUID.
    uid_seed : str, optional
        Derive the new UIDs from this string (reproducible output) instead of randomly.

    Returns
    -------
    Path
        The resolved output path.

    Raises
    ------
    ParameterError
        Values not finite or negative, or an unknown summation type.
    OutputError
        ``path`` is an input, a folder, or its folder does not exist.
    """
    if not all(hasattr(grid, a) for a in _GRID_FIELDS):
        raise ParameterError(f"write_rtdose expects a DoseGrid, got {type(grid).__name__}")
    values = grid.values_gy
    if values.size == 0:
        raise ParameterError(f"grid.values_gy is empty (shape {values.shape}); nothing to write")
    if not np.all(np.isfinite(values)):
        raise ParameterError("grid.values_gy holds NaN or infinite doses; RTDOSE needs finite "
                             "values >= 0 Gy")
    vmin = float(values.min())
    if vmin < 0.0:
        raise ParameterError(f"grid.values_gy has negative dose (min {vmin:g} Gy); RTDOSE "
                             "DoseGridScaling with uint32 pixels needs values >= 0 Gy")
    summation = str(grid.summation_type).upper()
    if summation not in SUMMATION_TYPES:
        raise ParameterError(f"grid.summation_type {grid.summation_type!r} is not a DICOM "
                             f"DoseSummationType; expected one of {SUMMATION_TYPES}")

    if patient is None and grid.source_path:
        patient = read_header(grid.source_path)
    study = patient_study(patient, seed=uid_seed)
    frame_uid = grid.frame_of_reference_uid or new_uid(uid_seed, "frame")
    plan_uid = referenced_plan_uid or grid.referenced_plan_uid
    ss_uid = referenced_structure_set_uid or grid.referenced_structure_set_uid

    ds = new_dataset(RT_DOSE_STORAGE, new_uid(uid_seed, "rtdose-sop"), "RTDOSE", study=study,
                     series_instance_uid=new_uid(uid_seed, "rtdose-series"), series_number=4,
                     frame_of_reference_uid=frame_uid,
                     series_description=series_description or _default_series(grid))
    ds.InstanceNumber = 1

    nz, ny, nx = values.shape
    dx, dy, dz = grid.spacing_mm
    ds.ImagePositionPatient = [format_ds(c) for c in grid.origin_mm]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [format_ds(dy), format_ds(dx)]  # row spacing (y) first
    ds.SliceThickness = format_ds(dz)
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = 0x3004000C
    ds.GridFrameOffsetVector = [format_ds(k * dz) for k in range(nz)]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = ny, nx
    ds.BitsAllocated = 32
    ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.DoseUnits = "GY"
    ds.DoseType = grid.dose_type
    ds.DoseSummationType = summation
    scaling_text, scaling = dose_grid_scaling(float(values.max()))
    ds.DoseGridScaling = scaling_text
    ds.DoseComment = clean_lo(comment if comment is not None else _default_comment(grid))
    ds.ImageComments = clean_lt(describe(grid))
    if grid.dose_type == "EFFECTIVE" or grid.quantity != "dose":
        ds.DerivationDescription = clean_lt(f"{grid.quantity}: " + json.dumps(
            grid.model.to_dict(), sort_keys=True, default=str), 1024)
    if plan_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = RT_PLAN_STORAGE
        ref.ReferencedSOPInstanceUID = plan_uid
        ds.ReferencedRTPlanSequence = Sequence([ref])
    if ss_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = RT_STRUCTURE_SET_STORAGE
        ref.ReferencedSOPInstanceUID = ss_uid
        ds.ReferencedStructureSetSequence = Sequence([ref])
    ds.PixelData = _pixels(values, scaling)
    return save_dataset(ds, path, [*inputs, grid.source_path])


def _pixels(values: np.ndarray, scaling: float) -> bytes:
    """uint32 little-endian frames, converted in slabs to bound the float64 temporaries."""
    out = np.empty(values.shape, dtype="<u4")
    step = max(1, (1 << 22) // max(1, values.shape[1] * values.shape[2]))
    for k in range(0, values.shape[0], step):
        out[k:k + step] = np.minimum(np.rint(values[k:k + step] / scaling), UINT32_MAX)
    return out.tobytes()


def _default_comment(grid: DoseGrid) -> str:
    if grid.dose_type == "EFFECTIVE" or grid.quantity != "dose":
        return grid.quantity
    return grid.description or "dosecalc dose"


def _default_series(grid: DoseGrid) -> str:
    return "dosecalc " + ("dose" if grid.quantity == "dose" else grid.quantity)
