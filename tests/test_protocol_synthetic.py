"""Both built-in protocols on the synthetic liver-SBRT export, through the API.

Truth: each reported value must equal the DVH engine's own metric for the same
expression (the engine is validated against analytic DVHs in its own tests), each
verdict must follow from the value and the limits as written, and the structure names
of the phantom (TG-263) fix what must match.  The plan is 40 Gy / 5 fx: for a
Child-Pugh B7 patient it fails, on purpose, the Child-Pugh B prescription bound of
35 Gy / 5 fx (Japanese series, references s.2).
"""

import math

import pytest

pytest.importorskip("dosecalc.phantom")

from dosecalc.errors import ParameterError  # noqa: E402
from dosecalc.protocols.evaluate import check, verdict_for  # noqa: E402

PROTOCOLS = ("hcc-adjuvant-narrow-margin", "hcc-oligoprogression")


@pytest.fixture(scope="module")
def reports(synthetic_case):
    return {pid: check(synthetic_case, pid) for pid in PROTOCOLS}


@pytest.mark.parametrize("pid", PROTOCOLS)
def test_every_constraint_has_source_and_consistent_verdict(reports, synthetic_case, pid):
    rep = reports[pid]
    assert rep.fractions == 5 and rep.prescription_gy == 40.0
    for r in rep.results:
        assert r.source and r.confidence in ("primary", "secondary", "unconfirmed")
        if r.kind == "dose" and r.value is not None:
            assert r.verdict == verdict_for(r.value, r.comparator, r.limit, r.level2, r.level2_kind)
    dose_rows = [r for r in rep.results if r.kind == "dose" and r.value is not None]
    assert len(dose_rows) >= 25
    for r in dose_rows[:: max(1, len(dose_rows) // 8)]:
        direct = synthetic_case.dvh(r.roi, prescription_gy=40.0).metric(r.metric)
        assert math.isclose(r.value, direct, rel_tol=1e-12, abs_tol=1e-12), (r.roi, r.metric)


def test_structures_matched_as_expected(reports):
    adj, oli = reports["hcc-adjuvant-narrow-margin"], reports["hcc-oligoprogression"]
    assert adj.structures["Liver-CTV"] == "Liver - CTV"
    assert oli.structures["Liver-GTV"] == "Liver - (GTV1 | GTV2)"
    assert oli.matches["PTV"].candidates == ("PTV1", "PTV2")
    assert adj.structures["PTV"] == "PTV" and adj.structures["Rib"] == "Chestwall"
    ptv_rows = [r for r in oli.results if r.structure == "PTV" and r.metric == "V100%[%]"]
    assert [r.roi for r in ptv_rows] == ["PTV1", "PTV2"]
    # the spared normal liver exceeds 700 cc on this plan
    cv = next(r for r in oli.results if r.metric == "CV15Gy[cc]")
    assert cv.value > 700 and cv.verdict == "pass"
    assert not adj.failed and not oli.failed


def test_b7_patient_fails_the_stricter_prescription(synthetic_case):
    """Child-Pugh B7: the 35 Gy / 5 fx class-B bound fails (Japanese series, references s.2);
    every normal-liver row is not evaluable (no sourced class-B value, issue 9), never the
    class-A value; the other organs keep their limits."""
    rep = check(synthetic_case, "hcc-oligoprogression", child_pugh="B7")
    rx = [r for r in rep.results if r.kind == "prescription"]
    assert [(r.comparator, r.limit, r.value, r.verdict) for r in rx] == [("<=", 35.0, 40.0, "fail")]
    assert rep.verdict == "fail" and rep.constraint_set == "B" and rep.exit_code == 1
    liver = [r for r in rep.results if r.structure in ("Liver", "Liver-GTV")]
    assert liver and all(r.verdict == "not evaluable" and r.value is None for r in liver)
    assert all("no Child-Pugh B value is sourced" in r.reason for r in liver)
    others = [r for r in rep.results if r.kind == "dose" and r.structure == "Stomach"]
    assert others and all(r.value is not None for r in others)


def test_user_mapping_and_missing_structures(synthetic_case):
    rep = check(synthetic_case, "hcc-oligoprogression", child_pugh="A5")
    missing = {name for name, m in rep.matches.items() if not m.found}
    for r in rep.results:
        if r.structure in missing and r.kind == "dose":
            assert r.verdict == "not evaluable" and r.structure in r.reason
    # the spinal canal is sourced for 3 fractions only (FASTRACK II): at 5 fx it is shown, not blocking
    canal = [r for r in rep.results if r.structure == "SpinalCanal"]
    assert len(canal) == 1 and canal[0].kind == "fractionation" and not canal[0].required
    rep3 = check(synthetic_case, "hcc-oligoprogression", child_pugh="A5", convert=True,
                 mapping={"SpinalCanal": "SpinalCord"})
    canal3 = [r for r in rep3.results if r.structure == "SpinalCanal"]
    assert rep3.structures["SpinalCanal"] == "SpinalCord" and rep3.matches["SpinalCanal"].how == "mapping"
    assert len(canal3) == 1 and canal3[0].roi == "SpinalCord" and canal3[0].value is not None
    assert canal3[0].conversion.startswith("converted from 3 fx, a/b 2")
    cord = next(r for r in rep3.results if r.structure == "SpinalCord" and r.metric == "D0.03cc[Gy]")
    assert canal3[0].value == cord.value
    # a course-total grid delivered in the RTPLAN's 5 fractions cannot be checked as 3 fractions
    with pytest.raises(ParameterError, match="--fractions 3 contradicts .*NumberOfFractionsPlanned 5"):
        check(synthetic_case, "hcc-oligoprogression", fractions=3)
