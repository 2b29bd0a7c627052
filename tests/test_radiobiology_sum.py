"""Summation of courses in EQD2 (each course with its own fractionation).

Truths: EQD2 per course from the closed-form LQ formula in plain numpy float64; the
resampling onto the reference grid from scipy's RegularGridInterpolator (linear), an
independent trilinear implementation, at reference voxel centres inside the course's
outermost centres.
"""


import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from dosecalc import radiobiology as rb
from dosecalc.errors import FrameOfReferenceError, ParameterError
from dosecalc.model import DoseGrid

FOR = "1.2.826.0.1.3680043.8.498.1"


def lq_eqd2(total, n, ab):
    return total * (total / n + ab) / (2 + ab)


def rand_grid(shape, origin, spacing, seed, hi=50.0, **kw):
    v = np.random.default_rng(seed).uniform(0, hi, shape)
    return DoseGrid(v, origin, spacing, frame_of_reference_uid=kw.pop("for_uid", FOR), **kw), v


def test_same_geometry_sum_is_sum_of_course_eqd2():
    """40 Gy-ish / 5 fx + 30 Gy-ish / 10 fx: sum = EQD2(course 1, n=5) + EQD2(course 2, n=10)."""
    g1, v1 = rand_grid((4, 5, 6), (0, 0, 0), (2, 2, 2), 1)
    g2, v2 = rand_grid((4, 5, 6), (0, 0, 0), (2, 2, 2), 2, hi=30.0)
    out = rb.sum_courses([(g1, 5), (g2, 10)], 3.0)
    np.testing.assert_allclose(out.values_gy, lq_eqd2(v1, 5, 3.0) + lq_eqd2(v2, 10, 3.0), rtol=1e-14)
    assert out.dose_type == "EFFECTIVE" and out.summation_type == "MULTI_PLAN"
    assert out.quantity == "EQD2Gy(a/b=3)"
    assert [c["fractions"] for c in out.model["courses"]] == [5, 10]
    assert "5 fx, 10 fx" in out.description


def test_resampled_course_matches_independent_trilinear():
    """Course 2 lives on a coarser, shifted grid covering the reference: it is converted on
    its own grid, then resampled trilinearly (truth: scipy RegularGridInterpolator)."""
    g1, v1 = rand_grid((5, 6, 7), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0), 3)
    g2, v2 = rand_grid((5, 6, 6), (-1.3, -2.1, -0.7), (3.0, 2.5, 3.5), 4)
    out = rb.sum_courses([(g1, 3), (g2, 5)], 10.0, model="lq")
    e2 = lq_eqd2(v2, 5, 10.0)
    interp = RegularGridInterpolator((g2.z_mm, g2.y_mm, g2.x_mm), e2, method="linear")
    zz, yy, xx = np.meshgrid(g1.z_mm, g1.y_mm, g1.x_mm, indexing="ij")
    truth = lq_eqd2(v1, 3, 10.0) + interp(np.stack([zz, yy, xx], axis=-1))
    np.testing.assert_allclose(out.values_gy, truth, rtol=1e-12, atol=1e-10)
    assert out.model["courses"][1]["resampled"] is True


def test_reference_grid_geometry_is_used():
    """An explicit reference grid sets the output geometry (its values are unused)."""
    g1, v1 = rand_grid((4, 4, 4), (0, 0, 0), (2, 2, 2), 5)
    ref = DoseGrid(np.zeros((2, 2, 2)), (2, 2, 2), (2, 2, 2), frame_of_reference_uid=FOR)
    out = rb.sum_courses([(g1, 5)], 2.5, reference=ref)
    assert out.same_geometry(ref)
    np.testing.assert_allclose(out.values_gy, lq_eqd2(v1[1:3, 1:3, 1:3], 5, 2.5), rtol=1e-13)


def test_different_frame_of_reference_refused():
    g1, _ = rand_grid((3, 3, 3), (0, 0, 0), (2, 2, 2), 6)
    g2, _ = rand_grid((3, 3, 3), (0, 0, 0), (2, 2, 2), 7, for_uid="1.2.3.4")
    with pytest.raises(FrameOfReferenceError, match="FrameOfReferenceUID"):
        rb.sum_courses([(g1, 5), (g2, 3)], 3.0)


def test_uncovered_region_error_or_explicit_zero():
    """Course 2 covers only part of the reference: error by default naming the volume;
    outside='zero' adds 0 Gy there with a warning (truth: course 1 alone there)."""
    g1, v1 = rand_grid((4, 4, 4), (0, 0, 0), (2, 2, 2), 8)
    g2, v2 = rand_grid((4, 4, 2), (0, 0, 0), (2, 2, 2), 9)  # x covers 0..2 mm centres only
    with pytest.raises(ParameterError, match="outside='zero'") as exc:
        rb.sum_courses([(g1, 5), (g2, 5)], 3.0)
    assert "32 voxel(s)" in str(exc.value)  # x indices 2, 3 of 4x4x4 (x bounds -1..3 mm)
    with pytest.warns(rb.RadiobiologyWarning, match="0 Gy"):
        out = rb.sum_courses([(g1, 5), (g2, 5)], 3.0, outside="zero")
    truth = lq_eqd2(v1, 5, 3.0)
    truth[:, :, :2] += lq_eqd2(v2, 5, 3.0)
    np.testing.assert_allclose(out.values_gy, truth, rtol=1e-14)
    assert out.model["courses"][1]["outside_voxels"] == 32
    assert "0 Gy" in out.description


def test_preconverted_course_and_bad_courses():
    """A converted EQD2 grid is added as is; mismatched quantity, missing fractions or an
    empty list are refused; a missing FrameOfReferenceUID is warned about."""
    g1, v1 = rand_grid((3, 3, 3), (0, 0, 0), (2, 2, 2), 10)
    e1 = rb.eqd2_grid(g1, 3.0, 5)
    out = rb.sum_courses([e1, (g1, 5)], 3.0)
    np.testing.assert_allclose(out.values_gy, 2 * lq_eqd2(v1, 5, 3.0), rtol=1e-14)
    with pytest.raises(ParameterError, match="same quantity"):
        rb.sum_courses([rb.eqd2_grid(g1, 10.0, 5), (g1, 5)], 3.0)
    with pytest.raises(ParameterError, match="fractions"):
        rb.sum_courses([g1], 3.0)
    with pytest.raises(ParameterError, match="fractions of course 1"):
        rb.sum_courses([(g1, 0)], 3.0)
    with pytest.raises(ParameterError, match="courses is empty"):
        rb.sum_courses([], 3.0)
    with pytest.raises(ParameterError, match="outside"):
        rb.sum_courses([(g1, 5)], 3.0, outside="nearest")
    g3, _ = rand_grid((3, 3, 3), (0, 0, 0), (2, 2, 2), 11, for_uid=None)
    with pytest.warns(rb.RadiobiologyWarning, match="FrameOfReferenceUID"):
        rb.sum_courses([(g1, 5), (g3, 5)], 3.0)
