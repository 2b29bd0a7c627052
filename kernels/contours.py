"""Contour vertices without repeats (numba kernel).

A structure's contours arrive as one array of points; numpy took 60 ms (holding the GIL)
to drop repeated points from the 720 k of the Brainlab SRS export with masks, repeats
and boolean indexing.  One pass here counts, a second copies.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def distinct_vertices(pts, lens):
    """The contours' vertices without a vertex equal to its predecessor, nor a closing
    vertex equal to the first.

    Parameters
    ----------
    pts : float64 (M, 2)
        (x, y) in mm of every contour, concatenated.
    lens : int64 (P,)
        Contour c owns ``lens[c]`` consecutive points of ``pts``.

    Returns
    -------
    x, y : float64 (N,)
        The kept vertices (mm): of each run of equal consecutive points the first; then
        the last kept vertex of a contour is dropped when it equals the first (once) and
        the contour keeps more than one.
    poly_start : int64 (P + 1,)
        Contour c owns ``x[poly_start[c]:poly_start[c + 1]]``.
    """
    n_poly = len(lens)
    # np.empty, every entry written: np.zeros would compile another allocation signature
    poly_start = np.empty(n_poly + 1, dtype=np.int64)
    poly_start[0] = 0
    a = 0
    for c in range(n_poly):
        b = a + lens[c]
        n = 0
        for k in range(a, b):
            if k == a or pts[k, 0] != pts[k - 1, 0] or pts[k, 1] != pts[k - 1, 1]:
                n += 1
        # the last kept vertex is a copy of the last point
        if n > 1 and pts[b - 1, 0] == pts[a, 0] and pts[b - 1, 1] == pts[a, 1]:
            n -= 1
        poly_start[c + 1] = poly_start[c] + n
        a = b
    x = np.empty(poly_start[n_poly])
    y = np.empty(poly_start[n_poly])
    a = 0
    for c in range(n_poly):
        b = a + lens[c]
        j = poly_start[c]
        end = poly_start[c + 1]
        for k in range(a, b):
            if j == end:
                break
            if k == a or pts[k, 0] != pts[k - 1, 0] or pts[k, 1] != pts[k - 1, 1]:
                x[j] = pts[k, 0]
                y[j] = pts[k, 1]
                j += 1
        a = b
    return x, y, poly_start
