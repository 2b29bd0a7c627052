"""Dose data: the dose grid and which reading of it (course total or per fraction) is used.

Part of the data layer (:mod:`dosecalc.model` re-exports it).  A :class:`DoseGrid` array
is indexed ``(z, y, x)`` and always runs along +z, +y, +x of the patient, whatever the
orientation of the file it came from: the loader reorders axes and flips them once, so
no later step needs to know the orientation.  The file's own ``ImageOrientationPatient``
is kept in ``source_orientation``.  Dose is in Gy, coordinates in mm (DICOM LPS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .display import grid_html, grid_repr
from .errors import ParameterError
from .provenance import NONE as NO_PROVENANCE
from .provenance import DoseProvenance
from .summation import Summation

DOSE_TYPES = ("PHYSICAL", "EFFECTIVE", "ERROR")


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a



@dataclass(frozen=True)
class DoseReading:
    """Which reading of a dose grid the engine uses (course total or dose per fraction),
    and why: the DoseSummationType label, the RTPLAN cross-check, or the user's choice.

    Attributes
    ----------
    label : str
        DoseSummationType as written in the file ('' when absent).
    reading : Summation or None
        :attr:`Summation.COURSE_TOTAL` or :attr:`Summation.PER_FRACTION`
        (:mod:`dosecalc.summation`), or None: undecided (``refusal`` says why) or a label
        that states neither (BEAM, MULTI_PLAN..., left to the summation rule).
    source : str
        ``"label"`` (the file's DoseSummationType), ``"plan"`` (the RTPLAN's beam doses
        contradict the label and win) or ``"option"`` (given by the user, ``dose_is``).
    status : str
        Outcome of the cross-check: ``"agrees"``, ``"contradicts"``, ``"ambiguous"``,
        ``"inconclusive"`` (points checked, neither reading fits) or ``"not checked"``.
    fractions : int or None
        Fractions of the course this grid belongs to (its fraction group's when the
        RTDOSE references one, else the plan's).
    evidence : tuple of str
        One sentence per point checked (dose in Gy, point in mm).
    refusal : str
        Non-empty when BED/EQD2 and protocol checks must refuse this grid: the one-line
        reason naming both readings and the ``dose_is`` choice.
    warnings : tuple of str
        Plausibility warnings (dose per fraction, grid maximum against the prescription).
    """

    label: str
    reading: Summation | None
    source: str = "label"
    status: str = "not checked"
    fractions: int | None = None
    evidence: tuple[str, ...] = ()
    refusal: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def overrides_label(self) -> bool:
        """True when the reading used is not the label's own (plan evidence or option)."""
        return self.source != "label" and self.reading is not None

    @property
    def text(self) -> str:
        """One line for every report: which reading is used and why."""
        label = self.label or "(absent)"
        if self.refusal:
            return f"dose reading undecided (DoseSummationType {label}): {self.refusal}"
        words = {Summation.COURSE_TOTAL: "the course total", Summation.PER_FRACTION: "dose per fraction"}
        what = (None if self.reading is None else words.get(self.reading)) or f"what DoseSummationType {label} states"
        if self.source == "option":
            why = f"given by the user (dose_is / --dose-is); DoseSummationType {label}"
            if self.status == "contradicts" or self.status == "agrees":
                why += f"; RTPLAN cross-check: {self.status}"
        elif self.source == "plan":
            why = (f"the RTPLAN's beam doses contradict DoseSummationType {label}: "
                   + (self.evidence[0] if self.evidence else ""))
        else:
            why = f"DoseSummationType {label}; RTPLAN cross-check: {self.status}"
            if self.status == "inconclusive" and self.evidence:
                why += f": {self.evidence[0]}"
        return f"dose read as {what} ({why})"


@dataclass(frozen=True, eq=False)
class DoseGrid:
    """A 3-D dose distribution on a regular, axis-aligned grid.

    Attributes
    ----------
    values_gy : ndarray of float64, shape (nz, ny, nx)
        Dose in Gy at voxel centres, C-contiguous and read-only.  Indexed (z, y, x) along
        increasing patient z, y, x.
    origin_mm : tuple of 3 floats
        Patient position (x, y, z) in mm of the centre of voxel ``[0, 0, 0]``.
    spacing_mm : tuple of 3 floats
        Voxel size (dx, dy, dz) in mm, all > 0.
    dose_type : str
        DICOM DoseType: ``PHYSICAL``, ``EFFECTIVE`` (BED/EQD2 or other model dose) or
        ``ERROR``.
    summation_type : str
        DICOM DoseSummationType (``PLAN``, ``FRACTION`` = dose per fraction, ``BEAM``,
        ``MULTI_PLAN``, ...).  Never changed silently: a grid summed over fractions by the
        engine says so here and in ``description``.
    frame_of_reference_uid : str or None
    source_orientation : tuple of 6 floats
        ImageOrientationPatient of the file the grid came from ((1,0,0,0,1,0) if made here).
    source_path : str or None
        File the grid was read from (first file when several BEAM doses were summed).
    sop_instance_uid, referenced_plan_uid, referenced_structure_set_uid : str or None
    description : str
        How the dose was obtained (file comment, or the engine's conversion).
    quantity : str
        What the numbers are: ``"dose"`` for physical dose, or the TG-263 label of the
        converted quantity, for example ``"EQD2Gy(a/b=2.5)"`` or ``"BED(a/b=10)"``.
    model : DoseProvenance
        The model behind an EFFECTIVE grid (name, alpha/beta or map, fractions,
        transition dose, source grid); empty for physical dose.  Reads like a mapping
        (``grid.model["fractions"]``); a plain dict given here becomes a record.
    referenced_fraction_group : int or None
        ReferencedFractionGroupNumber of the RTDOSE's plan reference: the grid is the dose
        of that fraction group only.
    reading : DoseReading or None
        Course total or dose per fraction, as cross-checked against the RTPLAN by the
        loader (:mod:`dosecalc.dose_reading`); None for grids made in memory.
    """

    values_gy: np.ndarray
    origin_mm: tuple[float, float, float]
    spacing_mm: tuple[float, float, float]
    dose_type: str = "PHYSICAL"
    summation_type: str = "PLAN"
    frame_of_reference_uid: str | None = None
    source_orientation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    source_path: str | None = None
    sop_instance_uid: str | None = None
    referenced_plan_uid: str | None = None
    referenced_structure_set_uid: str | None = None
    description: str = ""
    quantity: str = "dose"
    model: DoseProvenance = field(default_factory=lambda: NO_PROVENANCE)
    referenced_fraction_group: int | None = None
    reading: DoseReading | None = None

    def __post_init__(self) -> None:
        v = np.asarray(self.values_gy)
        if v.ndim != 3:
            raise ParameterError(f"values_gy must be a 3-D array (z, y, x), got shape {v.shape}")
        if v.dtype != np.float64 or not v.flags.c_contiguous:
            v = np.ascontiguousarray(v, dtype=np.float64)
        elif v.flags.writeable:
            # Own a copy so that a caller's array can never change the grid afterwards.
            v = v.copy()
        object.__setattr__(self, "values_gy", _readonly(v))
        origin = tuple(float(c) for c in self.origin_mm)
        spacing = tuple(float(c) for c in self.spacing_mm)
        if len(origin) != 3 or not all(math.isfinite(c) for c in origin):
            raise ParameterError(f"origin_mm must be 3 finite numbers (x, y, z) in mm, got {self.origin_mm}")
        if len(spacing) != 3 or not all(math.isfinite(c) and c > 0 for c in spacing):
            raise ParameterError(f"spacing_mm must be 3 positive numbers (dx, dy, dz) in mm, got {self.spacing_mm}")
        object.__setattr__(self, "origin_mm", origin)
        object.__setattr__(self, "spacing_mm", spacing)
        if self.dose_type not in DOSE_TYPES:
            raise ParameterError(f"dose_type must be one of {DOSE_TYPES}, got {self.dose_type!r}")
        object.__setattr__(self, "model", DoseProvenance.from_dict(self.model))

    # --- geometry -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (nz, ny, nx)."""
        return self.values_gy.shape  # type: ignore[return-value]

    @property
    def voxel_volume_cc(self) -> float:
        """Volume of one voxel in cc."""
        dx, dy, dz = self.spacing_mm
        return dx * dy * dz / 1000.0

    def coordinates_mm(self, axis: str) -> np.ndarray:
        """Voxel-centre coordinates in mm along ``axis`` ('x', 'y' or 'z'), increasing."""
        i = "xyz".index(axis)
        n = self.shape[2 - i]
        return self.origin_mm[i] + self.spacing_mm[i] * np.arange(n, dtype=np.float64)

    @property
    def x_mm(self) -> np.ndarray:
        return self.coordinates_mm("x")

    @property
    def y_mm(self) -> np.ndarray:
        return self.coordinates_mm("y")

    @property
    def z_mm(self) -> np.ndarray:
        return self.coordinates_mm("z")

    @property
    def bounds_mm(self) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        """((xmin, xmax), (ymin, ymax), (zmin, zmax)) of the grid's volume: the outer voxel
        faces, half a voxel beyond the outermost centres."""
        out = []
        for i in range(3):
            n = self.shape[2 - i]
            lo = self.origin_mm[i] - 0.5 * self.spacing_mm[i]
            out.append((lo, lo + n * self.spacing_mm[i]))
        return tuple(out)  # type: ignore[return-value]

    @property
    def max_gy(self) -> float:
        return float(self.values_gy.max()) if self.values_gy.size else 0.0

    def same_geometry(self, other: "DoseGrid", tol_mm: float = 1e-3) -> bool:
        """True when ``other`` has the same shape, origin and spacing (within ``tol_mm``)."""
        return (
            self.shape == other.shape
            and all(abs(a - b) <= tol_mm for a, b in zip(self.origin_mm, other.origin_mm))
            and all(abs(a - b) <= tol_mm for a, b in zip(self.spacing_mm, other.spacing_mm))
        )

    # notebook display: a few lines, constant time (dosecalc/display.py)
    def __repr__(self) -> str:
        return grid_repr(self)

    def _repr_html_(self) -> str:
        return grid_html(self)

    def with_values(self, values_gy: np.ndarray, **changes) -> "DoseGrid":
        """A new grid with the same geometry and new values (and any field changed)."""
        from dataclasses import replace

        return replace(self, values_gy=values_gy, **changes)

    # --- point dose -----------------------------------------------------------------
    def sample(self, points_mm, fill: float = np.nan) -> np.ndarray | float:
        """Trilinearly interpolated dose at patient points.

        Parameters
        ----------
        points_mm : array_like, shape (N, 3) or (3,)
            Patient coordinates (x, y, z) in mm.
        fill : float
            Value returned for points outside the grid's volume (default NaN).  In the
            outer half voxel the edge voxel's dose is returned.

        Returns
        -------
        ndarray of float64, shape (N,) (or a float for a single point)
            Dose in Gy.
        """
        # local: the numba kernels cost ~1 s of import, which loading and reading a grid
        # do not need (dosecalc info, the loaders)
        from .kernels.interp import trilinear_points

        try:
            p = np.asarray(points_mm, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"points_mm must be numbers (x, y, z) in mm, got {type(points_mm).__name__}") from exc
        single = p.ndim == 1
        p = np.ascontiguousarray(np.atleast_2d(p))
        if p.ndim != 2 or p.shape[1] != 3:
            raise ParameterError(f"points_mm must have shape (N, 3) (x, y, z in mm), got {np.shape(points_mm)}")
        if not np.all(np.isfinite(p)):
            raise ParameterError("points_mm must be finite numbers (x, y, z in mm)")
        # a read-only view whatever the caller's array: one compiled signature to load
        p = p.view()
        p.setflags(write=False)
        out = np.empty(p.shape[0], dtype=np.float64)
        trilinear_points(
            self.values_gy,
            np.asarray(self.origin_mm, dtype=np.float64),
            np.asarray(self.spacing_mm, dtype=np.float64),
            p,
            float(fill),
            out,
        )
        return float(out[0]) if single else out

    # --- output ---------------------------------------------------------------------
    def write(self, path, **options) -> Path:
        """Write this grid as an RTDOSE file (atomically); see :func:`dosecalc.io.write_rtdose`."""
        import os

        # local: the RTDOSE writer imports pydicom (~1 s cold), which no reader of a grid needs
        from .io.write_rtdose import write_rtdose

        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise ParameterError(f"path must be a file name (str or Path), got {path!r:.60}")
        return write_rtdose(self, path, **options)
