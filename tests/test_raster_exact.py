"""Exact in-plane coverage of the raster kernel against hand-computed and clipped areas."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dosecalc.masks import structure_mask
from dosecalc.model import ContourPlane, DoseGrid, Structure

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers (importlib mode)
from analytic_shapes import circle, pixel_areas, shoelace

# One 1 mm thick slab on a 1 mm grid: the mask fraction of layer 0 is the in-plane area.
GRID = DoseGrid(np.zeros((1, 12, 12)), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def plane_fraction(polys, grid=GRID, k=1):
    """In-plane coverage on the full grid (one plane at z = 0 with no end caps beyond dz)."""
    s = Structure(1, "P", planes=(ContourPlane(0.0, tuple(polys)),))
    m = structure_mask(s, grid, supersample=k)
    full = np.zeros((grid.shape[1] * k, grid.shape[2] * k))
    if m.fraction.size:
        iy = int(round((m.origin_mm[1] - (grid.origin_mm[1] - 0.5 * grid.spacing_mm[1] + 0.5 * m.spacing_mm[1]))
                       / m.spacing_mm[1]))
        ix = int(round((m.origin_mm[0] - (grid.origin_mm[0] - 0.5 * grid.spacing_mm[0] + 0.5 * m.spacing_mm[0]))
                       / m.spacing_mm[0]))
        ny, nx = m.fraction.shape[1:]
        full[iy:iy + ny, ix:ix + nx] = m.fraction.sum(axis=0) / k  # k sub-layers span the slab
    return full, m


def test_unit_square_at_known_offset():
    """A 1 x 1 mm square with corner at (2.25, 3.75) mm: pixel edges at half-integers, so
    it covers 0.5 x 0.75, 0.5 x 0.25 ... of four pixels (hand-computed)."""
    sq = np.array([[2.25, 3.75], [3.25, 3.75], [3.25, 4.75], [2.25, 4.75]])
    f, _ = plane_fraction([sq])
    # pixel i covers [i - 0.5, i + 0.5]; x: [2.25, 2.5] -> pixel 2 (0.25), [2.5, 3.25] -> pixel 3 (0.75)
    # y: [3.75, 4.5] -> pixel 4 (0.75), [4.5, 4.75] -> pixel 5 (0.25)
    expect = {(4, 2): 0.25 * 0.75, (4, 3): 0.75 * 0.75, (5, 2): 0.25 * 0.25, (5, 3): 0.75 * 0.25}
    for (j, i), v in expect.items():
        assert f[j, i] == pytest.approx(v, abs=1e-14)
    assert f.sum() == pytest.approx(1.0, abs=1e-13)
    assert np.count_nonzero(f) == 4


def test_triangle_hand_computed():
    """Right triangle (0.5,0.5)-(2.5,0.5)-(0.5,2.5), legs on pixel edges: pixel (1,1) is cut
    on its diagonal (1/2), pixels (1,2) and (2,1) likewise, (1..2 diagonal) -> hand values."""
    tri = np.array([[0.5, 0.5], [2.5, 0.5], [0.5, 2.5]])
    f, _ = plane_fraction([tri])
    assert f[1, 1] == pytest.approx(1.0, abs=1e-14)
    assert f[1, 2] == pytest.approx(0.5, abs=1e-14)
    assert f[2, 1] == pytest.approx(0.5, abs=1e-14)
    assert f.sum() == pytest.approx(2.0, abs=1e-13)
    assert np.count_nonzero(f) == 3


@pytest.mark.parametrize("reverse", [False, True])
def test_circle_pixels_match_clipping(reverse):
    """Every pixel of a 64-gon equals its Sutherland-Hodgman clipped area (float64 truth),
    whatever the winding."""
    poly = circle(5.3, 6.1, 3.7, 64)
    if reverse:
        poly = poly[::-1]
    f, _ = plane_fraction([poly])
    truth = pixel_areas(poly, -0.5, -0.5, 1.0, 12, 12)
    np.testing.assert_allclose(f, truth, atol=1e-12)


def test_annulus_hole_even_odd():
    """Ring between r = 4 and r = 2 (same winding for both contours): area is the
    difference of the two polygon areas (even-odd rule), per pixel too."""
    outer, inner = circle(6, 6, 4.0, 96), circle(6, 6, 2.0, 96)
    f, _ = plane_fraction([outer, inner])
    truth = pixel_areas(outer, -0.5, -0.5, 1.0, 12, 12) - pixel_areas(inner, -0.5, -0.5, 1.0, 12, 12)
    np.testing.assert_allclose(f, truth, atol=1e-12)
    assert f.sum() == pytest.approx(shoelace(outer) - shoelace(inner), rel=1e-12)


def test_island_in_hole():
    """Three nested rings (outer, hole, island): even-odd area = A1 - A2 + A3."""
    rings = [circle(6, 6, r, 80)[::s] for r, s in ((5.0, 1), (3.0, -1), (1.5, 1))]
    f, _ = plane_fraction(rings)
    a = [abs(shoelace(r)) for r in rings]
    assert f.sum() == pytest.approx(a[0] - a[1] + a[2], rel=1e-12)


def test_vertices_on_pixel_edges_and_repeated_points():
    """A square whose vertices all lie on pixel corners, with repeated vertices and the
    first point repeated at the end: exactly 3 x 2 whole pixels."""
    sq = np.array([[1.5, 1.5], [1.5, 1.5], [4.5, 1.5], [4.5, 3.5], [4.5, 3.5], [1.5, 3.5], [1.5, 1.5]])
    f, _ = plane_fraction([sq])
    assert set(np.unique(f)) == {0.0, 1.0}
    assert f[2:4, 2:5].sum() == 6.0 and f.sum() == 6.0


def test_partly_outside_grid_outside_cc_exact():
    """A 4 x 4 mm square centred on the grid's lower-left corner (-0.5, -0.5): a quarter
    lies inside; outside_cc = 3/4 of its volume (dz = 1 mm slab)."""
    sq = np.array([[-2.5, -2.5], [1.5, -2.5], [1.5, 1.5], [-2.5, 1.5]])
    f, m = plane_fraction([sq])
    assert f.sum() == pytest.approx(4.0, abs=1e-12)
    assert m.volume_cc == pytest.approx(16 / 1000, rel=1e-12)
    assert m.outside_cc == pytest.approx(12 / 1000, rel=1e-12)


def test_bow_tie_falls_back_to_even_odd():
    """Self-intersecting bow tie (two triangles of area 1 each): the even-odd area is 2,
    while the signed winding integral would be 0; fallback scanline error << 1 %."""
    bow = np.array([[2.5, 2.5], [4.5, 3.5], [4.5, 2.5], [2.5, 3.5]])
    f, m = plane_fraction([bow])
    assert m.settings["fallback_planes"] == 1
    assert f.sum() == pytest.approx(1.0, rel=2e-3)  # two triangles of 2 x 0.5 / 2
    assert m.volume_cc * 1000 == pytest.approx(1.0, rel=1e-3)


def test_overlapping_contours_even_odd():
    """Two overlapping squares on one plane: even-odd keeps the symmetric difference
    (A + B - 2 overlap) - the DICOM rule - within the fallback's error bound."""
    a = np.array([[1.0, 1.0], [5.0, 1.0], [5.0, 5.0], [1.0, 5.0]])
    b = a + 2.0
    f, m = plane_fraction([a, b])
    assert m.settings["fallback_planes"] == 1
    assert f.sum() == pytest.approx(16 + 16 - 2 * 4, rel=1e-3)


def test_degenerate_contours_ignored():
    """A 2-point contour and a collinear one add nothing; the square still counts."""
    sq = np.array([[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0]])
    f, _ = plane_fraction([sq, np.array([[5.0, 5.0], [7.0, 7.0]]),
                           np.array([[6.0, 1.0], [7.0, 2.0], [8.0, 3.0]])])
    assert f.sum() == pytest.approx(4.0, abs=1e-12)


def _random_simple_polygon(draw_radii, draw_phase, cx, cy):
    """Star-shaped (hence simple) polygon from sorted angles and random radii."""
    t = np.sort(np.asarray(draw_phase)) * 2 * np.pi
    r = np.asarray(draw_radii)
    return np.c_[cx + r * np.cos(t), cy + r * np.sin(t)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(5, 25).flatmap(lambda n: st.tuples(
    st.lists(st.floats(0.3, 5.5), min_size=n, max_size=n),
    st.lists(st.floats(1.0, 2.0), min_size=n, max_size=n),
    st.floats(2.0, 10.0), st.floats(2.0, 10.0), st.booleans(), st.sampled_from([1, 2, 3]))))
def test_random_polygons_match_clipping(args):
    """Random star-shaped polygons, either winding, possibly partly outside the grid, on
    the voxel lattice and on sub-voxel lattices: every pixel equals the clipped area and
    inside + outside equals the shoelace area."""
    radii, steps, cx, cy, rev, k = args
    # angular steps in [1, 2] normalised over >= 5 vertices: every gap is below a third
    # of a turn, so the polygon is star-shaped about its centre, hence simple
    phases = np.cumsum(steps) / np.sum(steps)
    poly = _random_simple_polygon(radii, phases, cx, cy)
    if rev:
        poly = poly[::-1]
    f, m = plane_fraction([poly], k=k)
    assert m.settings["fallback_planes"] == 0
    h = 1.0 / k
    truth = pixel_areas(poly, -0.5, -0.5, h, 12 * k, 12 * k) / (h * h)
    np.testing.assert_allclose(f, truth, atol=1e-10)
    area = abs(shoelace(poly))
    assert m.volume_cc * 1000 == pytest.approx(area, rel=1e-10)
    assert (m.volume_cc - m.outside_cc) * 1000 == pytest.approx(truth.sum() * h * h, rel=1e-9, abs=1e-12)
