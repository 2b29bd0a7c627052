"""Contour topology kernel: per contour its signed area, degeneracy and orientation weight,
per plane whether its contours cross or touch and its even-odd area, in one pass.

It replaces numpy over all planes at once (global sorts, bincounts, repeats) plus two
sweep kernels: on the Brainlab SRS export (720 k vertices) that took 0.57 s holding the
GIL, of which the global sorts were most.  Per plane here:

- crossings: a sweep along the axis whose interval overlaps give fewer candidate pairs.
  The edges are ordered by a bucket of their lower end (a counting sort, O(n), buckets as
  many as edges across the plane's extent); the bucket is a monotone function of the
  coordinate, so every pair of edges whose boxes overlap is still met (an edge's sweep
  runs to the end of the bucket of its upper end) and the exact interval tests follow.
  When the buckets would give far more candidates than edges (a dense cluster far from
  the rest of its plane), the plane is left undecided (-1) and swept in exact sorted
  order instead, as before, by a second kernel (:func:`exact_crossings`) that the caller
  runs only then, so that its code is compiled only when a plane needs it:
  O(n log n + k), k the box overlaps along the better axis;
- nesting: the first vertices of the plane's contours (the queries of the even-odd ray
  test) are put in buckets along y; each edge visits only the queries of the buckets
  its y-range spans, so a contour's ray meets the edges it can cross, not every edge of
  every contour whose box holds it (the body outline holding 80 small contours).

Which edges are tested differs from the previous code, the answer does not: a plane's
flag is whether any pair of non-adjacent edges with overlapping boxes meets (the test is
symmetric), and a depth is a parity count over exactly the edges the ray crosses.  The
arithmetic of each test, of the areas (summed vertex by vertex from 0.0, as numpy's
bincount does) and of the degeneracy test is the one of the numpy version it replaces
(same operations in the same order, no fastmath), so every output is bit-identical.

Compilation (the cold start): a helper is compiled once per distinct argument types, and
numba types a variable that starts as ``0`` as ``Literal[int](0)`` while it infers the
loop, so a helper given such a count compiles twice, with all it calls; the counts passed
to helpers start as ``np.int64(0)``.  The helpers are few (each costs its own wrappers
and machine code besides its code inlined in the caller), and the rare exact sweep is a
kernel apart, compiled only when a plane needs it.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _bucket(v, base, scale, nb):
    """Bucket of coordinate ``v``: non-decreasing in ``v`` (each step of the float
    arithmetic is monotone), clamped to ``0 .. nb - 1`` (non-finite input: the last)."""
    t = (v - base) * scale
    if not t < nb:
        return nb - 1
    if t <= 0.0:
        return 0
    return int(t)


@njit(cache=True, nogil=True)
def _scale(lo, hi, nb):
    """Buckets per mm for ``nb`` buckets over ``[lo, hi]`` (0 for an empty extent)."""
    span = hi - lo
    return nb / span if span > 0.0 else 0.0


@njit(cache=True, nogil=True)
def _edge_boxes(x, y, nxt, edges, m, box):
    """``box[:, i]``: x min, x max, y min, y max of the edge ``edges[i]``, ``i < m``."""
    for i in range(m):
        k = edges[i]
        kn = nxt[k]
        box[0, i] = min(x[k], x[kn])
        box[1, i] = max(x[k], x[kn])
        box[2, i] = min(y[k], y[kn])
        box[3, i] = max(y[k], y[kn])


@njit(cache=True, nogil=True)
def _bucket_sweep(box, m, work, iw):
    """Bucket sweep of the ``m`` edge boxes along the axis (0: x, 1: y) whose interval
    overlaps give fewer candidate pairs: ``iw[6]`` the order of the edges by the bucket
    of their lower end (a counting sort), ``iw[7, j]`` the end of the bucket of the j-th
    edge's upper end.  Returns the axis, or -1 (nothing written to rows 6, 7) when even
    that axis meets more than ``work`` x ``m`` + 1024 candidate pairs (the exact sweep of
    :func:`exact_crossings` decides such a plane).  Rows 0-5 of ``iw`` are scratch."""
    hist, free = iw[4], iw[5]
    n_pairs = np.empty(2, dtype=np.int64)
    for a in range(2):
        ulo, uhi, qlo, qhi = box[2 * a], box[2 * a + 1], iw[2 * a], iw[2 * a + 1]
        # candidate pairs: for each edge (in order of its lower bucket), how many later
        # edges start at or before the bucket of its upper end
        base = ulo[0]
        top = uhi[0]
        for i in range(m):
            base = min(base, ulo[i])
            top = max(top, uhi[i])
        scale = _scale(base, top, m)
        for b in range(m):
            hist[b] = 0
        for i in range(m):
            qlo[i] = _bucket(ulo[i], base, scale, m)
            qhi[i] = _bucket(uhi[i], base, scale, m)
            hist[qlo[i]] += 1
        for b in range(1, m):
            hist[b] += hist[b - 1]
        total = 0
        for i in range(m):
            total += hist[qhi[i]]
        n_pairs[a] = total - m * (m + 1) // 2
    u = 0 if n_pairs[0] <= n_pairs[1] else 1
    if not n_pairs[u] <= work * m + 1024:
        return -1
    qlo, qhi, order, stop = iw[2 * u], iw[2 * u + 1], iw[6], iw[7]
    for b in range(m):
        hist[b] = 0
    for i in range(m):
        hist[qlo[i]] += 1
    for b in range(1, m):
        hist[b] += hist[b - 1]
    free[0] = 0
    for b in range(1, m):
        free[b] = hist[b - 1]
    for i in range(m):
        j = free[qlo[i]]
        free[qlo[i]] = j + 1
        order[j] = i
        stop[j] = hist[qhi[i]]
    return u


@njit(cache=True, nogil=True)
def _sweep_meets(x, y, nxt, prv, cid, edges, m, u, box, sbox, iw):
    """True where two non-adjacent edges of the plane's ``m`` edges meet, given the sweep
    along axis ``u``: ``iw[6]`` the order of the edges, ``iw[7, j]`` one past the last
    candidate of the j-th (in that order); ``box`` the edge boxes (:func:`_edge_boxes`).

    ``edges[:m]`` are the vertex indices of the plane's good contours, contour after
    contour (so the neighbours of the edge at ``i``, of vertex k, are at ``i + nxt[k] - k``
    and ``i + prv[k] - k``).  Scratch: ``sbox`` float64 (4, >= m), ``iw`` row 8.  The one
    scan of both sweeps (:func:`contour_topology`, :func:`exact_crossings`): one compiled
    signature.
    """
    order, stop, s_pos = iw[6], iw[7], iw[8]
    v = 1 - u
    for j in range(m):
        i = order[j]
        s_pos[i] = j
        sbox[0, j] = box[2 * u, i]
        sbox[1, j] = box[2 * u + 1, i]
        sbox[2, j] = box[2 * v, i]
        sbox[3, j] = box[2 * v + 1, i]
    s_ulo, s_uhi, s_vlo, s_vhi = sbox[0], sbox[1], sbox[2], sbox[3]
    for j in range(m):
        i = order[j]
        k = edges[i]
        ulo_j, uhi_j, vlo_j, vhi_j = s_ulo[j], s_uhi[j], s_vlo[j], s_vhi[j]
        # boxes overlapping this one among its candidates (a branch-free count); nearly
        # always only its two neighbours on the contour, which overlap it by construction
        n_over = 0
        for t in range(j + 1, stop[j]):
            n_over += (s_ulo[t] <= uhi_j) & (s_uhi[t] >= ulo_j) & (s_vlo[t] <= vhi_j) & (s_vhi[t] >= vlo_j)
        if n_over == 0:
            continue
        pn = s_pos[i + nxt[k] - k]
        pp = s_pos[i + prv[k] - k]
        if n_over == int(j < pn < stop[j]) + int(j < pp < stop[j]):
            continue
        c = cid[k]
        ax, ay, bx, by = x[k], y[k], x[nxt[k]], y[nxt[k]]
        abx0, abx1, aby0, aby1 = min(ax, bx), max(ax, bx), min(ay, by), max(ay, by)
        for t in range(j + 1, stop[j]):
            if (s_ulo[t] > uhi_j) | (s_uhi[t] < ulo_j) | (s_vlo[t] > vhi_j) | (s_vhi[t] < vlo_j):
                continue
            kt = edges[order[t]]
            # neighbouring edges of one contour share their common vertex by construction
            if cid[kt] == c and (nxt[k] == kt or nxt[kt] == k):
                continue
            # do segments ab and cd share a point (cross or touch)?  Orientations of c, d
            # against ab and of a, b against cd.  Bitwise & and | of the comparisons (no
            # side effects, so the truth values of and/or): far fewer branches to compile
            cx, cy, dx, dy = x[kt], y[kt], x[nxt[kt]], y[nxt[kt]]
            o1 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
            o2 = (bx - ax) * (dy - ay) - (by - ay) * (dx - ax)
            o3 = (dx - cx) * (ay - cy) - (dy - cy) * (ax - cx)
            o4 = (dx - cx) * (by - cy) - (dy - cy) * (bx - cx)
            meet = (((o1 > 0) & (o2 < 0)) | ((o1 < 0) & (o2 > 0))) & (((o3 > 0) & (o4 < 0)) | ((o3 < 0) & (o4 > 0)))
            # touching: an end point on the other segment (collinear and inside its box)
            cdx0, cdx1, cdy0, cdy1 = min(cx, dx), max(cx, dx), min(cy, dy), max(cy, dy)
            meet |= (o1 == 0) & (abx0 <= cx) & (cx <= abx1) & (aby0 <= cy) & (cy <= aby1)
            meet |= (o2 == 0) & (abx0 <= dx) & (dx <= abx1) & (aby0 <= dy) & (dy <= aby1)
            meet |= (o3 == 0) & (cdx0 <= ax) & (ax <= cdx1) & (cdy0 <= ay) & (ay <= cdy1)
            meet |= (o4 == 0) & (cdx0 <= bx) & (bx <= cdx1) & (cdy0 <= by) & (by <= cdy1)
            if meet:
                return True
    return False


@njit(cache=True, nogil=True)
def _ray_hits(x, y, nxt, k, px, py):
    """1 when edge ``k`` crosses the ray from (px, py) towards +x (half-open in y)."""
    y0 = y[k]
    y1 = y[nxt[k]]
    if (y0 > py) != (y1 > py):
        xc = x[k] + (py - y0) * (x[nxt[k]] - x[k]) / (y1 - y0)
        if px < xc:
            return 1
    return 0


@njit(cache=True, nogil=True)
def contour_topology(x, y, ps, pls, work, sign, fallback, area):
    """Orientation weights, crossing flags and even-odd areas of every contour plane.

    Parameters
    ----------
    x, y : float64 (N,)
        Vertices (mm) of every contour, concatenated; finite.
    ps : int64 (P + 1,)
        Contour c owns vertices ``ps[c]:ps[c + 1]`` (``ps[0] == 0``, ``ps[P] == N``);
        its edge k runs from vertex k to the next one (the last back to the first).
    pls : int64 (Z + 1,)
        Plane p owns contours ``pls[p]:pls[p + 1]`` (``pls[0] == 0``, ``pls[Z] == P``).
    work : float
        A plane is swept in buckets while that meets at most ``work`` x its edges + 1024
        candidate pairs, else in exact sorted order.  Only the speed depends on it.
    sign : float64 (P,)
        Written: +1/-1 so that the winding integral is the even-odd area, 0 for
        degenerate contours (< 3 vertices, or every vertex within 1e-12 relative of
        the line through the first vertex and the vertex farthest from it).
    fallback : int64 (Z,)
        Written: 1 where two non-adjacent edges of non-degenerate contours meet, else 0;
        -1 where the bucket sweep would meet too many candidate pairs: such a plane is
        decided by :func:`exact_crossings`, called after this kernel.
    area : float64 (Z,)
        Written: even-odd area (mm^2) of each plane (valid where ``fallback == 0``).
    """
    n = len(x)
    n_poly = len(ps) - 1
    n_plane = len(pls) - 1
    links = np.empty((3, n), dtype=np.int64)  # few allocations: shorter compilation
    nxt, prv, cid = links[0], links[1], links[2]
    per_contour = np.empty((4, n_poly))
    signed, by0, by1, reach = per_contour[0], per_contour[1], per_contour[2], per_contour[3]
    # per contour, int64 and zeroed: ray tests (hits, queries, order, touched), depth, good
    # (one allocation signature instead of three: shorter compilation)
    pw = np.zeros((6, n_poly), dtype=np.int64)
    hits, qc, qitem, touched, depth, good = pw[0], pw[1], pw[2], pw[3], pw[4], pw[5]
    for c in range(n_poly):
        a = ps[c]
        b = ps[c + 1]
        acc = 0.0
        for k in range(a, b):
            kn = k + 1 if k + 1 < b else a
            nxt[k] = kn
            prv[kn] = k
            cid[k] = c
            acc += x[k] * y[kn] - x[kn] * y[k]
        signed[c] = 0.5 * acc
        if b - a < 3:
            continue
        # degenerate: every vertex on the line through the first vertex and the vertex
        # farthest from it (the first of equally far ones)
        x0 = x[a]
        y0 = y[a]
        far = a
        dmax = (x0 - x0) * (x0 - x0) + (y0 - y0) * (y0 - y0)
        for k in range(a + 1, b):
            d2 = (x[k] - x0) * (x[k] - x0) + (y[k] - y0) * (y[k] - y0)
            if d2 > dmax:
                dmax = d2
                far = k
        if not dmax > 0:
            continue
        ex = x[far] - x0
        ey = y[far] - y0
        tol = 1e-12 * dmax
        for k in range(a, b):
            if abs(ex * (y[k] - y0) - ey * (x[k] - x0)) > tol:
                good[c] = 1
                break
        if good[c]:
            x_lo = x[a]
            x_hi = x[a]
            y_lo = y[a]
            y_hi = y[a]
            for k in range(a + 1, b):
                x_lo = min(x_lo, x[k])
                x_hi = max(x_hi, x[k])
                y_lo = min(y_lo, y[k])
                y_hi = max(y_hi, y[k])
            by0[c] = y_lo
            by1[c] = y_hi
            reach[c] = x_hi + 1e-9 * (abs(x_lo) + abs(x_hi) + 1.0)

    # edges of the good contours, plane by plane; scratch sized for the largest plane
    m_max = 0
    for p in range(n_plane):
        m = 0
        for c in range(pls[p], pls[p + 1]):
            if good[c]:
                m += ps[c + 1] - ps[c]
        m_max = max(m_max, m)
    edges = np.empty(m_max, dtype=np.int64)
    box = np.empty((4, m_max))
    sbox = np.empty((4, m_max))
    iw = np.empty((9, m_max), dtype=np.int64)
    qstart = np.empty(2 * n_poly + 1, dtype=np.int64)
    for p in range(n_plane):
        fallback[p] = 0
        c0 = pls[p]
        c1 = pls[p + 1]
        m = np.int64(0)  # not the literal 0: numba would compile the helpers for it too
        n_good = 0
        for c in range(c0, c1):
            if good[c]:
                n_good += 1
                for k in range(ps[c], ps[c + 1]):
                    edges[m] = k
                    m += 1
        if m >= 2:
            _edge_boxes(x, y, nxt, edges, m, box)
            u = _bucket_sweep(box, m, work, iw)
            if u < 0:
                fallback[p] = -1  # crowded buckets: exact_crossings decides
            elif _sweep_meets(x, y, nxt, prv, cid, edges, m, u, box, sbox, iw):
                fallback[p] = 1
        if n_good < 2:
            continue
        # nesting depths: how many other good contours hold the first vertex of each
        # (even-odd ray test towards +x).  The queries (first vertices) are put in
        # buckets along y; each edge of a contour visits the queries of the buckets its
        # y-range spans (all those with min y <= py < max y among them), with the
        # prefilters of the contour-pair test it replaces (py in the contour's y-range,
        # half-open; px left of its right edge plus a margin far above the rounding of
        # the crossing abscissa)
        nq = 0
        base = np.inf
        top = -np.inf
        for c in range(c0, c1):
            if good[c]:
                qc[nq] = c
                nq += 1
                base = min(base, y[ps[c]])
                top = max(top, y[ps[c]])
        nb = 2 * nq
        scale = _scale(base, top, nb)
        for b in range(nb + 1):
            qstart[b] = 0
        for q in range(nq):
            qstart[_bucket(y[ps[qc[q]]], base, scale, nb) + 1] += 1
        for b in range(nb):
            qstart[b + 1] += qstart[b]
        for q in range(nq):
            b = _bucket(y[ps[qc[q]]], base, scale, nb)
            qitem[qstart[b]] = q
            qstart[b] += 1
        for b in range(nb, 0, -1):
            qstart[b] = qstart[b - 1]
        qstart[0] = 0
        for d in range(c0, c1):
            if not good[d] or by1[d] < base or by0[d] > top:
                continue
            lo_d, hi_d, reach_d = by0[d], by1[d], reach[d]
            t0 = qstart[_bucket(lo_d, base, scale, nb)]
            t1 = qstart[_bucket(hi_d, base, scale, nb) + 1]
            wanted = False
            for t in range(t0, t1):
                c = qc[qitem[t]]
                py = y[ps[c]]
                if c != d and lo_d <= py < hi_d and x[ps[c]] < reach_d:
                    wanted = True
                    break
            if not wanted:
                continue
            n_touched = 0
            for k in range(ps[d], ps[d + 1]):
                y0 = y[k]
                y1 = y[nxt[k]]
                if y0 == y1:
                    continue  # a horizontal edge never crosses a horizontal ray
                lo = min(y0, y1)
                hi = max(y0, y1)
                if hi < base or lo > top:
                    continue
                for t in range(qstart[_bucket(lo, base, scale, nb)], qstart[_bucket(hi, base, scale, nb) + 1]):
                    q = qitem[t]
                    c = qc[q]
                    px = x[ps[c]]
                    py = y[ps[c]]
                    if c == d or py < lo_d or py >= hi_d or px >= reach_d:
                        continue
                    if _ray_hits(x, y, nxt, k, px, py):
                        if hits[q] == 0:
                            touched[n_touched] = q
                            n_touched += 1
                        hits[q] += 1
            for t in range(n_touched):
                q = touched[t]
                depth[qc[q]] += hits[q] & 1
                hits[q] = 0

    for p in range(n_plane):
        acc = 0.0
        for c in range(pls[p], pls[p + 1]):
            want = 1.0 if depth[c] % 2 == 0 else -1.0
            if good[c]:
                sign[c] = want if signed[c] >= 0 else -want
                acc += want * abs(signed[c])
            else:
                sign[c] = 0.0
                acc += 0.0
        area[p] = acc


@njit(cache=True, nogil=True)
def exact_crossings(x, y, ps, pls, sign, fallback):
    """Decide the planes :func:`contour_topology` left at ``fallback == -1`` (its buckets
    too crowded: a dense cluster far from the rest of the plane): 1 where two
    non-adjacent edges of the plane's good contours (``sign != 0``) meet, else 0.

    The edges are swept in exact sorted order along the axis with fewer candidate pairs:
    O(n log n + k), k the box overlaps along that axis.  A separate kernel, compiled only
    when a plane needs it (no plane of the SRS export or of the phantom does).  The merge
    sort and binary search are written out: numpy's argsort and searchsorted cost seconds
    of compilation.  Arguments as in :func:`contour_topology`, after it.
    """
    n = len(x)
    n_plane = len(pls) - 1
    links = np.empty((3, n), dtype=np.int64)
    nxt, prv, cid = links[0], links[1], links[2]
    m_max = 0
    for p in range(n_plane):
        if fallback[p] != -1:
            continue
        m = 0
        for c in range(pls[p], pls[p + 1]):
            a = ps[c]
            b = ps[c + 1]
            for k in range(a, b):
                kn = k + 1 if k + 1 < b else a
                nxt[k] = kn
                prv[kn] = k
                cid[k] = c
            if sign[c] != 0.0:
                m += b - a
        m_max = max(m_max, m)
    edges = np.empty(m_max, dtype=np.int64)
    box = np.empty((4, m_max))
    sbox = np.empty((4, m_max))
    iw = np.empty((9, m_max), dtype=np.int64)
    n_pairs = np.empty(2, dtype=np.int64)
    for p in range(n_plane):
        if fallback[p] != -1:
            continue
        m = np.int64(0)  # not the literal 0: numba would compile the helpers for it too
        for c in range(pls[p], pls[p + 1]):
            if sign[c] != 0.0:
                for k in range(ps[c], ps[c + 1]):
                    edges[m] = k
                    m += 1
        _edge_boxes(x, y, nxt, edges, m, box)
        for ax in range(2):
            # order (row 2 ax) of the edges by their lower end; stop (row 2 ax + 1): one
            # past the last edge (in that order) that starts at or before the upper end
            lo, hi, order, stop = box[2 * ax], box[2 * ax + 1], iw[2 * ax], iw[2 * ax + 1]
            other = stop  # scratch until the stops are written
            for i in range(m):
                order[i] = i
            width = 1
            while width < m:
                for a in range(0, m, 2 * width):
                    mid = min(a + width, m)
                    b = min(a + 2 * width, m)
                    i, j = a, mid
                    for t in range(a, b):
                        if j < b and (i >= mid or lo[order[j]] < lo[order[i]]):
                            other[t] = order[j]
                            j += 1
                        else:
                            other[t] = order[i]
                            i += 1
                for t in range(m):
                    order[t] = other[t]
                width *= 2
            total = 0
            for j in range(m):
                v = hi[order[j]]
                a, b = 0, m  # first position whose lower end exceeds v
                while a < b:
                    c = (a + b) // 2
                    if lo[order[c]] <= v:
                        a = c + 1
                    else:
                        b = c
                stop[j] = a
                total += a - j - 1
            n_pairs[ax] = total
        u = 0 if n_pairs[0] <= n_pairs[1] else 1
        for j in range(m):
            iw[6, j] = iw[2 * u, j]
            iw[7, j] = iw[2 * u + 1, j]
        fallback[p] = 1 if _sweep_meets(x, y, nxt, prv, cid, edges, m, u, box, sbox, iw) else 0
