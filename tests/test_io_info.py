"""``dosecalc info``: CLI output and the right-prism volume used for the summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import dicom_factory as fac  # noqa: E402

from dosecalc.cli import main  # noqa: E402
from dosecalc.masks import structure_volume_cc  # noqa: E402
from dosecalc.model import ContourPlane, Structure  # noqa: E402


def test_info_json(tmp_path, capsys):
    """Truth: the export written (grid 6 x 5 x 4, spacing 3 x 2 x 2.5 mm, Body a 30 mm
    square on 3 planes 2.5 mm apart: 900 mm^2 x 7.5 mm = 6.75 cc)."""
    fac.write_export(tmp_path)
    assert main(["info", str(tmp_path), "--format", "json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["dose"]["shape_xyz"] == [6, 5, 4]
    assert s["dose"]["spacing_mm"] == [3.0, 2.0, 2.5]
    body = next(x for x in s["structures"] if x["name"] == "Body")
    assert body["planes"] == 3 and body["volume_cc"] == pytest.approx(6.75)
    assert s["plan"]["fractions"] == 5 and s["plan"]["prescription_gy"] == 40.0
    assert s["files"] == {"CT": 5, "RTDOSE": 1, "RTPLAN": 1, "RTSTRUCT": 1}
    assert main(["info", str(tmp_path)]) == 0
    assert "Body" in capsys.readouterr().out


def test_info_bad_input_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.dcm"
    bad.write_text("not dicom")
    info = fac.write_export(tmp_path / "exp", ct=False)
    info["rtdose"].write_bytes(info["rtdose"].read_bytes()[:300])
    for target in (bad, tmp_path / "exp"):
        assert main(["info", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert str(target) in err or "rd.dcm" in err


def test_prism_volume_ring():
    """Truth (closed form): a 20 mm square with a 10 mm square hole has 300 mm^2; 3 planes
    2 mm apart with half-spacing end caps make a 6 mm slab: 1.8 cc."""
    outer = np.array([[0, 0], [20, 0], [20, 20], [0, 20]], float)
    inner = np.array([[5, 5], [15, 5], [15, 15], [5, 15]], float)
    planes = [ContourPlane(z, (outer, inner)) for z in (0.0, 2.0, 4.0)]
    assert structure_volume_cc(Structure(1, "ring", planes=tuple(planes))) == pytest.approx(1.8)
    assert structure_volume_cc(Structure(1, "ring", planes=tuple(planes)), "none") == pytest.approx(1.2)


def test_prism_volume_nelms_cylinder(nelms_dir):
    """Truth (Nelms README): with half-slice end caps a cylinder's volume is pi R^2 (L + t);
    R = 12, L = 24, t = 2 mm; polygons approximate the circle, so within 1 %."""
    from dosecalc.io.rtstruct import read_rtstruct

    ss, _ = read_rtstruct(nelms_dir / "structures" / "Cylinder_20_0.dcm")
    s = next(x for x in ss if x.has_volume)
    assert structure_volume_cc(s) == pytest.approx(np.pi * 144 * 26 / 1000, rel=0.01)


def test_info_on_a_relative_dose(tmp_path, capsys):
    """A DoseUnits RELATIVE grid: info shows its header as fractions of the implicit
    reference without --prescription (other commands refuse it), and in Gy with it.
    Truth: the stored values 0..0.5 (value x DoseGridScaling) written by the factory, x 40 Gy."""
    path = fac.save(fac.rtdose_dataset(lambda p: 0.25 + 0.0 * p[..., 0], units="RELATIVE", scaling=1e-5),
                    tmp_path / "rd.dcm")
    assert main(["info", str(path), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)["dose"]
    assert d["quantity"] == "RELATIVE" and d["max_gy"] == pytest.approx(0.25)
    assert main(["info", str(path)]) == 0
    assert "relative: 1 = the implicit reference dose" in capsys.readouterr().out
    assert main(["info", str(path), "--prescription", "40", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)["dose"]
    assert d["quantity"] == "dose" and d["max_gy"] == pytest.approx(10.0)
    assert main(["dvh", str(path)]) == 2  # a DVH in Gy needs the reference dose
    assert "RELATIVE" in capsys.readouterr().err


def test_info_on_pydicoms_relative_beam_dose(capsys):
    """A vendor-anonymised RTDOSE shipped with pydicom (rtdose.dcm: DoseUnits RELATIVE,
    DoseSummationType BEAM, 15 frames of 10 x 10): its header is summarised.  Truth: the
    file's own attributes (Rows/Columns/NumberOfFrames, PixelSpacing, frame offsets)."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file("rtdose.dcm")
    assert main(["info", path, "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)["dose"]
    assert d["shape_xyz"] == [10, 10, 15] and d["spacing_mm"] == [10.0, 10.0, 5.0]
    assert d["quantity"] == "RELATIVE" and d["summation_type"] == "BEAM"
