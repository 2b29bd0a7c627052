"""DVH from weighted samples: curve definition and TG-263 metrics.

Truths used (named again in each test): constant dose (every dose metric equals it);
a two-level dose (volumes known by construction); slabs of a cube and of a sphere in a
linear dose gradient (closed-form V(d): linear for the cube, the spherical-cap volume
pi h^2 (3R - h) / 3 for the sphere); float64 brute force in plain numpy (math.fsum);
and the exact step DVH sum(v_i for d_i >= d) of the samples.
"""

import json
import math
import warnings

import numpy as np
import pytest
from scipy.optimize import brentq

from dosecalc.dvh import DVH, DVHWarning
from dosecalc.errors import MetricSpecError, ParameterError

D_SPECS = ["D0.03cc[Gy]", "D1cc[Gy]", "D1%[Gy]", "D5%[Gy]", "D50%[Gy]", "D95%[Gy]", "D99%[Gy]",
           "D100%[Gy]", "DC1cc[Gy]", "DC50%[Gy]", "Mean[Gy]", "Max[Gy]", "Min[Gy]"]


def step_volume(dose, vol, d):
    """Exact step DVH of the samples: volume of samples with dose >= d (plain numpy)."""
    return float(np.sum(vol[dose >= d]))


@pytest.mark.parametrize("mode", ["exact", "binned"])
def test_uniform_dose_every_dose_metric_is_the_dose(mode):
    """Truth: a constant 37.5 Gy dose; every D/DC/Mean/Max/Min is 37.5 Gy, V(d) is the
    whole volume up to 37.5 Gy and 0 above, CV is the complement."""
    rng = np.random.default_rng(3)
    vol = rng.uniform(0.001, 0.02, 5000)
    total = math.fsum(vol)
    dvh = DVH.from_samples(np.full(vol.size, 37.5), vol, mode=mode)
    for spec in D_SPECS:
        assert dvh.metric(spec) == pytest.approx(37.5, abs=1e-12), spec
    assert dvh.metric("Volume[cc]") == pytest.approx(total, rel=1e-14)
    assert dvh.metric("V37.5Gy[cc]") == pytest.approx(total, rel=1e-14)
    assert dvh.metric("V37.5Gy[%]") == pytest.approx(100.0, rel=1e-14)
    assert dvh.metric("V37.51Gy[cc]") == 0.0
    assert dvh.metric("CV37.5Gy[cc]") == pytest.approx(0.0, abs=1e-12)
    assert dvh.metric("CV37.51Gy[cc]") == pytest.approx(total, rel=1e-14)


def test_two_level_dose_known_volumes():
    """Truth by construction: 10 cc at 20 Gy and 30 cc at 10 Gy, each as 0.01 cc samples.
    Mean = (10*20 + 30*10)/40 = 12.5 Gy; V15Gy = 10 cc; the hottest 5 cc get 20 Gy, the
    hottest 20 cc at least 10 Gy.  At a level's own dose the curve may differ from the
    step DVH by at most half a sample (0.005 cc), the documented bound."""
    dose = np.r_[np.full(1000, 20.0), np.full(3000, 10.0)]
    vol = np.full(4000, 0.01)
    dvh = DVH.from_samples(dose, vol, name="two-level")
    assert dvh.mean_gy == pytest.approx(12.5, rel=1e-14)
    assert dvh.metric("V15Gy[cc]") == pytest.approx(10.0, abs=1e-9)
    assert dvh.metric("CV15Gy[cc]") == pytest.approx(30.0, abs=1e-9)
    assert dvh.metric("V15Gy[%]") == pytest.approx(25.0, abs=1e-8)
    assert dvh.metric("V20Gy[cc]") == pytest.approx(10.0, abs=0.005 + 1e-9)
    assert dvh.metric("V10Gy[cc]") == pytest.approx(40.0, abs=1e-9)
    assert dvh.metric("D5cc[Gy]") == 20.0
    assert dvh.metric("D9.99cc[Gy]") == 20.0
    assert dvh.metric("D10.01cc[Gy]") == 10.0
    assert dvh.metric("D20cc[Gy]") == 10.0
    assert dvh.metric("DC25cc[Gy]") == 10.0
    assert dvh.metric("DC35cc[Gy]") == 20.0
    assert dvh.metric("Max[Gy]") == 20.0 and dvh.metric("Min[Gy]") == 10.0


def test_cube_slabs_in_linear_gradient_match_closed_form():
    """Truth: a 30 x 30 x 30 mm cube with dose 10 Gy + 1 Gy/mm * z (z from 0 to 30 mm)
    has V(d) = 0.9 cc/mm * (40 - d) for 10 <= d <= 40: D_x% = 40 - 0.3 x Gy.  Sampled as
    300 slabs of 0.1 mm (one sample at each slab's centre dose), the curve through the
    volume midpoints is this line except in the outer half slab (Max/Min are the outer
    slab centres: 39.95 and 10.05 Gy)."""
    t = 0.1
    zc = (np.arange(300) + 0.5) * t
    dose = 10.0 + zc
    vol = np.full(300, 30 * 30 * t / 1000.0)
    dvh = DVH.from_samples(dose, vol)
    assert dvh.volume_cc == pytest.approx(27.0, rel=1e-13)
    for x in (1, 2, 5, 50, 95, 98, 99):
        assert dvh.metric(f"D{x}%[Gy]") == pytest.approx(40 - 0.3 * x, abs=1e-9), x
    for d in (11.0, 15.5, 20.0, 33.3, 39.0):
        assert dvh.metric(f"V{d}Gy[cc]") == pytest.approx(0.9 * (40 - d), abs=1e-9), d
    assert dvh.metric("D0.06cc[Gy]") == pytest.approx(40 - 0.06 / 0.9, abs=1e-9)
    # Within the hottest half slab (0.045 cc) the curve is flat at the hottest sample.
    assert dvh.metric("D0.03cc[Gy]") == pytest.approx(39.95, abs=1e-12)
    assert dvh.metric("Max[Gy]") == pytest.approx(39.95)
    assert dvh.metric("Min[Gy]") == pytest.approx(10.05)
    assert dvh.metric("Mean[Gy]") == pytest.approx(25.0, abs=1e-12)


def test_sphere_slabs_in_linear_gradient_match_cap_volume():
    """Truth: a sphere R = 12 mm in the dose 10 Gy + 1 Gy/mm * z (centre z = 0, as in the
    Nelms 2015 benchmark geometry).  The volume above z0 is the cap pi h^2 (3R - h) / 3,
    h = R - z0, so V(d) is closed form and D_x is its root (brentq).  Samples: 0.05 mm
    slabs with their exact volumes, at the slab-centre dose.  Expected agreement: the
    slab discretisation error O(t^2), well below 1e-3 Gy here; the mean is exactly 10 Gy
    by symmetry (up to the same discretisation)."""
    R, t = 12.0, 0.05
    edges = np.linspace(-R, R, int(round(2 * R / t)) + 1)

    def below(z):  # volume (mm^3) of the sphere below z
        h = np.clip(z + R, 0, 2 * R)
        return np.pi * h * h * (3 * R - h) / 3.0

    vol = np.diff(below(edges)) / 1000.0
    zc = 0.5 * (edges[:-1] + edges[1:])
    dvh = DVH.from_samples(10.0 + zc, vol)
    total = 4.0 / 3.0 * np.pi * R ** 3 / 1000.0
    assert dvh.volume_cc == pytest.approx(total, rel=1e-12)

    def v_above(d):
        return (4.0 / 3.0 * np.pi * R ** 3 - below(d - 10.0)) / 1000.0

    for x in (1, 5, 50, 95, 99):
        truth = brentq(lambda d: v_above(d) - x / 100 * total, 10 - R, 10 + R, xtol=1e-13)
        assert dvh.metric(f"D{x}%[Gy]") == pytest.approx(truth, abs=1e-3), x
    for d in (0.0, 5.0, 10.0, 17.0, 21.0):
        assert dvh.metric(f"V{d}Gy[cc]") == pytest.approx(v_above(d), abs=1e-4), d
    truth03 = brentq(lambda d: v_above(d) - 0.03, 10, 10 + R, xtol=1e-13)
    assert dvh.metric("D0.03cc[Gy]") == pytest.approx(truth03, abs=5e-3)
    assert dvh.metric("Mean[Gy]") == pytest.approx(10.0, abs=1e-9)


def random_samples(seed, n=20000, ties=False):
    rng = np.random.default_rng(seed)
    dose = rng.gamma(3.0, 5.0, n)
    if ties:
        dose = np.round(dose, 1)
    vol = rng.uniform(0.0, 0.01, n)
    return dose, vol


@pytest.mark.parametrize("ties", [False, True])
def test_curve_within_half_sample_of_step_dvh(ties):
    """Truth: the exact step DVH of the samples (plain numpy).  The documented bound:
    |V(d) - sum(v_i, d_i >= d)| <= max(v_i) / 2 at every dose."""
    dose, vol = random_samples(1, ties=ties)
    dvh = DVH.from_samples(dose, vol, mode="exact")
    probe = np.unique(np.r_[dose[:500], np.linspace(-1, dose.max() + 1, 400)])
    got = dvh.volume_at_dose(probe)
    step = np.array([step_volume(dose, vol, d) for d in probe])
    assert np.all(np.abs(got - step) <= vol.max() / 2 + 1e-9)


def test_mean_min_max_against_brute_force():
    """Truth: volume-weighted mean by math.fsum in float64; min/max by numpy over
    samples of volume > 0 (zero-volume samples carry no dose)."""
    dose, vol = random_samples(2)
    vol[::7] = 0.0
    dose[::7] = 1000.0  # must be ignored: zero volume
    dvh = DVH.from_samples(dose, vol)
    keep = vol > 0
    truth = math.fsum(dose[keep] * vol[keep]) / math.fsum(vol[keep])
    assert dvh.mean_gy == pytest.approx(truth, rel=1e-13)
    assert dvh.max_gy == dose[keep].max() and dvh.min_gy == dose[keep].min()
    assert dvh.volume_cc == pytest.approx(math.fsum(vol), rel=1e-14)


def test_inverse_consistency_cv_plus_v_and_dc_vs_d():
    """Truths: V(D(v)) = v where the curve strictly decreases (no ties in continuous
    random doses); CV_x + V_x = covered volume; DC_x cc = D_(total - x) cc, by the
    definitions of the coldest / hottest volume."""
    dose, vol = random_samples(4)
    dvh = DVH.from_samples(dose, vol)
    total = dvh.covered_cc
    v = np.linspace(0.01 * total, 0.99 * total, 50)
    np.testing.assert_allclose(dvh.volume_at_dose(dvh.dose_at_volume(v)), v, rtol=0, atol=1e-9 * total)
    for d in (1.0, 7.5, 15.0, 30.0):
        assert dvh.metric(f"CV{d}Gy[cc]") + dvh.metric(f"V{d}Gy[cc]") == pytest.approx(total, rel=1e-12)
        assert dvh.metric(f"CV{d}Gy[%]") + dvh.metric(f"V{d}Gy[%]") == pytest.approx(100.0, rel=1e-12)
    for x in (0.5, 10.0, 50.0, 90.0):
        assert dvh.metric(f"DC{x}cc[Gy]") == pytest.approx(dvh.metric(f"D{total - x}cc[Gy]"), abs=1e-9)
    assert dvh.metric("DC20%[Gy]") == pytest.approx(dvh.metric("D80%[Gy]"), abs=1e-12)
    assert dvh.metric("D0cc[Gy]") == dvh.max_gy
    assert dvh.metric("D100%[Gy]") == dvh.min_gy
    assert dvh.metric("DC0cc[Gy]") == dvh.min_gy


def test_binned_and_exact_agree_within_one_bin():
    """Truth: the exact mode.  Binned D metrics must lie within one bin width (plus the
    local gap between neighbouring sample doses, tiny for 200 000 samples) of it; volume
    metrics within the volume in the bins next to the threshold; Mean/Min/Max are exact."""
    dose, vol = random_samples(5, n=200000)
    ex = DVH.from_samples(dose, vol, mode="exact")
    bn = DVH.from_samples(dose, vol, mode="binned", bin_gy=0.01)
    width = bn.settings["bin_gy"]
    assert 0 < width <= 0.01
    for spec in ("D0.03cc[Gy]", "D2%[Gy]", "D50%[Gy]", "D95%[Gy]", "D99%[Gy]", "DC10cc[Gy]"):
        assert abs(bn.metric(spec) - ex.metric(spec)) <= width + 1e-3, spec
    for d in (2.0, 10.0, 20.0, 40.0):
        band = math.fsum(vol[np.abs(dose - d) <= 2 * width])
        assert abs(bn.metric(f"V{d}Gy[cc]") - ex.metric(f"V{d}Gy[cc]")) <= band + 1e-9
    assert bn.mean_gy == ex.mean_gy and bn.max_gy == ex.max_gy and bn.min_gy == ex.min_gy
    # Bin edges never decide a metric: shifting every dose by a third of a bin shifts D50.
    sh = DVH.from_samples(dose + width / 3, vol, mode="binned", bin_gy=0.01)
    assert sh.metric("D50%[Gy]") - bn.metric("D50%[Gy]") == pytest.approx(width / 3, abs=1e-9)


def test_percent_of_prescription_metrics():
    """Truth: the cube of test_cube_... with Rx = 30 Gy: V100%[cc] = V30Gy = 0.9*10 = 9 cc
    (33.3 %), D50%[%] = 25 / 30 * 100, Max[%] = 39.95 / 30 * 100."""
    zc = (np.arange(300) + 0.5) * 0.1
    dvh = DVH.from_samples(10.0 + zc, np.full(300, 0.09), prescription_gy=30.0)
    assert dvh.metric("V100%[cc]") == pytest.approx(9.0, abs=1e-9)
    assert dvh.metric("V100%[%]") == pytest.approx(100 / 3, abs=1e-8)
    assert dvh.metric("CV50%[cc]") == pytest.approx(0.9 * (15 - 10), abs=1e-9)
    assert dvh.metric("D50%[%]") == pytest.approx(25 / 30 * 100, abs=1e-8)
    assert dvh.metric("Max[%]") == pytest.approx(39.95 / 30 * 100)
    assert dvh.metric("D50%[cGy]") == pytest.approx(2500.0, abs=1e-6)
    assert dvh.metric("V2500cGy[cc]") == pytest.approx(dvh.metric("V25Gy[cc]"), rel=1e-15)
    no_rx = DVH.from_samples(10.0 + zc, np.full(300, 0.09), name="PTV")
    with pytest.raises(ParameterError, match=r"V100%\[%\].*'PTV'.*prescription_gy"):
        no_rx.metric("V100%[%]")
    with pytest.raises(ParameterError, match="prescription"):
        no_rx.metric("D95%[%]")


def test_outside_part_is_flagged_not_rescaled():
    """Truth by construction: 8 cc covered at 10 Gy (80 x 0.1 cc) + 2 cc outside the grid.
    Volume[cc] is the whole 10 cc; V/CV/D are on the covered 8 cc only; the flag names the
    outside volume and every volume-dependent metric carries it as a note."""
    dvh = DVH.from_samples(np.full(80, 10.0), np.full(80, 0.1), name="Liver", outside_cc=2.0)
    assert dvh.volume_cc == pytest.approx(10.0) and dvh.covered_cc == pytest.approx(8.0)
    assert "2.000 cc (20.0 %)" in dvh.coverage_warning and "'Liver'" in dvh.coverage_warning
    assert dvh.metric("Volume[cc]") == pytest.approx(10.0)
    assert dvh.metric("V5Gy[%]") == pytest.approx(100.0)
    assert dvh.metric("CV15Gy[cc]") == pytest.approx(8.0)
    r = dvh.evaluate("CV15Gy[cc]")
    assert r.note == dvh.coverage_warning
    assert dvh.evaluate("Volume[cc]").note is None
    # Not covered at all: NaN with a reason, Volume still known.
    out = DVH.from_samples([], [], name="Far", outside_cc=3.0)
    assert out.metric("Volume[cc]") == 3.0
    with pytest.warns(DVHWarning, match="no part of 'Far'"):
        assert math.isnan(out.metric("Mean[Gy]"))
    assert DVH.from_samples(np.full(4, 1.0), np.full(4, 1.0)).coverage_warning is None


def test_volume_beyond_structure_gives_nan_with_reason():
    """Truth: a 1 cc structure has no hottest 2 cc / coldest 2 cc: NaN and a DVHWarning
    naming the metric, never a clipped Min."""
    dvh = DVH.from_samples(np.linspace(1, 2, 100), np.full(100, 0.01), name="Cord")
    with pytest.warns(DVHWarning, match=r"D2cc\[Gy\].*hottest 2 cc do not exist.*'Cord'"):
        assert math.isnan(dvh.metric("D2cc[Gy]"))
    with pytest.warns(DVHWarning, match="coldest"):
        assert math.isnan(dvh.metrics(["DC2cc[Gy]"])["DC2cc[Gy]"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dvh.metric("D1cc[Gy]") == pytest.approx(1.0)


def test_converted_quantity_labels_and_mismatch():
    """A DVH of EQD2 (a/b 2.5) labels its metrics with the quantity and refuses specs about
    another quantity (truth: the TG-263 label rules in dosecalc.metrics)."""
    q = "EQD2Gy(a/b=2.5)"
    dvh = DVH.from_samples(np.full(10, 30.0), np.full(10, 1.0), name="Liver", quantity=q)
    r = dvh.evaluate("Mean[Gy]")
    assert r.label == "Mean[EQD2Gy(a/b=2.5)]" and r.unit == q and r.value == 30.0
    assert dvh.metric("D95%[EQD2Gy(a/b=2.5)]") == 30.0
    assert dvh.metric("V20EQD2Gy[cc]") == pytest.approx(10.0)
    with pytest.raises(MetricSpecError, match="EQD2Gy\\(a/b=3\\).*EQD2Gy\\(a/b=2.5\\)"):
        dvh.metric("D95%[EQD2Gy(a/b=3)]")
    with pytest.raises(MetricSpecError, match="cGy"):
        dvh.metric("D95%[cGy]")
    phys = DVH.from_samples(np.full(10, 30.0), np.full(10, 1.0), name="Liver")
    with pytest.raises(MetricSpecError, match="physical dose"):
        phys.metric("Mean[EQD2Gy]")


@pytest.mark.parametrize("kwargs, match", [
    (dict(dose_gy=[1.0, np.nan], volume_cc=[1.0, 1.0]), "non-finite"),
    (dict(dose_gy=[1.0, 2.0], volume_cc=[1.0, -1.0]), "negative"),
    (dict(dose_gy=[1.0, 2.0], volume_cc=[1.0]), "same shape"),
    (dict(dose_gy=[], volume_cc=[]), "empty"),
    (dict(dose_gy=[1.0], volume_cc=[1.0], prescription_gy=0.0), "prescription_gy"),
    (dict(dose_gy=[1.0], volume_cc=[1.0], outside_cc=-1.0), "outside_cc"),
    (dict(dose_gy=[1.0], volume_cc=[1.0], mode="fast"), "mode"),
    (dict(dose_gy=[1.0], volume_cc=[1.0], bin_gy=0.0), "bin_gy"),
])
def test_bad_samples_raise_parameter_error(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        DVH.from_samples(**kwargs)


def test_nan_dose_with_zero_volume_is_ignored_and_inputs_untouched():
    """A NaN dose carried by a zero-volume sample has no volume to describe; inputs are
    not modified (truth: the arrays compared before/after)."""
    dose = np.array([np.nan, 5.0, 6.0])
    vol = np.array([0.0, 1.0, 1.0])
    before = (dose.copy(), vol.copy())
    dvh = DVH.from_samples(dose, vol)
    assert dvh.mean_gy == 5.5
    np.testing.assert_array_equal(dose, before[0])
    np.testing.assert_array_equal(vol, before[1])


def test_cumulative_and_differential():
    """Truth: the cube of test_cube_... (V(d) = 0.9 (40 - d) cc inside the sampled range):
    the cumulative curve at given doses, a differential that sums to the total volume
    and has 0.9 cc per Gy in the interior, relative volumes in % of the total."""
    zc = (np.arange(300) + 0.5) * 0.1
    dvh = DVH.from_samples(10.0 + zc, np.full(300, 0.09))
    d, v = dvh.cumulative([0.0, 20.0, 30.0, 50.0])
    np.testing.assert_allclose(v, [27.0, 18.0, 9.0, 0.0], atol=1e-9)
    d, v = dvh.cumulative(relative=True)
    assert d[0] == 0.0 and v[0] == pytest.approx(100.0) and v[-1] == 0.0
    assert np.all(np.diff(v) <= 1e-12)
    c, dv = dvh.differential(bin_gy=1.0)
    assert math.fsum(dv) == pytest.approx(27.0, rel=1e-12)
    interior = (c > 11) & (c < 39)
    np.testing.assert_allclose(dv[interior], 0.9, atol=1e-9)
    c, dv = dvh.differential(bin_gy=0.5, relative=True)
    assert math.fsum(dv) == pytest.approx(100.0, rel=1e-12)


def test_to_dict_is_json_ready():
    dvh = DVH.from_samples(np.linspace(1, 2, 100), np.full(100, 0.01), name="Cord",
                           settings={"end_cap": "half", "supersample": (2, 2, 2)})
    d = dvh.to_dict(metrics=["Mean[Gy]", "D2cc[Gy]"], curve_step_gy=0.5)
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["metrics"]["Mean[Gy]"] == pytest.approx(1.5)
    assert back["metrics"]["D2cc[Gy]"] is None and "hottest" in back["notes"]["D2cc[Gy]"]
    assert back["settings"]["supersample"] == [2, 2, 2] and back["settings"]["mode"] == "exact"
    assert back["cumulative"]["volume_cc"][0] == pytest.approx(1.0)


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 80, allow_nan=False), st.floats(0, 5, allow_nan=False)),
                min_size=1, max_size=60),
       st.sampled_from(["exact", "binned"]))
def test_cumulative_is_monotonic_and_bounded(samples, mode):
    """Truth: a cumulative DVH never increases with dose, starts at the covered volume at
    or below Min, ends at 0 above Max; D(v) never increases with v and stays in [Min, Max];
    and the volume lies within half the largest sample of the exact step DVH (exact
    mode) or within the volume of the samples in neighbouring bins (binned mode)."""
    dose = np.array([s[0] for s in samples])
    vol = np.array([s[1] for s in samples])
    if not np.any(vol > 0):
        return
    dvh = DVH.from_samples(dose, vol, mode=mode)
    keep = vol > 0
    probe = np.linspace(dose[keep].min() - 1, dose[keep].max() + 1, 200)
    v = dvh.volume_at_dose(probe)
    assert np.all(np.diff(v) <= 1e-9 * dvh.covered_cc)
    assert v[0] == pytest.approx(dvh.covered_cc) and v[-1] == 0.0
    x = np.linspace(0, dvh.covered_cc, 200)
    dx = dvh.dose_at_volume(x)
    assert np.all(np.diff(dx) <= 1e-12)
    assert np.all((dx >= dvh.min_gy - 1e-12) & (dx <= dvh.max_gy + 1e-12))
    if mode == "exact":
        step = np.array([step_volume(dose[keep], vol[keep], d) for d in probe])
        assert np.all(np.abs(v - step) <= vol.max() / 2 + 1e-9 * dvh.covered_cc)
