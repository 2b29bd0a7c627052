"""EQD2/BED on the synthetic liver-SBRT case: DVHs of converted dose, structure maps,
RTDOSE round trip.

Truths: the LQ formula in plain numpy float64; the monotonicity of the LQ transform
(a DVH point of the EQD2 grid is the EQD2 of the physical DVH point, up to the
linear-interpolation error bounded in closed form below); pydicom's own reading of the
written file.
"""

import json
import warnings

import numpy as np
import pydicom
import pytest

from dosecalc import radiobiology as rb
from dosecalc.ntcp import case_geud, case_ntcp, ntcp_from_geud


def lq_eqd2(total, n, ab):
    return total * (total / n + ab) / (2 + ab)


@pytest.mark.parametrize("name,spec", [("PTV", "D95%[Gy]"), ("Liver - CTV", "D50%[Gy]"),
                                       ("Stomach", "D0.03cc[Gy]")])
def test_dvh_point_of_eqd2_is_eqd2_of_dvh_point(synthetic_case, name, spec):
    """EQD2 is monotonic, so on the dose grid's own lattice (supersample=1) the EQD2 DVH
    holds the same samples in the same order with the same volumes: its curve points are
    exactly f(d_k).  Between points the DVH is linear in dose, so D_x of the EQD2 DVH
    differs from f(D_x of the physical DVH) by at most f'' gap^2 / 8 (f'' = 2 / (n (a/b +
    2)), gap = dose step of the curve segment used): that is the tolerance.  The label
    carries the quantity."""
    case = synthetic_case
    n, ab = case.fractions, 2.5
    eq = case.eqd2(ab)
    phys = case.dvh(name, supersample=1)
    conv = case.dvh(name, dose=eq, supersample=1)
    assert conv.quantity == "EQD2Gy(a/b=2.5)"
    assert conv.label(spec) == spec.replace("[Gy]", "[EQD2Gy(a/b=2.5)]")
    x = phys.metric(spec)
    cd = phys.curve_dose_gy
    k = np.searchsorted(-cd, -x)
    gap = float(cd[max(k - 1, 0)] - cd[min(k, cd.size - 1)])
    tol = 2.0 / (n * (ab + 2.0)) * gap ** 2 / 8 + 1e-9
    assert conv.metric(spec) == pytest.approx(rb.eqd2(x, n, ab), abs=tol)
    # Mean is not a DVH point: the EQD2 mean is the mean of the voxel EQD2 (>= EQD2 of
    # the mean, Jensen); truth from the mask samples in numpy.
    from dosecalc.masks import mask_samples

    d, v = mask_samples(case.mask(name, supersample=1), case.dose)
    assert conv.mean_gy == pytest.approx(np.sum(lq_eqd2(d, n, ab) * v) / np.sum(v), rel=1e-12)
    assert conv.mean_gy >= rb.eqd2(phys.mean_gy, n, ab) - 1e-9


def test_converted_samples_convert_interpolated_dose_on_subvoxel_lattice(synthetic_case):
    """On a sub-voxel mask lattice converted_samples = EQD2 (numpy formula) of the
    trilinearly interpolated physical dose; interpolating the EQD2 grid instead gives
    more (LQ is convex), never less.  With an a/b map it falls back to the latter."""
    from dosecalc.masks import mask_samples

    case = synthetic_case
    n = case.fractions
    mask = case.mask("PTV", supersample=3)
    assert mask.index_offset is None
    eq = case.eqd2(2.5)
    d_phys, v = mask_samples(mask, case.dose)
    d_conv, v2 = rb.converted_samples(mask, eq, case.dose)
    np.testing.assert_array_equal(v, v2)
    np.testing.assert_allclose(d_conv, lq_eqd2(d_phys, n, 2.5), rtol=1e-13)
    d_interp, _ = mask_samples(mask, eq)
    assert np.all(d_interp >= d_conv - 1e-9) and np.any(d_interp > d_conv + 1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rb.RadiobiologyWarning)
        eq_map = case.eqd2({"GTV1": 10, "*": 2.5})
    np.testing.assert_array_equal(rb.converted_samples(mask, eq_map, case.dose)[0],
                                  mask_samples(mask, eq_map)[0])
    # not the source grid -> no physical re-sampling
    np.testing.assert_array_equal(rb.converted_samples(mask, eq, None)[0], d_interp)


def test_structure_map_on_real_masks(synthetic_case):
    """{GTV1: 10, GTV2: 10, Liver: 2.5, *: 3}: voxels >= 50 % inside a GTV take 10, other
    liver voxels 2.5, the rest 3 (truth: masks read in numpy, formula per voxel); the GTVs
    lie inside the Liver, so the overlap is reported with its voxel count."""
    case = synthetic_case
    n = case.fractions
    with pytest.warns(rb.RadiobiologyWarning, match="overlaps"):
        eq = case.eqd2({"GTV1": 10, "GTV2": 10, "Liver": 2.5, "*": 3})
    ab = np.full(case.dose.shape, 3.0)
    taken = np.zeros(case.dose.shape, bool)
    gtv_voxels = 0
    for name, value in (("GTV1", 10.0), ("GTV2", 10.0), ("Liver", 2.5)):
        m = case.mask(name, supersample=1)
        iz, iy, ix = m.index_offset
        full = np.zeros(case.dose.shape)
        nz, ny, nx = m.fraction.shape
        full[iz:iz + nz, iy:iy + ny, ix:ix + nx] = m.fraction
        inside = full >= 0.5
        ab[inside & ~taken] = value
        if name != "Liver":
            gtv_voxels += int((inside & ~taken).sum())
        taken |= inside
    np.testing.assert_allclose(eq.values_gy, lq_eqd2(case.dose.values_gy, n, ab), rtol=1e-13)
    assert gtv_voxels > 0
    liver_overlaps = [o for o in eq.model["overlaps"] if o["loser"] == "Liver"]
    assert sum(o["voxels"] for o in liver_overlaps) == gtv_voxels
    assert eq.quantity == "EQD2Gy(a/b=map)"


def test_case_ntcp_michigan_matches_hand_chain(synthetic_case):
    """case_ntcp = Phi((gEUD - 35.4) / (0.12 * 35.4)), gEUD (n = 0.97) of the voxel EQD2
    (a/b 2.5) samples of Liver - CTV, recomputed here from the mask samples in numpy."""
    from dosecalc.masks import mask_samples

    case = synthetic_case
    d, v = mask_samples(case.mask("Liver - CTV"), case.dose)
    e = lq_eqd2(d, case.fractions, 2.5)
    w = v / v.sum()
    g = np.sum(w * e ** (1 / 0.97)) ** 0.97
    assert case_geud(case, "Liver - CTV", n=0.97, dose=case.eqd2(2.5)) == pytest.approx(g, rel=1e-12)
    assert case_ntcp(case, "Liver - CTV", "michigan") == pytest.approx(ntcp_from_geud(g, 35.4, 0.12), rel=1e-9)
    from dosecalc.errors import ParameterError

    with pytest.raises(ParameterError, match="EQD2Gy"):
        case_ntcp(case, "Liver - CTV", "michigan", dose=case.dose)


def test_rtdose_round_trip(synthetic_case, tmp_path):
    """Written EQD2 (LQ-L) grid: DoseType EFFECTIVE, model/a-b/fractions/d_T recorded in
    the file; values read back by pydicom (and by dosecalc.load) equal the grid within one
    DoseGridScaling quantum."""
    import dosecalc

    case = synthetic_case
    eq = case.eqd2(2.5, model="lq-l", transition_dose=5.0)
    path = eq.write(tmp_path / "eqd2.dcm")
    ds = pydicom.dcmread(path)
    assert ds.DoseType == "EFFECTIVE"
    assert "EQD2Gy(a/b=2.5)" in ds.DoseComment
    label, _, js = str(ds.DerivationDescription).partition(": ")
    assert label == "EQD2Gy(a/b=2.5)"
    model = json.loads(js)
    assert (model["model"], model["alpha_beta"], model["fractions"], model["transition_dose_gy"]) == \
        ("LQ-L", 2.5, case.fractions, 5.0)
    q = float(ds.DoseGridScaling)
    arr = ds.pixel_array.astype(np.float64) * q
    np.testing.assert_allclose(arr, eq.values_gy, atol=0.51 * q + 1e-12, rtol=0)
    back = dosecalc.load(path).dose
    assert back.dose_type == "EFFECTIVE"
    np.testing.assert_allclose(back.values_gy, eq.values_gy, atol=0.51 * q + 1e-12, rtol=0)
    with pytest.raises(dosecalc.errors.ParameterError, match="EFFECTIVE"):
        rb.eqd2_grid(back, 2.5, 5)  # a converted dose is never converted again
