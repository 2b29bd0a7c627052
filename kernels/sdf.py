"""Euclidean distance from lattice-cell centres to contour edges (numba).

Used by shape-based interpolation between contour planes (:mod:`dosecalc.masks`): the
signed distance of each cell centre to a plane's contours, with the sign from the
even-odd rule computed in numpy, is interpolated linearly in z.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True)
def edge_distance(ex0, ey0, ex1, ey1, out):
    """Distance (lattice-cell units) from every cell centre to the nearest edge.

    Parameters
    ----------
    ex0, ey0, ex1, ey1 : float64 (E,)
        Edge end points in lattice-cell units (cell (j, i) spans [i, i+1] x [j, j+1], so
        its centre is (i + 0.5, j + 0.5)).
    out : float64 (ny, nx)
        Receives the distance; exact (brute force over the edges, serial so the result
        does not depend on the thread count).
    """
    ny, nx = out.shape
    ne = ex0.shape[0]
    for j in range(ny):
        py = j + 0.5
        for i in range(nx):
            px = i + 0.5
            best = math.inf
            for e in range(ne):
                ax = ex0[e]
                ay = ey0[e]
                dx = ex1[e] - ax
                dy = ey1[e] - ay
                ll = dx * dx + dy * dy
                t = 0.0
                if ll > 0.0:
                    t = ((px - ax) * dx + (py - ay) * dy) / ll
                    t = min(max(t, 0.0), 1.0)
                qx = ax + t * dx - px
                qy = ay + t * dy - py
                d2 = qx * qx + qy * qy
                if d2 < best:
                    best = d2
            out[j, i] = math.sqrt(best)
