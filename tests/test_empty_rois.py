"""Empty and degenerate ROIs never abort the others.

The export (tests/dicom_factory.write_export) has a Body, a PTV and, added here, ROIs
without area: "Line" (one closed contour of three collinear points), "Slip" (only
2-point closed contours, skipped by the reader), "Empty" (no contours) and "Iso" (a
point).  Truths: the PTV is an 8 x 8 mm square on two planes 2.5 mm apart with half-
spacing end caps, so 64 mm^2 x 5 mm = 0.32 cc, whatever the bad ROIs; the bad ROIs have
no area by construction.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import dosecalc
from dosecalc.dvh import DVHWarning

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import write_export  # noqa: E402


def _add_roi(ds, number, name, contours):
    s = Dataset()
    s.ROINumber = number
    s.ReferencedFrameOfReferenceUID = "1.2.3.4"
    s.ROIName = name
    s.ROIGenerationAlgorithm = "MANUAL"
    ds.StructureSetROISequence.append(s)
    c = Dataset()
    c.ReferencedROINumber = number
    items = []
    for pts in contours:
        it = Dataset()
        it.ContourGeometricType = "CLOSED_PLANAR"
        it.NumberOfContourPoints = len(pts)
        it.ContourData = [f"{v:g}" for p in pts for v in p]
        items.append(it)
    c.ContourSequence = Sequence(items)
    ds.ROIContourSequence.append(c)


@pytest.fixture()
def export(tmp_path):
    out = tmp_path / "cohort" / "patient1"
    d = write_export(out)
    ds = pydicom.dcmread(d["rtstruct"])
    _add_roi(ds, 5, "Line", [[(0, 0, -27.5), (1, 1, -27.5), (2, 2, -27.5)]])
    _add_roi(ds, 6, "Slip", [[(0, 0, z), (1, 1, z)] for z in (-30.0, -27.5, -25.0)])
    ds.save_as(d["rtstruct"])
    return out


def test_case_dvhs_go_on_past_roi_without_area(export):
    case = dosecalc.load(export)
    assert any("ROI 'Slip': skipped 3 degenerate closed contours" in n for n in case.notes)
    assert sum("Slip" in n for n in case.notes) == 1  # one line per ROI, with the count
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dvhs = case.dvhs()
    assert list(dvhs) == ["Body", "PTV", "Line", "Slip"]
    said = " ".join(str(w.message) for w in caught if issubclass(w.category, DVHWarning))
    assert "'Line' has no volume (its closed contours enclose no area" in said
    assert "'Slip' has no volume (its 3 closed contour(s) have fewer than 3 distinct points" in said
    assert dvhs["PTV"].volume_cc == pytest.approx(0.32, rel=1e-9)
    for bad in ("Line", "Slip"):
        r = dvhs[bad].evaluate("Mean[Gy]")
        assert math.isnan(r.value) and "no volume" in r.note
    with pytest.warns(DVHWarning, match="'Empty' has no volume \\(it has no contours\\)"):
        assert math.isnan(case.dvh("Empty").metric("Max[Gy]"))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "dosecalc", *map(str, args)], capture_output=True, text=True)


def test_cli_dvh_check_and_batch_go_on(export, tmp_path):
    res = _cli("dvh", export)
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line.split() for line in res.stdout.splitlines() if line[:1].isalpha()}
    assert rows["Line"][1:4] == ["n/a", "n/a", "n/a"]
    assert float(rows["PTV"][1]) == pytest.approx(0.32, abs=0.005)
    assert "note: Line" in res.stdout and "no volume" in res.stdout
    js = json.loads(_cli("dvh", export, "--format", "json").stdout)
    line = next(e for e in js["structures"] if e["name"] == "Line")
    assert line["metrics"]["Mean[Gy]"] is None and "no volume" in line["notes"]["Mean[Gy]"]

    chk = _cli("check", export, "--protocol", "hcc-oligoprogression", "--map", "Liver=Line",
               "--format", "json")
    assert chk.returncode in (0, 1, 3), chk.stderr  # 3: incomplete (no Child-Pugh class); never 2
    rows = [c for c in json.loads(chk.stdout)["constraints"] if c["structure"] == "Liver"]
    assert rows and all(c["verdict"] == "not evaluable" and "no volume" in c["reason"] for c in rows)
    html = _cli("check", export, "--protocol", "hcc-oligoprogression", "--map", "Liver=Line",
                "--format", "html", "--plot", "builtin", "--out", tmp_path / "r.html")
    assert html.returncode in (0, 1, 3), html.stderr

    out = tmp_path / "batch"
    b = _cli("batch", export.parent, "--protocol", "hcc-oligoprogression", "--out", out, "--workers", "1")
    assert b.returncode in (0, 1, 3), b.stderr
    summary = list(csv.DictReader(open(out / "summary.csv")))
    assert [r["status"] for r in summary] == ["ok"]
