"""Paddick CI, gradient index, ICRU 83 HI on a piecewise-constant dose.

Truth: voxel-aligned boxes of constant dose.  Inner box B (41 Gy), outer box B2 (21 Gy,
containing B), 0 Gy elsewhere, on a 2 mm grid; a voxel-aligned target box T partly in B.
Rx = 40 Gy: PIV = |B|, PIV_50% = |B2|, TV_PIV = |T n B|, so CI = |T n B|^2 / (|T| |B|),
GI = |B2| / |B|.  T is 75 % in B: D2% = D50% = 41 Gy, D98% = 21 Gy, HI = 20/41.  The
DVH curve is within half a sample of the step DVH, so volumes carry a half-voxel
tolerance (0.004 cc).
"""

import math

import numpy as np
import pytest

from dosecalc.errors import ParameterError
from dosecalc.indices import case_indices, gradient_index, grid_dvh, homogeneity_index, paddick_ci
from dosecalc.dvh import DVH
from dosecalc.case import Case
from dosecalc.model import ContourPlane, DoseGrid, Plan, Structure, StructureSet

H = 2.0
VOX = H ** 3 / 1000.0


def centres(n):
    return H * (np.arange(n) - n // 2)


def make_case(rx=40.0):
    x = centres(40)  # -40 .. 38
    zz, yy, xx = np.meshgrid(x, x, x, indexing="ij")
    dose = np.zeros(xx.shape)
    in_b2 = (np.abs(xx) <= 10) & (np.abs(yy) <= 10) & (np.abs(zz) <= 10)   # 11^3 voxels
    in_b = (np.abs(xx) <= 4) & (np.abs(yy) <= 4) & (np.abs(zz) <= 4)       # 5^3 voxels
    dose[in_b2] = 21.0
    dose[in_b] = 41.0
    grid = DoseGrid(dose, (x[0], x[0], x[0]), (H, H, H))
    # T: voxel faces x in [-5, 7] (centres -4..6: 6 columns, 5 of them in B), y and z in
    # [-5, 5] (5 voxels each, all in B).
    sq = np.array([[-5.0, -5.0], [7.0, -5.0], [7.0, 5.0], [-5.0, 5.0]])
    planes = tuple(ContourPlane(z, (sq,)) for z in np.arange(-4.0, 4.01, H))  # 5 planes, half caps -> z in [-5, 5]
    target = Structure(1, "PTV", "PTV", planes=planes)
    return Case(dose=grid, structures=StructureSet((target,)), plan=Plan(fractions=5, prescription_gy=rx))


def test_indices_match_box_volumes():
    """Truth (module docstring): |T| = 6*5*5 voxels, |T n B| = 5*5*5, |B| = 125, |B2| = 1331."""
    case = make_case()
    r = case_indices(case, "PTV", supersample=1)
    tv, tvb, b, b2 = 150 * VOX, 125 * VOX, 125 * VOX, 1331 * VOX
    tol = VOX / 2 + 1e-12
    assert r["TV_cc"] == pytest.approx(tv, rel=1e-9)
    assert r["TV_PIV_cc"] == pytest.approx(tvb, abs=tol)
    assert r["PIV_cc"] == pytest.approx(b, abs=tol)
    assert r["PIV50_cc"] == pytest.approx(b2, abs=tol)
    assert r["CI_Paddick"] == pytest.approx(tvb ** 2 / (tv * b), rel=0.01)
    assert r["GI"] == pytest.approx(b2 / b, rel=0.01)
    # T is 125/150 = 83 % at 41 Gy, 17 % at 21 Gy: D2 = D50 = 41, D98 = 21.
    assert r["HI_ICRU83"] == pytest.approx(20.0 / 41.0, abs=1e-9)
    assert r["prescription_gy"] == 40.0 and r["region"] == "dose grid"


def test_region_structure_and_explicit_prescription():
    """Truth: with Rx = 20 Gy the PIV is B2 (21 Gy and 41 Gy voxels) = 1331 voxels and the
    target lies wholly inside it: TV_PIV = TV, CI = TV / PIV."""
    case = make_case()
    r = case_indices(case, "PTV", prescription_gy=20.0, supersample=1, region="PTV")
    # region = the target itself: PIV = TV_PIV = TV, CI = 1
    assert r["CI_Paddick"] == pytest.approx(1.0, rel=1e-9)
    r = case_indices(case, "PTV", prescription_gy=20.0, supersample=1)
    assert r["PIV_cc"] == pytest.approx(1331 * VOX, abs=VOX / 2)
    assert r["CI_Paddick"] == pytest.approx(150 / 1331, rel=0.01)


def test_pure_functions_and_undefined_cases():
    """Truth: uniform 30 Gy target of 10 cc in a 100 cc region at 30 Gy: CI = 10^2/(10*100);
    HI = 0; nothing reaches 60 Gy: CI and GI undefined (NaN)."""
    t = DVH.from_samples(np.full(1000, 30.0), np.full(1000, 0.01))
    reg = DVH.from_samples(np.full(1000, 30.0), np.full(1000, 0.1))
    assert paddick_ci(t, reg, 29.0) == pytest.approx(0.1, rel=1e-12)
    assert homogeneity_index(t) == 0.0
    assert math.isnan(paddick_ci(t, reg, 60.0))
    assert math.isnan(gradient_index(reg, 60.0))
    with pytest.raises(ParameterError, match="prescription_gy"):
        paddick_ci(t, reg, None)
    no_rx = Case(dose=make_case().dose, structures=make_case().structures)
    with pytest.raises(ParameterError, match="prescription_gy"):
        case_indices(no_rx, "PTV")


def test_grid_dvh_counts_every_voxel():
    """Truth: the whole grid's volume is nx*ny*nz voxels, and its mean is the voxel mean."""
    grid = make_case().dose
    g = grid_dvh(grid)
    assert g.volume_cc == pytest.approx(grid.values_gy.size * VOX, rel=1e-12)
    assert g.mean_gy == pytest.approx(float(np.mean(grid.values_gy)), rel=1e-12)



@pytest.mark.parametrize("exact_limit", [None, 100])
def test_grid_dvh_in_pieces_is_the_dvh_of_all_voxels(monkeypatch, exact_limit):
    """Truth: DVH.from_samples of every voxel at once (the grid's own values, the voxel
    volume each).  grid_dvh feeds them in copied pieces (pieces much smaller than the
    grid here), and the curve, volume, Min, Max and Mean are the same bits, in the exact
    mode and (exact-mode limit lowered) the binned one."""
    import dosecalc.dvh_curve as dvh_curve
    import dosecalc.indices as indices

    grid = make_case().dose
    ref = DVH.from_samples(grid.values_gy.ravel(), np.full(grid.values_gy.size, grid.voxel_volume_cc))
    monkeypatch.setattr(indices, "CHUNK_SAMPLES", 777)
    assert grid.values_gy.size > 3 * 777
    if exact_limit is not None:
        monkeypatch.setattr(dvh_curve, "EXACT_LIMIT", exact_limit)
        ref = DVH.from_samples(grid.values_gy.ravel(), np.full(grid.values_gy.size, grid.voxel_volume_cc))
    got = indices.grid_dvh(grid)
    assert got.settings["mode"] == ("exact" if exact_limit is None else "binned")
    assert np.array_equal(got.curve_volume_cc, ref.curve_volume_cc)
    assert np.array_equal(got.curve_dose_gy, ref.curve_dose_gy)
    assert (got.volume_cc, got.min_gy, got.max_gy, got.mean_gy) == (ref.volume_cc, ref.min_gy, ref.max_gy,
                                                                      ref.mean_gy)
