"""Contour topology kernels: which planes have crossing contours, and nesting depths.

Both questions were answered by testing candidate pairs that numpy expanded from one
sorted key: edges whose y ranges overlap, and every (contour, edge) pair of a plane.  A
comb-shaped contour (all its teeth overlap in y) made that quadratic: 85 s for 40 k
vertices on 5 planes.  Here, per plane:

- crossings: a sort-and-sweep on the axis whose interval overlaps give fewer candidate
  pairs (the caller counts both with a sort and a binary search per axis, O(n log n)); a
  candidate pair must also overlap on the other axis before the exact segment test, and
  a plane stops at its first meeting pair.  The work is O(n log n + k), k the bounding-
  box overlaps along the better axis (about n for real and comb-like contours);
- nesting: the ray test from a contour's first vertex runs only over contours whose
  bounding box can hold that vertex.

The arithmetic of the segment and ray tests is the one of the numpy version it replaces
(same operations in the same order, no fastmath), so every flag and depth is identical.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _segments_meet(ax, ay, bx, by, cx, cy, dx, dy):
    """Segments ab and cd share at least one point (cross or touch)."""
    # orientations of c, d against ab and of a, b against cd
    o1 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    o2 = (bx - ax) * (dy - ay) - (by - ay) * (dx - ax)
    o3 = (dx - cx) * (ay - cy) - (dy - cy) * (ax - cx)
    o4 = (dx - cx) * (by - cy) - (dy - cy) * (bx - cx)
    if ((o1 > 0 and o2 < 0) or (o1 < 0 and o2 > 0)) and ((o3 > 0 and o4 < 0) or (o3 < 0 and o4 > 0)):
        return True
    # touching: an end point on the other segment (collinear and inside its box)
    if o1 == 0 and min(ax, bx) <= cx <= max(ax, bx) and min(ay, by) <= cy <= max(ay, by):
        return True
    if o2 == 0 and min(ax, bx) <= dx <= max(ax, bx) and min(ay, by) <= dy <= max(ay, by):
        return True
    if o3 == 0 and min(cx, dx) <= ax <= max(cx, dx) and min(cy, dy) <= ay <= max(cy, dy):
        return True
    return o4 == 0 and min(cx, dx) <= bx <= max(cx, dx) and min(cy, dy) <= by <= max(cy, dy)


@njit(cache=True, nogil=True)
def crossing_planes(x, y, xn, yn, cid, nxt, ex, ey, estart, use_x, out):
    """``out[p] = 1`` where two edges of plane ``p`` cross or touch.

    Parameters
    ----------
    x, y, xn, yn : float64 (N,)
        Edge k runs from (x[k], y[k]) to (xn[k], yn[k]) (mm).
    cid, nxt : int64 (N,)
        Contour of edge k, and the index of the contour's next edge.
    ex, ey : int64 (M,)
        The edges to test (those of non-degenerate contours), grouped by plane and within
        a plane sorted by their lower x (``ex``) or lower y (``ey``).
    estart : int64 (Z + 1,)
        Plane p owns ``ex[estart[p]:estart[p + 1]]`` (and the same range of ``ey``).
    use_x : uint8 (Z,)
        1 where the sweep along x meets fewer candidate pairs than the one along y.
    out : int64 (Z,)
        Written: 1 where two non-adjacent edges meet, else 0.
    """
    for p in range(len(estart) - 1):
        out[p] = 0
        a, b = estart[p], estart[p + 1]
        if b - a < 2:
            continue
        if use_x[p]:
            order, u, un, v, vn = ex, x, xn, y, yn
        else:
            order, u, un, v, vn = ey, y, yn, x, xn
        found = False
        for pi in range(a, b):
            ei = order[pi]
            hi_u = max(u[ei], un[ei])
            lo_v = min(v[ei], vn[ei])
            hi_v = max(v[ei], vn[ei])
            for qj in range(pi + 1, b):
                ej = order[qj]
                if min(u[ej], un[ej]) > hi_u:
                    break
                if max(v[ej], vn[ej]) < lo_v or min(v[ej], vn[ej]) > hi_v:
                    continue
                # neighbouring edges of one contour share their common vertex by construction
                if cid[ei] == cid[ej] and (nxt[ei] == ej or nxt[ej] == ei):
                    continue
                if _segments_meet(x[ei], y[ei], xn[ei], yn[ei], x[ej], y[ej], xn[ej], yn[ej]):
                    found = True
                    break
            if found:
                break
        if found:
            out[p] = 1


@njit(cache=True, nogil=True)
def nesting_depth(x, y, xn, yn, ps, good, pls, depth):
    """``depth[c]``: how many other non-degenerate contours of its plane hold the first
    vertex of contour c (even-odd ray test towards +x); 0 for degenerate contours.

    Parameters
    ----------
    x, y, xn, yn : float64 (N,)
        Edges as for :func:`crossing_planes`.
    ps : int64 (P + 1,)
        Contour c owns edges ``ps[c]:ps[c + 1]``.
    good : uint8 (P,)
        1 for non-degenerate contours.
    pls : int64 (Z + 1,)
        Plane p owns contours ``pls[p]:pls[p + 1]``.
    depth : int64 (P,)
        Written.
    """
    n_poly = len(ps) - 1
    bx0 = np.empty(n_poly)
    bx1 = np.empty(n_poly)
    by0 = np.empty(n_poly)
    by1 = np.empty(n_poly)
    for c in range(n_poly):
        depth[c] = 0
        bx0[c] = np.inf
        bx1[c] = -np.inf
        by0[c] = np.inf
        by1[c] = -np.inf
        for k in range(ps[c], ps[c + 1]):
            bx0[c] = min(bx0[c], x[k])
            bx1[c] = max(bx1[c], x[k])
            by0[c] = min(by0[c], y[k])
            by1[c] = max(by1[c], y[k])
    for p in range(len(pls) - 1):
        for c in range(pls[p], pls[p + 1]):
            if not good[c]:
                continue
            px = x[ps[c]]
            py = y[ps[c]]
            for d in range(pls[p], pls[p + 1]):
                if d == c or not good[d]:
                    continue
                # a ray from (px, py) can cross d only when min y <= py < max y, and only
                # where px lies left of d's right edge (a margin far above the rounding
                # of the crossing abscissa keeps the prefilter exact)
                if py < by0[d] or py >= by1[d]:
                    continue
                if px >= bx1[d] + 1e-9 * (abs(bx0[d]) + abs(bx1[d]) + 1.0):
                    continue
                hits = 0
                for k in range(ps[d], ps[d + 1]):
                    y0 = y[k]
                    y1 = yn[k]
                    if (y0 > py) != (y1 > py):
                        xc = x[k] + (py - y0) * (xn[k] - x[k]) / (y1 - y0)
                        if px < xc:
                            hits += 1
                depth[c] += hits & 1
