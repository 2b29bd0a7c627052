"""Right-prism rasterisation: each contour plane's exact in-plane coverage of every cell
(polygon x pixel areas, :mod:`dosecalc.kernels.raster`; crossing contours by scanlines)
times the overlap of the plane's slab with the cell's z-extent."""

from __future__ import annotations

import math

import numpy as np

from ..kernels.raster import rasterise, rasterise_runs
from ..kernels.threads import plane_ranges, run_ranges
from ..model import DoseGrid
from .compact import CompactMask, assemble, compact
from .contours import Prepared
from .lattice import StructureMask
from .scanline import FALLBACK_SUBROWS, fill_fallback_planes

__all__ = ["prism_mask", "prism_compact"]


def _lattice(prep: Prepared, grid: DoseGrid, k: int, box):
    (ox, oy, oz), (dx, dy, dz) = grid.origin_mm, grid.spacing_mm
    iz0, iz1, iy0, iy1, ix0, ix1 = box
    h = (dx / k, dy / k, dz / k)
    shape = (max(iz1 - iz0, 0) * k, max(iy1 - iy0, 0) * k, max(ix1 - ix0, 0) * k)
    lo = (ox + (ix0 - 0.5) * dx, oy + (iy0 - 0.5) * dy, oz + (iz0 - 0.5) * dz)
    return h, shape, lo


def _mask(prep, k, box, supersample, end_cap, h, lo, fraction, plane_sums) -> StructureMask:
    """The mask record; ``plane_sums`` the fraction sums of the lattice's planes (each
    summed alone, then added exactly, so that a mask rasterised in blocks of planes gets
    the same volume as one rasterised whole)."""
    (hx, hy, hz), (xlo, ylo, zlo) = h, lo
    iz0, _, iy0, _, ix0, _ = box
    settings = {"supersample": k, "supersample_requested": supersample, "end_cap": end_cap,
                "interpolation": "prism", "gap_factor": prep.gap_factor,
                "fallback_planes": int(prep.fallback.sum()), "fallback_subrows": FALLBACK_SUBROWS}
    cell_cc = hx * hy * hz / 1000.0
    inside = math.fsum(plane_sums) * cell_cc
    outside = prep.volume_cc - inside
    # rounding (and the scanline fallback) can leave |outside| ~ 1e-12 relative
    if abs(outside) <= 1e-9 * max(prep.volume_cc, 1e-12) + 1e-15:
        outside = 0.0
    outside = max(outside, 0.0)
    return StructureMask(
        name=prep.name,
        fraction=fraction,
        origin_mm=(xlo + 0.5 * hx, ylo + 0.5 * hy, zlo + 0.5 * hz),
        spacing_mm=(hx, hy, hz),
        index_offset=(iz0, iy0, ix0) if k == 1 else None,
        volume_cc=inside + outside,
        outside_cc=outside,
        settings=settings,
        corners_mm=prep.corners(),
        prism=prep,
    )


def _plane_sums(frac: np.ndarray) -> list[float]:
    return [float(frac[i].sum()) for i in range(frac.shape[0])]


def _scaled(prep: Prepared, h, lo):
    (hx, hy, hz), (xlo, ylo, zlo) = h, lo
    return (np.ascontiguousarray((prep.x - xlo) / hx), np.ascontiguousarray((prep.y - ylo) / hy),
            np.ascontiguousarray((prep.lo - zlo) / hz), np.ascontiguousarray((prep.hi - zlo) / hz))


def prism_mask(prep: Prepared, grid: DoseGrid, k: int, box, supersample, end_cap) -> StructureMask:
    """Mask of right prisms (each plane's exact in-plane coverage times its slab overlap)
    on the lattice of ``box`` (dose-voxel ranges iz0, iz1, iy0, iy1, ix0, ix1) cut ``k``
    times per axis."""
    h, shape, lo = _lattice(prep, grid, k, box)
    frac = np.zeros(shape, dtype=np.float64)
    if frac.size:
        u, v, zl, zh = _scaled(prep, h, lo)
        rasterise(u, v, prep.poly_start, prep.plane_start, prep.sign, prep.fallback, zl, zh, frac)
        if prep.fallback.any():
            fill_fallback_planes(prep, u, v, zl, zh, frac)
    frac.setflags(write=False)
    return _mask(prep, k, box, supersample, end_cap, h, lo, frac, _plane_sums(frac))


def prism_compact(prep: Prepared, grid: DoseGrid, k: int, box, supersample, end_cap) -> CompactMask:
    """:func:`prism_mask` in compact form (:func:`dosecalc.masks.compact.compact` of it, the
    same arrays and volume, bit for bit), rasterised layer by layer straight into runs
    (:func:`dosecalc.kernels.raster.rasterise_runs`): no array of the box is held (the
    1 GB dense array of a 0.5 mm Body never exists, issue 13), and each layer is encoded
    while it is in the cache.  Ranges of layers run on threads; every layer is computed
    alone, so the result does not depend on the thread count."""
    h, shape, lo = _lattice(prep, grid, k, box)
    plane = shape[1] * shape[2]
    if prep.fallback.any() or plane == 0 or shape[0] == 0:
        return compact(prism_mask(prep, grid, k, box, supersample, end_cap))
    u, v, zl, zh = _scaled(prep, h, lo)
    ranges = plane_ranges(shape[0], shape[0] * plane)
    parts = run_ranges(rasterise_runs, ranges, u, v, prep.poly_start, prep.plane_start, prep.sign,
                       prep.fallback, zl, zh, int(shape[1]), int(shape[2]))
    sums = [float(x) for part in parts for x in part[3]]
    blocks = []
    for (k0, _), (n_runs, n_part, n_inside, _, start, length, value, values) in zip(ranges, parts):
        r, q = int(n_runs.sum()), int(n_part.sum())  # the kernel's arrays may be longer
        blocks.append((k0, (n_runs, n_inside, start[:r].copy(), length[:r].copy(), value[:r].copy(),
                            values[:q].copy())))
    empty = np.zeros((0, 0, 0))
    meta = _mask(prep, k, box, supersample, end_cap, h, lo, empty, sums)
    return assemble(meta, shape, blocks)
