"""dosecalc.kernels.sdf: distances from lattice-cell centres to contour edges.

Truth: brute-force point-to-segment distances in plain numpy float64.
"""

import numpy as np

from dosecalc.kernels.sdf import edge_distance_band, edge_distance_cells


def _edges():
    # a triangle (mm) inside a 20 x 16 lattice of 0.5 x 0.75 mm cells
    px = np.array([1.3, 8.2, 4.1])
    py = np.array([2.2, 3.1, 10.4])
    return px, py, np.roll(px, -1), np.roll(py, -1)


def _brute(ex0, ey0, ex1, ey1, hx, hy, ny, nx):
    j, i = np.mgrid[0:ny, 0:nx]
    cx, cy = (i + 0.5) * hx, (j + 0.5) * hy
    best = np.full((ny, nx), np.inf)
    for a, b, c, d in zip(ex0, ey0, ex1, ey1):
        dx, dy = c - a, d - b
        t = np.clip(((cx - a) * dx + (cy - b) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        best = np.minimum(best, np.hypot(cx - (a + t * dx), cy - (b + t * dy)))
    return best


def test_band_distances_exact_inside_band():
    e = _edges()
    hx, hy, band = 0.5, 0.75, 1.5
    out = np.empty((16, 20))
    edge_distance_band(*e, hx, hy, band, out)
    truth = _brute(*e, hx, hy, 16, 20)
    near = truth < band
    assert near.sum() > 20
    np.testing.assert_allclose(out[near], truth[near], rtol=0, atol=1e-12)
    assert np.all(out[~near] == band)


def test_cell_distances_exact_anywhere():
    e = _edges()
    hx, hy = 0.5, 0.75
    out = np.full((16, 20), -1.0)
    cj = np.array([0, 5, 15, 8], dtype=np.int64)
    ci = np.array([0, 19, 3, 9], dtype=np.int64)
    edge_distance_cells(*e, hx, hy, cj, ci, out)
    truth = _brute(*e, hx, hy, 16, 20)
    np.testing.assert_allclose(out[cj, ci], truth[cj, ci], rtol=0, atol=1e-12)
    untouched = np.ones((16, 20), dtype=bool)
    untouched[cj, ci] = False
    assert np.all(out[untouched] == -1.0)
