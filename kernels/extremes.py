"""Candidate points for the extremes of a trilinear dose over a right-prism structure
(numba kernels; no DICOM, no I/O).

Inside one dose cell the dose is trilinear, and a prism slab cut by the cell is a
polytope whose faces are the slab ends (z = const), the contour's lateral faces
(vertical) and the cell's faces.  A trilinear function restricted to such a piece takes
its extremes on the piece's boundary, at places this module lists:

* grid lines: along a vertical line the dose is linear between dose planes, so the
  lateral surface needs only the slab ends and the dose planes between them;
* contour edges: split at every x and y grid line, an edge piece at fixed z carries a
  quadratic (bilinear along a line); :func:`edge_points` puts 5 points on each piece
  (ends, quarters, middle), enough to pin a quadratic's extremum within 1/32 of the
  piece's curvature term;
* grid nodes inside the contour (:func:`nodes_inside_plane`, even-odd crossings along
  each node row), at the slab ends and at every dose plane inside the slab.

The caller adds the prism corners (contour vertices at the slab ends) and evaluates the
dose at all points.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def nodes_inside_plane(x, y, poly_start, c0, c1, sign, gx0, gdx, nx, gy0, gdy, ny, out):
    """Mark the grid nodes (gx0 + i gdx, gy0 + j gdy) inside the even-odd union of the
    contours c0..c1-1 whose ``sign`` is not 0; ``out`` (ny, nx) bool, set to True there."""
    nmax = 0
    for c in range(c0, c1):
        nmax += poly_start[c + 1] - poly_start[c]
    xs = np.empty(nmax + 1, dtype=np.float64)
    for j in range(ny):
        yj = gy0 + j * gdy
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
        xs_sorted = np.sort(xs[:n])
        for m in range(0, n - 1, 2):
            lo = (xs_sorted[m] - gx0) / gdx
            hi = (xs_sorted[m + 1] - gx0) / gdx
            i0 = int(np.ceil(lo))
            i1 = int(np.floor(hi))
            if i0 < 0:
                i0 = 0
            if i1 > nx - 1:
                i1 = nx - 1
            for i in range(i0, i1 + 1):
                out[j, i] = True


@njit(cache=True)
def _crossings(a, b, g0, gd):
    """Parameters t in (0, 1) where a + t (b - a) crosses a grid line g0 + k gd."""
    if a == b:
        return np.empty(0, dtype=np.float64)
    lo = min(a, b)
    hi = max(a, b)
    k0 = int(np.floor((lo - g0) / gd)) + 1
    k1 = int(np.ceil((hi - g0) / gd)) - 1
    if k1 < k0:
        return np.empty(0, dtype=np.float64)
    out = np.empty(k1 - k0 + 1, dtype=np.float64)
    for k in range(k0, k1 + 1):
        out[k - k0] = (g0 + k * gd - a) / (b - a)
    return out


@njit(cache=True)
def count_edge_points(x, y, poly_start, sign, gx0, gdx, gy0, gdy):
    """Number of points :func:`edge_points` writes (4 per edge piece)."""
    total = 0
    for c in range(poly_start.size - 1):
        if sign[c] == 0.0:
            continue
        s = poly_start[c]
        e = poly_start[c + 1]
        for a in range(s, e):
            b = a + 1 if a + 1 < e else s
            nx_ = _crossings(x[a], x[b], gx0, gdx).size
            ny_ = _crossings(y[a], y[b], gy0, gdy).size
            total += 4 * (1 + nx_ + ny_)
    return total


@njit(cache=True)
def edge_points(x, y, poly_start, sign, gx0, gdx, gy0, gdy, out_x, out_y, out_poly):
    """Points on every edge of the contours with ``sign`` != 0, split at the grid lines:
    each piece [t0, t1) gets t0, t0 + q, t0 + 2q, t0 + 3q with q = (t1 - t0) / 4 (the piece's
    end is the next piece's start, the edge's end the next vertex).  ``out_poly`` gets the
    contour index of each point."""
    n = 0
    for c in range(poly_start.size - 1):
        if sign[c] == 0.0:
            continue
        s = poly_start[c]
        e = poly_start[c + 1]
        for a in range(s, e):
            b = a + 1 if a + 1 < e else s
            tx = _crossings(x[a], x[b], gx0, gdx)
            ty = _crossings(y[a], y[b], gy0, gdy)
            ts = np.empty(tx.size + ty.size + 2, dtype=np.float64)
            ts[0] = 0.0
            ts[1:1 + tx.size] = tx
            ts[1 + tx.size:1 + tx.size + ty.size] = ty
            ts[-1] = 1.0
            ts = np.sort(ts)
            dx = x[b] - x[a]
            dy = y[b] - y[a]
            for p in range(ts.size - 1):
                q = 0.25 * (ts[p + 1] - ts[p])
                for m in range(4):
                    t = ts[p] + m * q
                    out_x[n] = x[a] + t * dx
                    out_y[n] = y[a] + t * dy
                    out_poly[n] = c
                    n += 1
    return n
