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

Branch and bound (why: reading the grid along every contour of a 40-ROI plan costs more
than the arithmetic).  Every visited value is a blend of grid nodes with weights in
[0, 1], so it lies within the range of the nodes it reads, widened by the blend's
rounding (:func:`_block_bounded`).  A place whose nodes' range lies inside the [min, max]
found so far can change neither, and is left out, judged by the coarse range of
:func:`block_summary` (built once per grid by the caller; 1/32 of the grid's bytes, it
stays in cache): a whole contour or plane, an edge, a vertical line, a run of grid
nodes.  Min and Max stay bit for bit those of visiting everything: a left-out value
could only have equalled or been inside them, and the values that are visited are
visited in the same order (so even the sign of a zero Min is the same).  The count of
visited values (``acc[2]``) is smaller; it is positive exactly when it would be without
leaving anything out (nothing is left out while ``acc`` is empty).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .interp import _axis, _blend

# Every kernel here, helper or entry point, is compiled with the same flags
# (nogil=True): numba compiles an overload it calls (np.empty, min, max, int) once per
# distinct set of caller flags.


@njit(cache=True, nogil=True)
def _split(f, n):
    """:func:`dosecalc.kernels.interp._axis`, inlined here once: the kernels below call it
    (an ``inline="always"`` function is typed and inlined again at every call site)."""
    return _axis(f, n)


@njit(cache=True, nogil=True)
def _take(v, acc):
    if v == v:
        if v < acc[0]:
            acc[0] = v
        if v > acc[1]:
            acc[1] = v
        acc[2] += 1.0


#: Cells per block side of :func:`block_summary` (4 x 4 x 4 cells: the summary is 1/32
#: of the grid's bytes, and a block is still small against a dose gradient).
BLOCK = 4
#: Relative margin of :func:`_block_bounded`: a trilinear blend (three nested
#: ``a * (1 - w) + b * w``, 0 <= w <= 1) of values within [lo, hi] lies within [lo, hi]
#: widened by a few units in the last place of max(|lo|, |hi|) (each lerp adds at most
#: about 4 u of it, u = 2**-53, so 12 u ~ 1.3e-15 in all); 2**-40 ~ 9e-13 is far beyond.
_BLEND_MARGIN = 2.0 ** -40
#: Absolute margin for subnormal values (where the relative bound fails).
_TINY = 1e-300


@njit(cache=True, nogil=True)
def _cell_block(i, n):
    """Block (along one axis) of :func:`block_summary` that holds node ``i`` and, for
    i < n - 1, node i + 1 (a cell's nodes)."""
    c = min(i, n - 2)
    if c < 0:
        c = 0
    return c // BLOCK


@njit(cache=True, nogil=True)
def _block_bounded(blocks, zb0, zb1, by, bx, acc):
    """True when every blend of the nodes of blocks (zb0..zb1, by, bx), whose values lie
    in [lo, hi], lies inside [acc[0], acc[1]] beyond any rounding, so that it can change
    neither Min nor Max.  A blend of values >= 0 is >= 0 exactly, so such values never
    lower a Min <= 0 (dose grids are mostly zeros away from the beams).  False while
    ``acc`` is empty, and for NaN (summarised as -inf, inf) unless ``acc`` already spans
    everything."""
    lo = blocks[zb0, by, bx, 0]
    hi = blocks[zb0, by, bx, 1]
    for zb in range(zb0 + 1, zb1 + 1):
        lo = min(lo, blocks[zb, by, bx, 0])
        hi = max(hi, blocks[zb, by, bx, 1])
    m = max(abs(lo), abs(hi)) * _BLEND_MARGIN + _TINY
    return (lo - m >= acc[0] or (lo >= 0.0 and acc[0] <= 0.0)) and hi + m <= acc[1]


@njit(cache=True, nogil=True)
def block_summary(values):
    """Coarse range of the grid: ``out[bz, by, bx] = (min, max)`` of the nodes of a block
    of BLOCK**3 cells, i.e. nodes ``b * BLOCK .. b * BLOCK + BLOCK`` along each axis
    (clipped to the grid; neighbouring blocks share their boundary nodes, so a cell's 8
    nodes are in one block).  A block holding a NaN gets (-inf, inf).

    Parameters
    ----------
    values : float64 array (nz, ny, nx)
        Dose at voxel centres (Gy).

    Returns
    -------
    float64 array (nbz, nby, nbx, 2), nb = (n - 2) // BLOCK + 1 (at least 1) per axis.
    """
    nz, ny, nx = values.shape
    nbz = max((nz - 2) // BLOCK + 1, 1)
    nby = max((ny - 2) // BLOCK + 1, 1)
    nbx = max((nx - 2) // BLOCK + 1, 1)
    # plain loops, no array expressions: they would add seconds of cold compile time
    out = np.empty((nbz, nby, nbx, 2), dtype=np.float64)
    for bz in range(nbz):
        for by in range(nby):
            for bx in range(nbx):
                out[bz, by, bx, 0] = np.inf
                out[bz, by, bx, 1] = -np.inf
    plane = np.empty((nby, nbx, 2), dtype=np.float64)
    for z in range(nz):
        for by in range(nby):
            for bx in range(nbx):
                plane[by, bx, 0] = np.inf
                plane[by, bx, 1] = -np.inf
        for y in range(ny):
            # first and last block holding node y (blocks share their boundary node)
            yb1 = min(y // BLOCK, nby - 1)
            yb0 = yb1 - 1 if y == yb1 * BLOCK and yb1 > 0 else yb1
            for bx in range(nbx):
                lo = np.inf
                hi = -np.inf
                nan = False
                for x in range(bx * BLOCK, min(bx * BLOCK + BLOCK, nx - 1) + 1):
                    v = values[z, y, x]
                    if v < lo:
                        lo = v
                    if v > hi:
                        hi = v
                    if v != v:
                        nan = True
                if nan:
                    lo = -np.inf
                    hi = np.inf
                for by in range(yb0, yb1 + 1):
                    plane[by, bx, 0] = min(plane[by, bx, 0], lo)
                    plane[by, bx, 1] = max(plane[by, bx, 1], hi)
        zb1 = min(z // BLOCK, nbz - 1)
        zb0 = zb1 - 1 if z == zb1 * BLOCK and zb1 > 0 else zb1
        for bz in range(zb0, zb1 + 1):
            for by in range(nby):
                for bx in range(nbx):
                    out[bz, by, bx, 0] = min(out[bz, by, bx, 0], plane[by, bx, 0])
                    out[bz, by, bx, 1] = max(out[bz, by, bx, 1], plane[by, bx, 1])
    return out


@njit(cache=True, nogil=True)
def _z_range(z_lo, z_hi, oz, dz, nz, zs):
    """The z splits of one slab, shared by every vertical line of it: ``zs`` (>= 10
    floats) receives (z0, z1, w) of the slab's two ends (:func:`_axis`; z0 = -1 when
    outside the grid), the first and last dose plane a vertical line reads (p0, p1;
    none when p0 > p1) and the blocks of :func:`block_summary` holding them (zb0, zb1);
    returns the dose planes strictly between the ends, (k0, k1) clipped to the grid."""
    a0, a1, wa = _split((z_lo - oz) / dz, nz)
    b0, b1, wb = _split((z_hi - oz) / dz, nz)
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
    # planes a vertical line of the slab reads: the ends' pairs and the planes between
    # (with their upper neighbours, read with weight 0 at a dose plane)
    p0 = k0
    p1 = k1 + 1
    if a0 >= 0:
        p0 = min(p0, a0)
        p1 = max(p1, a1)
    if b0 >= 0:
        p0 = min(p0, b0)
        p1 = max(p1, b1)
    if p1 > nz - 1:
        p1 = nz - 1
    zs[6] = p0
    zs[7] = p1
    # the blocks of block_summary holding these planes (cells p0 .. p1 - 1)
    c0 = max(min(p0, nz - 2), 0)
    c1 = max(min(p1 - 1, nz - 2), c0)
    zs[8] = c0 // BLOCK
    zs[9] = c1 // BLOCK
    return k0, k1


@njit(cache=True, nogil=True)
def _column(values, blocks, fx, fy, zs, k0, k1, bil, acc):
    """Visit the vertical segment at fractional (fx, fy) of a slab: its two ends and every
    dose plane between (``zs``, ``k0``, ``k1`` from :func:`_z_range`); ``acc`` = [min,
    max, count].

    Every value is the trilinear blend of :func:`dosecalc.kernels.interp._blend`,
    operation for operation: the x/y split is done once for the line, the bilinear value
    of each dose plane the line meets once (``bil``, scratch of >= nz + 1 floats: the
    blend's ``c0``/``c1`` of that plane), and each visited height blends two of them
    with its z weight (0 at a dose plane).  (Plain calls, no inlining: the kernels' cold
    compile time counts for ``dosecalc demo``.)

    The line is left out when the block (``blocks``) of the nodes it reads
    (``values[p0..p1, y0..y1, x0..x1]``) is inside ``acc`` (:func:`_block_bounded`)."""
    nz, ny, nx = values.shape
    x0, x1, wx = _split(fx, nx)
    y0, y1, wy = _split(fy, ny)
    if x0 < 0 or y0 < 0:
        return
    if _block_bounded(blocks, int(zs[8]), int(zs[9]), _cell_block(y0, ny), _cell_block(x0, nx), acc):
        return
    a0 = int(zs[0])
    b0 = int(zs[3])
    p0 = int(zs[6])
    p1 = int(zs[7])
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
        z0, z1, wz = _split(float(k), nz)
        _take(bil[z0 - p0] * (1.0 - wz) + bil[z1 - p0] * wz, acc)


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _box_bounded(xmin, xmax, ymin, ymax, ox, oy, dx, dy, nx, ny, blocks, zb0, zb1, acc, most):
    """True when the blocks of every node that a visit within x in [xmin, xmax], y in
    [ymin, ymax] (mm) may read are inside ``acc``; False without looking when they are
    more than ``most`` + 1 blocks across.  The visited points are computed from the
    contour's coordinates (``x[a] + t * (x[b] - x[a])``, a row's crossing): ``pad``
    covers their rounding beyond the box (a few units in the last place of the
    coordinates, bounded here 10**4 times over)."""
    padx = 1e-12 * (1.0 + (abs(xmin) + abs(xmax) + abs(ox)) / dx)
    pady = 1e-12 * (1.0 + (abs(ymin) + abs(ymax) + abs(oy)) / dy)
    # the cells, clipped to the grid's, whose nodes include every node that a point
    # between the box's fractional indices (give or take the pad) reads and every grid
    # node between them (cell i holds nodes i and i + 1, as in _axis)
    topx = max(nx - 2, 0)
    topy = max(ny - 2, 0)
    cx0 = min(max(int(np.floor((xmin - ox) / dx - padx)), 0), topx)
    cx1 = min(max(int(np.floor((xmax - ox) / dx + padx)), 0), topx)
    cy0 = min(max(int(np.floor((ymin - oy) / dy - pady)), 0), topy)
    cy1 = min(max(int(np.floor((ymax - oy) / dy + pady)), 0), topy)
    bx0 = cx0 // BLOCK
    bx1 = cx1 // BLOCK
    by0 = cy0 // BLOCK
    by1 = cy1 // BLOCK
    if bx1 - bx0 > most or by1 - by0 > most:
        return False
    for by in range(by0, by1 + 1):
        for bx in range(bx0, bx1 + 1):
            if not _block_bounded(blocks, zb0, zb1, by, bx, acc):
                return False
    return True


@njit(cache=True, nogil=True)
def edge_extremes(x, y, poly_start, plane_of_poly, sign, lo, hi, values, blocks, origin, spacing, acc):
    """Min/max of the dose on every contour edge (sign != 0) at every height of its slab;
    ``acc`` = [min, max, count] is updated.  ``blocks``: :func:`block_summary` of
    ``values``.  A contour, or an edge, whose nodes' blocks are all inside ``acc`` is
    left out whole (see the module)."""
    ox, oy, oz = origin[0], origin[1], origin[2]
    dx, dy, dz = spacing[0], spacing[1], spacing[2]
    nz, ny, nx = values.shape
    buf = np.empty(nx + ny + 8, dtype=np.float64)
    tx = np.empty(nx + 4, dtype=np.float64)
    ty = np.empty(ny + 4, dtype=np.float64)
    zs = np.empty(10, dtype=np.float64)
    bil = np.empty(nz + 2, dtype=np.float64)
    one = np.int64(1)  # not a literal 1, which would compile _box_bounded once more
    for c in range(poly_start.size - 1):
        if sign[c] == 0.0:
            continue
        p = plane_of_poly[c]
        k0, k1 = _z_range(lo[p], hi[p], oz, dz, nz, zs)
        if zs[6] > zs[7]:
            continue  # the slab meets no dose plane's pair: nothing is visited
        zb0 = int(zs[8])
        zb1 = int(zs[9])
        s = poly_start[c]
        e = poly_start[c + 1]
        xmin = np.inf
        xmax = -np.inf
        ymin = np.inf
        ymax = -np.inf
        for a in range(s, e):
            xmin = min(xmin, x[a])
            xmax = max(xmax, x[a])
            ymin = min(ymin, y[a])
            ymax = max(ymax, y[a])
        if e <= s or _box_bounded(xmin, xmax, ymin, ymax, ox, oy, dx, dy, nx, ny, blocks, zb0, zb1, acc, nx + ny):
            continue
        for a in range(s, e):
            b = a + 1 if a + 1 < e else s
            if _box_bounded(min(x[a], x[b]), max(x[a], x[b]), min(y[a], y[b]), max(y[a], y[b]), ox, oy, dx, dy,
                            nx, ny, blocks, zb0, zb1, acc, one):
                continue
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
                    _column(values, blocks, (x[a] + t * ex - ox) / dx, (y[a] + t * ey - oy) / dy,
                            zs, k0, k1, bil, acc)


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def node_extremes(x, y, poly_start, plane_start, sign, lo, hi, values, blocks, origin, spacing, acc):
    """Min/max of the dose on the vertical lines through the grid nodes inside each plane's
    contours (even-odd), over the plane's slab; ``acc`` = [min, max, count] is updated.
    ``blocks``: :func:`block_summary` of ``values``; the nodes of a run in a block inside
    ``acc`` are left out (see the module)."""
    ox, oy, oz = origin[0], origin[1], origin[2]
    dx, dy, dz = spacing[0], spacing[1], spacing[2]
    nz, ny, nx = values.shape
    zs = np.empty(10, dtype=np.float64)
    skip = np.empty(nx // BLOCK + 3, dtype=np.bool_)
    for p in range(plane_start.size - 1):
        c0 = plane_start[p]
        c1 = plane_start[p + 1]
        xmin = np.inf
        xmax = -np.inf
        ymin = np.inf
        ymax = -np.inf
        for c in range(c0, c1):
            if sign[c] == 0.0:
                continue
            for a in range(poly_start[c], poly_start[c + 1]):
                xmin = min(xmin, x[a])
                xmax = max(xmax, x[a])
                if y[a] < ymin:
                    ymin = y[a]
                if y[a] > ymax:
                    ymax = y[a]
        if ymax < ymin:
            continue
        k0, k1 = _z_range(lo[p], hi[p], oz, dz, nz, zs)
        a0, a1, wa = int(zs[0]), int(zs[1]), zs[2]
        b0, b1, wb = int(zs[3]), int(zs[4]), zs[5]
        zb0, zb1 = int(zs[8]), int(zs[9])
        if _box_bounded(xmin, xmax, ymin, ymax, ox, oy, dx, dy, nx, ny, blocks, zb0, zb1, acc, nx + ny):
            continue  # every node inside the plane's contours lies in blocks inside acc
        j0 = max(int(np.ceil((ymin - oy) / dy)), 0)
        j1 = min(int(np.floor((ymax - oy) / dy)), ny - 1)
        if j1 < j0:
            continue
        nrow = j1 - j0 + 1
        count = np.zeros(nrow + 1, dtype=np.int64)
        xs = np.empty(0, dtype=np.float64)
        _row_crossings(x, y, poly_start, sign, c0, c1, oy, dy, j0, j1, np.bool_(True), count, xs, count)
        for r in range(nrow):
            count[r + 1] += count[r]
        xs = np.empty(count[nrow], dtype=np.float64)
        fill = np.empty(nrow, dtype=np.int64)
        for r in range(nrow):  # a loop, not count[:nrow].copy(): numba's copy compiles
            fill[r] = count[r]
        _row_crossings(x, y, poly_start, sign, c0, c1, oy, dy, j0, j1, np.bool_(False), count, xs, fill)
        for j in range(j0, j1 + 1):
            n = count[j - j0 + 1] - count[j - j0]
            srt = xs[count[j - j0]:count[j - j0 + 1]]
            if n < 2:
                continue
            _insertion_sort(srt, n)
            by = _cell_block(j, ny)
            for m in range(0, n - 1, 2):
                i0 = max(int(np.ceil((srt[m] - ox) / dx)), 0)
                i1 = min(int(np.floor((srt[m + 1] - ox) / dx)), nx - 1)
                if i1 < i0:
                    continue
                # The run in parts of one block each (node i in block _cell_block(i)):
                # a part whose block is inside acc now stays so (acc only widens), so it
                # is decided once, and the visited nodes keep the order of the planes.
                bx0 = _cell_block(i0, nx)
                bx1 = _cell_block(i1, nx)
                every = True
                for bx in range(bx0, bx1 + 1):
                    skip[bx - bx0] = _block_bounded(blocks, zb0, zb1, by, bx, acc)
                    every = every and skip[bx - bx0]
                if every:
                    continue
                # At a grid node the x and y weights are 0: the trilinear blend is the
                # node's value at a dose plane and the z blend of two of them at a slab
                # end, bit for bit (the values are finite), read along the row.
                for k in range(k0 - 1, k1 + 1):  # k0 - 1: the slab ends
                    if k < k0 and a0 < 0 and b0 < 0:
                        continue
                    for bx in range(bx0, bx1 + 1):
                        if skip[bx - bx0]:
                            continue
                        ia = i0 if bx == bx0 else bx * BLOCK
                        ib = i1 if bx == bx1 else bx * BLOCK + BLOCK - 1
                        if k < k0:
                            for i in range(ia, ib + 1):
                                if a0 >= 0:
                                    _take(values[a0, j, i] * (1.0 - wa) + values[a1, j, i] * wa, acc)
                                if b0 >= 0:
                                    _take(values[b0, j, i] * (1.0 - wb) + values[b1, j, i] * wb, acc)
                        else:
                            for i in range(ia, ib + 1):
                                _take(values[k, j, i], acc)
