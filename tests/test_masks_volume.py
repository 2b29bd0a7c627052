"""Structure masks: volumes under the slab rules, outside parts, lattices, determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dosecalc.errors import ContourError, ParameterError
from dosecalc.mask_options import MaskOptions
from dosecalc.masks import auto_supersample, mask_samples, structure_mask
from dosecalc.model import ContourPlane, DoseGrid, Structure

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers (importlib mode)
from analytic_shapes import (circle, cone, cylinder, linear_grid, prism_volume_cc, shoelace,  # noqa: E402
                             sphere, structure_from)


def zero_grid(shape=(40, 40, 40), origin=(-20.0, -20.0, -20.0), spacing=(1.0, 1.0, 1.0)):
    return DoseGrid(np.zeros(shape), origin, spacing)


@pytest.mark.parametrize("make", [
    lambda: sphere((0.3, -0.7, 0.2), 8.0, 1.0),
    lambda: sphere((1.1, 0.4, -0.9), 5.0, 2.5),
    lambda: cylinder((0.0, 0.0, 0.0), 6.0, 12.0, 2.0),
    lambda: cone((0.25, 0.5, -9.0), 7.0, 15.0, 3.0),
])
@pytest.mark.parametrize("k", [1, 2, "auto"])
def test_volume_equals_prism_volume(make, k):
    """Sum of fractions x cell volume equals sum(shoelace area x slab thickness), the
    closed-form volume of the contour stack with half-spacing end caps."""
    s = make()
    grid = zero_grid(spacing=(1.5, 1.25, 2.0))
    m = structure_mask(s, grid, supersample=k)
    truth = prism_volume_cc(s)
    assert m.outside_cc == 0.0
    assert m.volume_cc == pytest.approx(truth, rel=1e-9)
    assert m.fraction.sum() * m.cell_volume_cc == pytest.approx(truth, rel=1e-9)
    assert m.fraction.min() >= 0.0 and m.fraction.max() <= 1.0


def test_sphere_volume_converges_to_analytic():
    """Finely contoured sphere (0.5 mm planes, 256-gons) -> 4/3 pi R^3 within 0.1 %."""
    s = sphere((0.0, 0.0, 0.0), 10.0, 0.5, 256)
    m = structure_mask(s, zero_grid(spacing=(2.0, 2.0, 2.0)))
    assert m.volume_cc == pytest.approx(4 / 3 * np.pi * 1000 / 1000, rel=1e-3)


def test_end_caps_half_and_none():
    """Cylinder of 11 planes 2 mm apart: with half caps the height is 22 mm, without 20 mm
    (volume = polygon area x height)."""
    s = cylinder((0.0, 0.0, 0.0), 5.0, 20.0, 2.0, 64)
    a = shoelace(circle(0, 0, 5.0, 64))
    g = zero_grid()
    assert structure_mask(s, g).volume_cc == pytest.approx(a * 22 / 1000, rel=1e-12)
    assert structure_mask(s, g, end_cap="none").volume_cc == pytest.approx(a * 20 / 1000, rel=1e-12)


def test_irregular_spacing_slabs():
    """Planes at z = 0, 1, 3, 4 (steps 1, 2, 1; median 1): the 2 mm step exceeds 1.5 x the
    median, so it is a gap and each side ends with a 0.5 mm cap: 4 slabs of 1 mm.  Steps
    1, 1.4, 1 are no gap: slabs 1, 1.2, 1.2, 1 mm (halfway rule)."""
    sq = np.array([[-2.0, -2.0], [2.0, -2.0], [2.0, 2.0], [-2.0, 2.0]])
    s = structure_from({0.0: [sq], 1.0: [sq], 3.0: [sq], 4.0: [sq]})
    m = structure_mask(s, zero_grid())
    assert m.volume_cc == pytest.approx(16 * 4 / 1000, rel=1e-12)
    s2 = structure_from({0.0: [sq], 1.0: [sq], 2.4: [sq], 3.4: [sq]})
    m2 = structure_mask(s2, zero_grid())
    assert m2.volume_cc == pytest.approx(16 * 4.4 / 1000, rel=1e-12)
    zc = m2.cell_centres_mm("z")
    # the gap-free stack is continuous: every layer between its ends is fully covered
    inside = (zc > -0.5) & (zc < 3.9)
    assert np.all(m2.fraction[inside][:, 20, 20] == 1.0)


def test_single_plane_uses_dose_dz():
    """One contour plane: slab thickness = the dose grid's dz (documented choice)."""
    sq = np.array([[-2.0, -2.0], [2.0, -2.0], [2.0, 2.0], [-2.0, 2.0]])
    s = structure_from({0.3: [sq]})
    m = structure_mask(s, zero_grid(spacing=(1.0, 1.0, 2.5)), supersample=1)
    assert m.volume_cc == pytest.approx(16 * 2.5 / 1000, rel=1e-12)


def test_partly_outside_grid_in_z_and_plane():
    """A 10 mm cube (planes every 1 mm, half caps) centred on the grid corner: 1/8 inside.
    The grid spans [-0.5, 19.5] mm on each axis; the cube spans [-5.5, 4.5]."""
    sq = np.array([[-5.5, -5.5], [4.5, -5.5], [4.5, 4.5], [-5.5, 4.5]])
    s = structure_from({z: [sq] for z in np.arange(-5.0, 4.01, 1.0)})
    g = zero_grid((20, 20, 20), (0.0, 0.0, 0.0))
    for k in (1, 3):
        m = structure_mask(s, g, supersample=k)
        assert m.volume_cc == pytest.approx(1.0, rel=1e-12)
        assert m.outside_cc == pytest.approx(1.0 - 5 ** 3 / 1000, rel=1e-12)
        assert m.inside_cc == pytest.approx(0.125, rel=1e-12)


def test_entirely_outside_grid():
    """A structure beyond the grid: empty lattice, outside_cc == volume_cc, no samples."""
    s = sphere((100.0, 0.0, 0.0), 4.0, 1.0)
    m = structure_mask(s, zero_grid())
    assert m.outside_cc == pytest.approx(m.volume_cc) and m.volume_cc > 0
    d, v = mask_samples(m, zero_grid())
    assert d.size == 0 and v.size == 0


@pytest.mark.parametrize("shift", [(0.37, -1.21, 0.0), (2.0, 3.0, 4.0), (-0.5, 0.25, 1.75)])
def test_translation_invariance(shift):
    """Moving the structure and the dose grid together changes no fraction (rounding
    aside) and no volume: the lattice is defined relative to the grid."""
    s = sphere((0.4, -0.3, 0.1), 6.0, 1.5)
    g = linear_grid((30, 30, 30), (-15.0, -15.0, -15.0), (1.0, 1.0, 1.5), 10.0, (0.2, -0.3, 0.5))
    m = structure_mask(s, g, supersample=2)
    dx, dy, dz = shift
    s2 = structure_from({p.z_mm + dz: [q + np.array([dx, dy]) for q in p.polygons] for p in s.planes})
    g2 = DoseGrid(g.values_gy, tuple(o + d for o, d in zip(g.origin_mm, shift)), g.spacing_mm)
    m2 = structure_mask(s2, g2, supersample=2)
    assert m2.fraction.shape == m.fraction.shape
    np.testing.assert_allclose(m2.fraction, m.fraction, atol=1e-9)
    d1, v1 = mask_samples(m, g)
    d2, v2 = mask_samples(m2, g2)
    np.testing.assert_allclose(d2, d1, atol=1e-9)
    np.testing.assert_allclose(v2, v1, atol=1e-12)


def test_mask_samples_direct_equals_brute_force():
    """On the dose lattice (k = 1) samples are the voxel doses of cells with fraction > 0
    and their volumes fraction x voxel volume (numpy indexing as the truth)."""
    g = linear_grid((20, 20, 20), (-10.0, -10.0, -10.0), (1.0, 1.0, 1.0), 5.0, (0.1, 0.2, 0.3))
    s = sphere((0.2, 0.1, 0.0), 5.0, 1.0)
    m = structure_mask(s, g, supersample=1)
    d, v = mask_samples(m, g)
    iz, iy, ix = m.index_offset
    nz, ny, nx = m.fraction.shape
    sub = g.values_gy[iz:iz + nz, iy:iy + ny, ix:ix + nx]
    sel = m.fraction > 0
    np.testing.assert_array_equal(d, sub[sel])
    np.testing.assert_allclose(v, m.fraction[sel] * 1e-3, rtol=1e-15)
    assert v.sum() == pytest.approx(m.volume_cc, rel=1e-9)


def test_subvoxel_samples_are_trilinear_at_cell_centres():
    """k = 3: sample doses equal the linear dose formula at the sub-cell centres (a linear
    field is reproduced exactly by trilinear interpolation)."""
    g = linear_grid((20, 20, 20), (-10.0, -10.0, -10.0), (1.0, 1.0, 1.0), 5.0, (0.1, 0.2, 0.3))
    s = sphere((0.2, 0.1, 0.0), 4.0, 1.0)
    m = structure_mask(s, g, supersample=3)
    assert m.index_offset is None
    d, v = mask_samples(m, g)
    z, y, x = np.meshgrid(m.cell_centres_mm("z"), m.cell_centres_mm("y"), m.cell_centres_mm("x"), indexing="ij")
    sel = m.fraction > 0
    np.testing.assert_allclose(d, (5.0 + 0.1 * x + 0.2 * y + 0.3 * z)[sel], atol=1e-12)
    assert v.sum() == pytest.approx(m.volume_cc, rel=1e-9)


def test_auto_supersample_rule():
    """The documented rule: small structures get ~100 cells across (k <= 16), large ones
    ~30, and the box stays under the cell budget."""
    assert auto_supersample(1.0, (12.0, 12.0, 12.0), (3.0, 3.0, 3.0)) == 16  # 25 capped
    assert auto_supersample(7.0, (24.0, 24.0, 24.0), (3.0, 3.0, 3.0)) == 13  # ceil(100 / 8)
    assert auto_supersample(1500.0, (150.0, 150.0, 150.0), (3.0, 3.0, 3.0)) == 1  # 50 across
    assert auto_supersample(150.0, (50.0, 60.0, 100.0), (3.0, 3.0, 3.0)) == 2  # ceil(30 / 16.7)
    k = auto_supersample(20.0, (10.0, 10.0, 400.0), (1.0, 1.0, 1.0))
    assert (12 * 12 * 402) * k ** 3 <= 4_000_000


def test_inputs_not_modified_and_mask_read_only():
    """The structure's arrays are untouched and the mask's fraction cannot be written."""
    s = sphere((0.0, 0.0, 0.0), 5.0, 1.0)
    before = [p.polygons[0].copy() for p in s.planes]
    m = structure_mask(s, zero_grid())
    for b, p in zip(before, s.planes):
        np.testing.assert_array_equal(b, p.polygons[0])
    with pytest.raises(ValueError):
        m.fraction[0, 0, 0] = 1.0


def test_bad_input_messages():
    """Bad options and contour-less structures raise dosecalc errors naming the problem."""
    s = sphere((0.0, 0.0, 0.0), 5.0, 1.0)
    g = zero_grid()
    with pytest.raises(ParameterError, match="end_cap"):
        structure_mask(s, g, end_cap="full")
    with pytest.raises(ParameterError, match="supersample"):
        structure_mask(s, g, supersample=0)
    with pytest.raises(ParameterError, match="interpolation"):
        structure_mask(s, g, interpolation="spline")
    with pytest.raises(ContourError, match="no closed planar contours"):
        structure_mask(Structure(3, "POI", points_mm=np.zeros((1, 3))), g)
    bad = Structure(4, "Bad", planes=(ContourPlane(0.0, (np.array([[0.0, 0.0], [np.nan, 1.0], [1.0, 1.0]]),)),))
    with pytest.raises(ContourError, match="non-finite"):
        structure_mask(bad, g)


_THREAD_SCRIPT = r"""
import json, sys, numpy as np
sys.path.insert(0, {tests!r})
from analytic_shapes import sphere, circle, structure_from
from dosecalc.masks import structure_mask, mask_samples
from dosecalc.model import DoseGrid
g = DoseGrid(np.arange(40 * 40 * 40, dtype=float).reshape(40, 40, 40) * 1e-3, (-20.0, -20.0, -20.0), (1.0, 1.0, 1.0))
out = []
for s, k in ((sphere((0.3, 0.1, 0.2), 9.0, 0.7), 1), (sphere((0.3, 0.1, 0.2), 4.0, 1.3), 3),
             (structure_from({{z: [circle(0, 0, 6, 50), circle(2, 0, 5, 40)] for z in (0.0, 1.0, 2.0)}}), 2)):
    m = structure_mask(s, g, supersample=k)
    d, v = mask_samples(m, g)
    out.append([m.fraction.tobytes().hex()[:0] or float(np.sum(m.fraction * np.arange(m.fraction.size).reshape(m.fraction.shape))),
                float(np.sum(d * v)), m.volume_cc])
print(json.dumps(out))
"""


@pytest.mark.slow
def test_same_result_with_1_and_2_threads():
    """NUMBA_NUM_THREADS=1 and 2 give bit-identical masks and samples (parallel loops write
    disjoint layers; each layer is summed in a fixed order)."""
    tests = str(Path(__file__).resolve().parent)
    res = []
    for n in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=n)
        p = subprocess.run([sys.executable, "-c", _THREAD_SCRIPT.format(tests=tests)], env=env,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        res.append(json.loads(p.stdout))
    assert res[0] == res[1]


def test_gap_split_rule_and_switch():
    """Truth: closed form.  A 10 x 10 mm square on planes z = 0, 3, 6, 15, 18 mm (median
    spacing 3 mm; 6 -> 15 is a gap, more than 1.5 x 3 mm): with the gap rule the slabs
    are [-1.5, 7.5] and [13.5, 19.5] (15 mm, 1.5 cc); without it every slab reaches
    halfway to its neighbour, [-1.5, 19.5] (21 mm, 2.1 cc)."""
    from dosecalc.masks import structure_volume_cc

    sq = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    s = Structure(1, "Helper", planes=tuple(ContourPlane(z, (sq,)) for z in (0.0, 3.0, 6.0, 15.0, 18.0)))
    g = DoseGrid(np.zeros((14, 8, 8)), (-2.0, -2.0, -3.0), (2.0, 2.0, 2.0))
    assert structure_volume_cc(s) == pytest.approx(1.5)
    assert structure_volume_cc(s, split_gaps=False) == pytest.approx(2.1)
    assert structure_mask(s, g).volume_cc == pytest.approx(1.5)
    m = structure_mask(s, g, options=MaskOptions(split_gaps=False))
    assert m.volume_cc == pytest.approx(2.1) and m.settings["gap_factor"] == float("inf")
    assert float(m.fraction.sum()) * m.cell_volume_cc + m.outside_cc == pytest.approx(2.1)
    with pytest.raises(ParameterError, match="split_gaps"):
        MaskOptions(split_gaps="no")
