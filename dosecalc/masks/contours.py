"""Contours of a structure as flat arrays, their slabs along z and the structure's volume
(geometry rules in :mod:`dosecalc.masks`)."""

from __future__ import annotations

import numpy as np

from ..errors import ContourError, ParameterError
from ..kernels.contours import distinct_vertices
from ..mask_options import END_CAPS
from ..model import DoseGrid, Structure
from .lattice import voxel_range
from .scanline import scanline_area
from .topology import plane_topology

__all__ = ["GAP_FACTOR", "Prepared", "slab_bounds", "structure_volume_cc", "prepare", "box_voxels"]

#: consecutive planes farther apart than GAP_FACTOR x the median spacing are a gap
GAP_FACTOR = 1.5


def _points(structure: Structure, polys: list) -> np.ndarray:
    """The contours' (x, y) points as one (M, 2) array: the ContourPlane polygons are
    (N, 2) already, so one concatenation; anything else is checked contour by contour
    (and a third column dropped)."""
    try:
        pts = np.concatenate(polys)
    except ValueError:  # mixed shapes
        pts = None
    if pts is None or pts.ndim != 2 or pts.shape[1] != 2:
        for plane in structure.planes:
            for poly in plane.polygons:
                if poly.ndim != 2 or poly.shape[1] < 2:
                    raise ContourError(
                        f"structure {structure.name!r}: contour on plane z={plane.z_mm} mm must be an "
                        f"(N, 2) array of (x, y) mm, got shape {poly.shape}")
        pts = np.concatenate([poly[:, :2] for poly in polys])
    return np.ascontiguousarray(pts, dtype=np.float64)


def _flatten(structure: Structure):
    """Concatenate the closed contours plane by plane, dropping repeated points (a vertex
    equal to its predecessor, and a closing vertex equal to the first)."""
    planes = structure.planes
    polys = [poly for plane in planes for poly in plane.polygons]
    zs = [plane.z_mm for plane in planes]
    plane_start = np.zeros(len(planes) + 1, dtype=np.int64)
    np.cumsum([len(plane.polygons) for plane in planes], out=plane_start[1:])
    if not polys:
        return np.zeros(0), np.zeros(0), np.zeros(1, dtype=np.int64), plane_start, np.asarray(zs, dtype=np.float64)
    pts = _points(structure, polys)
    lens = np.fromiter(map(len, polys), dtype=np.int64, count=len(polys))
    if not np.all(np.isfinite(pts)):
        bad = int(np.repeat(np.arange(len(polys)), lens)[~np.isfinite(pts).all(axis=1)][0])
        plane = int(np.searchsorted(plane_start, bad, side="right") - 1)
        raise ContourError(
            f"structure {structure.name!r}: contour on plane z={zs[plane]} mm holds "
            "non-finite coordinates (ContourData)")
    x, y, poly_start = distinct_vertices(pts, lens)
    return x, y, poly_start, plane_start, np.asarray(zs, dtype=np.float64)


def slab_bounds(z_mm: np.ndarray, end_cap: str = "half", single_thickness_mm: float = 1.0,
                gap_factor: float = GAP_FACTOR) -> tuple[np.ndarray, np.ndarray]:
    """z-extent (mm) of the slab each contour plane stands for.

    Parameters
    ----------
    z_mm : ndarray (Z,)
        Plane positions in mm, strictly increasing.
    end_cap : {"half", "none"}
        Half the median spacing beyond the first and last plane (and at gaps), or none.
    single_thickness_mm : float
        Slab thickness of a structure with a single plane.
    gap_factor : float
        Consecutive planes farther apart than ``gap_factor`` x median spacing are a gap.

    Returns
    -------
    lo, hi : ndarray (Z,)
        Lower and upper z (mm) of each slab; slabs do not overlap.
    """
    z = np.asarray(z_mm, dtype=np.float64)
    if len(z) == 1:
        h = 0.5 * single_thickness_mm
        return z - h, z + h
    d = np.diff(z)
    if np.any(d <= 0):
        raise ContourError(f"contour planes must have distinct z positions; got z = {z.tolist()} mm")
    med = float(np.median(d))
    cap = 0.5 * med if end_cap == "half" else 0.0
    gap = d > gap_factor * med
    mid = 0.5 * (z[1:] + z[:-1])
    lo = np.empty_like(z)
    hi = np.empty_like(z)
    lo[0] = z[0] - cap
    hi[-1] = z[-1] + cap
    hi[:-1] = np.where(gap, z[:-1] + cap, mid)
    lo[1:] = np.where(gap, z[1:] - cap, mid)
    return lo, hi


def structure_volume_cc(structure: Structure, end_cap: str = "half",
                        single_thickness_mm: float = 0.0, split_gaps: bool = True) -> float:
    """A structure's volume (cc) under the mask geometry rules, without a dose grid.

    Same slabs, end caps, gap rule and even-odd plane areas as :func:`structure_mask`, so
    it equals ``structure_mask(...).volume_cc`` when ``single_thickness_mm`` is the dose
    grid's dz (the slab thickness of a single-plane structure).
    """
    if end_cap not in END_CAPS:
        raise ParameterError(f"end_cap must be one of {END_CAPS}, got {end_cap!r}")
    if not structure.planes:
        return 0.0
    return Prepared(structure, None, end_cap, single_thickness_mm, split_gaps).volume_cc


class Prepared:
    """Contours of one structure in flat arrays, with topology and slabs (mm)."""

    def __init__(self, structure: Structure, grid: DoseGrid | None, end_cap: str,
                 single_thickness_mm: float | None = None, split_gaps: bool = True):
        self.name = structure.name
        x, y, ps, pls, z = _flatten(structure)
        self.x, self.y, self.poly_start, self.plane_start, self.z = x, y, ps, pls, z
        if single_thickness_mm is None:
            single_thickness_mm = grid.spacing_mm[2]
        # the gap rule off: no spacing is a gap (every slab reaches halfway to its neighbour)
        self.gap_factor = GAP_FACTOR if split_gaps else float("inf")
        self.lo, self.hi = slab_bounds(z, end_cap, single_thickness_mm=single_thickness_mm,
                                       gap_factor=self.gap_factor)
        # Topology on coordinates relative to the structure's own centre keeps the
        # shoelace sums well conditioned.
        self.cx = float(np.mean(x)) if len(x) else 0.0
        self.cy = float(np.mean(y)) if len(y) else 0.0
        self.sign, self.fallback, area = plane_topology(x - self.cx, y - self.cy, ps, pls)
        for p in np.nonzero(self.fallback)[0]:
            # even-odd area of crossing contours, on a 0.01 mm scanline pitch
            area[p] = scanline_area(x - self.cx, y - self.cy, ps, int(pls[p]), int(pls[p + 1]), self.sign,
                                    100)
        self.area_mm2 = area
        self.volume_cc = float(np.sum(area * (self.hi - self.lo))) / 1000.0
        used = self.sign != 0.0
        if np.all(used):
            self.xr = (float(x.min()), float(x.max())) if len(x) else (0.0, 0.0)
            self.yr = (float(y.min()), float(y.max())) if len(y) else (0.0, 0.0)
        elif np.any(used):
            used = np.repeat(used, np.diff(ps))
            self.xr = (float(x[used].min()), float(x[used].max()))
            self.yr = (float(y[used].min()), float(y[used].max()))
        else:
            self.xr = self.yr = (0.0, 0.0)
        self.zr = (float(self.lo[0]), float(self.hi[-1]))

    @property
    def extent_mm(self):
        return (self.xr[1] - self.xr[0], self.yr[1] - self.yr[0], self.zr[1] - self.zr[0])

    def corners(self) -> np.ndarray:
        """(M, 3) corners of the prism geometry: the vertices of every non-degenerate
        contour at the bottom and at the top of its plane's slab (mm)."""
        used = self.sign != 0.0
        per_poly = np.diff(self.poly_start)
        if np.all(used):
            x, y = self.x, self.y
        else:
            good = np.repeat(used, per_poly)
            x, y = self.x[good], self.y[good]
        # vertices of the used contours per plane (the vertices of a plane are consecutive)
        upto = np.zeros(len(per_poly) + 1, dtype=np.int64)
        np.cumsum(np.where(used, per_poly, 0), out=upto[1:])
        per_plane = np.diff(upto[self.plane_start])
        m = len(x)
        out = np.empty((2 * m, 3))
        out[:m, 0] = x
        out[m:, 0] = x
        out[:m, 1] = y
        out[m:, 1] = y
        out[:m, 2] = np.repeat(self.lo, per_plane)
        out[m:, 2] = np.repeat(self.hi, per_plane)
        return out


def prepare(structure: Structure, grid: DoseGrid, end_cap: str = "half", split_gaps: bool = True) -> Prepared:
    """Flatten and analyse a structure's contours once (topology, slabs, volume)."""
    return Prepared(structure, grid, end_cap, None, split_gaps)


def box_voxels(prep: Prepared, grid: DoseGrid) -> int:
    """Number of dose voxels in the part of the grid the structure's bounding box overlaps."""
    n = 1
    for a, (lo, hi) in enumerate((prep.xr, prep.yr, prep.zr)):
        i0, i1 = voxel_range(lo, hi, grid.origin_mm[a], grid.spacing_mm[a], grid.shape[2 - a])
        n *= max(i1 - i0, 0)
    return n
