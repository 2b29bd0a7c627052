"""Right-prism rasterisation: each contour plane's exact in-plane coverage of every cell
(polygon x pixel areas, :mod:`dosecalc.kernels.raster`; crossing contours by scanlines)
times the overlap of the plane's slab with the cell's z-extent."""

from __future__ import annotations

import numpy as np

from ..kernels.raster import rasterise
from ..model import DoseGrid
from .contours import Prepared
from .lattice import StructureMask
from .scanline import FALLBACK_SUBROWS, fill_fallback_planes

__all__ = ["prism_mask"]


def prism_mask(prep: Prepared, grid: DoseGrid, k: int, box, supersample, end_cap) -> StructureMask:
    """Mask of right prisms (each plane's exact in-plane coverage times its slab overlap)
    on the lattice of ``box`` (dose-voxel ranges iz0, iz1, iy0, iy1, ix0, ix1) cut ``k``
    times per axis."""
    (ox, oy, oz), (dx, dy, dz) = grid.origin_mm, grid.spacing_mm
    iz0, iz1, iy0, iy1, ix0, ix1 = box
    settings = {"supersample": k, "supersample_requested": supersample, "end_cap": end_cap,
                "interpolation": "prism", "gap_factor": prep.gap_factor,
                "fallback_planes": int(prep.fallback.sum()), "fallback_subrows": FALLBACK_SUBROWS}
    hx, hy, hz = dx / k, dy / k, dz / k
    shape = (max(iz1 - iz0, 0) * k, max(iy1 - iy0, 0) * k, max(ix1 - ix0, 0) * k)
    xlo = ox + (ix0 - 0.5) * dx
    ylo = oy + (iy0 - 0.5) * dy
    zlo = oz + (iz0 - 0.5) * dz
    frac = np.zeros(shape, dtype=np.float64)
    if frac.size:
        u = np.ascontiguousarray((prep.x - xlo) / hx)
        v = np.ascontiguousarray((prep.y - ylo) / hy)
        zl = np.ascontiguousarray((prep.lo - zlo) / hz)
        zh = np.ascontiguousarray((prep.hi - zlo) / hz)
        rasterise(u, v, prep.poly_start, prep.plane_start, prep.sign, prep.fallback, zl, zh, frac)
        if prep.fallback.any():
            fill_fallback_planes(prep, u, v, zl, zh, frac)
    frac.setflags(write=False)
    cell_cc = hx * hy * hz / 1000.0
    inside = float(frac.sum()) * cell_cc
    outside = prep.volume_cc - inside
    # rounding (and the scanline fallback) can leave |outside| ~ 1e-12 relative
    if abs(outside) <= 1e-9 * max(prep.volume_cc, 1e-12) + 1e-15:
        outside = 0.0
    outside = max(outside, 0.0)
    return StructureMask(
        name=prep.name,
        fraction=frac,
        origin_mm=(xlo + 0.5 * hx, ylo + 0.5 * hy, zlo + 0.5 * hz),
        spacing_mm=(hx, hy, hz),
        index_offset=(iz0, iy0, ix0) if k == 1 else None,
        volume_cc=inside + outside,
        outside_cc=outside,
        settings=settings,
        corners_mm=prep.corners(),
        prism=prep,
    )
