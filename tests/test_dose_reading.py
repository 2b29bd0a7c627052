"""Course total or dose per fraction: the RTDOSE label cross-checked against the RTPLAN.

Every case is an RTPLAN/RTDOSE pair built here (tests/dicom_factory.py).  The dose is the
linear field D(p) = D_iso (1 + 0.01 (x + 2) + 0.005 (y + 16) + 0.002 (z + 26)) Gy, so its
value at the isocentre ISO = (-2, -16, -26) mm is D_iso exactly (trilinear interpolation
is exact on a linear field).  Truths: the plan's own numbers (BeamDose x fractions) and
the closed-form LQ formula EQD2 = D (1 + D / (n a/b)) / (1 + 2 / a/b) applied in plain
numpy to the voxel values (D the course total).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dosecalc
from dosecalc.errors import ParameterError
from dosecalc.radiobiology import RadiobiologyWarning
from dosecalc.summation import Summation

TOTAL, PER_FX = Summation.COURSE_TOTAL, Summation.PER_FRACTION

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import rtdose_dataset, rtplan_dataset, rtstruct_dataset, save, square  # noqa: E402

ISO = (-2.0, -16.0, -26.0)
ELSEWHERE = (3.0, -13.0, -24.0)


def field(d_iso: float):
    return lambda p: d_iso * (1 + 0.01 * (p[..., 0] + 2) + 0.005 * (p[..., 1] + 16) + 0.002 * (p[..., 2] + 26))


def write_pair(out, *, d_iso: float, summation: str, groups=None, reference_points=(),
               fraction_group=None, fractions=5, prescription=None):
    rs = rtstruct_dataset([{"number": 1, "name": "PTV", "type": "PTV",
                            "contours": [("CLOSED_PLANAR", square(-2.0, -16.0, 3.0, z))
                                         for z in (-27.5, -25.0)]}])
    save(rs, out / "rs.dcm")
    rx = () if prescription is None else (("TARGET", prescription),)
    rp = rtplan_dataset(fractions=fractions, groups=groups, reference_points=reference_points,
                        prescriptions=rx, struct_uid=rs.SOPInstanceUID)
    save(rp, out / "rp.dcm")
    rd = rtdose_dataset(field(d_iso), summation=summation, plan_uid=rp.SOPInstanceUID,
                        struct_uid=rs.SOPInstanceUID, fraction_group=fraction_group)
    save(rd, out / "rd.dcm")
    return out


def eqd2_truth(total_gy, n, ab):
    return total_gy * (1 + total_gy / (n * ab)) / (1 + 2 / ab)


def beams(per_beam_gy, k=2, point=ISO):
    return [(per_beam_gy, point)] * k


# --- the cases of the issue ------------------------------------------------------------

def test_fraction_label_on_a_course_total_is_read_as_the_total(tmp_path):
    """Pinnacle-style: labelled FRACTION, but the grid at the beams' common specification
    point is 31.0 Gy = (3.1 + 3.1) Gy x 5 fractions, the course total (truth: the plan's
    BeamDose x NumberOfFractionsPlanned).  EQD2 must use the grid as the total; the old
    reading would have multiplied by 5 again."""
    case = dosecalc.load(write_pair(tmp_path, d_iso=31.0, summation="FRACTION",
                                    groups=[{"fractions": 5, "beams": beams(3.1)}]))
    r = case.dose.reading
    assert (r.status, r.reading, r.source) == ("contradicts", TOTAL, "plan")
    assert case.dose.summation_type == "FRACTION"  # the label itself is never rewritten
    assert any("contradict" in n and "FRACTION" in n for n in case.notes)
    eq = case.eqd2(3.0)
    np.testing.assert_allclose(eq.values_gy, eqd2_truth(case.dose.values_gy, 5, 3.0), rtol=1e-12)
    assert "RTPLAN" in eq.description


def test_fraction_label_that_agrees_changes_nothing(tmp_path):
    """Labelled FRACTION and the grid is 6.2 Gy at the point = 3.1 + 3.1 Gy per fraction:
    agrees; EQD2 uses 5 x grid (truth: closed form on 5 x voxel values)."""
    case = dosecalc.load(write_pair(tmp_path, d_iso=6.2, summation="FRACTION",
                                    groups=[{"fractions": 5, "beams": beams(3.1)}]))
    r = case.dose.reading
    assert (r.status, r.reading, r.source) == ("agrees", PER_FX, "label")
    assert not r.overrides_label
    eq = case.eqd2(3.0)
    np.testing.assert_allclose(eq.values_gy, eqd2_truth(5 * case.dose.values_gy, 5, 3.0), rtol=1e-12)


def test_plan_label_on_a_dose_per_fraction_is_read_per_fraction(tmp_path):
    """The reverse: labelled PLAN, grid 2.105 Gy at the point where the plan says 2.105 Gy
    per fraction x 35: read as dose per fraction, EQD2 on 35 x grid."""
    case = dosecalc.load(write_pair(tmp_path, d_iso=2.105, summation="PLAN", fractions=None,
                                    groups=[{"fractions": 35, "beams": beams(2.105 / 5, k=5)}]))
    r = case.dose.reading
    assert (r.status, r.reading) == ("contradicts", PER_FX)
    eq = case.eqd2(10.0)
    np.testing.assert_allclose(eq.values_gy, eqd2_truth(35 * case.dose.values_gy, 35, 10.0), rtol=1e-12)


def test_plan_label_that_agrees(tmp_path):
    case = dosecalc.load(write_pair(tmp_path, d_iso=73.68, summation="PLAN", fractions=None,
                                    groups=[{"fractions": 35, "beams": beams(2.105 / 5, k=5)}]))
    assert (case.dose.reading.status, case.dose.reading.reading) == ("agrees", TOTAL)
    eq = case.eqd2(3.0)
    np.testing.assert_allclose(eq.values_gy, eqd2_truth(case.dose.values_gy, 35, 3.0), rtol=1e-12)


def test_no_specification_point_keeps_the_label(tmp_path):
    """BeamDose without BeamDoseSpecificationPoint: nothing to check; the label rules."""
    case = dosecalc.load(write_pair(tmp_path, d_iso=31.0, summation="FRACTION",
                                    groups=[{"fractions": 5, "beams": beams(3.1, point=None)}]))
    r = case.dose.reading
    assert (r.status, r.reading, r.source) == ("not checked", PER_FX, "label")
    assert "no BeamDose" in r.evidence[0]
    # believed, the label makes 31 Gy x 5: the EQD2 guard says so (1258 Gy at a/b 3)
    with pytest.warns(RadiobiologyWarning, match="implausible EQD2"):
        eq = case.eqd2(3.0)
    np.testing.assert_allclose(eq.values_gy, eqd2_truth(5 * case.dose.values_gy, 5, 3.0), rtol=1e-12)


def test_beams_with_different_points_tell_nothing(tmp_path):
    """Two beams specified at different points: the dose of the other beam at each point is
    unknown, so neither point is evidence."""
    case = dosecalc.load(write_pair(tmp_path, d_iso=31.0, summation="FRACTION",
                                    groups=[{"fractions": 5, "beams": [(3.1, ISO), (3.1, ELSEWHERE)]}]))
    assert case.dose.reading.status == "not checked"


def test_several_beams_sum_at_their_common_point(tmp_path):
    """Four beams of 0.3, 1.0, 2.0, 2.9 Gy at one point: 6.2 Gy per fraction, 31 Gy total."""
    pts = [(0.3, ISO), (1.0, ISO), (2.0, ISO), (2.9, ISO)]
    case = dosecalc.load(write_pair(tmp_path, d_iso=31.0, summation="FRACTION",
                                    groups=[{"fractions": 5, "beams": pts}]))
    assert case.dose.reading.reading is TOTAL
    assert "6.2 Gy per fraction, 31 Gy course total" in case.dose.reading.evidence[0]


def test_inconclusive_point_keeps_the_label_with_a_note(tmp_path):
    """The grid (12 Gy) fits neither 6.2 Gy/fx nor 31 Gy within 10 %: the label is used and
    the loader says so."""
    case = dosecalc.load(write_pair(tmp_path, d_iso=12.0, summation="FRACTION",
                                    groups=[{"fractions": 5, "beams": beams(3.1)}]))
    r = case.dose.reading
    assert (r.status, r.reading, r.source) == ("inconclusive", PER_FX, "label")
    assert any("inconclusive" in n for n in case.notes)


def test_ambiguous_evidence_refuses_and_the_option_decides(tmp_path):
    """The beams' point says course total (31 Gy = 6.2 x 5) and a dose reference point says
    dose per fraction (prescription P with P / 5 equal to the grid there): EQD2 and
    protocol checks refuse, naming both readings and the option; dose_is decides.  A
    reference point that fits neither reading adds no conflict."""
    pt = (-10.0, -20.0, -30.0)  # grid corner: D = 31 (1 - 0.08 - 0.02 - 0.008) = 27.652 Gy
    d_pt = 31.0 * (1 + 0.01 * (pt[0] + 2) + 0.005 * (pt[1] + 16) + 0.002 * (pt[2] + 26))
    folder = tmp_path / "amb"
    folder.mkdir()
    write_pair(folder, d_iso=31.0, summation="FRACTION",
               groups=[{"fractions": 5, "beams": beams(3.1)}],
               reference_points=[(5 * d_pt * 5, pt)])  # per fraction there = 5 d_pt: fits neither
    case = dosecalc.load(folder)
    assert case.dose.reading.reading is TOTAL  # the extra point fits neither: no conflict
    folder2 = tmp_path / "amb2"
    folder2.mkdir()
    # prescription P at pt with P / 5 = d_pt: that point says "per fraction", the beams "total"
    write_pair(folder2, d_iso=31.0, summation="FRACTION",
               groups=[{"fractions": 5, "beams": beams(3.1)}],
               reference_points=[(5 * d_pt, pt)])
    case = dosecalc.load(folder2)
    r = case.dose.reading
    assert r.status == "ambiguous" and r.reading is None
    with pytest.raises(ParameterError) as err:
        case.eqd2(3.0)
    msg = str(err.value)
    assert "course total" in msg and "dose per fraction" in msg and "--dose-is" in msg
    with pytest.raises(ParameterError, match="--dose-is"):
        dosecalc.check(case, "hcc-oligoprogression")
    chosen = dosecalc.load(folder2, dose_is="per-fraction")
    assert (chosen.dose.reading.reading, chosen.dose.reading.source) == (PER_FX, "option")
    with pytest.warns(RadiobiologyWarning, match="implausible EQD2"):
        eq = chosen.eqd2(3.0)
    np.testing.assert_allclose(eq.values_gy, eqd2_truth(5 * chosen.dose.values_gy, 5, 3.0), rtol=1e-12)


def test_the_option_overrides_agreeing_evidence_and_says_so(tmp_path):
    case = dosecalc.load(write_pair(tmp_path, d_iso=6.2, summation="FRACTION",
                                    groups=[{"fractions": 5, "beams": beams(3.1)}]), dose_is="total")
    r = case.dose.reading
    assert (r.reading, r.source) == (TOTAL, "option")
    assert "differs from the RTPLAN's evidence" in r.evidence[0]
    assert "given by the user" in r.text
    np.testing.assert_allclose(case.eqd2(3.0).values_gy, eqd2_truth(case.dose.values_gy, 5, 3.0), rtol=1e-12)


def test_bad_dose_is_is_a_parameter_error(tmp_path):
    with pytest.raises(ParameterError, match="dose_is"):
        dosecalc.load(tmp_path, dose_is="both")


# --- several fraction groups ------------------------------------------------------------

def test_three_groups_with_equal_dose_per_fraction_sum_their_fractions(tmp_path):
    """25 + 7 + 3 fractions of 2 Gy each, PLAN total 70 Gy at the common point: the course
    has 35 fractions (truth: the plan's groups); EQD2 with 35."""
    groups = [{"fractions": 25, "beams": beams(1.0)}, {"fractions": 7, "beams": beams(1.0)},
              {"fractions": 3, "beams": beams(1.0)}]
    case = dosecalc.load(write_pair(tmp_path, d_iso=70.0, summation="PLAN", fractions=None, groups=groups))
    assert [g.fractions for g in case.plan.fraction_groups] == [25, 7, 3]
    assert [g.dose_per_fraction_gy for g in case.plan.fraction_groups] == [2.0, 2.0, 2.0]
    assert case.plan.fractions == 35 and case.fractions == 35
    assert case.dose.reading.status == "agrees"
    np.testing.assert_allclose(case.eqd2(3.0).values_gy, eqd2_truth(case.dose.values_gy, 35, 3.0), rtol=1e-12)


def test_three_groups_with_different_doses_refuse_a_plan_total(tmp_path):
    """25 x 1.8 + 7 x 2.0 + 3 x 2.4 Gy: no single fractionation; EQD2 refuses naming the
    groups unless fractions are given."""
    groups = [{"fractions": 25, "beams": beams(0.9)}, {"fractions": 7, "beams": beams(1.0)},
              {"fractions": 3, "beams": beams(1.2)}]
    total = 25 * 1.8 + 7 * 2.0 + 3 * 2.4
    case = dosecalc.load(write_pair(tmp_path, d_iso=total, summation="PLAN", fractions=None, groups=groups))
    assert case.fractions is None
    assert "group 1: 25 fx x 1.8 Gy" in case.plan.fractions_reason
    assert case.dose.reading.status == "agrees"  # the total at the common point is the sum
    with pytest.raises(ParameterError, match="3 fraction groups"):
        case.eqd2(3.0)
    np.testing.assert_allclose(case.eqd2(3.0, fractions=35).values_gy,
                               eqd2_truth(case.dose.values_gy, 35, 3.0), rtol=1e-12)


def test_a_group_dose_uses_its_groups_fractions(tmp_path):
    """An RTDOSE that references fraction group 2 (7 x 2.4 Gy, FRACTION) of a two-group
    plan: checked against group 2 only; EQD2 with 7 fractions."""
    groups = [{"fractions": 25, "beams": beams(0.9)}, {"fractions": 7, "beams": beams(1.2)}]
    case = dosecalc.load(write_pair(tmp_path, d_iso=2.4, summation="FRACTION", fractions=None,
                                    groups=groups, fraction_group=2))
    assert case.dose.referenced_fraction_group == 2
    assert case.fractions == 7 and case.plan.fractions is None
    assert case.dose.reading.status == "agrees"
    np.testing.assert_allclose(case.eqd2(3.0).values_gy, eqd2_truth(7 * case.dose.values_gy, 7, 3.0),
                               rtol=1e-12)


# --- plausibility guards -----------------------------------------------------------------

def test_implausible_dose_per_fraction_and_eqd2_are_warned(tmp_path):
    """A FRACTION grid of 150 Gy (no course delivers 150 Gy in one fraction) is noted at
    load; its EQD2 (thousands of Gy) warns and says so in its description."""
    case = dosecalc.load(write_pair(tmp_path, d_iso=150.0, summation="FRACTION",
                                    groups=[{"fractions": 5, "beams": beams(3.1, point=None)}]))
    assert any("implausible dose" in n and "per fraction" in n for n in case.notes)
    with pytest.warns(RadiobiologyWarning, match="implausible EQD2"):
        eq = case.eqd2(3.0)
    assert "implausible" in eq.description


def test_grid_thousands_of_times_the_prescription_is_noted(tmp_path):
    case = dosecalc.load(write_pair(tmp_path, d_iso=50.0, summation="PLAN", prescription=0.01,
                                    groups=[{"fractions": 5, "beams": beams(3.1, point=None)}]))
    assert any("times the prescription" in n for n in case.notes)


# --- every report says which reading was used -----------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "dosecalc", *map(str, args)], capture_output=True, text=True)


def test_reports_say_the_reading(tmp_path):
    folder = write_pair(tmp_path / "c", d_iso=31.0, summation="FRACTION",
                        groups=[{"fractions": 5, "beams": beams(3.1)}])
    info = json.loads(_cli("info", folder, "--format", "json").stdout)
    assert info["dose"]["reading"]["reading"] == "course total"
    assert "contradict" in info["dose"]["reading"]["text"]
    table = _cli("dvh", folder).stdout
    assert "read as the course total" in table and "PER FRACTION" not in table
    js = json.loads(_cli("dvh", folder, "--format", "json").stdout)
    assert js["settings"]["dose_reading"]["reading"] == "course total"
    chk = _cli("check", folder, "--protocol", "hcc-oligoprogression", "--format", "json")
    assert any("read as the course total" in n for n in json.loads(chk.stdout)["notes"])
    chosen = _cli("dvh", folder, "--dose-is", "per-fraction", "--format", "json")
    assert json.loads(chosen.stdout)["settings"]["dose_reading"]["source"] == "option"
    bad = _cli("dvh", folder, "--dose-is", "sometimes")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
