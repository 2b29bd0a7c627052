"""Even-odd scanline fill of a contour plane whose contours cross or touch (numpy).

The exact winding-number raster (:mod:`dosecalc.kernels.raster`) equals the even-odd
area only for contours that neither cross nor touch; the rare planes where they do are
filled here: ``n_sub`` horizontal lines per lattice row, each filled exactly along x
between pairs of sorted crossings.  Along y this is a midpoint rule, exact for every
sub-row that holds no vertex or crossing; the error of a plane is bounded by
``sum over vertices and crossings of (hy / n_sub) * |dx across that sub-row|``, so it
vanishes as ``1 / n_sub**2`` per vertex of a smooth contour.

Plain numpy (a sort of the crossings and one scatter-add): these planes are rare, so a
numba kernel would cost more in cold compilation than it could ever save.
"""

from __future__ import annotations

import numpy as np

__all__ = ["scanline_crossings", "scanline_area", "scanline_coverage", "fill_fallback_planes"]

#: scanlines per lattice row on planes whose contours cross or touch
FALLBACK_SUBROWS = 16


def scanline_crossings(u, v, poly_start, c0, c1, sign, n_sub, row_range=None):
    """Sorted crossing pairs of the scanlines ``v = (t + 0.5) / n_sub`` with contours c0..c1-1.

    Parameters
    ----------
    u, v : float64 (N,)
        Vertices in lattice-cell units (all contours of the structure).
    poly_start : int64 (P + 1,)
    c0, c1 : int
        Contours of the plane.
    sign : float64 (P,)
        Contours with weight 0 (degenerate) are ignored.
    n_sub : int
        Scanlines per unit of v.
    row_range : (int, int), optional
        Keep only scanlines of rows [r0, r1) (row = t // n_sub).

    Returns
    -------
    t : int64 (M,)
        Scanline index of each filled interval.
    ua, ub : float64 (M,)
        Its start and end (ua <= ub) along u.
    """
    ps = np.asarray(poly_start, dtype=np.int64)
    idx = [np.arange(ps[c], ps[c + 1]) for c in range(c0, c1) if sign[c] != 0.0 and ps[c + 1] > ps[c]]
    if not idx:
        z = np.zeros(0)
        return np.zeros(0, dtype=np.int64), z, z
    a = np.concatenate(idx)
    # previous vertex of the same contour (closing edge included)
    b = np.concatenate([np.roll(i, 1) for i in idx])
    va, vb, ua_, ub_ = v[a], v[b], u[a], u[b]
    lo = np.minimum(va, vb)
    hi = np.maximum(va, vb)
    # scanlines t with lo <= (t + 0.5) / n_sub < hi; the same vertex value always maps to
    # the same threshold, so every closed contour crosses each scanline an even number of times
    t0 = np.ceil(lo * n_sub - 0.5).astype(np.int64)
    t1 = np.ceil(hi * n_sub - 0.5).astype(np.int64)
    if row_range is not None:
        t0 = np.maximum(t0, row_range[0] * n_sub)
        t1 = np.minimum(t1, row_range[1] * n_sub)
    cnt = np.maximum(t1 - t0, 0)
    e = np.repeat(np.arange(len(a)), cnt)
    t = np.repeat(t0, cnt) + (np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    y = (t + 0.5) / n_sub
    xc = ua_[e] + (y - va[e]) * (ub_[e] - ua_[e]) / (vb[e] - va[e])
    order = np.lexsort((xc, t))
    t, xc = t[order], xc[order]
    return t[0::2], xc[0::2], xc[1::2]


def scanline_area(u, v, poly_start, c0, c1, sign, n_sub):
    """Even-odd area of one plane (units of ``u * v``) by ``n_sub`` scanlines per unit of v."""
    _t, ua, ub = scanline_crossings(u, v, poly_start, c0, c1, sign, n_sub)
    return float(np.sum(ub - ua)) / n_sub


def scanline_coverage(u, v, poly_start, c0, c1, sign, n_sub, shape):
    """Covered fraction (0..1) of every cell of an (ny, nx) lattice by the even-odd fill.

    ``u, v`` are in lattice-cell units (cell (j, i) spans [i, i+1] x [j, j+1]); parts
    left of the lattice fold into column 0 like the exact raster does, parts right of it
    are dropped.
    """
    ny, nx = shape
    t, ua, ub = scanline_crossings(u, v, poly_start, c0, c1, sign, n_sub, row_range=(0, ny))
    diff = np.zeros((ny, nx + 1))
    h = 1.0 / n_sub
    rows = t // n_sub
    for pos, amount in ((ua, h), (ub, -h)):
        p = np.clip(pos, 0.0, float(nx))
        k = np.minimum(np.floor(p).astype(np.int64), nx - 1)
        frac = k + 1.0 - p  # share of the step in the cell holding p
        np.add.at(diff, (rows, k), amount * frac)
        np.add.at(diff, (rows, k + 1), amount * (1.0 - frac))
    cov = np.cumsum(diff[:, :nx], axis=1)
    np.clip(cov, 0.0, 1.0, out=cov)
    return cov


def fill_fallback_planes(prep, u, v, zl, zh, frac) -> None:
    """Add the even-odd scanline coverage of planes whose contours cross or touch."""
    nz = frac.shape[0]
    touched = set()
    for p in np.nonzero(prep.fallback)[0]:
        k0, k1 = max(int(np.floor(zl[p])), 0), min(int(np.ceil(zh[p])), nz)
        if k1 <= k0:
            continue
        cov = scanline_coverage(u, v, prep.poly_start, int(prep.plane_start[p]), int(prep.plane_start[p + 1]),
                                prep.sign, FALLBACK_SUBROWS, frac.shape[1:])
        for k in range(k0, k1):
            w = min(k + 1.0, zh[p]) - max(float(k), zl[p])
            if w > 0:
                frac[k] += w * cov
                touched.add(k)
    for k in touched:
        np.clip(frac[k], 0.0, 1.0, out=frac[k])
