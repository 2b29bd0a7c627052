"""Contour topology kernels: which planes have crossing contours, and nesting depths.

Both questions were answered by testing candidate pairs that numpy expanded from one
sorted key: edges whose y ranges overlap, and every (contour, edge) pair of a plane.  A
comb-shaped contour (all its teeth overlap in y) made that quadratic: 85 s for 40 k
vertices on 5 planes.  Here, per plane:

- crossings: a sort-and-sweep on the axis whose interval overlaps give fewer candidate
  pairs (both counts come from one sort and a binary search per edge, O(n log n)); a
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
def _orient(ax, ay, bx, by, cx, cy):
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


@njit(cache=True, nogil=True)
def _on_seg(ax, ay, bx, by, cx, cy):
    return (min(ax, bx) <= cx and cx <= max(ax, bx)
            and min(ay, by) <= cy and cy <= max(ay, by))


@njit(cache=True, nogil=True)
def _segments_meet(ax, ay, bx, by, cx, cy, dx, dy):
    """Segments ab and cd share at least one point (cross or touch)."""
    o1 = _orient(ax, ay, bx, by, cx, cy)
    o2 = _orient(ax, ay, bx, by, dx, dy)
    o3 = _orient(cx, cy, dx, dy, ax, ay)
    o4 = _orient(cx, cy, dx, dy, bx, by)
    if ((o1 > 0 and o2 < 0) or (o1 < 0 and o2 > 0)) and ((o3 > 0 and o4 < 0) or (o3 < 0 and o4 > 0)):
        return True
    return ((o1 == 0 and _on_seg(ax, ay, bx, by, cx, cy)) or (o2 == 0 and _on_seg(ax, ay, bx, by, dx, dy))
            or (o3 == 0 and _on_seg(cx, cy, dx, dy, ax, ay)) or (o4 == 0 and _on_seg(cx, cy, dx, dy, bx, by)))


@njit(cache=True, nogil=True)
def _candidates(lo_sorted, hi_in_order):
    """Number of pairs (p < q) with lo[q] <= hi[p], edges in order of lo."""
    total = 0
    for p in range(len(lo_sorted)):
        total += np.searchsorted(lo_sorted, hi_in_order[p], side="right") - p - 1
    return total


@njit(cache=True, nogil=True)
def crossing_planes(x, y, xn, yn, cid, nxt, e, estart, out):
    """``out[p] = 1`` where two edges of plane ``p`` cross or touch.

    Parameters
    ----------
    x, y, xn, yn : float64 (N,)
        Edge k runs from (x[k], y[k]) to (xn[k], yn[k]) (mm).
    cid, nxt : int64 (N,)
        Contour of edge k, and the index of the contour's next edge.
    e : int64 (M,)
        Edges to test (those of non-degenerate contours), grouped by plane.
    estart : int64 (Z + 1,)
        Plane p owns ``e[estart[p]:estart[p + 1]]``.
    out : int64 (Z,)
        Written: 1 where two non-adjacent edges meet, else 0.
    """
    for p in range(len(estart) - 1):
        out[p] = 0
        a, b = estart[p], estart[p + 1]
        m = b - a
        if m < 2:
            continue
        ed = e[a:b]
        xlo = np.empty(m)
        xhi = np.empty(m)
        ylo = np.empty(m)
        yhi = np.empty(m)
        for i in range(m):
            k = ed[i]
            xlo[i] = min(x[k], xn[k])
            xhi[i] = max(x[k], xn[k])
            ylo[i] = min(y[k], yn[k])
            yhi[i] = max(y[k], yn[k])
        ox = np.argsort(xlo, kind="mergesort")
        oy = np.argsort(ylo, kind="mergesort")
        use_x = _candidates(xlo[ox], xhi[ox]) <= _candidates(ylo[oy], yhi[oy])
        if use_x:
            order, lo, hi, olo, ohi = ox, xlo, xhi, ylo, yhi
        else:
            order, lo, hi, olo, ohi = oy, ylo, yhi, xlo, xhi
        found = False
        for pi in range(m):
            i = order[pi]
            ei = ed[i]
            for qj in range(pi + 1, m):
                j = order[qj]
                if lo[j] > hi[i]:
                    break
                if ohi[j] < olo[i] or olo[j] > ohi[i]:
                    continue
                ej = ed[j]
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
