"""Topology of planar contours (numpy + numba): orientation by nesting, crossings, areas.

The rasteriser integrates the winding number, which equals the even-odd area only when
the contours of a plane neither cross nor touch.  :func:`plane_topology` checks that
and orients every contour by the parity of its nesting depth (depth even: +1, odd: -1),
so holes subtract and islands in holes add.

Areas, orientation and degeneracy are vectorised numpy over all planes at once; the
pairwise questions (do two edges meet, which contours hold a point) run in the numba
kernels of :mod:`dosecalc.kernels.topology` (bounding-box prefilters and sorted sweeps,
O(n log n) for real contours instead of the quadratic candidate lists of numpy).
"""

from __future__ import annotations

import numpy as np

from ..kernels.topology import crossing_planes, nesting_depth

__all__ = ["plane_topology"]


def plane_topology(x, y, poly_start, plane_start):
    """Orientation weights, crossing flags and even-odd areas of every contour plane.

    Parameters
    ----------
    x, y : float64 (N,)
        Vertices (mm) of every contour, concatenated (consecutive duplicates removed).
    poly_start : int64 (P + 1,)
        Contour c owns vertices ``poly_start[c]:poly_start[c + 1]``.
    plane_start : int64 (Z + 1,)
        Plane p owns contours ``plane_start[p]:plane_start[p + 1]``.

    Returns
    -------
    sign : float64 (P,)
        Weight of each contour's edges: +1/-1 so that the winding integral is the
        even-odd area, 0 for degenerate contours (< 3 vertices, or collinear: no area).
    fallback : int64 (Z,)
        1 where the plane's contours cross or touch (even-odd scanline fill needed).
    area_mm2 : float64 (Z,)
        Even-odd area of each plane (valid where ``fallback == 0``).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ps = np.asarray(poly_start, dtype=np.int64)
    pls = np.asarray(plane_start, dtype=np.int64)
    n_poly = len(ps) - 1
    n_plane = len(pls) - 1
    sign = np.zeros(n_poly)
    fallback = np.zeros(n_plane, dtype=np.int64)
    area = np.zeros(n_plane)
    if n_poly == 0 or len(x) == 0:
        return sign, fallback, area
    lens = np.diff(ps)
    cid = np.repeat(np.arange(n_poly), lens)
    plane_of_poly = np.repeat(np.arange(n_plane), np.diff(pls))
    nxt = np.arange(1, len(x) + 1)
    ends = ps[1:][lens > 0] - 1
    nxt[ends] = ps[:-1][lens > 0]
    xn, yn = x[nxt], y[nxt]

    signed = 0.5 * np.bincount(cid, weights=x * yn - xn * y, minlength=n_poly)

    # degenerate: < 3 vertices, or every vertex on the line through the first vertex and
    # the vertex farthest from it
    first = np.minimum(ps[:-1], len(x) - 1)
    d2 = (x - x[first][cid]) ** 2 + (y - y[first][cid]) ** 2
    order = np.lexsort((-d2, cid))
    far = order[first]
    dmax = d2[far]
    ex = (x[far] - x[first])[cid]
    ey = (y[far] - y[first])[cid]
    off = np.abs(ex * (y - y[first][cid]) - ey * (x - x[first][cid])) > 1e-12 * dmax[cid]
    good = (lens >= 3) & (dmax > 0) & (np.bincount(cid, weights=off.astype(np.float64), minlength=n_poly) > 0)

    fallback[:] = _crossing_planes(x, y, xn, yn, cid, nxt, good, plane_of_poly, n_plane)

    depth = _nesting_depth(x, y, xn, yn, cid, ps, good, plane_of_poly, pls)
    want = np.where(depth % 2 == 0, 1.0, -1.0)
    sign[:] = np.where(good, np.where(signed >= 0, want, -want), 0.0)
    area[:] = np.bincount(plane_of_poly, weights=np.where(good, want * np.abs(signed), 0.0), minlength=n_plane)
    return sign, fallback, area


def _crossing_planes(x, y, xn, yn, cid, nxt, good, plane_of_poly, n_plane):
    """1 for planes where two edges of non-degenerate contours cross or touch, else 0."""
    e = np.flatnonzero(good[cid])
    out = np.zeros(n_plane, dtype=np.int64)
    if len(e) < 2:
        return out
    pid = plane_of_poly[cid[e]]
    # per plane, the edges in order of their lower x and of their lower y (the sweeps), and
    # which sweep meets fewer candidate pairs
    xlo, xhi = np.minimum(x[e], xn[e]), np.maximum(x[e], xn[e])
    ylo, yhi = np.minimum(y[e], yn[e]), np.maximum(y[e], yn[e])
    ox, oy = np.lexsort((xlo, pid)), np.lexsort((ylo, pid))
    use_x = _sweep_pairs(xlo, xhi, pid, ox, n_plane) <= _sweep_pairs(ylo, yhi, pid, oy, n_plane)
    estart = np.searchsorted(np.sort(pid), np.arange(n_plane + 1), side="left").astype(np.int64)
    crossing_planes(x, y, xn, yn, cid.astype(np.int64), nxt.astype(np.int64), e[ox].astype(np.int64),
                    e[oy].astype(np.int64), estart, use_x.astype(np.uint8), out)
    return out


def _sweep_pairs(lo, hi, pid, order, n_plane):
    """Per plane, the candidate pairs of a sweep along one axis: for each edge (in order
    of plane, then lo), how many later edges of its plane start before it ends.  Only
    chooses the sweep axis, so the float key needs no tolerance."""
    lo_s, hi_s, pid_s = lo[order], hi[order], pid[order]
    base = float(lo.min())
    width = 2.0 * (float(hi.max()) - base) + 1.0  # planes far apart on one sorted key
    key = pid_s * width + (lo_s - base)
    stop = np.searchsorted(key, pid_s * width + (hi_s - base), side="right")
    return np.bincount(pid_s, weights=stop - np.arange(len(key)) - 1, minlength=n_plane)


def _nesting_depth(x, y, xn, yn, cid, ps, good, plane_of_poly, pls):
    """Number of other non-degenerate contours of its plane that hold each contour's
    first vertex (even-odd ray test)."""
    depth = np.zeros(len(ps) - 1, dtype=np.int64)
    per_plane = np.bincount(plane_of_poly[good], minlength=len(pls) - 1)
    if not np.any(per_plane > 1):  # one contour per plane: nothing to nest (no compile)
        return depth
    nesting_depth(x, y, xn, yn, ps, good.astype(np.uint8), pls, depth)
    return depth
