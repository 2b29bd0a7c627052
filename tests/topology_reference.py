"""The contour preparation of dosecalc before issue 13's single-pass kernels (commit
8fc9e9d), kept verbatim as the truth the new kernels must reproduce bit for bit:
``plane_topology`` (numpy over all planes plus the two sweep kernels it called),
``_flatten`` (numpy de-duplication) and ``corners`` (a function of a Prepared here)."""

from __future__ import annotations

import numpy as np
from numba import njit

from dosecalc.errors import ContourError


@njit
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


@njit
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


@njit
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


def _flatten(structure):
    """Concatenate the closed contours plane by plane, dropping repeated points (a vertex
    equal to its predecessor, and a closing vertex equal to the first)."""
    polys, zs, per_plane = [], [], []
    for plane in structure.planes:
        for poly in plane.polygons:
            if poly.ndim != 2 or poly.shape[1] < 2:
                raise ContourError(
                    f"structure {structure.name!r}: contour on plane z={plane.z_mm} mm must be an "
                    f"(N, 2) array of (x, y) mm, got shape {poly.shape}")
            polys.append(poly[:, :2])
        per_plane.append(len(plane.polygons))
        zs.append(plane.z_mm)
    plane_start = np.zeros(len(per_plane) + 1, dtype=np.int64)
    np.cumsum(per_plane, out=plane_start[1:])
    if not polys:
        return np.zeros(0), np.zeros(0), np.zeros(1, dtype=np.int64), plane_start, np.asarray(zs, dtype=np.float64)
    lens = np.fromiter((len(p) for p in polys), dtype=np.int64, count=len(polys))
    pts = np.concatenate(polys).astype(np.float64, copy=False)
    if not np.all(np.isfinite(pts)):
        bad = int(np.repeat(np.arange(len(polys)), lens)[~np.isfinite(pts).all(axis=1)][0])
        plane = int(np.searchsorted(plane_start, bad, side="right") - 1)
        raise ContourError(
            f"structure {structure.name!r}: contour on plane z={zs[plane]} mm holds "
            "non-finite coordinates (ContourData)")
    pid = np.repeat(np.arange(len(polys)), lens)
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = (pid[1:] != pid[:-1]) | np.any(pts[1:] != pts[:-1], axis=1)
    pts, pid = pts[keep], pid[keep]
    counts = np.bincount(pid, minlength=len(polys))
    ends = np.cumsum(counts)
    starts = ends - counts
    closing = (counts > 1) & np.all(pts[np.maximum(ends - 1, 0)] == pts[np.minimum(starts, len(pts) - 1)], axis=1)
    if closing.any():
        keep = np.ones(len(pts), dtype=bool)
        keep[(ends - 1)[closing]] = False
        pts = pts[keep]
        counts = counts - closing
    poly_start = np.zeros(len(polys) + 1, dtype=np.int64)
    np.cumsum(counts, out=poly_start[1:])
    x = np.ascontiguousarray(pts[:, 0])
    y = np.ascontiguousarray(pts[:, 1])
    return x, y, poly_start, plane_start, np.asarray(zs, dtype=np.float64)


def corners(self):
    """(M, 3) corners of the prism geometry: the vertices of every non-degenerate
    contour at the bottom and at the top of its plane's slab (mm)."""
    per_poly = np.diff(self.poly_start)
    plane_of_poly = np.repeat(np.arange(len(self.z)), np.diff(self.plane_start))
    good = np.repeat(self.sign != 0.0, per_poly)
    plane_of_v = np.repeat(plane_of_poly, per_poly)[good]
    x, y = self.x[good], self.y[good]
    return np.column_stack([np.concatenate([x, x]), np.concatenate([y, y]),
                            np.concatenate([self.lo[plane_of_v], self.hi[plane_of_v]])])
