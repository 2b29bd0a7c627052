"""dosecalc.load: scanning, selection by references, frames of reference, bad inputs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import dicom_factory as fac  # noqa: E402

import dosecalc  # noqa: E402
from dosecalc.errors import (  # noqa: E402
    DicomError, FrameOfReferenceError, GeometryError, MissingAttributeError, SelectionError,
)
from dosecalc.io.load import load  # noqa: E402


def _inside(grid, n=100):
    rng = np.random.default_rng(1)
    lo = np.array(grid.origin_mm)
    hi = lo + np.array(grid.spacing_mm) * (np.array(grid.shape[::-1]) - 1)
    return lo + rng.random((n, 3)) * (hi - lo)


def test_load_synthetic_export(tmp_path):
    """Truth: the export written by the factory: analytic linear dose, 40 Gy x 5, the
    ROIs written, 5 CT slices at z = -30..-20 mm."""
    info = fac.write_export(tmp_path / "exp")
    case = dosecalc.load(tmp_path / "exp")
    pts = _inside(case.dose)
    np.testing.assert_allclose(case.dose.sample(pts), info["dose_fn"](pts), atol=1e-4)
    assert case.fractions == 5 and case.prescription_gy == 40.0
    assert case.plan.label == "Plan1"
    assert case.structures.names == ["Body", "PTV", "Empty", "Iso"]
    assert case.ct is not None and case.ct.n_slices == 5
    assert case.ct.z_positions_mm == (-30.0, -27.5, -25.0, -22.5, -20.0)
    assert case.frame_of_reference_uid == "1.2.3.4"
    mods = sorted(f.modality for f in case.files)
    assert mods == ["CT"] * 5 + ["RTDOSE", "RTPLAN", "RTSTRUCT"]
    assert case.notes == ()


def test_files_recognised_by_sop_class_not_name(tmp_path):
    """Files with no extension and misleading names load; a text file named .dcm and a
    truncated CT slice are skipped with notes naming them."""
    info = fac.write_export(tmp_path / "exp", ct=True)
    shutil.move(info["rtdose"], tmp_path / "exp" / "RS_not_a_struct")
    shutil.move(info["rtstruct"], tmp_path / "exp" / "image.txt")
    (tmp_path / "exp" / "notes.dcm").write_text("not dicom at all\n")
    data = info["ct"][0].read_bytes()
    (tmp_path / "exp" / "broken.dcm").write_bytes(data[:200])
    case = load(tmp_path / "exp")
    assert case.dose is not None and case.structures.names[0] == "Body"
    assert any("notes.dcm" in n for n in case.notes)
    assert any("broken.dcm" in n for n in case.notes)


def test_empty_folder(tmp_path):
    with pytest.raises(SelectionError, match="no RTDOSE and no RTSTRUCT"):
        load(tmp_path)


def test_text_file_alone(tmp_path):
    p = tmp_path / "x.dcm"
    p.write_text("hello\n")
    with pytest.raises(SelectionError):
        load(p)


def test_missing_path(tmp_path):
    with pytest.raises(SelectionError, match="does not exist"):
        load(tmp_path / "nope")


# Truncated RT files at every cut point: tests/test_io_integrity.py.


def test_truncated_dose_file(tmp_path):
    info = fac.write_export(tmp_path / "exp", ct=False)
    data = info["rtdose"].read_bytes()
    info["rtdose"].write_bytes(data[: len(data) - 37])
    with pytest.raises(DicomError) as e:
        load(tmp_path / "exp")
    assert "rd.dcm" in str(e.value)


def test_dose_without_scaling(tmp_path):
    info = fac.write_export(tmp_path / "exp", ct=False)
    ds = pydicom.dcmread(info["rtdose"])
    del ds.DoseGridScaling
    ds.save_as(info["rtdose"])
    with pytest.raises(MissingAttributeError, match="DoseGridScaling"):
        load(tmp_path / "exp")


def test_oblique_dose_in_export(tmp_path):
    info = fac.write_export(tmp_path / "exp", ct=False)
    ds = pydicom.dcmread(info["rtdose"])
    ds.ImageOrientationPatient = [0.98, 0.199, 0.0, -0.199, 0.98, 0.0]
    ds.save_as(info["rtdose"])
    with pytest.raises(GeometryError, match="oblique"):
        load(tmp_path / "exp")


def test_frame_of_reference_mismatch(tmp_path):
    """Dose in one frame of reference, structures in another: both UIDs are named."""
    fac.save(fac.rtdose_dataset(lambda p: 1.0 + 0 * p[..., 0], for_uid="1.2.3.4"), tmp_path / "rd.dcm")
    fac.save(fac.rtstruct_dataset([{"number": 1, "name": "A", "contours": [
        ("CLOSED_PLANAR", fac.square(0, 0, 1, 0.0))]}], for_uid="9.8.7"), tmp_path / "rs.dcm")
    with pytest.raises(FrameOfReferenceError) as e:
        load(tmp_path)
    assert "1.2.3.4" in str(e.value) and "9.8.7" in str(e.value)


def test_two_point_contour_noted(tmp_path):
    fac.save(fac.rtstruct_dataset([{"number": 1, "name": "GTV", "contours": [
        ("CLOSED_PLANAR", fac.square(0, 0, 1, 0.0)), ("CLOSED_PLANAR", [[0, 0, 2.5], [1, 0, 2.5]])]}]),
        tmp_path / "rs.dcm")
    case = load(tmp_path)
    assert case.dose is None and len(case.structures["GTV"].planes) == 1
    assert any("GTV" in n and "fewer than 3" in n for n in case.notes)


def test_two_plans_in_one_folder(tmp_path):
    """Two complete exports side by side: the error lists both plan UIDs; plan= by UID,
    label or RTDOSE path chooses one (truth: each export's own dose function)."""
    a = fac.write_export(tmp_path, label="PlanA", prefix="a_", ct=False,
                         dose_fn=lambda p: 10 + 0.1 * p[..., 0])
    b = fac.write_export(tmp_path, label="PlanB", prefix="b_", ct=False,
                         dose_fn=lambda p: 30 - 0.1 * p[..., 1])
    with pytest.raises(SelectionError) as e:
        load(tmp_path)
    assert sorted(e.value.candidates) == sorted([a["plan_uid"], b["plan_uid"]])
    assert a["plan_uid"] in str(e.value) and b["plan_uid"] in str(e.value)
    for choice, want in ((b["plan_uid"], b), ("PlanA", a), ("planb", b), (str(a["rtdose"]), a)):
        case = load(tmp_path, plan=choice)
        pts = _inside(case.dose)
        np.testing.assert_allclose(case.dose.sample(pts), want["dose_fn"](pts), atol=1e-4)
        assert case.structures.sop_instance_uid == want["struct_uid"]
    with pytest.raises(SelectionError, match="matches no plan"):
        load(tmp_path, plan="nonsense")


def test_beam_doses_summed_on_load(tmp_path):
    """Truth: the sum of the two analytic beam fields."""
    info = fac.write_export(tmp_path, ct=False)
    info["rtdose"].unlink()
    f1 = lambda p: 5 + 0.1 * p[..., 2]  # noqa: E731
    f2 = lambda p: 7 - 0.2 * p[..., 0]  # noqa: E731
    for k, f in enumerate((f1, f2)):
        fac.save(fac.rtdose_dataset(f, summation="BEAM", plan_uid=info["plan_uid"]), tmp_path / f"beam{k}.dcm")
    case = load(tmp_path)
    pts = _inside(case.dose)
    np.testing.assert_allclose(case.dose.sample(pts), f1(pts) + f2(pts), atol=2e-4)
    assert case.dose.summation_type == "PLAN" and "sum of 2 BEAM doses" in case.dose.description
    # A PLAN dose next to the beams is used alone, with a note.
    fac.save(fac.rtdose_dataset(f1, summation="PLAN", plan_uid=info["plan_uid"]), tmp_path / "plan.dcm")
    case = load(tmp_path)
    np.testing.assert_allclose(case.dose.sample(pts), f1(pts), atol=1e-4)
    assert any("ignored" in n for n in case.notes)


def test_relative_dose_with_prescription(tmp_path):
    fac.save(fac.rtdose_dataset(pixels=np.full((2, 2, 2), 1000), shape_frc=(2, 2, 2), scaling=1e-3,
                                units="RELATIVE"), tmp_path / "rd.dcm")
    with pytest.raises(DicomError, match="RELATIVE"):
        load(tmp_path)
    case = load(tmp_path, prescription_gy=45.0)
    np.testing.assert_allclose(case.dose.values_gy, 45.0)
    assert case.prescription_gy == 45.0


def test_pydicom_rtplan():
    """Truth: pydicom's rtplan.dcm dump: 30 fractions, TARGET prescription 30.826203 Gy
    (the ORGAN_AT_RISK reference of 75 Gy does not count)."""
    from pydicom.data import get_testdata_file

    from dosecalc.io.rtplan import read_rtplan

    plan, _ = read_rtplan(get_testdata_file("rtplan.dcm"))
    assert plan.fractions == 30
    assert plan.prescription_gy == pytest.approx(30.826203)
    assert plan.label == "Plan1"


@pytest.mark.nelms
@pytest.mark.parametrize("grid_name, fn", [
    ("Linear_SupInf_2mm_Aligned.dcm", lambda p: np.maximum(10.0 + p[..., 2], 0.0)),
    ("Linear_AntPost_1mm_Aligned.dcm", lambda p: np.maximum(10.0 - p[..., 1], 0.0)),
    ("Linear_AntPost_0-4_0-2_0-4_mm_Aligned.dcm", lambda p: np.maximum(10.0 - p[..., 1], 0.0)),
])
def test_nelms_files(nelms_dir, grid_name, fn):
    """Truth: the Nelms 2015 README: D = 10 + z (SupInf) or 10 - y (AntPost) Gy, clipped
    at 0; every structure spans z -6..18 mm with planes every t mm (file name), so it has
    24 / t + 1 planes; one closed ROI and the ROI POI_1 per file."""
    grid_path = nelms_dir / "dose_grids" / grid_name
    for shape in ("Sphere", "Cylinder", "Cone"):
        for t_code, t in (("20", 2.0), ("30", 3.0)):
            rs = nelms_dir / "structures" / f"{shape}_{t_code}_0.dcm"
            case = load(rs, grid_path)
            closed = [s for s in case.structures if s.has_volume]
            assert len(closed) == 1
            s = closed[0]
            assert len(s.planes) == round(24 / t) + 1
            assert s.z_planes_mm[0] == pytest.approx(-6.0) and s.z_planes_mm[-1] == pytest.approx(18.0)
            # POI_1 carries no ContourSequence in these files: kept as an empty ROI.
            assert "POI_1" in case.structures and not case.structures["POI_1"].has_volume
    g = case.dose
    assert g.summation_type == "FRACTION"
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(-12, 12, 200), rng.uniform(-18, 6, 200), rng.uniform(-6, 18, 200)])
    np.testing.assert_allclose(g.sample(pts), fn(pts), atol=1e-4)


@pytest.mark.parametrize("attribute, value, expected", [
    ("DoseType", "ERROR", "estimate of the dose error"),
    ("DoseSummationType", "WHATEVER", "not a defined term"),
    ("DoseSummationType", "PLAN", None),
])
def test_dose_meaning_notes(tmp_path, attribute, value, expected):
    """Grids whose values are not a dose, or whose summation is not a defined term
    (PS3.3 C.8.8.3), load with a note saying so."""
    info = fac.write_export(tmp_path / "exp", ct=False)
    ds = pydicom.dcmread(info["rtdose"])
    setattr(ds, attribute, value)
    ds.save_as(info["rtdose"])
    case = load(tmp_path / "exp")
    hits = [n for n in case.notes if "rd.dcm" in n and attribute in n]
    if expected is None:
        assert hits == []
    else:
        assert len(hits) == 1 and expected in hits[0]
