"""The extremes kernels as they were before branch and bound (dosecalc 8fc9e9d,
kernels/extremes.py): every place visited, nothing left out.  Kept verbatim (only the
decorators: no cache) as the reference that tests/test_extremes_bound.py holds the
pruned kernels to, bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dosecalc.kernels.interp import _axis


def reference_extremes(x, y, poly_start, plane_start, sign, lo, hi, corners_mm, grid):
    """(min, max, n) as dosecalc.masks.extremes.prism_extremes computed them then."""
    acc = np.array([np.inf, -np.inf, 0.0])
    if len(corners_mm):
        d = grid.sample(corners_mm)
        d = d[np.isfinite(d)]
        if d.size:
            acc[:] = (float(d.min()), float(d.max()), float(d.size))
    values = grid.values_gy
    origin = np.asarray(grid.origin_mm, dtype=np.float64)
    spacing = np.asarray(grid.spacing_mm, dtype=np.float64)
    lo = np.ascontiguousarray(lo, dtype=np.float64)
    hi = np.ascontiguousarray(hi, dtype=np.float64)
    plane_of_poly = np.repeat(np.arange(len(lo), dtype=np.int64), np.diff(plane_start))
    edge_extremes(x, y, poly_start, plane_of_poly, sign, lo, hi, values, origin, spacing, acc)
    node_extremes(x, y, poly_start, plane_start, sign, lo, hi, values, origin, spacing, acc)
    if acc[2] == 0:
        return np.nan, np.nan, 0
    return float(acc[0]), float(acc[1]), int(acc[2])


@njit(cache=False)
def _take(v, acc):
    if v == v:
        if v < acc[0]:
            acc[0] = v
        if v > acc[1]:
            acc[1] = v
        acc[2] += 1.0


@njit(cache=False)
def _z_range(z_lo, z_hi, oz, dz, nz, zs):
    """The z splits of one slab, shared by every vertical line of it: ``zs`` receives
    (z0, z1, w) of the slab's two ends (:func:`_axis`; z0 = -1 when outside the grid);
    returns the dose planes strictly between them, (k0, k1) clipped to the grid."""
    a0, a1, wa = _axis((z_lo - oz) / dz, nz)
    b0, b1, wb = _axis((z_hi - oz) / dz, nz)
    zs[0] = a0
    zs[1] = a1
    zs[2] = wa
    zs[3] = b0
    zs[4] = b1
    zs[5] = wb
    k0 = int(np.floor((z_lo - oz) / dz)) + 1
    k1 = int(np.ceil((z_hi - oz) / dz)) - 1
    if k0 < 0:
        k0 = 0
    if k1 > nz - 1:
        k1 = nz - 1
    return k0, k1


@njit(cache=False)
def _column(values, fx, fy, zs, k0, k1, bil, acc):
    """Visit the vertical segment at fractional (fx, fy) of a slab: its two ends and every
    dose plane between (``zs``, ``k0``, ``k1`` from :func:`_z_range`); ``acc`` = [min,
    max, count].

    Every value is the trilinear blend of :func:`dosecalc.kernels.interp._blend`,
    operation for operation: the x/y split is done once for the line, the bilinear value
    of each dose plane the line meets once (``bil``, scratch of >= nz + 1 floats: the
    blend's ``c0``/``c1`` of that plane), and each visited height blends two of them
    with its z weight (0 at a dose plane).  (Plain calls, no inlining: the kernels' cold
    compile time counts for ``dosecalc demo``.)"""
    nz, ny, nx = values.shape
    x0, x1, wx = _axis(fx, nx)
    y0, y1, wy = _axis(fy, ny)
    if x0 < 0 or y0 < 0:
        return
    a0 = int(zs[0])
    b0 = int(zs[3])
    # planes the visits read: the ends' pairs and the planes between (with their upper
    # neighbours, read with weight 0 at a dose plane)
    p0 = k0
    p1 = k1 + 1
    if a0 >= 0:
        p0 = min(p0, a0)
        p1 = max(p1, int(zs[1]))
    if b0 >= 0:
        p0 = min(p0, b0)
        p1 = max(p1, int(zs[4]))
    if p1 > nz - 1:
        p1 = nz - 1
    for z in range(p0, p1 + 1):
        c00 = values[z, y0, x0] * (1.0 - wx) + values[z, y0, x1] * wx
        c01 = values[z, y1, x0] * (1.0 - wx) + values[z, y1, x1] * wx
        bil[z - p0] = c00 * (1.0 - wy) + c01 * wy
    if a0 >= 0:
        wz = zs[2]
        _take(bil[a0 - p0] * (1.0 - wz) + bil[int(zs[1]) - p0] * wz, acc)
    if b0 >= 0:
        wz = zs[5]
        _take(bil[b0 - p0] * (1.0 - wz) + bil[int(zs[4]) - p0] * wz, acc)
    for k in range(k0, k1 + 1):
        z0, z1, wz = _axis(float(k), nz)
        _take(bil[z0 - p0] * (1.0 - wz) + bil[z1 - p0] * wz, acc)


@njit(cache=False)
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


@njit(cache=False)
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


@njit(cache=False)
def edge_extremes(x, y, poly_start, plane_of_poly, sign, lo, hi, values, origin, spacing, acc):
    """Min/max of the dose on every contour edge (sign != 0) at every height of its slab;
    ``acc`` = [min, max, count] is updated."""
    ox, oy, oz = origin[0], origin[1], origin[2]
    dx, dy, dz = spacing[0], spacing[1], spacing[2]
    nz, ny, nx = values.shape
    buf = np.empty(nx + ny + 8, dtype=np.float64)
    tx = np.empty(nx + 4, dtype=np.float64)
    ty = np.empty(ny + 4, dtype=np.float64)
    zs = np.empty(6, dtype=np.float64)
    bil = np.empty(nz + 2, dtype=np.float64)
    for c in range(poly_start.size - 1):
        if sign[c] == 0.0:
            continue
        p = plane_of_poly[c]
        k0, k1 = _z_range(lo[p], hi[p], oz, dz, nz, zs)
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
                            zs, k0, k1, bil, acc)


@njit(cache=False)
def _row_crossings(x, y, poly_start, sign, c0, c1, oy, dy, j0, j1, counting, count, xs, fill):
    """Crossings of the contours ``[c0, c1)`` with the node rows ``j0..j1``, edge by edge:
    an edge is tested only against the rows its y range may reach, with the exact test
    and x of a scan of every edge for every row (so the same values).  Counting pass
    (``counting``): ``count[j - j0 + 1]`` += crossings of row j.  Filling pass:
    ``xs[fill[j - j0]]`` receives them (``fill`` = the prefix sums)."""
    for c in range(c0, c1):
        if sign[c] == 0.0:
            continue
        s = poly_start[c]
        e = poly_start[c + 1]
        for a in range(s, e):
            b = a + 1 if a + 1 < e else s
            ya = y[a]
            yb = y[b]
            if ya == yb:
                continue
            ja = max(int(np.floor((min(ya, yb) - oy) / dy)) - 1, j0)
            jb = min(int(np.ceil((max(ya, yb) - oy) / dy)) + 1, j1)
            for j in range(ja, jb + 1):
                yj = oy + j * dy
                if (ya <= yj) != (yb <= yj):
                    if counting:
                        count[j - j0 + 1] += 1
                    else:
                        xs[fill[j - j0]] = x[a] + (yj - ya) * (x[b] - x[a]) / (yb - ya)
                        fill[j - j0] += 1


@njit(cache=False)
def node_extremes(x, y, poly_start, plane_start, sign, lo, hi, values, origin, spacing, acc):
    """Min/max of the dose on the vertical lines through the grid nodes inside each plane's
    contours (even-odd), over the plane's slab; ``acc`` = [min, max, count] is updated."""
    ox, oy, oz = origin[0], origin[1], origin[2]
    dx, dy, dz = spacing[0], spacing[1], spacing[2]
    nz, ny, nx = values.shape
    zs = np.empty(6, dtype=np.float64)
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
        k0, k1 = _z_range(lo[p], hi[p], oz, dz, nz, zs)
        a0, a1, wa = int(zs[0]), int(zs[1]), zs[2]
        b0, b1, wb = int(zs[3]), int(zs[4]), zs[5]
        j0 = max(int(np.ceil((ymin - oy) / dy)), 0)
        j1 = min(int(np.floor((ymax - oy) / dy)), ny - 1)
        if j1 < j0:
            continue
        nrow = j1 - j0 + 1
        count = np.zeros(nrow + 1, dtype=np.int64)
        xs = np.empty(0, dtype=np.float64)
        _row_crossings(x, y, poly_start, sign, c0, c1, oy, dy, j0, j1, True, count, xs, count)
        for r in range(nrow):
            count[r + 1] += count[r]
        xs = np.empty(count[nrow], dtype=np.float64)
        fill = count[:nrow].copy()
        _row_crossings(x, y, poly_start, sign, c0, c1, oy, dy, j0, j1, False, count, xs, fill)
        for j in range(j0, j1 + 1):
            n = count[j - j0 + 1] - count[j - j0]
            srt = xs[count[j - j0]:count[j - j0 + 1]]
            if n < 2:
                continue
            _insertion_sort(srt, n)
            for m in range(0, n - 1, 2):
                i0 = max(int(np.ceil((srt[m] - ox) / dx)), 0)
                i1 = min(int(np.floor((srt[m + 1] - ox) / dx)), nx - 1)
                # At a grid node the x and y weights are 0: the trilinear blend is the
                # node's value at a dose plane and the z blend of two of them at a slab
                # end, bit for bit (the values are finite), read along the row.
                for i in range(i0, i1 + 1):
                    if a0 >= 0:
                        _take(values[a0, j, i] * (1.0 - wa) + values[a1, j, i] * wa, acc)
                    if b0 >= 0:
                        _take(values[b0, j, i] * (1.0 - wb) + values[b1, j, i] * wb, acc)
                for k in range(k0, k1 + 1):
                    for i in range(i0, i1 + 1):
                        _take(values[k, j, i], acc)
