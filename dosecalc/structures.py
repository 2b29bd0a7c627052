"""Structure data: contour planes, ROIs and the structure set that looks them up by name.

Part of the data layer (:mod:`dosecalc.model` re-exports it).  Coordinates are DICOM
patient coordinates (LPS) in mm; arrays are read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .display import structures_html, structures_repr
from .errors import StructureNotFoundError


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a



@dataclass(frozen=True, eq=False)
class ContourPlane:
    """The closed polygons of one structure on one axial plane.

    Attributes
    ----------
    z_mm : float
        Patient z of the plane in mm.
    polygons : tuple of ndarray, each float64 (N, 2)
        Vertices (x, y) in mm, closed implicitly (the last vertex joins the first).
        Several polygons combine by the even-odd rule (an inner ring is a hole).
    """

    z_mm: float
    polygons: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        polys = tuple(_readonly(np.ascontiguousarray(p, dtype=np.float64).copy()) for p in self.polygons)
        object.__setattr__(self, "polygons", polys)
        object.__setattr__(self, "z_mm", float(self.z_mm))


@dataclass(frozen=True, eq=False)
class Structure:
    """One ROI of an RTSTRUCT.

    Attributes
    ----------
    number : int
        ROINumber.
    name : str
        ROIName as exported.
    roi_type : str
        RTROIInterpretedType (``PTV``, ``ORGAN``, ``EXTERNAL``, ...), '' when absent.
    color : tuple of 3 ints or None
        ROIDisplayColor (RGB 0-255).
    planes : tuple of ContourPlane
        CLOSED_PLANAR contours grouped by plane, sorted by increasing z.
    points_mm : ndarray float64 (M, 3)
        POINT contours (x, y, z) in mm, kept apart from volumes.
    open_contours : tuple of ndarray float64 (N, 3)
        OPEN_PLANAR / OPEN_NONPLANAR contours, kept apart from volumes.
    degenerate_contours : int
        CLOSED_PLANAR contours of the file skipped for having fewer than 3 distinct
        points (no area); an ROI made only of them still gets a (NaN) DVH.
    """

    number: int
    name: str
    roi_type: str = ""
    color: tuple[int, int, int] | None = None
    planes: tuple[ContourPlane, ...] = ()
    points_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    open_contours: tuple[np.ndarray, ...] = ()
    degenerate_contours: int = 0

    def __post_init__(self) -> None:
        planes = tuple(sorted(self.planes, key=lambda p: p.z_mm))
        object.__setattr__(self, "planes", planes)
        object.__setattr__(
            self, "points_mm", _readonly(np.array(self.points_mm, dtype=np.float64).reshape(-1, 3))
        )

    @property
    def has_volume(self) -> bool:
        """True when the ROI has closed planar contours (it can have a DVH)."""
        return len(self.planes) > 0

    @property
    def is_empty(self) -> bool:
        """True when the ROI has no contour of any kind."""
        return not self.planes and len(self.points_mm) == 0 and not self.open_contours

    @property
    def z_planes_mm(self) -> np.ndarray:
        return np.array([p.z_mm for p in self.planes], dtype=np.float64)


def normalise_name(name: str) -> str:
    """Case- and separator-insensitive key of a structure name ("Liver_GTV" -> "livergtv")."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


@dataclass(frozen=True, eq=False)
class StructureSet:
    """The ROIs of an RTSTRUCT, looked up by name (case-insensitive) or ROI number."""

    structures: tuple[Structure, ...] = ()
    frame_of_reference_uid: str | None = None
    sop_instance_uid: str | None = None
    label: str = ""
    source_path: str | None = None

    def __iter__(self) -> Iterator[Structure]:
        return iter(self.structures)

    def __len__(self) -> int:
        return len(self.structures)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.structures]

    def __contains__(self, key) -> bool:
        try:
            self[key]
        except StructureNotFoundError:
            return False
        return True

    def __getitem__(self, key: str | int) -> Structure:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            for s in self.structures:
                if s.number == int(key):
                    return s
            raise StructureNotFoundError(f"no ROI number {key} in the structure set; numbers: "
                                         f"{[s.number for s in self.structures]}")
        if not isinstance(key, str):
            raise StructureNotFoundError(f"structure key must be a name or ROI number, got {key!r}")
        exact = [s for s in self.structures if s.name == key]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            raise StructureNotFoundError(
                f"structure name {key!r} is used by several ROIs (numbers "
                f"{[s.number for s in exact]}); use the ROI number or the key "
                f"'{key} (ROI n)'")
        folded = [s for s in self.structures if s.name.casefold() == key.casefold()]
        if len(folded) == 1:
            return folded[0]
        if len(folded) > 1:
            raise StructureNotFoundError(
                f"structure name {key!r} matches several ROIs case-insensitively: "
                f"{[s.name for s in folded]}; use the exact name or the ROI number")
        raise StructureNotFoundError(f"no structure named {key!r}; structures: {self.names}")

    # notebook display: a few lines, constant time (dosecalc/display.py)
    def __repr__(self) -> str:
        return structures_repr(self)

    def _repr_html_(self) -> str:
        return structures_html(self)
