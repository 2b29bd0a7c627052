"""Physical plan sums and dose differences (dosecalc.plansum).

Truths: linear dose fields, for which trilinear resampling is exact, summed (or
subtracted) by hand in plain numpy float64 at the reference voxel centres; a per-fraction
grid times its fraction count; the summation rules of the module docstring (refusals).
"""

import warnings

import numpy as np
import pytest

import dosecalc
from dosecalc.errors import FrameOfReferenceError, ParameterError
from dosecalc.model import DoseGrid
from dosecalc.plansum import PlanSumWarning, dose_difference, sum_plans

FOR = "1.2.826.0.1.3680043.8.498.1"


def f_a(x, y, z):
    return 20.0 + 0.10 * x + 0.20 * y + 0.30 * z


def f_b(x, y, z):
    return 5.0 - 0.05 * x + 0.15 * y + 0.02 * z


def grid(fn, origin, spacing, shape, **kw):
    nz, ny, nx = shape
    x = origin[0] + spacing[0] * np.arange(nx)
    y = origin[1] + spacing[1] * np.arange(ny)
    z = origin[2] + spacing[2] * np.arange(nz)
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    kw.setdefault("frame_of_reference_uid", FOR)
    return DoseGrid(fn(xx, yy, zz), origin, spacing, **kw), (xx, yy, zz)


def test_sum_of_two_grids_on_different_lattices_equals_hand_sum():
    a, (xx, yy, zz) = grid(f_a, (0.0, 0.0, 0.0), (2.0, 2.0, 3.0), (6, 7, 8))
    # b: another lattice that covers a's voxel centres with room to spare
    b, _ = grid(f_b, (-4.3, -3.1, -5.2), (2.5, 1.5, 2.0), (16, 14, 12))
    s = sum_plans([a, b])
    assert s.same_geometry(a, tol_mm=0)
    assert s.dose_type == "PHYSICAL" and s.summation_type == "MULTI_PLAN"
    hand = f_a(xx, yy, zz) + f_b(xx, yy, zz)   # analytic doses summed by hand
    assert np.max(np.abs(s.values_gy - hand)) < 1e-10
    assert "resampled" in s.description and "physical sum of 2 plans" in s.description


def test_fraction_grid_is_multiplied_by_its_fractions():
    a, (xx, yy, zz) = grid(f_a, (0.0, 0.0, 0.0), (2.0, 2.0, 3.0), (4, 5, 6))
    per_fx, _ = grid(f_b, (0.0, 0.0, 0.0), (2.0, 2.0, 3.0), (4, 5, 6), summation_type="FRACTION")
    s = sum_plans([a, (per_fx, 5)])
    assert np.max(np.abs(s.values_gy - (f_a(xx, yy, zz) + 5 * f_b(xx, yy, zz)))) < 1e-12
    with pytest.raises(ParameterError, match="FRACTION"):
        sum_plans([a, per_fx])
    with pytest.raises(ParameterError, match="already a total"):
        sum_plans([(a, 5), per_fx])


def test_refusals_name_the_plan():
    a, _ = grid(f_a, (0.0, 0.0, 0.0), (2.0, 2.0, 3.0), (4, 5, 6))
    eff = a.with_values(a.values_gy, dose_type="EFFECTIVE", quantity="EQD2Gy(a/b=3)")
    with pytest.raises(ParameterError, match="plan 2 .*EFFECTIVE"):
        sum_plans([a, eff])
    other, _ = grid(f_b, (0.0, 0.0, 0.0), (2.0, 2.0, 3.0), (4, 5, 6), frame_of_reference_uid="1.2.3")
    with pytest.raises(FrameOfReferenceError, match="plan 2"):
        sum_plans([a, other])
    with pytest.raises(ParameterError, match="empty"):
        sum_plans([])


def test_uncovered_reference_voxels_error_or_zero():
    a, (xx, yy, zz) = grid(f_a, (0.0, 0.0, 0.0), (2.0, 2.0, 2.0), (4, 4, 4))
    # b covers x < 4 mm (centres 0, 2; half voxel beyond: up to 3 mm): voxels at x=4, 6 are outside
    b, _ = grid(f_b, (0.0, 0.0, 0.0), (2.0, 2.0, 2.0), (4, 4, 2))
    with pytest.raises(ParameterError, match="does not cover 32 voxel"):
        sum_plans([a, b])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s = sum_plans([a, b], outside="zero")
    assert any(issubclass(x.category, PlanSumWarning) for x in w)
    hand = f_a(xx, yy, zz) + np.where(xx < 3.0, f_b(xx, yy, zz), 0.0)
    assert np.max(np.abs(s.values_gy - hand)) < 1e-12


def test_dose_difference_is_b_minus_a():
    a, (xx, yy, zz) = grid(f_a, (0.0, 0.0, 0.0), (2.0, 2.0, 3.0), (6, 7, 8))
    b, _ = grid(f_b, (-4.3, -3.1, -5.2), (2.5, 1.5, 2.0), (16, 14, 12))
    d = dosecalc.dose_difference(a, b)
    assert np.max(np.abs(d.values_gy - (f_b(xx, yy, zz) - f_a(xx, yy, zz)))) < 1e-10
    assert d.values_gy.min() < 0  # b is colder: negative differences stay negative
    assert "b - a" in d.description


def test_cases_are_accepted_and_missing_uid_is_warned(synthetic_case):
    s = dosecalc.sum_plans([synthetic_case, synthetic_case])
    assert np.array_equal(s.values_gy, 2.0 * synthetic_case.dose.values_gy)
    a, _ = grid(f_a, (0.0, 0.0, 0.0), (2.0, 2.0, 3.0), (4, 5, 6), frame_of_reference_uid=None)
    with pytest.warns(PlanSumWarning, match="FrameOfReferenceUID"):
        sum_plans([a, a])


def test_module_examples():
    import doctest

    import dosecalc.plansum as m

    r = doctest.testmod(m)
    assert r.attempted >= 6 and r.failed == 0
