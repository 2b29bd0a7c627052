"""Shape-based interpolation (``interpolation="shape"``, opt-in)
-------------------------------------------------------------
Each plane's signed distance (exact Euclidean distance from the lattice-cell centres to
its contour edges, sign by the even-odd rule) is interpolated in z on sub-planes of every
lattice layer (at least 2 per layer and 8 per plane spacing):

* between interior planes a cubic Hermite curve with 3-point slopes (Catmull-Rom for
  even spacing), so curvature along z is followed instead of chords;
* the first and last interval of a run of joined planes: the quadratic through its
  three planes (linear for two planes);
* a closing end (a run-end contour with less than ``SHAPE_TIP_RATIO`` of its
  neighbour's area: a pole or apex): the squared "radius" ``(s + rho)^2`` around the
  tip (``rho``: in-plane distance to the tip contour) is interpolated quadratically over
  the first two intervals; exact for spheres, cones and other quadrics of revolution.

A sub-plane's in-plane coverage of a cell is the exact fraction of the cell on the inside
of a straight edge at the interpolated distance, normal along the distance's gradient
(a tangent line stands for a curved edge: error ~ (h / r)^2 / 12 of the area).  End caps
(and both sides of a gap) stay flat, half-spacing slabs of the exact in-plane coverage,
as in the Nelms 2015 convention.  Distances are exact within ``SHAPE_BAND_CELLS`` of a
contour and, beyond, for every cell whose inside state differs between the plane and a
plane up to two away (where the interpolated surface can pass); cost O(edges x band^2 +
swept cells x edges).  The volume is measured on the lattice (also beyond the dose grid,
for ``outside_cc``), not by the prism formula.

Why the prism stays the default, with the measured figures (spheres, cones, Nelms 2015,
oblique tubes, the Brainlab SRS export), is in ``docs/VALIDATION.md`` ("Mask geometry").
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels.raster import rasterise
from ..kernels.sdf import accumulate_shape, edge_distance_band, edge_distance_cells
from ..model import DoseGrid
from .contours import Prepared
from .lattice import StructureMask, unclipped_range
from .scanline import FALLBACK_SUBROWS, fill_fallback_planes, scanline_crossings

__all__ = ["shape_mask"]

SHAPE_TIP_RATIO = 0.05  # run-end contour area below this fraction of its neighbour's: a closing end
SHAPE_BAND_CELLS = 3  # exact in-plane distances within this many cells of a contour
SHAPE_SUB_MIN = 2  # sub-planes per lattice layer (at least)


def _plane_edges(prep: Prepared, p: int, u, v):
    """End points of the edges of plane ``p``'s non-degenerate contours (units of u, v)."""
    c0, c1 = int(prep.plane_start[p]), int(prep.plane_start[p + 1])
    idx = [np.arange(prep.poly_start[c], prep.poly_start[c + 1]) for c in range(c0, c1) if prep.sign[c] != 0.0]
    if not idx:
        return None
    a = np.concatenate(idx)
    b = np.concatenate([np.roll(i, -1) for i in idx])
    return (np.ascontiguousarray(u[a]), np.ascontiguousarray(v[a]), np.ascontiguousarray(u[b]),
            np.ascontiguousarray(v[b]))


def _plane_inside(prep: Prepared, p: int, u, v, ny: int, nx: int) -> np.ndarray:
    """Even-odd inside test of every cell centre of an (ny, nx) lattice for plane ``p``."""
    c0, c1 = int(prep.plane_start[p]), int(prep.plane_start[p + 1])
    t, ua, ub = scanline_crossings(u, v, prep.poly_start, c0, c1, prep.sign, 1, row_range=(0, ny))
    step = np.zeros((ny, nx + 1))
    if len(t):
        # the cell centre i + 0.5 lies in [ua, ub)
        i0 = np.clip(np.ceil(ua - 0.5), 0, nx).astype(np.int64)
        i1 = np.clip(np.ceil(ub - 0.5), 0, nx).astype(np.int64)
        np.add.at(step, (t, i0), 1.0)
        np.add.at(step, (t, i1), -1.0)
    return np.cumsum(step[:, :nx], axis=1) > 0.5


def _shape_stencils(zp, run, area, n_sub_min: int, nz: int):
    """Sub-planes of every lattice layer between the planes of one joined run.

    Between planes p and p + 1 (lattice z units ``zp``) the signed distance is a cubic
    Hermite curve whose slopes at the planes are the 3-point (quadratic) derivatives
    (Catmull-Rom for even spacing); the first and last interval of a run use the
    quadratic through their three planes (linear for a run of two).  A run end whose
    contour area is below ``SHAPE_TIP_RATIO`` of its neighbour's is a closing end (a
    pole or apex): that interval interpolates the squared in-plane radius around the tip
    instead (``accumulate_shape`` mode 1).

    Returns
    -------
    mode, idx, w, layer, wz : arrays for :func:`dosecalc.kernels.sdf.accumulate_shape`
    """
    modes, idxs, ws, layers, wzs = [], [], [], [], []
    a, b = run[0], run[-1]
    n = b - a + 1

    def lagrange(nodes, z):
        out = []
        for m, zm in enumerate(nodes):
            c = 1.0
            for l_, zl_ in enumerate(nodes):
                if l_ != m:
                    c *= (z - zl_) / (zm - zl_)
            out.append(c)
        return out

    def slope(q):
        # derivative of the quadratic through q - 1, q, q + 1 at z_q, as weights
        h1, h2 = zp[q] - zp[q - 1], zp[q + 1] - zp[q]
        return {q - 1: -h2 / (h1 * (h1 + h2)), q: (h2 - h1) / (h1 * h2), q + 1: h1 / (h2 * (h1 + h2))}

    # an empty end plane has no tip to measure the radius from
    tip_lo = n >= 2 and 0.0 < area[a] < SHAPE_TIP_RATIO * area[a + 1]
    tip_hi = n >= 2 and 0.0 < area[b] < SHAPE_TIP_RATIO * area[b - 1]
    for p in range(a, b):
        za, zb = zp[p], zp[p + 1]
        per_cell = max(n_sub_min, min(16, int(math.ceil(8.0 / (zb - za)))))
        for lay in range(max(int(math.floor(za)), 0), min(int(math.ceil(zb)), nz)):
            lo_, hi_ = max(float(lay), za), min(lay + 1.0, zb)
            if hi_ <= lo_:
                continue
            ns = max(1, int(math.ceil(per_cell * (hi_ - lo_) - 1e-9)))
            for s_ in range(ns):
                z = lo_ + (s_ + 0.5) * (hi_ - lo_) / ns
                mode = 0
                if tip_lo and (p == a or (p == a + 1 and n >= 4 + tip_hi)):
                    nodes = [a, a + 1] + ([a + 2] if n >= 3 else [])
                    wt = dict(zip(nodes, lagrange([zp[q] for q in nodes], z)))
                    mode = 1
                elif tip_hi and (p == b - 1 or (p == b - 2 and n >= 4 + tip_lo)):
                    nodes = [b, b - 1] + ([b - 2] if n >= 3 else [])
                    wt = dict(zip(nodes, lagrange([zp[q] for q in nodes], z)))
                    mode = 1
                elif n == 2:
                    nodes = [a, b]
                    wt = dict(zip(nodes, lagrange([za, zb], z)))
                elif p == a or p == b - 1:
                    nodes = [a, a + 1, a + 2] if p == a else [b - 2, b - 1, b]
                    wt = dict(zip(nodes, lagrange([zp[q] for q in nodes], z)))
                else:
                    hh = zb - za
                    t = (z - za) / hh
                    h00, h10 = 2 * t ** 3 - 3 * t ** 2 + 1, t ** 3 - 2 * t ** 2 + t
                    h01, h11 = -2 * t ** 3 + 3 * t ** 2, t ** 3 - t ** 2
                    nodes = [p - 1, p, p + 1, p + 2]
                    wt = dict.fromkeys(nodes, 0.0)
                    wt[p] += h00
                    wt[p + 1] += h01
                    for q, c in slope(p).items():
                        wt[q] += h10 * hh * c
                    for q, c in slope(p + 1).items():
                        wt[q] += h11 * hh * c
                row_i = np.zeros(4, dtype=np.int64)
                row_w = np.zeros(4)
                for m, q in enumerate(nodes):
                    row_i[m], row_w[m] = q, wt[q]
                modes.append(mode)
                idxs.append(row_i)
                ws.append(row_w)
                layers.append(lay)
                wzs.append((hi_ - lo_) / ns)
    return modes, idxs, ws, layers, wzs


def _shape_sdf(prep: Prepared, planes, runs_of, u, v, ny: int, nx: int, hx: float, hy: float):
    """Signed distance (mm, > 0 inside) of the lattice cell centres to each plane's contours.

    Exact within ``SHAPE_BAND_CELLS`` of the contour, and exact beyond it for every cell
    whose inside/outside state differs between the plane and a plane within two of it in
    the same run (where the interpolated surface passes); other cells keep +-band (their
    state is the same on every plane of their stencils, so the interpolation weights,
    which sum to 1, keep them whole or empty except for cubic overshoot, which the
    clamp can only reduce).
    """
    inside = {p: _plane_inside(prep, p, u, v, ny, nx) for p in planes}
    sdf = np.empty((len(planes), ny, nx))
    for m, p in enumerate(planes):
        dist = sdf[m]
        edges = _plane_edges(prep, p, u * hx, v * hy)
        if edges is None:
            # no contour on this plane: outside, farther than any cell of the lattice
            dist[:] = -(ny * hy + nx * hx)
            continue
        band = SHAPE_BAND_CELLS * max(hx, hy)
        edge_distance_band(*edges, hx, hy, band, dist)
        run = runs_of[p]
        need = np.zeros((ny, nx), dtype=bool)
        for q in range(max(p - 2, run[0]), min(p + 2, run[-1]) + 1):
            if q != p:
                need |= inside[q] != inside[p]
        need &= dist >= band
        cj, ci = np.nonzero(need)
        if len(cj):
            edge_distance_cells(*edges, hx, hy, cj.astype(np.int64), ci.astype(np.int64), dist)
        np.negative(dist, out=dist, where=~inside[p])
    return sdf


def _shape_corners(prep: Prepared, starts, ends) -> np.ndarray:
    """Points on the surface of the shape geometry (mm): every contour vertex on its plane,
    and the vertices of run-end contours at the outer face of their flat cap."""
    per_poly = np.diff(prep.poly_start)
    plane_of_poly = np.repeat(np.arange(len(prep.z)), np.diff(prep.plane_start))
    good = np.repeat(prep.sign != 0.0, per_poly)
    pv = np.repeat(plane_of_poly, per_poly)[good]
    x, y = prep.x[good], prep.y[good]
    zs = [prep.z[pv]]
    xs, ys = [x], [y]
    for sel, face in ((starts[pv], prep.lo[pv]), (ends[pv], prep.hi[pv])):
        xs.append(x[sel])
        ys.append(y[sel])
        zs.append(face[sel])
    return np.column_stack([np.concatenate(xs), np.concatenate(ys), np.concatenate(zs)])


def shape_mask(prep: Prepared, grid: DoseGrid, k: int, box, supersample, end_cap) -> StructureMask:
    """Mask with shape-based interpolation between planes (module docstring)."""
    (ox, oy, oz), (dx, dy, dz) = grid.origin_mm, grid.spacing_mm
    # the structure's whole box, also beyond the grid: its volume is measured on it
    fz0, fz1 = unclipped_range(*prep.zr, oz, dz)
    fy0, fy1 = unclipped_range(*prep.yr, oy, dy)
    fx0, fx1 = unclipped_range(*prep.xr, ox, dx)
    hx, hy, hz = dx / k, dy / k, dz / k
    xlo, ylo, zlo = ox + (fx0 - 0.5) * dx, oy + (fy0 - 0.5) * dy, oz + (fz0 - 0.5) * dz
    full = np.zeros(((fz1 - fz0) * k, (fy1 - fy0) * k, (fx1 - fx0) * k))
    nzf, nyf, nxf = full.shape
    u = np.ascontiguousarray((prep.x - xlo) / hx)
    v = np.ascontiguousarray((prep.y - ylo) / hy)
    zp = (prep.z - zlo) / hz
    zl = (prep.lo - zlo) / hz
    zh = (prep.hi - zlo) / hz
    n = len(zp)
    linked = np.zeros(n, dtype=bool)  # plane p and p + 1 are joined (no gap)
    if n > 1:
        linked[:-1] = np.abs(zh[:-1] - zl[1:]) < 1e-9 * (1.0 + np.abs(zh[:-1]))
        linked[:-1] &= np.abs(zh[:-1] - 0.5 * (zp[:-1] + zp[1:])) < 1e-6
    starts = np.ones(n, dtype=bool)
    starts[1:] = ~linked[:-1]
    ends = ~linked
    # flat end caps (and single planes): the exact prism coverage over the cap parts only
    lo_cap = np.ascontiguousarray(np.where(starts, zl, zp))
    hi_cap = np.ascontiguousarray(np.where(linked, zp, zh))
    for a_, b_ in ((lo_cap, np.ascontiguousarray(np.where(starts, zp, zl))),
                   (np.ascontiguousarray(np.where(linked, zh, zp)), hi_cap)):
        a_ = np.ascontiguousarray(np.where(a_ < b_, a_, b_))
        if not np.any(b_ > a_) or full.size == 0:
            continue
        # the kernel resolves its differences in place: it needs a zeroed array
        part = np.zeros_like(full)
        rasterise(u, v, prep.poly_start, prep.plane_start, prep.sign, prep.fallback, a_, b_, part)
        if prep.fallback.any():
            fill_fallback_planes(prep, u, v, a_, b_, part)
        full += part
    runs = []
    p = 0
    while p < n:
        q = p
        while q < n - 1 and linked[q]:
            q += 1
        if q > p:
            runs.append(list(range(p, q + 1)))
        p = q + 1
    if runs and full.size:
        planes = [p for r in runs for p in r]
        runs_of = {p: r for r in runs for p in r}
        row = {p: m for m, p in enumerate(planes)}
        sdf = _shape_sdf(prep, planes, runs_of, u, v, nyf, nxf, hx, hy)
        modes, idxs, ws, layers, wzs = [], [], [], [], []
        for r in runs:
            parts = _shape_stencils(zp, r, prep.area_mm2, SHAPE_SUB_MIN, nzf)
            for acc, part in zip((modes, idxs, ws, layers, wzs), parts):
                acc.extend(part)
        if modes:
            idx = np.array([[row[q] if w_ != 0.0 else 0 for q, w_ in zip(i_, wr)] for i_, wr in zip(idxs, ws)],
                           dtype=np.int64)
            accumulate_shape(sdf, np.asarray(modes, dtype=np.int64), idx, np.ascontiguousarray(ws),
                             np.asarray(layers, dtype=np.int64), np.asarray(wzs, dtype=np.float64),
                             hx, hy, full)
    np.clip(full, 0.0, 1.0, out=full)
    full[full < 1e-12] = 0.0
    cell_cc = hx * hy * hz / 1000.0
    volume = float(full.sum()) * cell_cc
    iz0, iz1, iy0, iy1, ix0, ix1 = box
    iz1, iy1, ix1 = max(iz1, iz0), max(iy1, iy0), max(ix1, ix0)
    frac = np.ascontiguousarray(full[(iz0 - fz0) * k:(iz1 - fz0) * k, (iy0 - fy0) * k:(iy1 - fy0) * k,
                                     (ix0 - fx0) * k:(ix1 - fx0) * k])
    frac.setflags(write=False)
    inside = float(frac.sum()) * cell_cc
    outside = max(volume - inside, 0.0)
    if outside <= 1e-9 * max(volume, 1e-12):
        outside = 0.0
    settings = {"supersample": k, "supersample_requested": supersample, "end_cap": end_cap,
                "interpolation": "shape", "gap_factor": prep.gap_factor,
                "fallback_planes": int(prep.fallback.sum()), "fallback_subrows": FALLBACK_SUBROWS,
                "shape_tip_ratio": SHAPE_TIP_RATIO, "shape_band_cells": SHAPE_BAND_CELLS}
    return StructureMask(
        name=prep.name, fraction=frac,
        origin_mm=(ox + (ix0 - 0.5) * dx + 0.5 * hx, oy + (iy0 - 0.5) * dy + 0.5 * hy,
                   oz + (iz0 - 0.5) * dz + 0.5 * hz),
        spacing_mm=(hx, hy, hz), index_offset=(iz0, iy0, ix0) if k == 1 else None,
        volume_cc=inside + outside, outside_cc=outside, settings=settings,
        corners_mm=_shape_corners(prep, starts, ends))
