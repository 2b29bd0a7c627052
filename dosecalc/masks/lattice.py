"""The mask type and its lattice: :class:`StructureMask`, index ranges of a box on the dose
grid, and the ``supersample="auto"`` rule (:mod:`dosecalc.masks`, "Lattice and sub-voxel
sampling")."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["StructureMask", "auto_supersample", "voxel_range", "unclipped_range"]

# supersample="auto": cells across the smallest extent of a structure under / over
# AUTO_SMALL_CC, the largest factor, and the most cells of the box
AUTO_SMALL_CC = 30.0
AUTO_CELLS_SMALL = 100.0
AUTO_CELLS_LARGE = 30.0
AUTO_MAX_K = 16
AUTO_MAX_CELLS = 4_000_000


@dataclass(frozen=True, eq=False)
class StructureMask:
    """Fraction of each cell of a regular lattice that lies inside a structure.

    Attributes
    ----------
    name : str
    fraction : ndarray float64 (nz, ny, nx), read-only
        Fraction (0..1) of each lattice cell's volume inside the structure.
    origin_mm : tuple of 3 floats
        Centre (x, y, z) in mm of lattice cell [0, 0, 0].
    spacing_mm : tuple of 3 floats
        Lattice cell size (dx, dy, dz) in mm.
    index_offset : tuple of 3 ints or None
        (iz, iy, ix) of cell [0, 0, 0] in the dose grid when the lattice is the dose grid's
        own (a sub-box of it); None for a sub-voxel lattice.
    volume_cc : float
        Volume of the structure under the geometry rules, including any part outside the
        dose grid.
    outside_cc : float
        Part of ``volume_cc`` outside the dose grid's bounds.
    settings : dict
        Options actually used (end_cap, interpolation, supersample, ...).
    corners_mm : ndarray float64 (M, 3), read-only
        Corners (x, y, z) of the structure's prism geometry: every vertex of every
        contour at the bottom and top of its plane's slab.  A dose linear between voxel
        centres has its extremes over a prism there, while cell samples sit up to half a
        cell inside the surface; a DVH's Min and Max use both.  Empty when unknown (shape
        interpolation, intersections, differences).
    prism : object or None
        The prepared prism geometry (:class:`dosecalc.masks.contours.Prepared`: flat
        contours, orientation signs, slabs in mm) of a prism ROI mask, kept so that the
        DVH's Min and Max (:mod:`dosecalc.masks.extremes`) need no second preparation;
        None otherwise.
    """

    name: str
    fraction: np.ndarray
    origin_mm: tuple[float, float, float]
    spacing_mm: tuple[float, float, float]
    index_offset: tuple[int, int, int] | None
    volume_cc: float
    outside_cc: float
    settings: dict = field(default_factory=dict)
    corners_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    prism: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        c = np.array(self.corners_mm, dtype=np.float64).reshape(-1, 3)
        c.setflags(write=False)
        object.__setattr__(self, "corners_mm", c)
        f = np.ascontiguousarray(self.fraction, dtype=np.float64)
        if f.flags.writeable:
            f = f.copy() if f is self.fraction else f
            f.setflags(write=False)
        object.__setattr__(self, "fraction", f)
        object.__setattr__(self, "origin_mm", tuple(float(c) for c in self.origin_mm))
        object.__setattr__(self, "spacing_mm", tuple(float(c) for c in self.spacing_mm))
        if self.index_offset is not None:
            object.__setattr__(self, "index_offset", tuple(int(i) for i in self.index_offset))
        object.__setattr__(self, "settings", dict(self.settings))

    @property
    def cell_volume_cc(self) -> float:
        """Volume of one lattice cell in cc."""
        dx, dy, dz = self.spacing_mm
        return dx * dy * dz / 1000.0

    @property
    def inside_cc(self) -> float:
        """Part of the volume inside the dose grid (cc)."""
        return self.volume_cc - self.outside_cc

    def cell_centres_mm(self, axis: str) -> np.ndarray:
        """Cell-centre coordinates (mm) along ``axis`` ('x', 'y' or 'z')."""
        i = "xyz".index(axis)
        n = self.fraction.shape[2 - i]
        return self.origin_mm[i] + self.spacing_mm[i] * np.arange(n, dtype=np.float64)


def voxel_range(lo_mm, hi_mm, origin, spacing, n):
    """Dose-voxel index range [i0, i1) whose voxels overlap [lo_mm, hi_mm]."""
    i0 = int(math.floor((lo_mm - origin) / spacing + 0.5))
    i1 = int(math.ceil((hi_mm - origin) / spacing + 0.5))
    return max(i0, 0), min(i1, n)


def unclipped_range(lo_mm, hi_mm, origin, spacing):
    """Dose-voxel index range [i0, i1) of [lo_mm, hi_mm], not clipped to the grid."""
    i0 = int(math.floor((lo_mm - origin) / spacing + 0.5))
    i1 = int(math.ceil((hi_mm - origin) / spacing + 0.5))
    return i0, max(i1, i0)


def auto_supersample(volume_cc: float, extent_mm, spacing_mm) -> int:
    """Sub-voxel factor chosen by ``supersample="auto"`` (rule in the module docstring).

    Parameters
    ----------
    volume_cc : float
        Structure volume (cc).
    extent_mm : 3 floats
        Size (x, y, z) of the structure's bounding box (mm).
    spacing_mm : 3 floats
        Dose voxel size (dx, dy, dz) (mm).
    """
    smallest = max(min(extent_mm), 1e-6)
    across = smallest / max(spacing_mm)
    target = AUTO_CELLS_SMALL if volume_cc < AUTO_SMALL_CC else AUTO_CELLS_LARGE
    k = int(math.ceil(target / across))
    k = max(1, min(k, AUTO_MAX_K))
    box_voxels = 1.0
    for e, s in zip(extent_mm, spacing_mm):
        box_voxels *= e / s + 2.0
    while k > 1 and box_voxels * k ** 3 > AUTO_MAX_CELLS:
        k -= 1
    return k
