"""Shape-based interpolation between contour planes (``interpolation="shape"``).

Truths: closed-form volumes of spheres, cones and frustums (the smooth solid between the
first and last plane plus flat half-spacing caps of the end contours, the Nelms 2015
convention), closed-form sphere DVHs in a linear z gradient (the volume below a plane is
a spherical segment), the prism volume of constant cross-sections (shape and prism
describe the same solid), and brute-force Sutherland-Hodgman pixel areas.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from dosecalc.dvh import DVH
from dosecalc.masks import mask_samples, structure_mask
from dosecalc.model import DoseGrid

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers (importlib mode)
from analytic_shapes import (circle, clip_box_area, cone, cylinder, linear_grid, pixel_areas, plane_areas,  # noqa: E402
                             prism_volume_cc, shoelace, sphere, structure_from)

GRID = DoseGrid(np.zeros((40, 40, 40)), (-19.5, -19.5, -9.5), (1.0, 1.0, 1.0))


def test_cylinder_shape_equals_prism():
    """Constant cross-section: the interpolated solid is the prism; the sub-cell coverage
    from the signed distance (clip(0.5 + s/h)) differs from the exact one only in cells
    on the surface, by far less than 1 % of the volume at 4 cells per mm."""
    s = cylinder((0.3, -0.2, 5.0), radius=8.0, length=18.0, dz=3.0)
    m = structure_mask(s, GRID, interpolation="shape", supersample=4)
    assert m.settings["interpolation"] == "shape"
    assert m.volume_cc == pytest.approx(prism_volume_cc(s), rel=2e-3)
    assert m.outside_cc == 0.0


def test_cone_frustums_match_closed_form():
    """Cone on 3 mm planes: between planes the shape mode builds frustums of the polygon
    radii, V = pi t / 3 (r1^2 + r1 r2 + r2^2) scaled by the polygon/circle area ratio,
    plus half-spacing flat caps of the first and last contour; the prism mode misses the
    frustum shape by several %."""
    s = cone((0.0, 0.0, -9.0), radius=12.0, height=24.0, dz=3.0, n=256)
    zs = np.array(s.z_planes_mm)
    areas = np.array([abs(shoelace(p.polygons[0])) for p in s.planes])
    r = np.sqrt(areas / math.pi)
    t = np.diff(zs)
    truth = np.sum(math.pi * t / 3 * (r[:-1] ** 2 + r[:-1] * r[1:] + r[1:] ** 2))
    truth += (areas[0] + areas[-1]) * 1.5
    m = structure_mask(s, GRID, interpolation="shape", supersample=4)
    assert m.volume_cc * 1000 == pytest.approx(truth, rel=3e-3)
    prism = structure_mask(s, GRID, interpolation="prism", supersample=4)
    assert abs(m.volume_cc * 1000 / truth - 1) < abs(prism.volume_cc * 1000 / truth - 1)


def test_shape_outside_grid_is_counted():
    """A cylinder partly beyond the grid's x face (x = 20 mm): outside_cc is its polygon's
    area beyond x = 20 (Sutherland-Hodgman clipping) times the 7 mm height."""
    poly = circle(20.5, 0.0, 6.0, n=256)
    s = structure_from({z: [poly] for z in np.arange(-3.0, 3.01, 1.0)})
    m = structure_mask(s, GRID, interpolation="shape", supersample=2)
    assert m.volume_cc == pytest.approx(prism_volume_cc(s), rel=3e-3)
    beyond = clip_box_area(poly, 20.0, 40.0, -20.0, 20.0) * 7.0 / 1000.0
    assert m.outside_cc == pytest.approx(beyond, rel=5e-3)
    assert m.fraction.sum() * m.cell_volume_cc == pytest.approx(m.volume_cc - m.outside_cc, rel=1e-9)


# --------------------------------------------------------------------------------------
# smooth surfaces on sparse planes
# --------------------------------------------------------------------------------------
N = 256
NGON = N / (2 * math.pi) * math.sin(2 * math.pi / N)  # regular N-gon area / circle area
TIP = 0.05  # radius (mm) of the tiny contour exported at a pole or apex
ZGRID = linear_grid((60, 60, 60), (-29.5, -29.5, -29.5), (1.0, 1.0, 1.0), 40.0, (0.0, 0.0, 1.0))


def tip_sphere(radius: float, dz: float) -> object:
    """Sphere contoured on planes every dz from pole to pole, the poles as tiny contours
    (as the Nelms 2015 set exports them)."""
    zs = np.arange(-radius, radius + 1e-9, dz)
    return structure_from({float(z): [circle(0.0, 0.0, max(math.sqrt(max(radius ** 2 - z * z, 0.0)), TIP), N)]
                           for z in zs})


def sphere_below_mm3(z: float, radius: float, zs: np.ndarray, tip: float) -> float:
    """Closed form: volume below the plane z of the smooth sphere between the first and
    last contour plane (spherical segments, pi (R^2 z - z^3 / 3)) plus the flat caps of
    the end contours (area x t/2), scaled by the N-gon/circle area ratio."""
    z0, z1 = zs[0], zs[-1]
    h = 0.5 * float(np.median(np.diff(zs)))
    r0 = max(math.sqrt(max(radius ** 2 - z0 * z0, 0.0)), tip)
    r1 = max(math.sqrt(max(radius ** 2 - z1 * z1, 0.0)), tip)

    def seg(a):
        return radius ** 2 * a - a ** 3 / 3

    v = r0 * r0 * min(max(z - (z0 - h), 0.0), h) + (seg(min(max(z, z0), z1)) - seg(z0))
    v += r1 * r1 * min(max(z - z1, 0.0), h)
    return NGON * math.pi * v


def z_at_fraction_below(frac: float, radius: float, zs, tip: float) -> float:
    """Bisection on the closed form: the plane with ``frac`` of the volume below it."""
    total = sphere_below_mm3(1e9, radius, zs, tip)
    lo, hi = zs[0] - 5.0, zs[-1] + 5.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if sphere_below_mm3(mid, radius, zs, tip) < frac * total:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("dz", [2.0, 3.0])
def test_tip_sphere_volume_and_dvh(dz):
    """Sphere R = 12 mm with pole contours on 2 and 3 mm planes in the dose 40 Gy + 1 Gy/mm z:
    volume, D99, D95 and D1 against the closed-form sphere (spherical segments).  The
    shape mode follows the poles (squared radius around the tip) and the curvature
    between planes; the prism misses the volume by 0.7-1.6 % and D99 by 0.7-1.6 %."""
    s = tip_sphere(12.0, dz)
    zs = np.array(s.z_planes_mm)
    truth = sphere_below_mm3(1e9, 12.0, zs, TIP)
    m = structure_mask(s, ZGRID, interpolation="shape", supersample=4)
    prism = structure_mask(s, ZGRID, interpolation="prism", supersample=4)
    err = m.volume_cc * 1000 / truth - 1
    assert abs(err) < 2e-3
    assert abs(prism.volume_cc * 1000 / truth - 1) > 3 * abs(err)
    dvh = DVH.from_samples(*mask_samples(m, ZGRID))
    for metric, above in (("D99%[Gy]", 0.99), ("D95%[Gy]", 0.95), ("D1%[Gy]", 0.01)):
        expect = 40.0 + z_at_fraction_below(1.0 - above, 12.0, zs, TIP)
        assert dvh.metric(metric) == pytest.approx(expect, rel=5e-3), metric


@pytest.mark.parametrize("radius,dz", [(12.0, 3.0), (10.0, 3.0), (12.0, 2.0)])
def test_sphere_without_poles_volume(radius, dz):
    """Sphere contoured through its centre with the poles left out (the last contours are
    full circles): closed-form smooth sphere between the end planes plus flat half-spacing
    caps; the cubic interpolation beats the prism's slabs (-0.6 to -2 %)."""
    s = sphere((0.0, 0.0, 0.0), radius, dz, N)
    zs = np.array(s.z_planes_mm)
    truth = sphere_below_mm3(1e9, radius, zs, 0.0)
    m = structure_mask(s, ZGRID, interpolation="shape", supersample=4)
    prism = structure_mask(s, ZGRID, interpolation="prism", supersample=4)
    err = m.volume_cc * 1000 / truth - 1
    assert abs(err) < 6e-3
    assert abs(err) < 0.5 * abs(prism.volume_cc * 1000 / truth - 1)


@pytest.mark.parametrize("dz", [2.0, 3.0])
def test_apex_cone_volume(dz):
    """Cone (apex contour r = 0.05 mm, base r = 12 mm, height 24 mm): pi R^2 H / 3 plus the
    flat half-spacing caps of the base and apex contours; the squared radius around the
    apex is quadratic in z for a cone, so the tip interval is exact."""
    zs = np.arange(-12.0, 12.0 + 1e-9, dz)
    s = structure_from({float(z): [circle(0.0, 0.0, max(12.0 * (z + 12.0) / 24.0, TIP), N)] for z in zs})
    a = plane_areas(s)
    truth = NGON * math.pi * 144.0 * 24.0 / 3.0 + (a[0] + a[-1]) * dz / 2.0
    m = structure_mask(s, ZGRID, interpolation="shape", supersample=4)
    assert m.volume_cc * 1000 == pytest.approx(truth, rel=1e-3)


def test_in_plane_coverage_of_a_straight_prism():
    """Constant cross-section (shape = prism solid): every cell's fraction against the
    brute-force polygon/pixel area (Sutherland-Hodgman); the straight-edge coverage from
    the distance and its gradient is within 3 % of a cell on every cell and 1e-3 of the
    area in total (a circle of radius r = 6.3 on h = 0.5 mm cells; a tangent line stands
    for the arc in each cell, an error of order (h / r)^2 / 12 = 5e-4 of the area)."""
    poly = circle(0.2, -0.1, 6.3, n=N)
    s = structure_from({z: [poly] for z in (-3.0, 0.0, 3.0, 6.0)})
    grid = DoseGrid(np.zeros((20, 20, 20)), (-9.5, -9.5, -9.5), (1.0, 1.0, 1.0))
    m = structure_mask(s, grid, interpolation="shape", supersample=2)
    layer = int(round((1.0 - m.origin_mm[2]) / m.spacing_mm[2]))  # a layer between planes
    h = m.spacing_mm[0]
    x0, y0 = m.origin_mm[0] - h / 2, m.origin_mm[1] - h / 2
    ny, nx = m.fraction.shape[1:]
    truth = pixel_areas(poly, x0, y0, h, nx, ny) / (h * h)
    diff = m.fraction[layer] - truth
    assert np.max(np.abs(diff)) < 0.03
    assert abs(diff.sum()) < 1e-3 * truth.sum()


def test_gap_and_single_plane_are_flat():
    """Two cylinder pieces separated by a gap (each side ends with a flat half-spacing cap)
    and an isolated single plane (a dz-thick slab): constant cross-sections, so the shape
    volume is the prism volume (sum of area x slab thickness, re-derived here)."""
    c = circle(0.0, 0.0, 5.0, N)
    planes = {z: [c] for z in (-9.0, -6.0, -3.0)}
    planes.update({z: [c] for z in (6.0, 9.0)})
    s = structure_from(planes)
    m = structure_mask(s, GRID, interpolation="shape", supersample=4)
    area = abs(shoelace(c))
    truth = area * (3 * 3.0 + 2 * 3.0) / 1000.0  # slabs reach halfway and 1.5 mm beyond ends
    assert m.volume_cc == pytest.approx(truth, rel=2e-3)


def test_shape_result_independent_of_thread_count():
    """The parallel kernels write disjoint rows in a fixed sub-plane order: bit-identical
    fractions with 1 and 2 numba threads."""
    import numba

    s = tip_sphere(9.0, 3.0)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = structure_mask(s, GRID, interpolation="shape", supersample=3).fraction.copy()
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        b = structure_mask(s, GRID, interpolation="shape", supersample=3).fraction
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(a, b)


def test_shape_input_not_modified():
    """Contour arrays are read, never written: a copy taken before equals them after."""
    s = tip_sphere(8.0, 3.0)
    before = [p.polygons[0].copy() for p in s.planes]
    structure_mask(s, GRID, interpolation="shape", supersample=2)
    assert all(np.array_equal(a, p.polygons[0]) for a, p in zip(before, s.planes))
