"""Voxel-wise LQ / LQ-L BED and EQD2: formulas, inverse, grids, bad input.

Truths: published worked examples (54 Gy / 3 fx at a/b 10 = BED 151.2 Gy, EQD2 126 Gy;
40 Gy / 5 fx at a/b 10 = BED 72 Gy, both plain arithmetic of BED = D (1 + d/(a/b)));
hand-computed LQ-L values; the closed-form LQ derivative dBED/dD = 1 + 2d/(a/b);
brute force in plain numpy float64 for grids.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from dosecalc import radiobiology as rb
from dosecalc.errors import ParameterError
from dosecalc.model import DoseGrid


def grid_of(values, **kw):
    return DoseGrid(values, (-10.0, 5.0, 2.0), (2.0, 2.5, 3.0), **kw)


def test_published_examples():
    """54 Gy/3 fx, a/b 10: d = 18, BED = 54 (1 + 1.8) = 151.2, EQD2 = 151.2/1.2 = 126.
    40 Gy/5 fx, a/b 10: BED = 40 (1 + 0.8) = 72 Gy (common SBRT liver-PTV example)."""
    assert rb.bed(54.0, 3, 10) == pytest.approx(151.2, abs=1e-12)
    assert rb.eqd2(54.0, 3, 10) == pytest.approx(126.0, abs=1e-12)
    assert rb.bed(40.0, 5, 10) == pytest.approx(72.0, abs=1e-12)
    # 2 Gy fractions are their own EQD2 for any a/b (definition of EQD2).
    assert rb.eqd2(60.0, 30, 2.5) == pytest.approx(60.0, abs=1e-12)


def test_lq_l_hand_computed_above_transition():
    """54 Gy/3 fx, a/b 10, d_T 6 Gy: BED/n = 6 (1 + 0.6) + 12 (1 + 1.2) = 9.6 + 26.4 = 36,
    BED = 108 Gy, EQD2 = 108 / 1.2 = 90 Gy (by hand)."""
    assert rb.bed(54.0, 3, 10, model="lq-l", transition_dose=6.0) == pytest.approx(108.0, abs=1e-12)
    assert rb.eqd2(54.0, 3, 10, model="LQ-L", transition_dose=6.0) == pytest.approx(90.0, abs=1e-12)


def test_lq_l_equals_lq_below_transition():
    """Below d_T the LQ-L model is the LQ model by definition (Astrahan 2008)."""
    n, ab, dt = 5, 3.0, 8.0
    dose = np.linspace(0.0, n * dt, 401)  # d from 0 to exactly d_T
    np.testing.assert_array_equal(rb.eqd2(dose, n, ab, "lq-l", dt), rb.eqd2(dose, n, ab))


def test_lq_l_continuous_value_and_slope_at_transition():
    """At D_T = n d_T: values meet, and the one-sided numerical derivatives both equal the
    LQ derivative there, dBED/dD = 1 + 2 d_T/(a/b) (closed form)."""
    n, ab, dt = 3, 10.0, 6.0
    dT = n * dt
    h = 1e-4
    f = lambda D: rb.bed(D, n, ab, "lq-l", dt)
    left = (f(dT) - f(dT - h)) / h
    right = (f(dT + h) - f(dT)) / h
    slope = 1 + 2 * dt / ab
    assert abs(f(dT + 1e-9) - f(dT - 1e-9)) < 1e-7
    assert left == pytest.approx(slope, abs=1e-4)  # O(h / (n a/b)) curvature error on the LQ side
    assert right == pytest.approx(slope, abs=1e-9)


@pytest.mark.parametrize("model,dt", [("lq", None), ("lq-l", 6.0)])
@pytest.mark.parametrize("quantity", ["bed", "eqd2"])
def test_inverse_of_forward_is_identity(model, dt, quantity):
    """dose_for_X(X(D)) == D: closed-form quadratic root (LQ), piecewise (LQ-L)."""
    D = np.concatenate([[0.0, 1e-9, 18.0, 18.0 + 1e-7], np.random.default_rng(3).uniform(0, 120, 2000)])
    fwd = getattr(rb, quantity)
    inv = getattr(rb, f"dose_for_{quantity}")
    back = inv(fwd(D, 3, 10.0, model, dt), 3, 10.0, model, dt)
    np.testing.assert_allclose(back, D, rtol=1e-12, atol=1e-12)


def test_inverse_hand_value():
    """Physical dose in 5 fx with EQD2 = 126 Gy at a/b 10: from 54 Gy/3 fx example ->
    in 3 fx the inverse must return 54 Gy exactly."""
    assert rb.dose_for_eqd2(126.0, 3, 10) == pytest.approx(54.0, abs=1e-12)
    assert rb.dose_for_bed(72.0, 5, 10) == pytest.approx(40.0, abs=1e-12)


def brute_eqd2(total, n, ab, dt=None):
    """Plain numpy float64 formula, voxel by voxel (independent of the kernel)."""
    total = np.asarray(total, dtype=np.float64)
    ab = np.broadcast_to(np.asarray(ab, dtype=np.float64), total.shape)
    d = total / n
    bed = total * (1 + d / ab)
    if dt is not None:
        lin = n * (dt * (1 + dt / ab) + (d - dt) * (1 + 2 * dt / ab))
        bed = np.where(d > dt, lin, bed)
    return bed / (1 + 2 / ab)


@pytest.mark.parametrize("model,dt", [("lq", None), ("lq-l", 7.0)])
def test_grid_equals_scalar_formula_per_voxel(model, dt):
    """eqd2_grid == the brute-force numpy formula for every voxel (scalar a/b and a
    per-voxel a/b array), for a PLAN grid and a FRACTION grid (total = n x values)."""
    rng = np.random.default_rng(0)
    vals = rng.uniform(0, 60, (7, 8, 9))
    n = 5
    g = grid_of(vals)
    out = rb.eqd2_grid(g, 2.5, n, model, dt)
    np.testing.assert_allclose(out.values_gy, brute_eqd2(vals, n, 2.5, dt), rtol=1e-14, atol=1e-12)
    ab_arr = rng.choice([2.0, 2.5, 10.0], size=vals.shape)
    out = rb.eqd2_grid(g, ab_arr, n, model, dt)
    np.testing.assert_allclose(out.values_gy, brute_eqd2(vals, n, ab_arr, dt), rtol=1e-14, atol=1e-12)
    assert out.quantity == "EQD2Gy(a/b=map)"
    per_fx = grid_of(vals / n, summation_type="FRACTION")
    out = rb.eqd2_grid(per_fx, 2.5, n, model, dt)
    np.testing.assert_allclose(out.values_gy, brute_eqd2(vals, n, 2.5, dt), rtol=1e-13, atol=1e-12)
    assert out.summation_type == "PLAN" and "FRACTION" in out.description
    assert out.model["source_summation_type"] == "FRACTION" and out.model["source_scale"] == n


def test_bed_grid_metadata_and_input_untouched():
    """BED grid: EFFECTIVE, TG-263 label, model dict; input grid unchanged (copy compared);
    values = brute-force BED = D (1 + d/(a/b))."""
    vals = np.random.default_rng(1).uniform(0, 50, (3, 4, 5))
    g = grid_of(vals, frame_of_reference_uid="1.2.3")
    before = g.values_gy.copy()
    out = rb.bed_grid(g, 10, 5, "lq-l", 12.0)
    np.testing.assert_array_equal(g.values_gy, before)
    assert g.dose_type == "PHYSICAL"
    np.testing.assert_allclose(out.values_gy, vals * (1 + vals / 5 / 10), rtol=1e-14)  # d <= 10 < d_T
    assert out.dose_type == "EFFECTIVE" and out.quantity == "BED(a/b=10)"
    assert out.model == {**out.model, "model": "LQ-L", "alpha_beta": 10.0, "fractions": 5,
                         "transition_dose_gy": 12.0, "source_summation_type": "PLAN"}
    assert not out.values_gy.flags.writeable
    assert out.frame_of_reference_uid == "1.2.3" and out.same_geometry(g)
    assert "BED" in out.description and "LQ-L" in out.description and "d_T=12" in out.description


@pytest.mark.parametrize("kwargs,needle", [
    (dict(alpha_beta=0), "alpha_beta"),
    (dict(alpha_beta=-3), "alpha_beta"),
    (dict(alpha_beta=float("nan")), "alpha_beta"),
    (dict(alpha_beta="3"), "alpha_beta"),
    (dict(fractions=0), "fractions"),
    (dict(fractions=2.5), "fractions"),
    (dict(fractions=float("inf")), "fractions"),
    (dict(model="lkb"), "model"),
    (dict(model="lq-l"), "transition_dose"),
    (dict(model="lq-l", transition_dose=0.0), "transition_dose"),
    (dict(model="lq-l", transition_dose=-2.0), "transition_dose"),
    (dict(model="lq", transition_dose=6.0), "transition_dose"),
])
def test_bad_parameters_name_the_parameter(kwargs, needle):
    """Every invalid parameter gives ONE ParameterError line naming it."""
    args = dict(alpha_beta=3.0, fractions=5, model="lq", transition_dose=None)
    args.update(kwargs)
    g = grid_of(np.ones((2, 2, 2)))
    with pytest.raises(ParameterError, match=needle) as exc:
        rb.eqd2_grid(g, args["alpha_beta"], args["fractions"], args["model"], args["transition_dose"])
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("bad", [-0.1, float("nan")])
def test_negative_or_nan_dose_rejected(bad):
    vals = np.ones((2, 3, 4))
    vals[1, 2, 3] = bad
    with pytest.raises(ParameterError, match="negative or NaN"):
        rb.eqd2_grid(grid_of(vals), 3, 5)
    with pytest.raises(ParameterError, match="dose_gy"):
        rb.eqd2(bad, 5, 3)


def test_effective_or_partial_source_refused_multiplan_warned():
    """Converting an EFFECTIVE grid again, or BEAM (partial) dose, is an error; MULTI_PLAN
    is converted as one course with a warning."""
    g = grid_of(np.ones((2, 2, 2)) * 10)
    e = rb.eqd2_grid(g, 3, 5)
    with pytest.raises(ParameterError, match="EFFECTIVE"):
        rb.eqd2_grid(e, 3, 5)
    with pytest.raises(ParameterError, match="BEAM"):
        rb.eqd2_grid(grid_of(np.ones((2, 2, 2)), summation_type="BEAM"), 3, 5)
    with pytest.warns(rb.RadiobiologyWarning, match="MULTI_PLAN"):
        out = rb.eqd2_grid(grid_of(np.full((2, 2, 2), 10.0), summation_type="MULTI_PLAN"), 3, 5)
    assert out.values_gy[0, 0, 0] == pytest.approx(10 * (2 + 3) / 5)


_THREAD_SCRIPT = r"""
import numpy as np, hashlib
from dosecalc import radiobiology as rb
from dosecalc.model import DoseGrid
rng = np.random.default_rng(7)
v = rng.uniform(0, 80, (40, 50, 60))
ab = rng.choice([2.0, 2.5, 10.0], size=v.shape)
g = DoseGrid(v, (0, 0, 0), (1, 1, 1))
a = rb.eqd2_grid(g, ab, 5, "lq-l", 9.0).values_gy
b = rb.bed_grid(g, 3.0, 5).values_gy
back = rb.dose_for_eqd2(a.ravel()[:1000], 5, 10.0)
print(hashlib.sha256(a.tobytes() + b.tobytes() + back.tobytes()).hexdigest())
"""


def test_same_result_with_one_and_two_threads():
    """Bit-identical output with NUMBA_NUM_THREADS=1 and 2 (element-wise kernel)."""
    digests = []
    for threads in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads)
        r = subprocess.run([sys.executable, "-c", _THREAD_SCRIPT], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        digests.append(r.stdout.strip())
    assert digests[0] == digests[1]
