"""check(): verdicts on small cases whose every value is known in advance.

Geometry: boxes whose faces lie on dose-voxel faces (2 mm grid, contour planes at voxel
centres, half-plane end caps), so a box's volume is exactly its analytic volume.  Dose:
uniform per region, so every D metric equals that dose exactly (a uniform dose gives its
own value for any D, Max, Mean), V/CV are 0 or the whole volume, and EQD2 follows the
closed form D (d + a/b) / (2 + a/b).
"""

import numpy as np
import pytest

from dosecalc.case import Case
from dosecalc.errors import ParameterError
from dosecalc.model import ContourPlane, DoseGrid, Plan, Structure, StructureSet
from dosecalc.protocols.evaluate import check, overall_verdict, verdict_for
from dosecalc.protocols.schema import load_protocol

SPACING = 2.0
N = 30  # voxels per axis: bounds -30 .. +30 mm


def box(number, name, x, y, z):
    (x0, x1), (y0, y1), (z0, z1) = x, y, z
    poly = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
    zs = np.arange(z0 + SPACING / 2, z1, SPACING)
    return Structure(number, name, planes=tuple(ContourPlane(float(zc), (poly,)) for zc in zs))


def grid(values, summation="PLAN"):
    origin = -N * SPACING / 2 + SPACING / 2
    return DoseGrid(values, (origin,) * 3, (SPACING,) * 3, summation_type=summation)


def uniform(dose_gy, summation="PLAN"):
    return grid(np.full((N, N, N), float(dose_gy)), summation)


def split_x(left_gy, right_gy):
    """left_gy where x < 0, right_gy where x > 0 (the step lies on a voxel face)."""
    x = -N * SPACING / 2 + SPACING / 2 + SPACING * np.arange(N)
    v = np.where(x < 0, left_gy, right_gy)
    return grid(np.broadcast_to(v, (N, N, N)).copy())


LIVER = ((-20, 20), (-20, 20), (-10, 10))      # 32 cc
GTV1 = ((-18, -10), (-4, 4), (-4, 4))          # 0.512 cc
GTV2 = ((10, 18), (-4, 4), (-4, 4))            # 0.512 cc


def case(dose, rois, fractions=5, rx=None):
    structures = StructureSet(tuple(box(i + 1, n, *g) for i, (n, g) in enumerate(rois)))
    return Case(dose=dose, structures=structures, plan=Plan(fractions=fractions, prescription_gy=rx))


PROTOCOL = """\
id = "test"
title = "Test protocol"
version = "1"
trial = "none"
eligible_child_pugh_max_score = 7
eligibility_source = "test registration"
eligibility_confidence = "primary"

[[structures]]
name = "Liver"

[[structures]]
name = "GTV"
match = ["gtv[0-9]*"]

[[structures]]
name = "PTV"
match = ["ptv[0-9]*"]
combine = "each"

[[structures]]
name = "Liver-GTV"
aliases = ["Normal Liver"]
derive = "Liver - GTV"

[[structures]]
name = "Kidney_L"

[[structures]]
name = "Kidney_R"

[[structures]]
name = "Kidney_Contralateral"
combine = "lowest_mean"
members = ["Kidney_L", "Kidney_R"]

[[structures]]
name = "Cord"
"""


def protocol(tmp_path, constraints: str):
    p = tmp_path / "proto.toml"
    p.write_text(PROTOCOL + constraints)
    return load_protocol(p)


def c(cid, structure, metric, comp, limit, fx=(5,), cp=("A", "B"), extra=""):
    return (f'\n[[constraints]]\nid = "{cid}"\nstructure = "{structure}"\nmetric = "{metric}"\n'
            f'comparator = "{comp}"\nlimit = {limit}\nfractions = {list(fx)}\nchild_pugh = {list(cp)}\n'
            f'source = "src {cid}"\nconfidence = "primary"\n{extra}')


def by_id(report):
    out = {}
    for r in report.results:
        out.setdefault(r.id, []).append(r)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


# --- pure verdict logic ---------------------------------------------------------------
@pytest.mark.parametrize("comp,at_limit", [("<", "fail"), ("<=", "pass"), (">", "fail"), (">=", "pass")])
def test_value_exactly_at_limit_follows_comparator(comp, at_limit):
    assert verdict_for(30.0, comp, 30.0) == at_limit


def test_two_levels():
    # acceptable variation: limit < 25, acceptable < 32
    assert [verdict_for(v, "<", 25, 32, "acceptable") for v in (24.9, 25, 31.9, 32)] == \
        ["pass", "acceptable", "acceptable", "fail"]
    # ideal goal: limit >= 700, ideal >= 900
    assert [verdict_for(v, ">=", 700, 900, "ideal") for v in (950, 900, 899, 700, 699)] == \
        ["pass", "pass", "acceptable", "acceptable", "fail"]
    assert verdict_for(float("nan"), "<", 1) == "not evaluable" and verdict_for(None, "<", 1) == "not evaluable"
    assert overall_verdict(["pass", "acceptable"]) == "acceptable"
    assert overall_verdict(["pass", "not evaluable", "acceptable"]) == "incomplete"
    assert overall_verdict(["not evaluable", "fail"]) == "fail"
    assert overall_verdict(["pass"]) == "pass"


# --- on cases -----------------------------------------------------------------------------
def test_dose_exactly_at_limit_on_a_case(tmp_path):
    """Uniform 20 Gy: D0.03cc = Max = 20 Gy exactly."""
    p = protocol(tmp_path, c("lt", "Cord", "D0.03cc[Gy]", "<", 20) + c("le", "Cord", "D0.03cc[Gy]", "<=", 20)
                 + c("max", "Cord", "Max[Gy]", ">", 20))
    r = by_id(check(case(uniform(20), [("Cord", LIVER)]), p))
    assert r["lt"].value == 20.0 and r["lt"].verdict == "fail"
    assert r["le"].verdict == "pass" and r["max"].verdict == "fail"


@pytest.mark.parametrize("dose,cv,v", [(10.0, "pass", "pass"), (20.0, "fail", "fail")])
def test_cv_versus_v(tmp_path, dose, cv, v):
    """CV15Gy = volume below 15 Gy, V15Gy = volume at or above: on a 32 cc box at a uniform
    10 Gy CV15 = 32 cc and V15 = 0; at 20 Gy the reverse."""
    p = protocol(tmp_path, c("cv", "Liver", "CV15Gy[cc]", ">=", 31.99) + c("v", "Liver", "V15Gy[cc]", "<=", 0))
    r = by_id(check(case(uniform(dose), [("Liver", LIVER)]), p))
    assert (r["cv"].verdict, r["v"].verdict) == (cv, v)
    expected_cv = 32.0 if dose < 15 else 0.0
    assert r["cv"].value == pytest.approx(expected_cv, abs=1e-9)
    assert r["v"].value == pytest.approx(32.0 - expected_cv, abs=1e-9)


def test_missing_structure_is_not_evaluable_with_reason(tmp_path):
    p = protocol(tmp_path, c("cord", "Cord", "Max[Gy]", "<", 30) + c("liver", "Liver", "Mean[Gy]", "<", 30))
    rep = check(case(uniform(10), [("Liver", LIVER)]), p)
    r = by_id(rep)
    assert r["cord"].verdict == "not evaluable" and "Cord" in r["cord"].reason
    assert r["liver"].verdict == "pass"
    assert rep.verdict == "incomplete" and rep.structures["Cord"] is None


def test_alias_pattern_and_derived_matching(tmp_path):
    """ROIs 'LIVER', 'gtv_1', 'GTV-2': Liver by normalised name, GTVs by pattern, normal
    liver derived as Liver minus both GTVs: 32 - 2 x 0.512 = 30.976 cc."""
    p = protocol(tmp_path, c("vol", "Liver-GTV", "Volume[cc]", ">", 0))
    rep = check(case(uniform(10), [("LIVER", LIVER), ("gtv_1", GTV1), ("GTV-2", GTV2)]), p)
    assert rep.structures["Liver"] == "LIVER"
    assert rep.matches["GTV"].rois == ("gtv_1", "GTV-2")
    assert rep.structures["Liver-GTV"] == "LIVER - (gtv_1 | GTV-2)"
    assert by_id(rep)["vol"].value == pytest.approx(30.976, rel=1e-9)
    # an ROI named by the alias wins over deriving; the 32 cc box is used as is
    rep2 = check(case(uniform(10), [("Liver", LIVER), ("GTV1", GTV1), ("normal_LIVER", LIVER)]), p)
    assert rep2.structures["Liver-GTV"] == "normal_LIVER" and "alias" in rep2.matches["Liver-GTV"].how
    assert by_id(rep2)["vol"].value == pytest.approx(32.0, rel=1e-9)


def test_ambiguous_names_are_not_guessed(tmp_path):
    p = protocol(tmp_path, c("m", "Liver", "Mean[Gy]", "<", 30))
    rep = check(case(uniform(10), [("Liver", LIVER), ("LIVER", LIVER)]), p)
    assert by_id(rep)["m"].verdict == "not evaluable" and "ambiguous" in by_id(rep)["m"].reason
    rep2 = check(case(uniform(10), [("Liver", LIVER), ("LIVER", LIVER)]), p, mapping={"liver": "LIVER"})
    assert by_id(rep2)["m"].verdict == "pass" and rep2.matches["Liver"].how == "mapping"


def test_each_and_lowest_mean(tmp_path):
    """PTV1 on the 5 Gy side and PTV2 on the 15 Gy side are checked each on their own;
    the contralateral kidney is the one with the lower mean (Kidney_R at 5 Gy)."""
    p = protocol(tmp_path, c("ptv", "PTV", "Min[Gy]", ">=", 10)
                 + c("kid", "Kidney_Contralateral", "V10Gy[%]", "<=", 33))
    rep = check(case(split_x(5, 15), [("PTV1", GTV1), ("PTV2", GTV2), ("Kidney_L", GTV2),
                                       ("Kidney_R", GTV1)]), p)
    ptv = by_id(rep)["ptv"]
    assert [(x.roi, x.value, x.verdict) for x in ptv] == [("PTV1", 5.0, "fail"), ("PTV2", 15.0, "pass")]
    kid = by_id(rep)["kid"]
    assert kid.roi == "Kidney_R" and kid.value == 0.0 and kid.verdict == "pass" and "lowest mean" in kid.note


def test_fraction_dose_grid_is_multiplied_and_said(tmp_path):
    """FRACTION grid of 4 Gy x 5 fractions = 20 Gy total; EQD2 (a/b 3) = 20 (4 + 3) / (2 + 3) = 28 Gy."""
    p = protocol(tmp_path, c("max", "Cord", "D0.03cc[Gy]", "<", 20)
                 + c("eqd2", "Cord", "Mean[EQD2Gy(a/b=3)]", "<=", 28.001))
    rep = check(case(uniform(4, "FRACTION"), [("Cord", LIVER)], fractions=5), p)
    r = by_id(rep)
    assert r["max"].value == pytest.approx(20.0, abs=1e-12) and r["max"].verdict == "fail"
    assert r["eqd2"].value == pytest.approx(28.0, abs=1e-9) and r["eqd2"].verdict == "pass"
    assert "EQD2" in r["eqd2"].unit
    assert any("FRACTION" in n and "5 fractions" in n for n in rep.notes)
    # the same grid with fractions unknown cannot be evaluated
    rep2 = check(case(uniform(4, "FRACTION"), [("Cord", LIVER)], fractions=None), p)
    assert rep2.verdict == "incomplete"
    assert "--fractions" in rep2.results[0].reason


def test_fractions_outside_protocol(tmp_path):
    p = protocol(tmp_path, c("m", "Cord", "Mean[Gy]", "<", 30, fx=(3, 5)))
    rep = check(case(uniform(10), [("Cord", LIVER)], fractions=8), p)
    assert len(rep.results) == 1 and rep.results[0].verdict == "not evaluable"
    assert "3, 5" in rep.results[0].reason
    # a course-total grid was delivered in the RTPLAN's 8 fractions: --fractions 3 contradicts it (issue 9)
    with pytest.raises(ParameterError, match=r"--fractions 3 contradicts .*NumberOfFractionsPlanned 8"):
        check(case(uniform(10), [("Cord", LIVER)], fractions=8), p, fractions=3)
    # without an RTPLAN the given number is taken
    assert by_id(check(case(uniform(10), [("Cord", LIVER)], fractions=None), p, fractions=3))["m"].verdict == "pass"


def test_child_pugh_selects_the_stricter_set(tmp_path):
    """Mean 20 Gy: the A constraint (< 25) passes, the B-only one (< 15) fails; a shared
    constraint says no B-specific value is sourced."""
    p = protocol(tmp_path, c("a", "Liver", "Mean[Gy]", "<", 25, cp=("A",)) + c("b", "Liver", "Mean[Gy]", "<", 15, cp=("B",))
                 + c("both", "Liver", "Max[Gy]", "<", 30))
    k = case(uniform(20), [("Liver", LIVER)])
    a = by_id(check(k, p, child_pugh="A5"))
    assert "b" not in a and a["a"].verdict == "pass" and a["child-pugh-eligibility"].verdict == "pass"
    b = check(k, p, child_pugh="B7")
    rb = by_id(b)
    assert "a" not in rb and rb["b"].verdict == "fail" and b.verdict == "fail"
    assert rb["both"].verdict == "pass"  # a limit sourced for A and B applies to B as it is
    none = check(k, p)
    # class unknown: the A values are shown, the Child-Pugh row keeps the check incomplete (exit 3)
    rn = by_id(none)
    assert "a" in rn and rn["child-pugh-eligibility"].verdict == "not evaluable"
    assert none.verdict == "incomplete" and none.exit_code == 3
    b8 = by_id(check(k, p, child_pugh="B8"))
    assert b8["child-pugh-eligibility"].verdict == "fail"
    assert by_id(check(k, p, child_pugh="B"))["child-pugh-eligibility"].verdict == "not evaluable"
    cpc = check(k, p, labs={"bilirubin": "60 umol/L", "albumin": "25 g/L", "inr": 2.5,
                            "ascites": "severe", "encephalopathy": "grade 3-4"})
    assert cpc.child_pugh.label == "C15" and by_id(cpc)["child-pugh-eligibility"].verdict == "fail"
    assert any("not eligible" in n for n in cpc.notes)


def test_relative_metrics_need_a_prescription(tmp_path):
    """Uniform 20 Gy with Rx 20 Gy: V100% = 100 %, Max = 100 % of Rx."""
    p = protocol(tmp_path, c("cov", "Liver", "V100%[%]", ">=", 95) + c("hot", "Liver", "Max[%]", "<=", 100))
    r = by_id(check(case(uniform(20), [("Liver", LIVER)], rx=20.0), p))
    assert r["cov"].value == pytest.approx(100.0, abs=1e-9) and r["cov"].verdict == "pass"
    assert r["hot"].value == pytest.approx(100.0, abs=1e-12) and r["hot"].verdict == "pass"
    r2 = by_id(check(case(uniform(20), [("Liver", LIVER)], rx=None), p))
    assert r2["cov"].verdict == "not evaluable" and "prescription" in r2["cov"].reason
    r3 = by_id(check(case(uniform(20), [("Liver", LIVER)], rx=None), p, prescription_gy=25.0))
    assert r3["cov"].value == 0.0 and r3["hot"].value == pytest.approx(80.0)


def test_inputs_are_not_modified(tmp_path):
    p = protocol(tmp_path, c("m", "Cord", "Mean[Gy]", "<", 30))
    g = uniform(4, "FRACTION")
    k = case(g, [("Cord", LIVER)])
    check(k, p)
    assert k.dose is g and g.summation_type == "FRACTION" and float(g.values_gy.max()) == 4.0
