"""gEUD and LKB NTCP.

Truths: closed forms (uniform dose -> gEUD = dose; n = 1 -> gEUD = volume-weighted mean;
gEUD = TD50 -> NTCP = Phi(0) = 0.5; t = 1 -> Phi(1) = 0.841344746 (standard normal
table)); a two-bin case computed by hand; parameter values as in the team's references
(liver-sbrt-references.md section 6, tagged [S] -> confidence "secondary").
"""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from dosecalc import ntcp
from dosecalc.errors import ParameterError


def test_uniform_dose_geud_is_the_dose():
    for a in (-10.0, 0.5, 1.0, 1 / 0.97, 8.0, 40.0):
        assert ntcp.geud_from_samples([23.7] * 5, [1, 2, 3, 4, 5], a=a) == pytest.approx(23.7, rel=1e-13)


def test_n_one_is_mean_dose():
    rng = np.random.default_rng(4)
    d, v = rng.uniform(0, 60, 1000), rng.uniform(0.001, 0.1, 1000)
    assert ntcp.geud_from_samples(d, v, n=1.0) == pytest.approx(np.sum(d * v) / np.sum(v), rel=1e-13)


def test_two_bin_hand_computed():
    """Half the volume at 10 Gy, half at 30 Gy, a = 2: sqrt(0.5*100 + 0.5*900) = sqrt(500)
    = 22.3606797...; a = -1: 1 / (0.5/10 + 0.5/30) = 15 Gy (harmonic mean)."""
    assert ntcp.geud_from_samples([10, 30], [2.0, 2.0], a=2) == pytest.approx(math.sqrt(500), rel=1e-14)
    assert ntcp.geud_from_samples([10, 30], [1.0, 1.0], a=-1) == pytest.approx(15.0, rel=1e-14)
    # a large -> maximum; negative a with a 0 Gy sample -> 0 (limit)
    assert ntcp.geud_from_samples([10, 30], [1.0, 1.0], a=400) == pytest.approx(30 * 0.5 ** (1 / 400), rel=1e-12)
    assert ntcp.geud_from_samples([0, 30], [1.0, 1.0], a=-2) == 0.0


def test_ntcp_at_td50_is_half_and_one_sigma():
    assert ntcp.ntcp_from_geud(35.4, 35.4, 0.12) == pytest.approx(0.5, abs=1e-15)
    # t = 1: gEUD = TD50 (1 + m)
    assert ntcp.ntcp_from_geud(35.4 * 1.12, 35.4, 0.12) == pytest.approx(0.8413447460685429, abs=1e-12)


def test_ntcp_monotonic_in_dose():
    doses = np.linspace(0, 80, 200)
    p = [ntcp.ntcp_lkb((np.full(3, d), np.ones(3)), td50=35.4, m=0.12, n=0.97) for d in doses]
    assert np.all(np.diff(p) >= 0) and p[0] < 1e-15 and p[-1] > 1 - 1e-12


def test_michigan_set_as_in_references():
    p = ntcp.RILD_PARAMETER_SETS["michigan"]
    assert (p.td50_gy, p.m, p.n) == (35.4, 0.12, 0.97)
    assert p.quantity == "EQD2Gy(a/b=2.5)" and p.confidence == "secondary"
    assert "Michigan" in p.source and p.structure == "Liver-GTV"
    with pytest.raises(TypeError):
        ntcp.RILD_PARAMETER_SETS["x"] = p  # read-only registry


def test_named_set_checks_quantity():
    """The Michigan set is in EQD2 (a/b 2.5): a physical DVH is refused; an EQD2 DVH at
    gEUD = 35.4 Gy gives 50 %."""
    samples = (np.full(4, 35.4), np.ones(4))
    phys = SimpleNamespace(samples=samples, quantity="dose", outside_cc=0.0)
    with pytest.raises(ParameterError, match="EQD2Gy"):
        ntcp.ntcp_lkb(phys, parameters="michigan")
    eq = SimpleNamespace(samples=samples, quantity="EQD2Gy(a/b=2.5)", outside_cc=0.0)
    assert ntcp.ntcp_lkb(eq, parameters="Michigan") == pytest.approx(0.5, abs=1e-14)
    with pytest.raises(ParameterError, match="parameters"):
        ntcp.ntcp_lkb(eq, parameters="emami")


def test_outside_volume_warns():
    dvh = SimpleNamespace(samples=(np.array([10.0]), np.array([1.0])), quantity="dose",
                          outside_cc=0.5, volume_cc=1.5, name="Liver")
    with pytest.warns(UserWarning, match="outside the dose grid"):
        assert ntcp.geud(dvh, n=1) == 10.0


@pytest.mark.parametrize("kwargs,needle", [
    (dict(a=None, n=None), "exactly one"),
    (dict(a=1.0, n=1.0), "exactly one"),
    (dict(n=0.0), "n must"),
    (dict(n=-1.0), "n must"),
    (dict(a=0.0), "a must"),
    (dict(a=float("nan")), "a must"),
])
def test_bad_exponent(kwargs, needle):
    with pytest.raises(ParameterError, match=needle):
        ntcp.geud_from_samples([1.0], [1.0], **kwargs)


def test_bad_samples_and_lkb_parameters():
    with pytest.raises(ParameterError, match="dose_gy"):
        ntcp.geud_from_samples([-1.0], [1.0], n=1)
    with pytest.raises(ParameterError, match="volume_cc"):
        ntcp.geud_from_samples([1.0], [float("nan")], n=1)
    with pytest.raises(ParameterError, match="sums to 0"):
        ntcp.geud_from_samples([1.0], [0.0], n=1)
    with pytest.raises(ParameterError, match="td50"):
        ntcp.ntcp_from_geud(10.0, 0.0, 0.1)
    with pytest.raises(ParameterError, match="m must"):
        ntcp.ntcp_from_geud(10.0, 30.0, -0.1)
    with pytest.raises(ParameterError, match="td50, m and n"):
        ntcp.ntcp_lkb(([1.0], [1.0]), td50=30)


def test_geud_of_dvh_curve_two_bin_by_hand():
    """DVH of two 1 cc samples at 30 and 10 Gy: curve (0,30) (0.5,30) (1.5,10) (2,10).
    a = 2: integral = 0.5*900 + 0.5*100 + (30^3 - 10^3)/(3*20) = 933.33..; / 2 cc ->
    sqrt(466.66..) = 21.6024689...; n = 1 -> 20 Gy = sample mean (equal volumes)."""
    from dosecalc.dvh import DVH

    dvh = DVH.from_samples([30.0, 10.0], [1.0, 1.0], quantity="dose")
    np.testing.assert_allclose(dvh.curve_volume_cc, [0, 0.5, 1.5, 2.0])
    assert ntcp.geud(dvh, a=2) == pytest.approx(math.sqrt((450 + 50 + 26000 / 60) / 2), rel=1e-13)
    assert ntcp.geud(dvh, n=1) == pytest.approx(20.0, rel=1e-14)
    assert ntcp.geud(DVH.from_samples([12.5] * 3, [1.0, 2.0, 0.5]), n=0.3) == pytest.approx(12.5, rel=1e-13)


@pytest.mark.parametrize("a", [-1.0, -3.0, 0.5, 1 / 0.97, 1.0, 10.0])
def test_geud_from_curve_matches_fine_quadrature(a):
    """Closed-form segment integrals vs a 20001-point-per-segment trapezoid in numpy."""
    rng = np.random.default_rng(11)
    v = np.concatenate([[0.0], np.cumsum(rng.uniform(0.01, 1.0, 30))])
    d = np.sort(rng.uniform(1.0, 60.0, 31))[::-1]
    d[5] = d[4]  # a flat segment (r = 0)
    t = np.linspace(0, 1, 20001)
    integral = 0.0
    for k in range(30):
        seg = (d[k] + (d[k + 1] - d[k]) * t) ** a
        integral += (v[k + 1] - v[k]) * np.trapezoid(seg, t)
    truth = (integral / v[-1]) ** (1 / a)
    assert ntcp.geud_from_curve(v, d, a=a) == pytest.approx(truth, rel=1e-7)


def test_named_set_on_real_dvh_labels():
    """An EQD2 DVH built with the Michigan quantity passes the check: uniform 35.4 Gy
    EQD2 -> gEUD = TD50 -> NTCP 50 %."""
    from dosecalc.dvh import DVH

    dvh = DVH.from_samples(np.full(10, 35.4), np.full(10, 0.1), quantity="EQD2Gy(a/b=2.5)")
    assert ntcp.ntcp_lkb(dvh, parameters="michigan") == pytest.approx(0.5, abs=1e-13)
