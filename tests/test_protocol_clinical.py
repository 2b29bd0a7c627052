"""Issue 9: Child-Pugh classes, fractionations, conversions, sites, helper ROIs, eligibility.

Truths: the LQ / LQ-L formulas of ../shared/domain/liver-sbrt-references.md s.5 solved by
hand (closed-form quadratic roots, written out below); limits as read in the sources
named in the protocol files (TG-101 five-fraction table, QUANTEC, Osmundson 2015, Toesca
2017, NCT05602974 registration); boxes on voxel faces with uniform dose, so every D metric
equals the dose, V/CV are 0 or the whole (analytic) volume, and BED10 of a uniform total D
in n fractions is D (1 + D / (10 n)).
"""

import json
import math

import numpy as np
import pytest

from dosecalc.cli import build_parser
from dosecalc.errors import ParameterError
from dosecalc.case import Case
from dosecalc.model import ContourPlane, DoseGrid, Plan, Structure, StructureSet
from dosecalc.ntcp import population_warning
from dosecalc.protocols.conversion import Conversion, convert_constraint, nearest_fractionation
from dosecalc.protocols.eligibility import check_eligibility
from dosecalc.protocols.evaluate import check
from dosecalc.protocols.liver_function import parse_labs
from dosecalc.protocols.matching import helper_reason, load_mapping
from dosecalc.protocols.report import to_csv, to_html, to_json, to_table
from dosecalc.protocols.schema import load_protocol
from dosecalc.protocols.verdict import Verdict

OLIGO, ADJ = "hcc-oligoprogression", "hcc-adjuvant-narrow-margin"
SPACING, N = 2.0, 30          # dose grid: 30^3 voxels of 2 mm, bounds -30..30 mm


def box(number, name, x, y, z):
    (x0, x1), (y0, y1), (z0, z1) = x, y, z
    poly = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
    zs = np.arange(z0 + SPACING / 2, z1, SPACING)
    return Structure(number, name, planes=tuple(ContourPlane(float(zc), (poly,)) for zc in zs))


def grid(values):
    origin = -N * SPACING / 2 + SPACING / 2
    return DoseGrid(values, (origin,) * 3, (SPACING,) * 3, summation_type="PLAN")


def uniform(gy):
    return grid(np.full((N, N, N), float(gy)))


def split_x(left_gy, right_gy):
    x = -N * SPACING / 2 + SPACING / 2 + SPACING * np.arange(N)
    return grid(np.broadcast_to(np.where(x < 0, left_gy, right_gy), (N, N, N)).copy())


def hot(ptv_gy, elsewhere_gy):
    """``ptv_gy`` in the voxels of PTV1 (its faces lie on voxel faces), ``elsewhere_gy`` elsewhere."""
    c = -N * SPACING / 2 + SPACING / 2 + SPACING * np.arange(N)
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    # one voxel beyond PTV1: a small PTV is sampled on a sub-voxel lattice with trilinear dose
    inside = (x > -22) & (x < -6) & (np.abs(y) < 8) & (np.abs(z) < 8)
    return grid(np.where(inside, ptv_gy, elsewhere_gy))


LIVER = ((-20, 20), (-20, 20), (-10, 10))        # 32 cc
GTV1 = ((-18, -10), (-4, 4), (-4, 4))            # 0.512 cc
PTV1 = ((-20, -8), (-6, 6), (-6, 6))             # 1.728 cc, x < 0
RING = ((8, 20), (-6, 6), (-6, 6))               # x > 0
STOMACH = ((-20, 0), (-20, 20), (12, 28))        # 12.8 cc


def case(dose, rois, fractions=5, rx=None):
    structures = StructureSet(tuple(box(i + 1, n, *g) for i, (n, g) in enumerate(rois)))
    return Case(dose=dose, structures=structures, plan=Plan(fractions=fractions, prescription_gy=rx))


def rows(report, **kw):
    return [r for r in report.results if all(getattr(r, k) == v for k, v in kw.items())]


def lq_total(bed, n, ab):
    """Total dose in n fractions with LQ BED ``bed``: d = (-ab + sqrt(ab^2 + 4 ab bed / n)) / 2."""
    return n * (-ab + math.sqrt(ab * ab + 4.0 * ab * bed / n)) / 2.0


# --- isoeffective conversion, by hand ----------------------------------------------------------
def test_lq_l_conversion_hand_computed():
    # spinal cord D0.03cc 21.9 Gy / 3 fx, a/b 2, d_T 4: d = 7.3 > d_T, BED/n = 4 (1 + 4/2) + 3.3 (1 + 8/2)
    # = 12 + 16.5 = 28.5, BED = 85.5; in 4 fx BED/n = 21.375 > 12: d = 4 + 9.375 / 5 = 5.875, D = 23.5 Gy
    assert Conversion(3, 4, 2.0, 4.0).total_dose(21.9) == pytest.approx(23.5, abs=1e-9)
    # stomach D10cc 16.5 Gy / 3 fx, a/b 3 (d = 5.5 <= d_T 6, pure LQ): BED = 16.5 (1 + 5.5/3) = 46.75
    assert Conversion(3, 4, 3.0, 6.0).total_dose(16.5) == pytest.approx(lq_total(46.75, 4, 3.0), abs=1e-9)
    # 32 Gy / 5 fx, a/b 3, d_T 6: d = 6.4, BED/n = 18 + 0.4 x 5 = 20, BED 100; 1 fx: 6 + (100 - 18) / 5 = 22.4
    assert Conversion(5, 1, 3.0, 6.0).total_dose(32.0) == pytest.approx(22.4, abs=1e-9)
    assert nearest_fractionation([3, 5], 4) == 3 and nearest_fractionation([3, 5, 6], 8) == 6


def test_dose_threshold_of_a_volume_metric_is_converted():
    """CV15Gy >= 700 cc at 3 fx, liver a/b 2.5, d_T 5: d = 5 = d_T, BED = 15 (1 + 5/2.5) = 45;
    4 fx: D = 4 (-2.5 + sqrt(2.5^2 + 4 x 2.5 x 45/4)) / 2 = 16.794 Gy -> CV16.79Gy[cc] >= 700."""
    p = load_protocol(OLIGO)
    c = next(x for x in p.constraints if x.id == "liver-gtv-cv15-3fx")
    out = convert_constraint(c, Conversion(3, 4, 2.5, 5.0))
    assert round(lq_total(45.0, 4, 2.5), 2) == 16.79
    assert out.metric == "CV16.79Gy[cc]" and out.limit == 700 and out.fractions == (4,)
    assert out.conversion == "converted from 3 fx, a/b 2.5, LQ-L d_T 5 Gy"
    rel = next(x for x in p.constraints if x.id == "ptv-v100-5fx")
    assert convert_constraint(rel, Conversion(5, 4, 10.0, 20.0)).limit == 95
    assert "unchanged" in convert_constraint(rel, Conversion(5, 4, 10.0, 20.0)).conversion


# --- Child-Pugh B ----------------------------------------------------------------------------
def test_b7_40gy_in_3_fractions_does_not_pass():
    k = case(uniform(10.0), [("Liver", LIVER), ("GTV1", GTV1), ("PTV1", PTV1)], fractions=3, rx=40.0)
    b7 = check(k, OLIGO, child_pugh="B7")
    assert b7.verdict != Verdict.PASS and b7.exit_code in (1, 3)
    # no 3-fraction prescription is sourced for class B: never the class-A 30-60 Gy range
    rx = rows(b7, kind="prescription")
    assert len(rx) == 1 and rx[0].verdict == "not evaluable" and "Child-Pugh B in 3 fractions" in rx[0].reason
    liver = [r for r in b7.results if r.structure in ("Liver", "Liver-GTV")]
    assert liver and all(r.verdict == "not evaluable" for r in liver)
    assert any("no Child-Pugh B value is sourced" in r.reason for r in liver)
    a5 = check(k, OLIGO, child_pugh="A5")
    nhc = rows(a5, id="rx-nhc")
    # BED10 of 40 Gy / 3 fx = 40 (1 + 13.333/10) = 93.33 >= 80; 30 <= 40 <= 60
    assert [(r.comparator, r.limit, r.verdict) for r in nhc] == [(">=", 30, "pass"), ("<=", 60, "pass"),
                                                                  (">=", 80, "pass")]
    assert nhc[2].value == pytest.approx(40 * (1 + 40 / 3 / 10), abs=1e-12)


def test_unknown_class_is_incomplete_and_ntcp_warns_for_b():
    k = case(hot(40.0, 5.0), [("Liver", LIVER), ("GTV1", GTV1), ("PTV1", PTV1)], fractions=5, rx=40.0)
    # (the 31.5 cc normal liver cannot spare 700 cc: that row fails whatever the class)
    rep = check(k, OLIGO)
    assert [r.id for r in rows(rep, verdict="fail")] == ["liver-gtv-cv15-5fx"]
    assert rows(rep, id="child-pugh-eligibility")[0].verdict == "not evaluable"
    assert check(case(hot(40.0, 5.0), [("PTV1", PTV1)], fractions=5, rx=40.0), OLIGO).exit_code == 3
    assert "Child-Pugh B" in population_warning("michigan", "B") and population_warning("michigan", "A") == ""


# --- fractionations ------------------------------------------------------------------------------
def test_six_fractions_use_sourced_six_fraction_rows():
    # 48 Gy / 6 fx: BED10 = 48 (1 + 0.8) = 86.4 >= 80 (China NHC, 3-10 fx)
    k = case(hot(48.0, 5.0), [("Liver", LIVER), ("GTV1", GTV1), ("PTV1", PTV1), ("Stomach", STOMACH)],
             fractions=6, rx=48.0)
    rep = check(k, OLIGO, child_pugh="A5")
    assert not rows(rep, verdict="fail")
    mean = rows(rep, id="liver-gtv-mean-6fx")
    assert len(mean) == 1 and mean[0].limit == 18 and mean[0].value < 18 and mean[0].verdict == "pass"
    assert "QUANTEC" in mean[0].source and not mean[0].conversion
    assert rows(rep, id="ptv-max-6fx")[0].verdict == "pass"
    stomach = rows(rep, structure="Stomach")
    assert stomach and all(r.kind == "fractionation" and "--convert" in r.reason for r in stomach)
    # D10cc is sourced for 3 and 5 fx (TG-101): required; D1cc for 5 fx only (Japanese series): shown
    assert {r.id: r.required for r in stomach}["stomach-d10cc-5fx-6fx"] is True
    assert {r.id: r.required for r in stomach}["stomach-d1cc-5fx-6fx"] is False
    assert rep.exit_code == 3
    conv = check(k, OLIGO, child_pugh="A5", convert=True)
    d10 = next(r for r in rows(conv, structure="Stomach") if r.metric == "D10cc[Gy]")
    # TG-101 D10cc < 18 Gy in 5 fx (nearest to 6), a/b 3, d = 3.6: BED = 18 (1 + 1.2) = 39.6 -> 6 fx
    assert d10.limit == pytest.approx(lq_total(39.6, 6, 3.0), abs=1e-9)
    assert d10.conversion.startswith("converted from 5 fx, a/b 3") and d10.value == pytest.approx(5.0)


def test_four_fractions_need_convert_and_every_format_says_so(synthetic_case):
    """The synthetic 40 Gy plan read as 4 fractions (its RTPLAN says 5: the plan is rebuilt
    with 4, so the course total is delivered in 4)."""
    from dataclasses import replace

    from dosecalc.mask_cache import MaskCache

    k = replace(synthetic_case, plan=replace(synthetic_case.plan, fractions=4),
                dose=replace(synthetic_case.dose, reading=None), mask_cache=MaskCache())
    assert k.fractions == 4
    plain = check(k, OLIGO, child_pugh="A5")
    assert plain.exit_code == 3 and plain.verdict == "incomplete" and not rows(plain, verdict="fail")
    assert any("--convert" in r.reason for r in rows(plain, structure="Stomach"))
    rep = check(k, OLIGO, child_pugh="A5", convert=True)
    assert not rows(rep, kind="fractionation", required=True)
    d10 = next(r for r in rows(rep, structure="Stomach") if r.metric == "D10cc[Gy]")
    assert d10.limit == pytest.approx(lq_total(46.75, 4, 3.0), abs=1e-9)   # 16.5 Gy / 3 fx, see above
    label = "converted from 3 fx, a/b 3"
    assert label in to_table(rep, colour=False) and label in to_csv(rep) and label in to_html(rep)
    assert any(c["conversion"] and c["conversion"].startswith(label) for c in json.loads(to_json(rep))["constraints"])
    # rows sourced at 4 fractions (QUANTEC 3-5 fx spared volume) stay unconverted
    cv = rows(rep, id="liver-gtv-cv15-4fx")
    assert cv and not cv[0].conversion and cv[0].verdict == "pass"


def test_nhc_mean_limit_only_when_normal_liver_exceeds_700_ml():
    """Liver-GTV is 31.5 cc here: the China NHC < 15 Gy does not apply (5 fx row not
    evaluable, 3 fx acceptable level dropped: 14 Gy fails QUANTEC's < 13 Gy)."""
    five = check(case(uniform(14.0), [("Liver", LIVER), ("GTV1", GTV1)], fractions=5), OLIGO, child_pugh="A5")
    m5 = rows(five, id="liver-gtv-mean-5fx")[0]
    assert m5.verdict == "not evaluable" and "does not hold" in m5.reason and "700" in m5.reason
    three = check(case(uniform(14.0), [("Liver", LIVER), ("GTV1", GTV1)], fractions=3), OLIGO, child_pugh="A5")
    m3 = rows(three, id="liver-gtv-mean-3fx")[0]
    assert m3.verdict == "fail" and m3.level2 is None and "does not hold" in m3.note


def test_central_hepatobiliary_tract_in_bed10():
    """cHBT box 48 cc, uniform 30 Gy / 3 fx: BED10 = 30 (1 + 10/10) = 60 Gy, so V30BED and
    V40BED = 48 cc (fail < 45 and < 37) and V72BED = 0 (pass < 21)."""
    chbt = ((-20, 20), (-20, 20), (-15, 15))
    rep = check(case(uniform(30.0), [("Liver", LIVER), ("GTV1", GTV1), ("cHBT", chbt)], fractions=3),
                OLIGO, child_pugh="A5")
    got = {r.id: (r.value, r.verdict) for r in rows(rep, structure="cHBT")}
    assert got["chbt-vbed40-37cc"][0] == pytest.approx(48.0, rel=1e-9) and got["chbt-vbed40-37cc"][1] == "fail"
    assert got["chbt-vbed30-45cc"][1] == "fail" and got["chbt-vbed72-21cc"] == (pytest.approx(0.0, abs=1e-9), "pass")
    # not contoured: shown, but it does not make the check incomplete
    without = check(case(uniform(5.0), [("Liver", LIVER), ("GTV1", GTV1)], fractions=3), OLIGO, child_pugh="A5")
    ch = rows(without, structure="cHBT")
    assert ch and all(r.verdict == "not evaluable" and not r.required for r in ch)


def test_fractions_contradicting_the_rtplan_of_a_total_is_an_error():
    k = case(uniform(10.0), [("Liver", LIVER)], fractions=5)
    with pytest.raises(ParameterError, match="--fractions 3 contradicts .*NumberOfFractionsPlanned 5"):
        check(k, OLIGO, fractions=3, child_pugh="A5")


# --- sites and matching --------------------------------------------------------------------------
def test_lung_site_checks_lung_organs():
    lungs = ((-28, 28), (-28, 28), (-28, 28))
    k = case(uniform(10.0), [("Lungs", lungs), ("GTV1", GTV1), ("PTV1", PTV1)], fractions=5, rx=10.0)
    rep = check(k, OLIGO, child_pugh="A5", site="lung")
    assert rep.site == "lung" and "Site       lung" in to_table(rep, colour=False)
    assert {r.structure for r in rep.results} >= {"Lungs", "Bronchus", "BrachialPlexus", "GreatVes"}
    assert not any("Liver" in r.structure for r in rep.results)
    lung = rows(rep, id="lungs-cv12.5-5fx")[0]
    # uniform 10 Gy < 12.5 Gy: the whole 56 mm cube (175.616 cc) is spared, far below TG-101's 1500 cc
    assert lung.value == pytest.approx(56 ** 3 / 1000, rel=1e-9) and lung.verdict == "fail"
    with pytest.raises(ParameterError, match="has sites"):
        check(k, OLIGO, site="kidney")


def test_helper_rois_never_decide_a_verdict():
    """PTV1 gets 40 Gy (V100% = 100 %), the optimisation ring PTV1_ring_opt 0 Gy (0 %)."""
    k = case(split_x(40.0, 0.0), [("Liver", LIVER), ("GTV1", GTV1), ("PTV1", PTV1), ("PTV1_ring_opt", RING),
                                  ("Duodenum_PRV", RING), ("Stomch", STOMACH)], fractions=5, rx=40.0)
    rep = check(k, OLIGO, child_pugh="A5")
    v100 = rows(rep, metric="V100%[%]")
    assert [r.roi for r in v100] == ["PTV1"] and v100[0].value == pytest.approx(100.0) and v100[0].verdict == "pass"
    assert any("PTV1_ring_opt" in n and "ignored" in n for n in rep.notes)
    assert "did you mean 'Stomch'" in rep.matches["Stomach"].reason
    mapped = check(k, OLIGO, child_pugh="A5", mapping={"Duodenum": "Duodenum_PRV"})
    assert any("WARNING" in n and "Duodenum_PRV" in n for n in mapped.notes)
    assert helper_reason("Kidney_L", "AVOIDANCE") == "RTROIInterpretedType AVOIDANCE"
    assert not helper_reason("PTV_Eval") and not helper_reason("Chestwall")


def test_map_file(tmp_path):
    f = tmp_path / "map.toml"
    f.write_text('[map]\nLiver = "LIVER_1"\nStomach = "Stomach_2"\n')
    assert load_mapping(f) == {"Liver": "LIVER_1", "Stomach": "Stomach_2"}
    f.write_text('Liver = 3\n')
    with pytest.raises(ParameterError, match="Liver must be an ROI name"):
        load_mapping(f)


# --- eligibility --------------------------------------------------------------------------------
LABS = {"neutrophils": "2.0 1e9/L", "platelets": "120 1e9/L", "haemoglobin": "125 g/L", "bilirubin": "20 umol/L",
        "bilirubin_uln": "21 umol/L", "ast": "40 U/L", "ast_uln": "40 U/L", "alt": "40 U/L", "alt_uln": "40 U/L",
        "albumin": "38 g/L", "creatinine": "80 umol/L", "creatinine_uln": "100 umol/L", "inr": 1.0,
        "ascites": "none", "encephalopathy": "none", "age": "60 years", "ecog": 0, "margin": "5 mm",
        "hbv_carrier": False, "prior_rt_area": False, "extrahepatic_metastasis": False}


def _attested():
    return [c.id for c in load_protocol(ADJ).eligibility if c.kind == "attestation"]


def test_every_registered_criterion_has_a_row():
    """References s.1: inclusion 1-9 and exclusion 1-11 of NCT05602974 each have a row."""
    p = load_protocol(ADJ)
    labels = " ".join(c.label for c in p.eligibility)
    for i in range(1, 10):
        assert f"Inclusion {i}:" in labels
    for i in range(1, 12):
        assert f"Exclusion {i}:" in labels
    verdict, res = check_eligibility(p, parse_labs({**LABS, "attested": _attested()}))
    assert verdict == "eligible" and len(res) == len(p.eligibility)


def test_hbv_carrier_without_dna_is_not_eligible_yet():
    verdict, res = check_eligibility(load_protocol(ADJ), parse_labs({**LABS, "hbv_carrier": True,
                                                                     "antiviral_days": "10 days",
                                                                     "attested": _attested()}))
    assert verdict == "incomplete" and {r.id: r.verdict for r in res}["hbv-dna"] == "not evaluable"


def test_age_10_and_prior_rt_are_not_eligible():
    for change, failing in (({"age": "10 years"}, "age-min"), ({"age": "76 years"}, "age-max"),
                            ({"prior_rt_area": True}, "no-prior-rt"), ({"ecog": 2}, "ecog"),
                            ({"margin": "1.2 cm"}, "narrow-margin")):
        verdict, res = check_eligibility(load_protocol(ADJ), parse_labs({**LABS, **change, "attested": _attested()}))
        assert verdict == "not eligible" and failing in [r.id for r in res if r.verdict == "fail"]


@pytest.mark.parametrize("key,given,hint", [
    ("albumin", "38 g/dL", "38 g/L"),          # 380 g/L
    ("bilirubin", "1.1 umol/L", "1.1 mg/dL"),  # 1.1 mg/dL = 18.8 umol/L
    ("creatinine", "0.9 umol/L", "0.9 mg/dL"),  # 0.9 mg/dL = 79.6 umol/L
    ("haemoglobin", "12.5 g/L", "12.5 g/dL"),
    ("platelets", "120 /uL", "120 1e9/L"),
    ("age", "250 years", ""),
])
def test_implausible_values_name_the_unit_slip(key, given, hint):
    with pytest.raises(ParameterError) as exc:
        parse_labs({**LABS, key: given})
    assert f"{key} {given}" in str(exc.value) and "plausible" in str(exc.value) and hint in str(exc.value)


# --- exit codes and types ---------------------------------------------------------------------------
def test_exit_codes_in_help_and_verdict_strings_unchanged():
    helptext = " ".join(build_parser()._subparsers._group_actions[0].choices["check"].format_help().split())
    assert "3 nothing fails" in helptext and "1 any row fails" in helptext
    k = case(uniform(10.0), [("Liver", LIVER)], fractions=5)
    rep = check(k, OLIGO, child_pugh="A5")
    d = json.loads(to_json(rep))
    assert all(isinstance(c["verdict"], str) for c in d["constraints"]) and d["exit_code"] == rep.exit_code
    r = next(x for x in rep.results if x.kind == "dose" and x.value is not None)
    assert r.constraint.limit == r.limit and r.constraint.source == r.source and r.verdict in tuple(Verdict)


def test_single_fraction_rows_as_sourced():
    """Single-fraction limits as read (eContour case 157, secondary copy; FASTRACK II Table 3,
    26 Gy/1 fx column): liver 700 cc < 9.1 Gy, stomach 10 cc < 11.2 Gy, bilateral kidneys
    200 cc < 8.4 Gy, skin 1.5 cc < 18 Gy."""
    p = load_protocol(OLIGO)
    got = {(c.structure, c.metric): (c.comparator, c.limit, c.confidence) for c in p.constraints if 1 in c.fractions}
    assert got[("Liver-GTV", "CV9.1Gy[cc]")] == (">=", 700, "secondary")
    assert got[("Stomach", "D10cc[Gy]")] == ("<", 11.2, "secondary")
    assert got[("Kidneys", "CV8.4Gy[cc]")] == (">=", 200, "secondary")
    assert got[("Skin", "D1.5cc[Gy]")] == ("<", 18, "primary")
    k = case(uniform(10.0), [("Liver", LIVER), ("GTV1", GTV1), ("Stomach", STOMACH)], fractions=1)
    rep = check(k, OLIGO, child_pugh="A5")
    st = rows(rep, id="stomach-d10cc-1fx")[0]
    assert st.value == pytest.approx(10.0) and st.verdict == "pass" and not st.conversion
    # the duodenum has limits for 3 and 5 fx only: at 1 fx it is not evaluable without --convert
    assert any(r.kind == "fractionation" and r.required for r in rows(rep, structure="Duodenum"))
