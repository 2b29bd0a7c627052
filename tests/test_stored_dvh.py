"""The planning system's DVHs stored in the RTDOSE (DVHSequence): reading and comparing.

Truth: closed form.  A dose uniformly distributed on [2, 6] Gy over 10 cc has the
cumulative curve V(d) = 10 cc for d <= 2, 10 (6 - d) / 4 on [2, 6], 0 above: mean 4 Gy,
min 2, max 6, D95% = 2.2, D50% = 4, D5% = 5.8 Gy, V3Gy = 7.5 cc, D1cc = 5.6 Gy.  It is
stored here in 0.01 Gy bins (DICOM: V_i is the volume at the lower edge of bin i) in
several of the forms real exports use.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import dosecalc
from dosecalc.stored_dvh import read_dvh_sequence

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import write_export  # noqa: E402

EDGES = np.round(np.arange(0.0, 6.0 + 1e-9, 0.01), 10)
CUM = np.clip(10.0 * (6.0 - EDGES) / 4.0, 0.0, 10.0)  # cc at each edge


def dvh_item(roi, *, kind="CUMULATIVE", units="GY", vunits="CM3", attrs=None):
    it = Dataset()
    ref = Dataset()
    ref.ReferencedROINumber = roi
    it.DVHReferencedROISequence = Sequence([ref])
    it.DVHType = kind
    it.DoseUnits = units
    it.DoseType = "PHYSICAL"
    it.DVHVolumeUnits = vunits
    width = 0.01 if units == "GY" else 1.0  # cGy: 1 cGy bins
    it.DVHDoseScaling = 1.0
    vol = CUM[:-1] if kind == "CUMULATIVE" else (CUM[:-1] - CUM[1:])
    if vunits == "PERCENT":
        vol = vol * 10.0  # % of 10 cc
    it.DVHNumberOfBins = len(vol)
    it.DVHData = [f"{x:.10g}" for pair in zip([width] * len(vol), vol) for x in pair]
    for k, v in (attrs or {}).items():
        setattr(it, k, v)
    return it


def truth_checks(dvh, volume=10.0):
    assert dvh.volume_cc == pytest.approx(volume)
    assert dvh.metric("D95%[Gy]") == pytest.approx(2.2, abs=1e-9)
    assert dvh.metric("D50%[Gy]") == pytest.approx(4.0, abs=1e-9)
    assert dvh.metric("D5%[Gy]") == pytest.approx(5.8, abs=1e-9)
    assert dvh.metric("Mean[Gy]") == pytest.approx(4.0, abs=1e-9)


def test_cumulative_gy_with_percent_attributes():
    """Eclipse style: curve in Gy, DVHMaximumDose etc. in % of the (14 Gy here) prescription:
    the unit is decided from the data (6 Gy max = 42.857 % of 14 Gy)."""
    ds = Dataset()
    ds.DVHSequence = Sequence([dvh_item(1, attrs={"DVHMinimumDose": 200 / 14, "DVHMaximumDose": 600 / 14,
                                                  "DVHMeanDose": 400 / 14})])
    (s,), notes = read_dvh_sequence(ds, "x.dcm", prescription_gy=14.0)
    assert notes == [] and s.attribute_unit == "% of prescription"
    assert (s.min_gy, s.max_gy, s.mean_gy) == pytest.approx((2.0, 6.0, 4.0))
    assert "% of prescription" in s.notes[0]
    truth_checks(s.to_dvh("PTV"))
    assert s.to_dvh("PTV").metric("V3Gy[cc]") == pytest.approx(7.5, abs=1e-9)
    assert s.to_dvh("PTV").metric("D1cc[Gy]") == pytest.approx(5.6, abs=1e-9)


def test_attributes_in_gy_and_in_cgy_and_unknown():
    ds = Dataset()
    ds.DVHSequence = Sequence([
        dvh_item(1, attrs={"DVHMaximumDose": 5.995, "DVHMinimumDose": 2.003, "DVHMeanDose": 4.0}),
        dvh_item(2, attrs={"DVHMaximumDose": 599.5}),
        dvh_item(3, attrs={"DVHMaximumDose": 123.0}),
    ])
    recs, _ = read_dvh_sequence(ds, "x.dcm", prescription_gy=40.0)
    assert [r.attribute_unit for r in recs] == ["Gy", "cGy", "unknown"]
    assert recs[0].max_gy == pytest.approx(5.995) and recs[1].max_gy == pytest.approx(5.995)
    # unknown: the curve's own max (to one bin) is used, with a note
    assert recs[2].max_gy == pytest.approx(6.0, abs=0.011) and "no known unit" in recs[2].notes[0]


def test_differential_cgy_and_percent_volumes():
    ds = Dataset()
    ds.DVHSequence = Sequence([dvh_item(1, kind="DIFFERENTIAL", units="CGY"),
                               dvh_item(2, vunits="PERCENT")])
    (diff, pct), _ = read_dvh_sequence(ds, "x.dcm")
    truth_checks(diff.to_dvh("A"))
    assert pct.volume == pytest.approx(100.0)
    truth_checks(pct.to_dvh("B", volume_cc=10.0))  # scaled to our structure's volume
    assert pct.to_dvh("B").volume_cc == pytest.approx(100.0)  # percent without a volume


def test_case_stored_dvhs_and_cli_compare(tmp_path):
    """Our PTV DVH beside a stored one: the difference is ours minus the closed-form values
    of the stored curve (truth above); ours comes from case.dvh (tested elsewhere)."""
    d = write_export(tmp_path)
    ds = pydicom.dcmread(d["rtdose"])
    ds.DVHSequence = Sequence([dvh_item(1)])  # ROI 1 = Body (partly inside the dose grid)
    ds.save_as(d["rtdose"])
    case = dosecalc.load(tmp_path)
    stored = case.stored_dvhs()
    assert list(stored) == ["Body"]
    ours = case.dvh("Body")
    res = subprocess.run([sys.executable, "-m", "dosecalc", "dvh", str(tmp_path), "--roi", "Body", "--roi", "PTV",
                          "--metric", "D50%[Gy]", "--metric", "Mean[Gy]", "--compare-stored",
                          "--format", "json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    body, ptv = rep["structures"]
    assert body["stored"]["D50%[Gy]"] == pytest.approx(4.0, abs=1e-9)
    assert body["difference"]["D50%[Gy]"] == pytest.approx(ours.metric("D50%[Gy]") - 4.0, abs=1e-9)
    assert body["difference"]["Mean[Gy]"] == pytest.approx(ours.mean_gy - 4.0, abs=1e-9)
    assert ptv["stored"] is None
    table = subprocess.run([sys.executable, "-m", "dosecalc", "dvh", str(tmp_path), "--compare-stored"],
                           capture_output=True, text=True).stdout
    assert "ours-stored" in table and "note: PTV: no stored DVH" in table


def test_compare_without_stored_dvhs_is_one_line_error(tmp_path):
    write_export(tmp_path)
    res = subprocess.run([sys.executable, "-m", "dosecalc", "dvh", str(tmp_path), "--compare-stored"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "stores no DVHs" in res.stderr and len(res.stderr.splitlines()) == 1


def test_rounding_crumbs_are_clipped_but_a_broken_curve_is_refused():
    """Eclipse stores tail volumes such as -2.9e-13 cc (seen in a real export): clipped to 0.
    A clearly negative volume is a broken curve: DicomError naming the ROI."""
    from dosecalc.errors import DicomError

    ds = Dataset()
    it = dvh_item(1)
    data = [float(x) for x in it.DVHData] + [0.01, -2.9e-13]  # a crumb bin above the max
    it.DVHData = [f"{x:.10g}" for x in data]
    ds.DVHSequence = Sequence([it])
    (s,), _ = read_dvh_sequence(ds, "x.dcm")
    truth_checks(s.to_dvh("A"))
    data[-1] = -0.5
    it.DVHData = [f"{x:.10g}" for x in data]
    with pytest.raises(DicomError, match="DVH of ROI 1: negative"):
        read_dvh_sequence(ds, "x.dcm")


class _Stored:
    """A stored DVH whose curve is ``theirs`` (only what add_stored reads)."""

    dvh_type, dose_units, volume_units, bin_gy, attribute_unit, notes = "CUMULATIVE", "GY", "CM3", 0.01, "Gy", ()

    def __init__(self, theirs):
        self.theirs = theirs

    def to_dvh(self, name, volume_cc=None, prescription_gy=None):
        return self.theirs


class _Case:
    prescription_gy = None
    dose = None

    def __init__(self, stored):
        self._stored = stored

    def stored_dvhs(self):
        return self._stored


def _compare(theirs, specs):
    from dosecalc.commands.dvh import add_stored
    from dosecalc.dvh import DVH

    # ours and theirs: 0.025 cc at each of 2.005, 2.015, ..., 5.995 Gy (10 cc), the uniform dose on
    # [2, 6] Gy of the module docstring (closed form: mean 4 Gy)
    ours = DVH.from_samples(np.arange(400) * 0.01 + 2.005, np.full(400, 0.025), name="PTV")
    rep = {"settings": {}, "structures": [{"name": "PTV", "metrics": {s: 4.0 for s in specs}}]}
    add_stored(rep, _Case({"PTV": _Stored(ours if theirs is None else theirs)}), {"PTV": ours}, specs, None)
    return rep["structures"][0]


def test_compare_gives_none_for_a_metric_the_stored_curve_cannot_give():
    """% of a prescription when there is none (ParameterError), an EQD2 metric of the physical
    stored curve (MetricSpecError): no value, the others as computed (mean 4 Gy, closed form)."""
    e = _compare(None, ["Mean[Gy]", "V50%[cc]", "Mean[EQD2Gy(a/b=3)]"])
    assert e["stored"]["Mean[Gy]"] == pytest.approx(4.0, abs=1e-12)
    assert e["stored"]["V50%[cc]"] is None and e["stored"]["Mean[EQD2Gy(a/b=3)]"] is None
    assert e["difference"]["Mean[Gy]"] == pytest.approx(0.0, abs=1e-12)


def test_compare_does_not_swallow_an_unexpected_error():
    """Only the two expected errors become 'no value': a bug in evaluating the stored curve
    (here a RuntimeError) surfaces instead of a silent blank in the report."""

    class Broken:
        def evaluate(self, spec):
            raise RuntimeError("bug in the stored curve")

    with pytest.raises(RuntimeError, match="bug in the stored curve"):
        _compare(Broken(), ["Mean[Gy]"])
