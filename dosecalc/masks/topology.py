"""Topology of planar contours: orientation by nesting, crossings, areas.

The rasteriser integrates the winding number, which equals the even-odd area only when
the contours of a plane neither cross nor touch.  :func:`plane_topology` checks that
and orients every contour by the parity of its nesting depth (depth even: +1, odd: -1),
so holes subtract and islands in holes add.

All of it runs in one numba kernel, :func:`dosecalc.kernels.topology.contour_topology`
(plane by plane, no global sort; it releases the GIL, since structures are prepared on
the side-by-side DVH threads), but for the rare plane whose crossings need the exact
sweep (:func:`dosecalc.kernels.topology.exact_crossings`).
"""

from __future__ import annotations

import numpy as np

from ..kernels.topology import contour_topology, exact_crossings

__all__ = ["plane_topology", "SWEEP_WORK"]

#: A plane is swept in buckets while that meets at most SWEEP_WORK x its edges candidate
#: pairs (+1024), else in exact sorted order (see :mod:`dosecalc.kernels.topology`).
SWEEP_WORK = 32.0


def _array(a, dtype):
    # one dtype, C order and writeable flag for every call: one compiled signature
    return np.require(a, dtype=dtype, requirements=("C", "W"))


def plane_topology(x, y, poly_start, plane_start):
    """Orientation weights, crossing flags and even-odd areas of every contour plane.

    Parameters
    ----------
    x, y : float64 (N,)
        Vertices (mm) of every contour, concatenated (consecutive duplicates removed);
        finite.
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
    x = _array(x, np.float64)
    y = _array(y, np.float64)
    ps = _array(poly_start, np.int64)
    pls = _array(plane_start, np.int64)
    n_poly = len(ps) - 1
    n_plane = len(pls) - 1
    sign = np.zeros(n_poly)
    fallback = np.zeros(n_plane, dtype=np.int64)
    area = np.zeros(n_plane)
    if n_poly == 0 or len(x) == 0:
        return sign, fallback, area
    contour_topology(x, y, ps, pls, SWEEP_WORK, sign, fallback, area)
    if fallback.min() < 0:
        # planes whose bucket sweep would be crowded: the exact sweep, a kernel of its own
        # so that the cold start compiles it only when a plane needs it
        exact_crossings(x, y, ps, pls, sign, fallback)
    return sign, fallback, area
