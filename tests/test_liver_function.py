"""Child-Pugh, ALBI, Cockcroft-Gault and laboratory eligibility.

Truth: the cut-points and formulas of ../shared/domain/liver-sbrt-references.md s.7
(Child-Pugh table; ALBI, Johnson J Clin Oncol 2015; Cockcroft-Gault), evaluated by hand
in the docstrings/comments; unit conversions from molar masses (bilirubin 584.66 g/mol,
creatinine 113.12 g/mol).  Eligibility limits from the NCT05602974 registration (s.1).
"""

import math

import pytest

from dosecalc.errors import ParameterError
from dosecalc.protocols.liver_function import (
    albi_grade, albi_score, check_eligibility, child_pugh_from_labs, child_pugh_points,
    cockcroft_gault_ml_min, load_labs, parse_child_pugh, parse_labs)
from dosecalc.protocols.schema import load_protocol


def pts(**kw):
    base = dict(bilirubin_umol_l=10.0, albumin_g_l=40.0, inr=1.0, ascites=1, encephalopathy=1)
    base.update(kw)
    return child_pugh_points(**base)


@pytest.mark.parametrize("kw,item,expected", [
    ({"bilirubin_umol_l": 33.9}, "bilirubin", 1), ({"bilirubin_umol_l": 34.0}, "bilirubin", 2),
    ({"bilirubin_umol_l": 51.0}, "bilirubin", 2), ({"bilirubin_umol_l": 51.1}, "bilirubin", 3),
    ({"albumin_g_l": 35.1}, "albumin", 1), ({"albumin_g_l": 35.0}, "albumin", 2),
    ({"albumin_g_l": 28.0}, "albumin", 2), ({"albumin_g_l": 27.9}, "albumin", 3),
    ({"inr": 1.69}, "inr", 1), ({"inr": 1.7}, "inr", 2), ({"inr": 2.3}, "inr", 2), ({"inr": 2.31}, "inr", 3),
])
def test_child_pugh_cut_points(kw, item, expected):
    """Bilirubin < 34 / 34-51 / > 51 umol/L; albumin > 3.5 / 2.8-3.5 / < 2.8 g/dL;
    INR < 1.7 / 1.7-2.3 / > 2.3 (bounds of the middle band included)."""
    assert pts(**kw)[item] == expected


def test_bilirubin_in_mg_dl_uses_the_mg_dl_cut_points():
    """2 mg/dL is 2 points (2-3 mg/dL), although 1.99 mg/dL = 34.04 umol/L would be 2
    points on the umol/L row: each unit is scored on its own row of the table."""
    base = dict(albumin_g_l=40.0, inr=1.0, ascites=1, encephalopathy=1)
    assert child_pugh_points(bilirubin_mg_dl=1.99, **base)["bilirubin"] == 1
    assert child_pugh_points(bilirubin_mg_dl=2.0, **base)["bilirubin"] == 2
    assert child_pugh_points(bilirubin_mg_dl=3.01, **base)["bilirubin"] == 3


def test_labs_file_gives_score_class_and_units(tmp_path):
    """B7: bilirubin 2.5 mg/dL (2) + albumin 3.6 g/dL (1) + INR 1.2 (1) + mild ascites (2)
    + no encephalopathy (1) = 7."""
    f = tmp_path / "labs.toml"
    f.write_text('bilirubin = "2.5 mg/dL"\nalbumin = { value = 3.6, unit = "g/dL" }\ninr = 1.2\n'
                 'ascites = "mild"\nencephalopathy = "none"\n')
    labs = load_labs(f)
    assert labs.values["albumin"] == pytest.approx(36.0, abs=1e-12)
    assert labs.values["bilirubin"] == pytest.approx(2.5 * 10 / 584.66 * 1000, rel=1e-12)
    cp = child_pugh_from_labs(labs)
    assert (cp.score, cp.cls, cp.label) == (7, "B", "B7")
    assert cp.points == {"bilirubin": 2, "albumin": 1, "inr": 1, "ascites": 2, "encephalopathy": 1}


def test_classes_from_scores():
    assert child_pugh_from_labs(parse_labs({"bilirubin": "10 umol/L", "albumin": "40 g/L", "inr": 1.0,
                                            "ascites": "none", "encephalopathy": 0})).label == "A5"
    c = child_pugh_from_labs(parse_labs({"bilirubin": "60 umol/L", "albumin": "25 g/L", "inr": 2.5,
                                         "ascites": "moderate-severe", "encephalopathy": "grade 1-2"}))
    assert (c.score, c.cls) == (14, "C")  # 3 + 3 + 3 + 3 + 2


def test_parse_child_pugh():
    assert parse_child_pugh("b7").label == "B7"
    assert parse_child_pugh("A").score is None and list(parse_child_pugh("A").possible_scores()) == [5, 6]
    with pytest.raises(ParameterError, match="score 7 is class B"):
        parse_child_pugh("A7")
    with pytest.raises(ParameterError, match="--child-pugh"):
        parse_child_pugh("good")


def test_albi_formula_and_grades():
    """ALBI = 0.66 log10(bili umol/L) - 0.085 alb g/L: bili 10, alb 40 -> 0.66 - 3.4 = -2.74
    (grade 1); bili 100, alb 30 -> 1.32 - 2.55 = -1.23 (grade 3)."""
    assert albi_score(10.0, 40.0) == pytest.approx(-2.74, abs=1e-12)
    assert albi_score(100.0, 30.0) == pytest.approx(-1.23, abs=1e-12)
    assert [albi_grade(s) for s in (-2.74, -2.60, -2.59, -1.39, -1.38)] == [1, 1, 2, 2, 3]


def test_cockcroft_gault():
    """(140 - 60) x 70 / (72 x 1.0 mg/dL) = 77.78 mL/min; x 0.85 for a woman."""
    um = 1.0 * 10 / 113.12 * 1000  # 1 mg/dL in umol/L
    assert cockcroft_gault_ml_min(60, 70, um, "male") == pytest.approx(80 * 70 / 72, rel=1e-12)
    assert cockcroft_gault_ml_min(60, 70, um, "female") == pytest.approx(0.85 * 80 * 70 / 72, rel=1e-12)


@pytest.mark.parametrize("data,words", [
    ({"bilirubin": 20}, "needs a unit"),
    ({"bilirubin": "20 furlongs"}, "unit 'furlongs' is not understood"),
    ({"bilirubn": "20 umol/L"}, "unknown lab 'bilirubn'"),
    ({"ascites": "lots"}, "ascites must be one of"),
])
def test_bad_labs_name_the_key(data, words):
    with pytest.raises(ParameterError, match=words):
        parse_labs(data)


GOOD = {"neutrophils": "2.0 1e9/L", "platelets": "120 1e9/L", "haemoglobin": "12.5 g/dL",
        "bilirubin": "20 umol/L", "bilirubin_uln": "21 umol/L", "ast": "40 U/L", "ast_uln": "40 U/L",
        "alt": "45 U/L", "alt_uln": "40 U/L", "albumin": "38 g/L", "creatinine": "80 umol/L",
        "creatinine_uln": "100 umol/L", "inr": 1.1, "ascites": "none", "encephalopathy": "none"}


CLINICAL = {"age": "60 years", "ecog": 1, "margin": "0.4 cm", "hbv_carrier": False, "prior_rt_area": False,
            "extrahepatic_metastasis": False}


def attested_all():
    return [c.id for c in load_protocol("hcc-adjuvant-narrow-margin").eligibility if c.kind == "attestation"]


def verdicts(rows):
    return {r.id: r.verdict for r in rows}


def test_eligibility_protocol_a_all_pass():
    patient = {**GOOD, **CLINICAL, "attested": attested_all()}
    verdict, rows = check_eligibility(load_protocol("hcc-adjuvant-narrow-margin"), parse_labs(patient))
    v = verdicts(rows)
    assert verdict == "eligible"
    assert v["hbv-dna"] == "not applicable" and v["child-pugh"] == "pass"
    # the labs alone leave every clinical item and attestation open: incomplete, never eligible
    verdict, rows = check_eligibility(load_protocol("hcc-adjuvant-narrow-margin"), parse_labs(GOOD))
    assert verdict == "incomplete" and verdicts(rows)["ecog"] == "not evaluable"
    hb = next(r for r in rows if r.id == "haemoglobin")
    assert hb.value == pytest.approx(125.0)  # 12.5 g/dL -> g/L


@pytest.mark.parametrize("change,failing", [
    ({"platelets": "49 1e9/L"}, "platelets"),
    ({"neutrophils": "1.49 1e9/L"}, "anc"),
    ({"albumin": "28.9 g/L"}, "albumin"),
    ({"bilirubin": "63.1 umol/L"}, "bilirubin"),   # 63.1 / 21 = 3.005 x ULN > 3
    ({"alt": "201 U/L"}, "alt"),                     # 201 / 40 = 5.03 x ULN > 5
])
def test_eligibility_single_failure(change, failing):
    labs = parse_labs({**GOOD, **change})
    verdict, rows = check_eligibility(load_protocol("hcc-adjuvant-narrow-margin"), labs)
    failed = [r.id for r in rows if r.verdict == "fail"]
    assert verdict == "not eligible" and failing in failed


def test_eligibility_limits_are_inclusive_as_registered():
    """Platelets >= 50 and bilirubin <= 3 x ULN: values exactly at the limit pass."""
    labs = parse_labs({**GOOD, "platelets": "50 1e9/L", "bilirubin": "63 umol/L"})
    v = verdicts(check_eligibility(load_protocol("hcc-adjuvant-narrow-margin"), labs)[1])
    assert v["platelets"] == "pass" and v["bilirubin"] == "pass"


def test_renal_alternative_cockcroft_gault():
    """Creatinine 2 x ULN fails the first branch; CG (140-50) x 80 / (72 x 1.0) = 100 mL/min
    >= 50 meets the alternative."""
    um = 10 / 113.12 * 1000
    labs = parse_labs({**GOOD, "creatinine": f"{um} umol/L", "creatinine_uln": f"{um / 2} umol/L",
                       "age": "50 years", "weight": "80 kg", "sex": "male"})
    rows = check_eligibility(load_protocol("hcc-adjuvant-narrow-margin"), labs)[1]
    renal = next(r for r in rows if r.id == "renal")
    assert renal.verdict == "pass" and "alternative" in renal.reason
    assert math.isclose(renal.value, 2.0, rel_tol=1e-12)


def test_missing_required_lab_is_incomplete():
    labs = parse_labs({k: v for k, v in GOOD.items() if k != "platelets"})
    verdict, rows = check_eligibility(load_protocol("hcc-adjuvant-narrow-margin"), labs)
    assert verdict == "incomplete" and verdicts(rows)["platelets"] == "not evaluable"
