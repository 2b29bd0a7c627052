"""dosecalc.masks.topology: contour orientation by nesting depth, crossings, areas.

Truth: closed forms (areas of axis-aligned squares; even-odd rule by hand).
"""

import numpy as np

from dosecalc.masks.topology import plane_topology


def _square(cx, cy, half, clockwise=False):
    xs = np.array([-1, 1, 1, -1]) * half + cx
    ys = np.array([-1, -1, 1, 1]) * half + cy
    return (xs[::-1], ys[::-1]) if clockwise else (xs, ys)


def _flat(planes):
    xs, ys, ps, pls = [], [], [0], [0]
    for plane in planes:
        for x, y in plane:
            xs.append(x)
            ys.append(y)
            ps.append(ps[-1] + len(x))
        pls.append(len(ps) - 1)
    return (np.concatenate(xs).astype(float), np.concatenate(ys).astype(float),
            np.array(ps, dtype=np.int64), np.array(pls, dtype=np.int64))


def test_nested_contours_hole_and_island():
    """Square 10 mm with a 4 mm hole holding a 2 mm island: even-odd area 100 - 16 + 4 = 88
    mm^2, whatever each contour's own direction."""
    outer, hole, island = _square(0, 0, 5), _square(0, 0, 2, clockwise=True), _square(0, 0, 1)
    sign, fallback, area = plane_topology(*_flat([[outer, hole, island]]))
    assert fallback.tolist() == [0]
    assert area[0] == 88.0
    # signs make the winding integral equal the even-odd area: depth 0, 1, 2
    signed = [s * a for s, a in zip(sign, (100.0, -16.0, 4.0))]  # hole drawn clockwise
    assert sum(signed) == 88.0 and sign[0] == 1.0


def test_crossing_contours_flagged_and_planes_independent():
    """Two overlapping squares cross: the plane needs the scanline fill; a separate plane
    with one square is not affected (area 16 mm^2)."""
    a, b = _square(0, 0, 2), _square(2, 2, 2)
    sign, fallback, area = plane_topology(*_flat([[a, b], [_square(0, 0, 2)]]))
    assert fallback.tolist() == [1, 0]
    assert area[1] == 16.0


def test_degenerate_contour_has_no_weight():
    """A collinear 'contour' has no area: weight 0, the plane's area is the square's."""
    line = (np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 2.0]))
    sign, fallback, area = plane_topology(*_flat([[_square(10, 10, 3), line]]))
    assert sign[1] == 0.0 and area[0] == 36.0 and fallback[0] == 0
