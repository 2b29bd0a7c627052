"""Extremes of a trilinear dose over a right-prism structure (numba kernels; no DICOM,
no I/O).

Inside one dose cell the dose is trilinear, and a prism slab cut by the cell is a
polytope whose faces are the slab ends (z = const), the contour's lateral faces
(vertical) and the cell's faces.  A trilinear function restricted to such a piece takes
its extremes on the piece's boundary, at places these kernels visit:

* vertical lines: along one the dose is linear between dose planes, so a point of the
  lateral surface or of the inside needs only the slab ends and the dose planes between
  them (:func:`_column`);
* contour edges (:func:`edge_extremes`): split at every x and y grid line, an edge piece
  at fixed z carries a quadratic (bilinear along a line); each piece is visited at its
  start, quarters and middle, which pins a quadratic's extremum within 1/32 of the
  piece's curvature term (the piece's end is the next piece's start, the edge's end the
  next vertex, i.e. a prism corner);
* grid nodes inside the contour (:func:`node_extremes`, even-odd crossings along each
  node row).

Dose is evaluated as :func:`dosecalc.kernels.interp.trilinear_points` does (edge value in
the grid's outer half voxel; points beyond the grid are skipped).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .interp import _interp_one


@njit(cache=True)
def _visit(values, fx, fy, fz, acc):
    v = _interp_one(values, fx, fy, fz, np.nan)
    if v == v:
        if v < acc[0]:
            acc[0] = v
        if v > acc[1]:
            acc[1] = v
        acc[2] += 1.0


@njit(cache=True)
def _column(values, fx, fy, z_lo, z_hi, oz, dz, acc):
    """Visit the vertical segment at fractional (fx, fy), z in [z_lo, z_hi] (mm): its ends
    and every dose plane between; ``acc`` = [min, max, count].  (Plain calls, no inlining:
    the kernels' cold compile time counts for ``dosecalc demo``.)"""
    nz = values.shape[0]
    _visit(values, fx, fy, (z_lo - oz) / dz, acc)
    _visit(values, fx, fy, (z_hi - oz) / dz, acc)
    k0 = int(np.floor((z_lo - oz) / dz)) + 1
    k1 = int(np.ceil((z_hi - oz) / dz)) - 1
    if k0 < 0:
        k0 = 0
    if k1 > nz - 1:
        k1 = nz - 1
    for k in range(k0, k1 + 1):
        _visit(values, fx, fy, float(k), acc)


@njit(cache=True)
def _insertion_sort(a, n):
    """Sort a[:n] in place (few values: crossings of one edge or one node row; np.sort
    would add seconds of cold compile time)."""
    for i in range(1, n):
        v = a[i]
        j = i - 1
        while j >= 0 and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@njit(cache=True)
def _crossings(a, b, g0, gd, out):
    """Parameters t in (0, 1) where a + t (b - a) crosses a grid line g0 + k gd, written
    to ``out``; returns how many."""
    if a == b:
        return 0
    lo = min(a, b)
    hi = max(a, b)
    k0 = int(np.floor((lo - g0) / gd)) + 1
    k1 = int(np.ceil((hi - g0) / gd)) - 1
    n = 0
    for k in range(k0, k1 + 1):
        if n >= out.size:
            break
        out[n] = (g0 + k * gd - a) / (b - a)
        n += 1
    return n


@njit(cache=True)
def edge_extremes(x, y, poly_start, plane_of_poly, sign, lo, hi, values, origin, spacing, acc):
    """Min/max of the dose on every contour edge (sign != 0) at every height of its slab;
    ``acc`` = [min, max, count] is updated."""
    ox, oy, oz = origin[0], origin[1], origin[2]
    dx, dy, dz = spacing[0], spacing[1], spacing[2]
    nz, ny, nx = values.shape
    buf = np.empty(nx + ny + 8, dtype=np.float64)
    tx = np.empty(nx + 4, dtype=np.float64)
    ty = np.empty(ny + 4, dtype=np.float64)
    for c in range(poly_start.size - 1):
        if sign[c] == 0.0:
            continue
        p = plane_of_poly[c]
        z_lo = lo[p]
        z_hi = hi[p]
        s = poly_start[c]
        e = poly_start[c + 1]
        for a in range(s, e):
            b = a + 1 if a + 1 < e else s
            n1 = _crossings(x[a], x[b], ox, dx, tx)
            n2 = _crossings(y[a], y[b], oy, dy, ty)
            m = n1 + n2 + 2
            ts = buf
            ts[0] = 0.0
            for q in range(n1):
                ts[1 + q] = tx[q]
            for q in range(n2):
                ts[1 + n1 + q] = ty[q]
            ts[m - 1] = 1.0
            _insertion_sort(ts, m)
            ex = x[b] - x[a]
            ey = y[b] - y[a]
            for q in range(m - 1):
                step = 0.25 * (ts[q + 1] - ts[q])
                for r in range(4):
                    t = ts[q] + r * step
                    _column(values, (x[a] + t * ex - ox) / dx, (y[a] + t * ey - oy) / dy,
                            z_lo, z_hi, oz, dz, acc)


@njit(cache=True)
def node_extremes(x, y, poly_start, plane_start, sign, lo, hi, values, origin, spacing, acc):
    """Min/max of the dose on the vertical lines through the grid nodes inside each plane's
    contours (even-odd), over the plane's slab; ``acc`` = [min, max, count] is updated."""
    ox, oy, oz = origin[0], origin[1], origin[2]
    dx, dy, dz = spacing[0], spacing[1], spacing[2]
    nz, ny, nx = values.shape
    xs = np.empty(poly_start[-1] + 1, dtype=np.float64)
    for p in range(plane_start.size - 1):
        c0 = plane_start[p]
        c1 = plane_start[p + 1]
        ymin = np.inf
        ymax = -np.inf
        for c in range(c0, c1):
            if sign[c] == 0.0:
                continue
            for a in range(poly_start[c], poly_start[c + 1]):
                if y[a] < ymin:
                    ymin = y[a]
                if y[a] > ymax:
                    ymax = y[a]
        if ymax < ymin:
            continue
        j0 = max(int(np.ceil((ymin - oy) / dy)), 0)
        j1 = min(int(np.floor((ymax - oy) / dy)), ny - 1)
        for j in range(j0, j1 + 1):
            yj = oy + j * dy
            n = 0
            for c in range(c0, c1):
                if sign[c] == 0.0:
                    continue
                s = poly_start[c]
                e = poly_start[c + 1]
                for a in range(s, e):
                    b = a + 1 if a + 1 < e else s
                    ya = y[a]
                    yb = y[b]
                    if (ya <= yj) != (yb <= yj):
                        xs[n] = x[a] + (yj - ya) * (x[b] - x[a]) / (yb - ya)
                        n += 1
            if n < 2:
                continue
            _insertion_sort(xs, n)
            srt = xs
            for m in range(0, n - 1, 2):
                i0 = max(int(np.ceil((srt[m] - ox) / dx)), 0)
                i1 = min(int(np.floor((srt[m + 1] - ox) / dx)), nx - 1)
                for i in range(i0, i1 + 1):
                    _column(values, float(i), float(j), lo[p], hi[p], oz, dz, acc)
