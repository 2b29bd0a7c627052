"""RTDOSE writer: geometry, scaling, references, atomic output and error handling."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from dosecalc.errors import OutputError, ParameterError
from dosecalc.io.write_rtdose import UINT32_MAX, dose_grid_scaling, write_rtdose
from dosecalc.model import DoseGrid


def _grid(**changes) -> DoseGrid:
    rng = np.random.default_rng(42)
    values = rng.uniform(0.0, 62.5, size=(5, 7, 9))
    values[0, 0, 0] = 0.0
    kw = dict(origin_mm=(-12.5, 30.25, -101.0), spacing_mm=(1.5, 2.0, 2.5))
    kw.update(changes)
    return DoseGrid(values, **kw)


def _read_back(path):
    """Dose (z, y, x) and voxel-centre coordinates from the file, by the DICOM rules alone."""
    ds = pydicom.dcmread(path)
    dose = ds.pixel_array.astype(np.float64) * float(ds.DoseGridScaling)
    ipp = [float(v) for v in ds.ImagePositionPatient]
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    offsets = np.array([float(v) for v in ds.GridFrameOffsetVector])
    return ds, dose, ipp, (col_spacing, row_spacing), offsets


def test_round_trip_pydicom_within_one_quantum(tmp_path):
    """Truth: the grid's own float64 values; a uint32 RTDOSE may differ by at most one
    DoseGridScaling step (half a step from rounding), and the geometry must be exact."""
    g = _grid()
    path = write_rtdose(g, tmp_path / "rd.dcm")
    ds, dose, ipp, (dx, dy), offsets = _read_back(path)
    quantum = float(ds.DoseGridScaling)
    assert dose.shape == g.shape
    assert np.max(np.abs(dose - g.values_gy)) <= quantum
    # max maps near 2^32 - 1: one quantum is max / 4.29e9 (within the 16-char DS rounding).
    assert quantum == pytest.approx(g.max_gy / UINT32_MAX, rel=1e-8)
    assert int(ds.pixel_array.max()) <= UINT32_MAX
    assert ipp == list(g.origin_mm)
    assert (dx, dy) == (1.5, 2.0)  # PixelSpacing = [row (y), column (x)]
    assert np.array_equal(offsets, 2.5 * np.arange(5))
    assert float(ds.SliceThickness) == 2.5
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.2"
    assert ds.Modality == "RTDOSE" and ds.DoseUnits == "GY"
    assert ds.DoseType == "PHYSICAL" and ds.DoseSummationType == "PLAN"
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (32, 32, 31, 0)
    assert int(ds.NumberOfFrames) == 5 and (ds.Rows, ds.Columns) == (7, 9)
    assert ds.FrameIncrementPointer == 0x3004000C
    assert ds.FrameOfReferenceUID and ds.StudyInstanceUID and ds.SeriesInstanceUID


def test_round_trip_through_loader(tmp_path):
    """Truth: the written grid; load -> write -> load must agree within one quantum of each
    file and keep geometry, dose type and frame of reference."""
    load = pytest.importorskip("dosecalc.io.load").load
    g = _grid(frame_of_reference_uid="1.2.3.4")
    first = write_rtdose(g, tmp_path / "a.dcm")
    g1 = load(first).dose
    second = write_rtdose(g1, tmp_path / "b.dcm")
    g2 = load(second).dose
    q1 = float(pydicom.dcmread(first, stop_before_pixels=True).DoseGridScaling)
    q2 = float(pydicom.dcmread(second, stop_before_pixels=True).DoseGridScaling)
    assert g2.same_geometry(g, tol_mm=1e-9)
    assert np.max(np.abs(g1.values_gy - g.values_gy)) <= q1
    assert np.max(np.abs(g2.values_gy - g1.values_gy)) <= q2
    assert g2.frame_of_reference_uid == "1.2.3.4"
    # A grid read from a file keeps that file's study when written again.
    a = pydicom.dcmread(first, stop_before_pixels=True)
    b = pydicom.dcmread(second, stop_before_pixels=True)
    assert b.StudyInstanceUID == a.StudyInstanceUID
    assert b.SOPInstanceUID != a.SOPInstanceUID


def test_references_comment_and_patient(tmp_path):
    """Truth: the arguments given; DoseComment is an LO (<= 64 characters)."""
    g = _grid(description="x" * 200)
    path = write_rtdose(g, tmp_path / "rd.dcm", referenced_plan_uid="1.2.3",
                        referenced_structure_set_uid="1.2.4", comment="C" * 100,
                        series_description="my dose",
                        patient={"PatientID": "P1", "PatientName": "Doe^J", "StudyInstanceUID": "1.9"})
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == "1.2.3"
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.481.5"
    assert ds.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == "1.2.4"
    assert ds.DoseComment == "C" * 64
    assert ds.SeriesDescription == "my dose"
    assert (ds.PatientID, str(ds.PatientName), ds.StudyInstanceUID) == ("P1", "Doe^J", "1.9")
    assert "x" * 200 in ds.ImageComments
    with pytest.raises(ParameterError, match="PatientAge"):
        write_rtdose(g, tmp_path / "rd2.dcm", patient={"PatientAge": "050Y"})


def test_effective_dose_type_and_model(tmp_path):
    """Truth: the grid's dose_type/quantity/model must be stated in the file."""
    model = {"name": "lq", "alpha_beta_gy": 2.5, "fractions": 5}
    g = _grid(dose_type="EFFECTIVE", quantity="EQD2Gy(a/b=2.5)", model=model,
              description="EQD2 of plan dose")
    path = write_rtdose(g, tmp_path / "eqd2.dcm")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert ds.DoseType == "EFFECTIVE"
    assert ds.DoseComment == "EQD2Gy(a/b=2.5)"
    assert "EQD2Gy(a/b=2.5)" in ds.ImageComments
    assert json.dumps(model, sort_keys=True) in ds.ImageComments
    assert ds.DerivationDescription.startswith("EQD2Gy(a/b=2.5)")


def test_fraction_summation_type_kept(tmp_path):
    """Truth: grid.summation_type; never changed by the writer."""
    path = write_rtdose(_grid(summation_type="FRACTION"), tmp_path / "f.dcm")
    assert pydicom.dcmread(path, stop_before_pixels=True).DoseSummationType == "FRACTION"


@pytest.mark.parametrize("bad, match", [(np.nan, "NaN"), (np.inf, "NaN or infinite"), (-0.5, "negative")])
def test_bad_values_rejected_and_nothing_written(tmp_path, bad, match):
    """Truth: RTDOSE uint32 pixels cannot hold NaN/inf/negative dose."""
    v = np.ones((2, 3, 4))
    v[1, 1, 1] = bad
    with pytest.raises(ParameterError, match=match):
        write_rtdose(DoseGrid(v, (0, 0, 0), (1, 1, 1)), tmp_path / "rd.dcm")
    assert list(tmp_path.iterdir()) == []


def test_zero_dose_grid(tmp_path):
    """Truth: an all-zero grid reads back as zeros (scaling 1, pixels 0)."""
    path = write_rtdose(DoseGrid(np.zeros((2, 2, 2)), (0, 0, 0), (1, 1, 1)), tmp_path / "z.dcm")
    _, dose, *_ = _read_back(path)
    assert np.array_equal(dose, np.zeros((2, 2, 2)))


def test_refuses_to_overwrite_input(tmp_path):
    """Truth: inputs are never modified (byte comparison before/after)."""
    g = _grid()
    src = write_rtdose(g, tmp_path / "src.dcm")
    before = src.read_bytes()
    with pytest.raises(OutputError, match="input"):
        write_rtdose(g, src, inputs=[src])
    from dataclasses import replace

    with pytest.raises(OutputError, match="input"):
        write_rtdose(replace(g, source_path=str(src)), tmp_path / "." / "src.dcm")
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.dcm"]


def test_no_temporary_file_left_on_error(tmp_path, monkeypatch):
    """Truth: a failure while writing leaves neither the output nor a temporary file, and
    the file system's error is an OutputError naming the file (one line in the CLI)."""
    import errno

    def boom(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pydicom.dataset.Dataset, "save_as", boom)
    with pytest.raises(OutputError, match="no space left on the device"):
        write_rtdose(_grid(), tmp_path / "rd.dcm")
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_output_error(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write_rtdose(_grid(), tmp_path / "nope" / "rd.dcm")


@pytest.mark.parametrize("max_gy", [1e-6, 0.37, 40.0, 61.23456789, 1234.5, 9.9e6])
def test_scaling_fits_uint32(max_gy):
    """Truth: max / scaling must round to <= 2^32 - 1 and use (almost) the full range;
    the DS text (<= 16 characters) is what the value is."""
    text, value = dose_grid_scaling(max_gy)
    assert len(text) <= 16 and float(text) == value
    assert round(max_gy / value) <= UINT32_MAX
    assert max_gy / value > 0.999999 * UINT32_MAX


def test_dosegrid_write_method(tmp_path):
    """DoseGrid.write delegates to write_rtdose (truth: the grid's values)."""
    g = _grid()
    path = g.write(tmp_path / "m.dcm")
    ds, dose, *_ = _read_back(path)
    assert np.max(np.abs(dose - g.values_gy)) <= float(ds.DoseGridScaling)
