"""Exact fractional rasterisation of planar contours (numba kernels).

Coordinates handed to these kernels are already in lattice-cell units: ``u = (x - xlo) /
hx``, ``v = (y - ylo) / hy`` where ``xlo, ylo`` is the outer corner of lattice cell 0, so a
cell has area 1 and the result of a plane is directly the covered fraction of each cell.

In-plane coverage (the area of polygon ∩ cell) is the integral of the winding number over
the cell.  Each edge is cut at every row and column line; a piece that lies in column
``k`` of row ``j`` adds ``-dv * (k + 1 - u_mean)`` to cell ``k`` and ``-dv`` to every cell
right of it, stored as a difference along x and resolved by one prefix sum per row.  This
is exact (up to rounding) for any polygon, whatever its position relative to the lattice
(vertices on cell edges, parts outside the lattice: rows outside are simply not stored and
columns left of the lattice fold into cell 0).

The winding integral equals the even-odd area only when the contours of a plane neither
cross nor touch.  :func:`dosecalc.masks.topology.plane_topology` checks that
and orients every contour by its nesting-depth parity, so holes subtract and islands in
holes add.  A plane whose contours cross or touch falls back to even-odd scanlines
(:func:`dosecalc.masks.scanline.scanline_coverage`, in numpy): ``n_sub`` horizontal lines
per cell row, each filled exactly along x between pairs of sorted crossings.  Along y this
is a midpoint rule, exact for every sub-row that holds no vertex or crossing; the error of
a plane is bounded by
``sum over vertices and crossings of (hy / n_sub) * |dx across that sub-row|``, i.e. it
vanishes as ``1 / n_sub**2`` per vertex for a smooth contour.

Along z each plane stands for a slab ``[lo, hi]``; a lattice layer receives every slab
that overlaps it, weighted by ``overlap / hz``.  Because the prefix sum is linear, all
slabs of a layer accumulate into one difference array and are resolved together.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .runs import _plane_runs

# Every kernel here, helper or entry point, is compiled with the same flags
# (nogil=True): numba compiles an overload it calls (np.empty, min, max, int) once per
# distinct set of caller flags.


@njit(cache=True, nogil=True)
def _add_step(row, nx, u, amount):
    """Cells right of ``u`` gain ``amount``; the cell holding ``u`` gets its share.
    Returns the first cell of the difference row written (``nx``: none)."""
    if u <= 0.0:
        row[0] += amount
        return 0
    if u >= nx:
        return nx
    k = int(np.floor(u))
    if k >= nx:
        k = nx - 1
    f = k + 1.0 - u
    row[k] += amount * f
    if k + 1 < nx:
        row[k + 1] += amount * (1.0 - f)
    return k


@njit(cache=True, nogil=True)
def _edge(plane, ny, nx, u0, v0, u1, v1, weight, row_lo, row_hi):
    """Accumulate the winding contribution of edge (u0, v0)-(u1, v1) into ``plane``;
    ``row_lo[j]``/``row_hi[j]`` widen to the first/last cell of row j written (the
    difference row is zero outside them)."""
    if v0 == v1:
        return
    vlo = min(v0, v1)
    vhi = max(v0, v1)
    if vhi <= 0.0 or vlo >= ny:
        return
    dudv = (u1 - u0) / (v1 - v0)
    amount = -weight if v1 > v0 else weight  # -sign(dv) * weight, per unit |dv|
    j0 = max(int(np.floor(vlo)), 0)
    j1 = min(int(np.ceil(vhi)), ny)
    for j in range(j0, j1):
        a = max(vlo, float(j))
        b = min(vhi, float(j + 1))
        if b <= a:
            continue
        # u at both ends of the row piece; exact end points are kept as given
        ua = u0 if a == v0 else (u1 if a == v1 else u0 + (a - v0) * dudv)
        ub = u0 if b == v0 else (u1 if b == v1 else u0 + (b - v0) * dudv)
        row = plane[j]
        dv = b - a
        if ua == ub:
            first = _add_step(row, nx, ua, amount * dv)
            if first < nx:
                row_lo[j] = min(row_lo[j], first)
                row_hi[j] = max(row_hi[j], min(first + 1, nx - 1))
            continue
        ulo = min(ua, ub)
        uhi = max(ua, ub)
        # |dv| of a sub-piece is proportional to its u-length (straight edge)
        scale = dv / (uhi - ulo)
        m_lo = max(int(np.floor(ulo)) + 1, 0)
        m_hi = min(int(np.ceil(uhi)) - 1, nx)
        prev = ulo
        first = nx
        last = -1
        for m in range(m_lo, m_hi + 1):
            mu = float(m)
            if mu <= prev or mu >= uhi:
                continue
            k = _add_step(row, nx, 0.5 * (prev + mu), amount * (mu - prev) * scale)
            if k < nx:
                first = min(first, k)
                last = max(last, k)
            prev = mu
        k = _add_step(row, nx, 0.5 * (prev + uhi), amount * (uhi - prev) * scale)
        if k < nx:
            first = min(first, k)
            last = max(last, k)
        if last >= 0:
            row_lo[j] = min(row_lo[j], first)
            row_hi[j] = max(row_hi[j], min(last + 1, nx - 1))


def rasterise(us, vs, poly_start, plane_start, sign, fallback, slab_lo, slab_hi, out, layer0=0):
    """Fractional volume of every lattice cell inside the slabs of the contour planes.

    Parameters
    ----------
    us, vs, poly_start, plane_start, sign, fallback
        As for :func:`dosecalc.masks.topology.plane_topology` (``sign`` and ``fallback``
        are its outputs).
    slab_lo, slab_hi : float64 (Z,)
        z-extent of each plane's slab in lattice-layer units (layer k spans [k, k + 1]),
        sorted and non-overlapping.  Planes with ``fallback == 1`` are skipped.
    out : float64 (nz, ny, nx), zero on entry
        Receives the fraction of each cell inside the structure.
    layer0 : int
        Lattice layer of ``out[0]`` (a slab of layers of a bigger box, rasterised piece
        by piece: each layer is computed as in the whole box, bit for bit).

    Notes
    -----
    Layers are independent, so a big box is done as ranges of layers on a few threads
    (:func:`dosecalc.kernels.samples.run_ranges`); every layer is computed the same way
    whatever the split, so the result does not depend on the thread count.
    """
    from .threads import plane_ranges, run_ranges

    run_ranges(rasterise_layers, plane_ranges(out.shape[0], out.size), us, vs, poly_start,
               plane_start, sign, fallback, slab_lo, slab_hi, out, int(layer0))


@njit(cache=True, nogil=True)
def _rasterise_layer(us, vs, poly_start, plane_start, sign, fallback, slab_lo, slab_hi, layer, zlo, p0,
                     row_lo, row_hi):
    """Lattice layer ``[zlo, zlo + 1]`` into ``layer`` (ny, nx), zero on entry: every slab
    that overlaps it, weighted by the overlap, then the x prefix sums.  ``p0`` is the first
    slab that may still reach this layer (layers come in increasing order); returns
    (the next one, the first and the end of the flat range of cells that may be non-zero).
    The one body of :func:`rasterise_layers` and :func:`rasterise_runs`, so the dense and
    the run-length masks hold the same bits.

    ``row_lo``/``row_hi`` (int64 (ny,), scratch) receive the cells each row's edges wrote:
    the prefix sums run from the first of them (cells left of it stay 0) and, past the
    last, fill the row with the final value only when it is not rounding dust, so most
    of a sub-voxel box's empty rows and margins are never read - the same values as a
    sum over every cell."""
    ny, nx = layer.shape
    nplanes = slab_lo.shape[0]
    zhi = zlo + 1.0
    for j in range(ny):
        row_lo[j] = nx
        row_hi[j] = -1
    # slabs are sorted: skip those that end below this layer (a scan, not a
    # searchsorted, which would compile a generic routine)
    while p0 < nplanes and slab_hi[p0] <= zlo:
        p0 += 1
    for p in range(p0, nplanes):
        if slab_lo[p] >= zhi:
            break
        w = min(zhi, slab_hi[p]) - max(zlo, slab_lo[p])
        if w <= 0.0:
            continue
        if fallback[p] == 1:
            continue  # filled by dosecalc.masks.scanline.scanline_coverage
        c0 = plane_start[p]
        c1 = plane_start[p + 1]
        for c in range(c0, c1):
            sc = sign[c]
            if sc == 0.0:
                continue
            s = poly_start[c]
            e = poly_start[c + 1]
            for i in range(s, e):
                i2 = i + 1 if i + 1 < e else s
                _edge(layer, ny, nx, us[i], vs[i], us[i2], vs[i2], sc * w, row_lo, row_hi)
    # resolve the differences along x; clean rounding dust so that cells outside the
    # structure are exactly 0 (they would otherwise become samples with ~1e-17 volume)
    flat_lo = ny * nx
    flat_hi = 0
    for j in range(ny):
        lo = row_lo[j]
        hi = row_hi[j]
        if hi < lo:
            continue  # no edge wrote here: the row stays 0
        acc = 0.0
        val = 0.0
        for i in range(lo, hi + 1):
            acc += layer[j, i]
            val = acc
            if val < 1e-12:
                val = 0.0
            elif val > 1.0:
                val = 1.0
            layer[j, i] = val
        end = hi + 1
        if val != 0.0:  # the last value carries on to the end of the row
            for i in range(hi + 1, nx):
                layer[j, i] = val
            end = nx
        flat_lo = min(flat_lo, j * nx + lo)
        flat_hi = max(flat_hi, j * nx + end)
    if flat_hi < flat_lo:
        flat_lo = 0
        flat_hi = 0
    return p0, flat_lo, flat_hi


@njit(cache=True, nogil=True)
def _only_plane(slab_lo, slab_hi, fallback, zlo, p0):
    """The plane whose slab alone fills lattice layer ``[zlo, zlo + 1]`` (weight exactly
    1, no other slab, not a scanline plane), else -1.  Such a layer is that plane's
    in-plane coverage, the same bits in every layer of the slab, so the rasterisers
    compute it once and copy it (a slab spans k layers of a sub-voxel lattice).  ``p0``
    as for :func:`_rasterise_layer` (slabs before it end below the layer)."""
    nplanes = slab_lo.shape[0]
    while p0 < nplanes and slab_hi[p0] <= zlo:
        p0 += 1
    only = -1
    n_over = 0
    for p in range(p0, nplanes):
        if slab_lo[p] >= zlo + 1.0:
            break
        w = min(zlo + 1.0, slab_hi[p]) - max(zlo, slab_lo[p])
        if w <= 0.0 or fallback[p] == 1:
            continue
        n_over += 1
        only = p if w == 1.0 else -2
    if n_over != 1 or only < 0:
        return -1
    return only


@njit(cache=True, nogil=True)
def rasterise_layers(us, vs, poly_start, plane_start, sign, fallback, slab_lo, slab_hi, out, layer0, k0, k1):
    """Layers ``[k0, k1)`` of ``out`` (lattice layers ``layer0 + k``) of :func:`rasterise`
    (same arguments); serial and GIL-free.

    A ``parallel=True`` loop over layers would cost about a second more of cold
    compilation; the caller's threads do the same for nothing.
    """
    p0 = np.int64(0)  # not a literal 0: a literal argument compiles a helper once more
    ny = out.shape[1]
    row_lo = np.empty(ny, dtype=np.int64)
    row_hi = np.empty(ny, dtype=np.int64)
    prev_plane = -1
    for k in range(k0, k1):
        zlo = float(layer0 + k)
        only = _only_plane(slab_lo, slab_hi, fallback, zlo, p0)
        if k > k0 and only >= 0 and only == prev_plane:
            for j in range(ny):  # inside the same slab: the same bits (a loop, not a
                for i in range(out.shape[2]):  # slice assignment: seconds of compilation)
                    out[k, j, i] = out[k - 1, j, i]
            continue
        prev_plane = only
        p0, _, _ = _rasterise_layer(us, vs, poly_start, plane_start, sign, fallback, slab_lo, slab_hi,
                                    out[k], zlo, p0, row_lo, row_hi)


@njit(cache=True, nogil=True)
def _pairwise_sum(a, s, n, z0, z1):
    """Sum of ``a[s:s + n]`` added as numpy adds a contiguous float64 array (blocks of at
    most 128 values, each as 8 partial sums then the rest; above, the two halves cut at
    a multiple of 8, left + right), so that a layer's sum has the bits of
    ``layer.sum()`` of the dense mask.

    Only ``a[z0:z1]`` may be non-zero (all values >= +0.0): a block or half outside it is
    0.0 without being read, and adding 0.0 changes no bit, so the sum is the same.

    numpy recurses; here the halves are walked with an explicit stack (a cached numba
    kernel that calls a recursive one crashes when loaded from the cache), and a block
    is summed at one place in the loop (one function: each compiles on a cold start)."""
    if s + n <= z0 or s >= z1:
        return 0.0
    start = np.empty(64, dtype=np.int64)
    size = np.empty(64, dtype=np.int64)
    state = np.zeros(64, dtype=np.int64)  # 0 new, 1 left half pending, 2 right half pending
    left = np.empty(64, dtype=np.float64)
    top = 0
    start[0] = s
    size[0] = n
    while True:
        if size[top] > 128 and start[top] < z1 and start[top] + size[top] > z0:
            # a new node that may hold non-zero values: its left half first
            half = size[top] // 2
            half -= half % 8
            state[top] = 1
            top += 1
            start[top] = start[top - 1]
            size[top] = half
            state[top] = 0
            continue
        b = start[top]
        m = size[top]
        if b + m <= z0 or b >= z1:
            val = 0.0
        elif m < 8:
            val = 0.0
            for i in range(b, b + m):
                val += a[i]
        else:  # numpy's block of <= 128 values: 8 partial sums, then the rest
            r0 = a[b]
            r1 = a[b + 1]
            r2 = a[b + 2]
            r3 = a[b + 3]
            r4 = a[b + 4]
            r5 = a[b + 5]
            r6 = a[b + 6]
            r7 = a[b + 7]
            m8 = m - m % 8
            i = 8
            while i < m8:
                r0 += a[b + i]
                r1 += a[b + i + 1]
                r2 += a[b + i + 2]
                r3 += a[b + i + 3]
                r4 += a[b + i + 4]
                r5 += a[b + i + 5]
                r6 += a[b + i + 6]
                r7 += a[b + i + 7]
                i += 8
            val = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            while i < m:
                val += a[b + i]
                i += 1
        top -= 1
        while top >= 0:
            if state[top] == 1:  # left half done: keep it, then the right half
                left[top] = val
                state[top] = 2
                half = size[top] // 2
                half -= half % 8
                top += 1
                start[top] = start[top - 1] + half
                size[top] = size[top - 1] - half
                state[top] = 0
                break
            val = left[top] + val  # both halves done
            top -= 1
        if top < 0:
            return val


@njit(cache=True, nogil=True)
def _grow(a, need):
    """``a``, or a copy of it with room for at least ``need`` items."""
    if need <= a.size:
        return a
    b = np.empty(max(need, 2 * a.size), dtype=a.dtype)
    for q in range(a.size):  # a loop: an array slice assignment costs seconds of compilation
        b[q] = a[q]
    return b


@njit(cache=True, nogil=True)
def rasterise_runs(us, vs, poly_start, plane_start, sign, fallback, slab_lo, slab_hi, ny, nx, k0, k1):
    """Lattice layers ``[k0, k1)`` of :func:`rasterise` (same arguments; a layer is ny x nx
    cells), straight to run-length form (:mod:`dosecalc.kernels.runs`): each layer is
    rasterised into one reused buffer of the size of a layer and encoded while it is in
    the cache, so no array of the box is written and read back.

    Returns
    -------
    n_runs, n_partial, n_inside : int64 (k1 - k0,)
        Per layer, as :func:`dosecalc.kernels.runs.count_runs`.
    layer_sum : float64 (k1 - k0,)
        Sum of each layer's fractions, the bits of ``layer.sum()`` in numpy.
    run_start, run_length, run_value, values
        As :func:`dosecalc.kernels.runs.encode_runs` of the dense layers ``k0..k1 - 1``,
        ``run_start`` counted from layer ``k0``; the same bits as the dense path.  Only the
        first ``n_runs.sum()`` runs and ``n_partial.sum()`` values are set (the arrays
        may be longer).
    """
    nl = k1 - k0
    n_runs = np.zeros(nl, dtype=np.int64)
    n_part = np.zeros(nl, dtype=np.int64)
    n_inside = np.zeros(nl, dtype=np.int64)
    layer_sum = np.zeros(nl, dtype=np.float64)
    buf = np.zeros((1, ny, nx), dtype=np.float64)
    layer = buf[0]
    flat = buf.reshape(ny * nx)
    cap = 4 * ny + 16
    run_start = np.empty(cap, dtype=np.int64)
    run_length = np.empty(cap, dtype=np.int64)
    run_value = np.empty(cap, dtype=np.int64)
    values = np.empty(cap, dtype=np.float64)
    # np.int64(0), not 0: a literal argument (Literal[int](0), Literal[bool]) makes numba
    # compile the helper it is passed to once more for that literal type
    zero = np.int64(0)
    r0 = zero
    q0 = zero
    p0 = zero
    none = np.empty(0, dtype=np.int64)
    nonef = np.empty(0, dtype=np.float64)
    row_lo = np.empty(ny, dtype=np.int64)
    row_hi = np.empty(ny, dtype=np.int64)
    f0 = zero
    f1 = zero
    prev_plane = -1  # the one plane that filled the previous layer whole, else -1
    rp = zero  # first run and first fraction of the previous layer
    qp = zero
    for k in range(k0, k1):
        t = k - k0
        # a layer inside the same single slab as the layer before it: its runs copied
        zlo = float(k)
        only = _only_plane(slab_lo, slab_hi, fallback, zlo, p0)
        if t > 0 and only >= 0 and only == prev_plane:
            runs = n_runs[t - 1]
            part = n_part[t - 1]
            n_runs[t] = runs
            n_part[t] = part
            n_inside[t] = n_inside[t - 1]
            layer_sum[t] = layer_sum[t - 1]
            run_start = _grow(run_start, r0 + runs)
            run_length = _grow(run_length, r0 + runs)
            run_value = _grow(run_value, r0 + runs)
            values = _grow(values, q0 + part)
            for r in range(runs):
                run_start[r0 + r] = run_start[rp + r] + ny * nx
                run_length[r0 + r] = run_length[rp + r]
                v = run_value[rp + r]
                run_value[r0 + r] = v if v < 0 else v - qp + q0
            for q in range(part):
                values[q0 + q] = values[qp + q]
            rp = r0
            qp = q0
            r0 += runs
            q0 += part
            continue
        prev_plane = only
        rp = r0
        qp = q0
        for q in range(f0, f1):  # only the previous layer's written range is non-zero
            flat[q] = 0.0
        p0, f0, f1 = _rasterise_layer(us, vs, poly_start, plane_start, sign, fallback, slab_lo,
                                      slab_hi, layer, zlo, p0, row_lo, row_hi)
        layer_sum[t] = 0.0 + _pairwise_sum(flat, zero, ny * nx, f0, f1)
        runs, part, inside = _plane_runs(buf, zero, f0, f1, np.bool_(False), zero, zero, none, none, none, nonef)
        n_runs[t] = runs
        n_part[t] = part
        n_inside[t] = inside
        if runs == 0:
            continue
        run_start = _grow(run_start, r0 + runs)
        run_length = _grow(run_length, r0 + runs)
        run_value = _grow(run_value, r0 + runs)
        values = _grow(values, q0 + part)
        _plane_runs(buf, zero, f0, f1, np.bool_(True), r0, q0, run_start, run_length, run_value, values)
        base = t * ny * nx
        for r in range(r0, r0 + runs):
            run_start[r] += base
        r0 += runs
        q0 += part
    # the arrays whole: the caller cuts them to sum(n_runs), sum(n_partial) (copying
    # slices here compiles numba's array copy for each dtype)
    return n_runs, n_part, n_inside, layer_sum, run_start, run_length, run_value, values
