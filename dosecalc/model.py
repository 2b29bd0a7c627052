"""Domain objects: the dose grid, structures, plan and the case that holds them.

Conventions (the whole engine follows them):

* Patient coordinates are DICOM patient coordinates (LPS) in mm, written ``(x, y, z)``.
* Dose is in Gy; volumes are in cc (cm^3).
* A :class:`DoseGrid` array is indexed ``(z, y, x)`` and always runs along +z, +y, +x of
  the patient, whatever the orientation of the file it came from: the loader reorders
  axes and flips them once, so no later step needs to know the orientation.  The file's
  own ``ImageOrientationPatient`` is kept in ``source_orientation``.
* Objects are frozen; arrays they hold are made read-only, so nothing downstream can
  modify an input in place.

The data layer is split by subject, one job a module: :mod:`dosecalc.dose_grid`
(DoseReading, DoseGrid), :mod:`dosecalc.structures` (ContourPlane, Structure,
StructureSet), :mod:`dosecalc.plan` (BeamDose, FractionGroup, DoseReference, Plan); this
module holds the CT geometry, the file records and :class:`CaseData`, and re-exports
the rest so that ``from dosecalc.model import DoseGrid`` keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dose_grid import DOSE_TYPES, DoseGrid, DoseReading  # noqa: F401  (re-exported)
from .plan import BeamDose, DoseReference, FractionGroup, Plan  # noqa: F401  (re-exported)
from .structures import ContourPlane, Structure, StructureSet, normalise_name  # noqa: F401  (re-exported)
from .summation import SUMMATION_TYPES  # noqa: F401  (kept importable from here)

__all__ = ["DOSE_TYPES", "SUMMATION_TYPES", "BeamDose", "CTSeries", "CaseData", "ContourPlane", "DoseGrid",
           "DoseReading", "DoseReference", "FileRecord", "FractionGroup", "Plan", "Structure",
           "StructureSet", "normalise_name"]


@dataclass(frozen=True)
class CTSeries:
    """Geometry of the CT series (the engine needs no CT voxels for a DVH)."""

    series_instance_uid: str
    n_slices: int
    z_positions_mm: tuple[float, ...]
    rows: int
    columns: int
    pixel_spacing_mm: tuple[float, float]
    frame_of_reference_uid: str | None = None
    source_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileRecord:
    """One file found while loading: its path, modality and SOP instance UID."""

    path: str
    modality: str
    sop_class_uid: str
    sop_instance_uid: str


@dataclass(frozen=True, eq=False)
class CaseData:
    """One plan's dose, structures, plan and CT geometry: what the loader reads.

    Plain data.  The operations on a case (``dvh``, ``dvhs``, ``mask``, ``structure``,
    ``eqd2``, ``bed``) live above the analysis layers, in :class:`dosecalc.case.Case`,
    which :func:`dosecalc.load` returns.
    """

    dose: DoseGrid | None
    structures: StructureSet
    plan: Plan | None = None
    ct: CTSeries | None = None
    files: tuple[FileRecord, ...] = ()
    notes: tuple[str, ...] = ()
    frame_of_reference_uid: str | None = None
    patient_id: str | None = None

    @property
    def fractions(self) -> int | None:
        """Fractions of the course the dose grid belongs to: the grid's fraction group's
        when its RTDOSE references one, else the plan's (None when unknown)."""
        r = None if self.dose is None else self.dose.reading
        if r is not None and r.fractions is not None:
            return r.fractions
        return None if self.plan is None else self.plan.fractions

    @property
    def prescription_gy(self) -> float | None:
        return None if self.plan is None else self.plan.prescription_gy
