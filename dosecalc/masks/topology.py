"""Topology of planar contours in plain numpy: orientation by nesting, crossings, areas.

The rasteriser integrates the winding number, which equals the even-odd area only when
the contours of a plane neither cross nor touch.  :func:`plane_topology` checks that
and orients every contour by the parity of its nesting depth (depth even: +1, odd: -1),
so holes subtract and islands in holes add.

This is vectorised numpy over all planes of a structure at once rather than a numba
kernel: the work is a sort plus a few passes over the edges, which numpy does at full
speed, and a kernel of that size costs seconds of cold compilation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plane_topology"]

#: Upper bound on candidate edge pairs held in memory at once by the crossing test.
_PAIR_CHUNK = 2_000_000


def _orient(ax, ay, bx, by, cx, cy):
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


def _on_seg(ax, ay, bx, by, cx, cy):
    return ((np.minimum(ax, bx) <= cx) & (cx <= np.maximum(ax, bx))
            & (np.minimum(ay, by) <= cy) & (cy <= np.maximum(ay, by)))


def _segments_meet(ax, ay, bx, by, cx, cy, dx, dy):
    """Element-wise: segments ab and cd share at least one point (cross or touch)."""
    o1 = _orient(ax, ay, bx, by, cx, cy)
    o2 = _orient(ax, ay, bx, by, dx, dy)
    o3 = _orient(cx, cy, dx, dy, ax, ay)
    o4 = _orient(cx, cy, dx, dy, bx, by)
    proper = (((o1 > 0) & (o2 < 0)) | ((o1 < 0) & (o2 > 0))) & (((o3 > 0) & (o4 < 0)) | ((o3 < 0) & (o4 > 0)))
    touch = ((o1 == 0) & _on_seg(ax, ay, bx, by, cx, cy)) | ((o2 == 0) & _on_seg(ax, ay, bx, by, dx, dy)) \
        | ((o3 == 0) & _on_seg(cx, cy, dx, dy, ax, ay)) | ((o4 == 0) & _on_seg(cx, cy, dx, dy, bx, by))
    return proper | touch


def _expand_pairs(first, count):
    """(i, j) index pairs: for every i, j runs over first[i] .. first[i] + count[i] - 1."""
    total = int(count.sum())
    i = np.repeat(np.arange(len(count)), count)
    base = np.repeat(np.cumsum(count) - count, count)
    j = np.repeat(first, count) + (np.arange(total) - base)
    return i, j


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
    ylo = np.minimum(y[e], yn[e])
    yhi = np.maximum(y[e], yn[e])
    gmin = float(ylo.min())
    width = 2.0 * (float(yhi.max()) - gmin) + 1.0
    # one sorted key over all planes: plane-major, then the edge's lower y; the planes
    # are 'width' apart, far more than the tolerance that keeps ties as candidates
    key = pid * width + (ylo - gmin)
    srt = np.argsort(key, kind="stable")
    e, pid, ylo, yhi, key = e[srt], pid[srt], ylo[srt], yhi[srt], key[srt]
    stop = np.searchsorted(key, pid * width + (yhi - gmin) + 1e-9 * width, side="right")
    count = np.maximum(stop - np.arange(len(e)) - 1, 0)
    xlo = np.minimum(x[e], xn[e])
    xhi = np.maximum(x[e], xn[e])
    a0 = 0
    csum = np.cumsum(count)
    while a0 < len(e):
        # edges [a0, a1) expand to at most _PAIR_CHUNK pairs (at least one edge)
        done = csum[a0 - 1] if a0 else 0
        a1 = int(np.searchsorted(csum, done + _PAIR_CHUNK, side="right"))
        a1 = min(max(a1, a0 + 1), len(e))
        i, j = _expand_pairs(np.arange(a0 + 1, a1 + 1), count[a0:a1])
        i += a0
        keep = (pid[i] == pid[j]) & (ylo[j] <= yhi[i]) & (xhi[j] >= xlo[i]) & (xlo[j] <= xhi[i])
        i, j = i[keep], j[keep]
        ei, ej = e[i], e[j]
        # neighbouring edges of one contour share their common vertex by construction
        adj = (cid[ei] == cid[ej]) & ((nxt[ei] == ej) | (nxt[ej] == ei))
        i, j, ei, ej = i[~adj], j[~adj], ei[~adj], ej[~adj]
        meet = _segments_meet(x[ei], y[ei], xn[ei], yn[ei], x[ej], y[ej], xn[ej], yn[ej])
        out[np.unique(pid[i[meet]])] = 1
        a0 = a1
    return out


def _nesting_depth(x, y, xn, yn, cid, ps, good, plane_of_poly, pls):
    """Number of other non-degenerate contours of its plane that hold each contour's
    first vertex (even-odd ray test)."""
    n_poly = len(ps) - 1
    depth = np.zeros(n_poly, dtype=np.int64)
    per_plane = np.bincount(plane_of_poly[good], minlength=len(pls) - 1)
    multi = per_plane[plane_of_poly] > 1
    cands = np.flatnonzero(good & multi)
    if len(cands) == 0:
        return depth
    # edges of every non-degenerate contour on those planes, grouped by plane
    e = np.flatnonzero((good & multi)[cid])
    e = e[np.argsort(plane_of_poly[cid[e]], kind="stable")]
    epid = plane_of_poly[cid[e]]
    estart = np.searchsorted(epid, plane_of_poly[cands], side="left")
    estop = np.searchsorted(epid, plane_of_poly[cands], side="right")
    px = x[ps[cands]]
    py = y[ps[cands]]
    count = estop - estart
    csum = np.cumsum(count)
    a0 = 0
    while a0 < len(cands):
        done = csum[a0 - 1] if a0 else 0
        a1 = int(np.searchsorted(csum, done + _PAIR_CHUNK, side="right"))
        a1 = min(max(a1, a0 + 1), len(cands))
        i, j = _expand_pairs(estart[a0:a1], count[a0:a1])
        i += a0
        ej = e[j]
        other = cid[ej] != cands[i]
        i, ej = i[other], ej[other]
        y0, y1 = y[ej], yn[ej]
        straddle = (y0 > py[i]) != (y1 > py[i])
        i, ej = i[straddle], ej[straddle]
        y0, y1 = y[ej], yn[ej]
        xc = x[ej] + (py[i] - y0) * (xn[ej] - x[ej]) / (y1 - y0)
        hit = px[i] < xc
        i, ej = i[hit], ej[hit]
        # a point is inside a contour when the ray crosses it an odd number of times
        pair = cands[i] * np.int64(n_poly) + cid[ej]
        u, n = np.unique(pair, return_counts=True)
        inside = u[n % 2 == 1] // n_poly
        depth += np.bincount(inside, minlength=n_poly)
        a0 = a1
    return depth
