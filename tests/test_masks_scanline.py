"""dosecalc.masks.scanline: even-odd scanline fill of planes whose contours cross.

Truth: closed forms of axis-aligned rectangles (the midpoint rule is exact when no
sub-row holds a vertex), even-odd rule by hand: |A| + |B| - 2 |A & B|.
"""

import numpy as np

from dosecalc.masks.scanline import scanline_area, scanline_coverage


def _two_squares():
    # [0, 4] x [0, 4] and [2, 6] x [2, 6] in lattice units, overlap [2, 4] x [2, 4]
    u = np.array([0.0, 4, 4, 0, 2, 6, 6, 2])
    v = np.array([0.0, 0, 4, 4, 2, 2, 6, 6])
    return u, v, np.array([0, 4, 8], dtype=np.int64), np.ones(2)


def test_even_odd_area_of_crossing_squares():
    u, v, ps, sign = _two_squares()
    assert scanline_area(u, v, ps, 0, 2, sign, 16) == 16 + 16 - 2 * 4


def test_coverage_per_cell():
    """Cells of the overlap are outside (covered twice), the others inside once."""
    u, v, ps, sign = _two_squares()
    cov = scanline_coverage(u, v, ps, 0, 2, sign, 4, (6, 6))
    truth = np.zeros((6, 6))
    truth[0:4, 0:4] += 1
    truth[2:6, 2:6] += 1
    truth = truth % 2  # even-odd
    np.testing.assert_array_equal(cov, truth)
    assert cov.sum() == 24


def test_degenerate_contour_ignored():
    u, v, ps, sign = _two_squares()
    sign = np.array([1.0, 0.0])  # the second square has weight 0
    assert scanline_area(u, v, ps, 0, 2, sign, 8) == 16
