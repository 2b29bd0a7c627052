"""RTDOSE reading: orientation, frame offsets, scaling, summation, units, bad headers."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import dicom_factory as fac  # noqa: E402

from dosecalc.errors import DicomError, GeometryError, MissingAttributeError  # noqa: E402
from dosecalc.io.rtdose import read_rtdose, sum_beam_doses  # noqa: E402


def linear(p):
    return 50.0 + 0.5 * p[..., 0] + 0.3 * p[..., 1] - 0.7 * p[..., 2]


def _write(tmp_path, name="rd.dcm", **kw):
    ds = fac.rtdose_dataset(kw.pop("dose_fn", linear), **kw)
    return fac.save(ds, tmp_path / name)


def _random_inside(grid, n=200, seed=0):
    """Random patient points inside the hull of voxel centres (where trilinear is exact)."""
    rng = np.random.default_rng(seed)
    lo = np.array(grid.origin_mm)
    hi = lo + np.array(grid.spacing_mm) * (np.array(grid.shape[::-1]) - 1)
    return lo + rng.random((n, 3)) * (hi - lo)


CASES = {
    "HFS": dict(iop=fac.ORIENTATIONS["HFS"], frame_step=2.5),
    "HFP": dict(iop=fac.ORIENTATIONS["HFP"], frame_step=2.5),
    "FFS": dict(iop=fac.ORIENTATIONS["FFS"], frame_step=2.5),
    "FFS-negative-offsets": dict(iop=fac.ORIENTATIONS["FFS"], frame_step=-2.5),
    "FFP": dict(iop=fac.ORIENTATIONS["FFP"], frame_step=3.0),
    "HFDL": dict(iop=fac.ORIENTATIONS["HFDL"], frame_step=2.0),
    "FFDR": dict(iop=fac.ORIENTATIONS["FFDR"], frame_step=-2.0),
    "sagittal": dict(iop=(0, 1, 0, 0, 0, -1), frame_step=2.0),
}


@pytest.mark.parametrize("name", list(CASES))
def test_orientation_point_dose_matches_analytic(tmp_path, name):
    """Truth: the analytic linear dose at patient points. The file stores the function at
    each voxel's position computed from the DICOM definition (IPP + column/row/offset
    along the IOP axes); a linear field is reproduced exactly by trilinear interpolation,
    so the only error is the DoseGridScaling quantisation (<= 0.5e-4 Gy)."""
    kw = CASES[name]
    path = _write(tmp_path, shape_frc=(5, 4, 6), ipp=(12.0, -7.0, 33.0), pixel_spacing=(2.0, 3.0),
                  scaling=1e-4, **kw)
    grid = read_rtdose(path)
    pts = _random_inside(grid)
    np.testing.assert_allclose(grid.sample(pts), linear(pts), atol=1e-4)
    # Geometry truth: the voxel centres the factory wrote, straight from the definition.
    pos = fac.voxel_positions((5, 4, 6), (12.0, -7.0, 33.0), kw["iop"], (2.0, 3.0),
                              np.arange(5) * kw["frame_step"]).reshape(-1, 3)
    for a in range(3):
        u = np.unique(np.round(pos[:, a], 6))
        assert grid.origin_mm[a] == pytest.approx(u[0])
        assert grid.spacing_mm[a] == pytest.approx(u[1] - u[0])
        assert grid.shape[2 - a] == len(u)
    assert grid.source_orientation == tuple(float(v) for v in kw["iop"])
    assert grid.values_gy.flags.c_contiguous and not grid.values_gy.flags.writeable


def test_ffs_hand_built_grid(tmp_path):
    """Truth worked by hand from PS3.3 C.8.8.3.2: FFS IOP (-1,0,0,0,1,0) has normal
    (0,0,-1); with IPP (10,0,50), column spacing 4 mm and relative offsets [0, 3] the
    voxels are (10,0,50)=1, (6,0,50)=2, (10,0,47)=3, (6,0,47)=4 Gy."""
    ds = fac.rtdose_dataset(pixels=np.array([[[1, 2]], [[3, 4]]]), shape_frc=(2, 1, 2),
                            ipp=(10.0, 0.0, 50.0), iop=fac.ORIENTATIONS["FFS"], pixel_spacing=(1.0, 4.0),
                            offsets=[0.0, 3.0], scaling=1.0)
    grid = read_rtdose(fac.save(ds, tmp_path / "ffs.dcm"))
    assert grid.origin_mm == (6.0, 0.0, 47.0)
    assert grid.spacing_mm == (4.0, 1.0, 3.0)
    np.testing.assert_array_equal(grid.values_gy, [[[4.0, 3.0]], [[2.0, 1.0]]])


def test_absolute_and_relative_offsets_agree(tmp_path):
    """Truth: both forms of GridFrameOffsetVector (PS3.3 C.8.8.3.2 a and b) describe the
    same planes, so both files give the analytic dose at the same points."""
    rel = read_rtdose(_write(tmp_path, "rel.dcm", ipp=(0.0, 0.0, -40.0)))
    ab = read_rtdose(_write(tmp_path, "abs.dcm", ipp=(0.0, 0.0, -40.0), absolute_offsets=True))
    assert rel.same_geometry(ab, 1e-9)
    assert ab.z_mm[0] == -40.0 and ab.z_mm[-1] == pytest.approx(-40.0 + 3 * 2.5)
    np.testing.assert_array_equal(rel.values_gy, ab.values_gy)
    pts = _random_inside(ab)
    np.testing.assert_allclose(ab.sample(pts), linear(pts), atol=1e-4)


def test_scaling_applied_and_types_kept(tmp_path):
    """Truth: dose = stored value x DoseGridScaling (PS3.3 C.8.8.3); stored values written
    by hand."""
    ds = fac.rtdose_dataset(pixels=np.arange(8).reshape(2, 2, 2) * 1000, shape_frc=(2, 2, 2),
                            scaling=2.5e-3, summation="FRACTION", dose_type="EFFECTIVE")
    grid = read_rtdose(fac.save(ds, tmp_path / "s.dcm"))
    np.testing.assert_allclose(grid.values_gy.ravel(), np.arange(8) * 2.5)
    assert grid.summation_type == "FRACTION" and grid.dose_type == "EFFECTIVE"


def test_16_bit(tmp_path):
    """Truth: the analytic dose, written with 16-bit stored values (big endian is covered
    by pydicom's rtdose_expb.dcm below)."""
    g16 = read_rtdose(_write(tmp_path, "a.dcm", bits=16, scaling=1e-2))
    pts = _random_inside(g16)
    np.testing.assert_allclose(g16.sample(pts), linear(pts), atol=1e-2)


def test_rle_compressed_equals_native(tmp_path):
    """Truth: the uncompressed file; RLE Lossless is lossless, so the grids are identical."""
    ds = fac.rtdose_dataset(linear, bits=16, scaling=1e-2)  # pydicom's RLE encoder: <= 16 bits
    native = read_rtdose(fac.save(ds, tmp_path / "n.dcm"))
    ds.compress(pydicom.uid.RLELossless)
    rle = read_rtdose(fac.save(ds, tmp_path / "rle.dcm"))
    np.testing.assert_array_equal(rle.values_gy, native.values_gy)


def test_beam_summation(tmp_path):
    """Truth: the sum of two analytic fields; summation type says PLAN, description says
    how it was obtained."""
    f2 = lambda p: 3.0 + 0.1 * p[..., 0]  # noqa: E731
    g1 = read_rtdose(_write(tmp_path, "b1.dcm", summation="BEAM"))
    g2 = read_rtdose(_write(tmp_path, "b2.dcm", summation="BEAM", dose_fn=f2))
    total = sum_beam_doses([g1, g2])
    pts = _random_inside(total)
    np.testing.assert_allclose(total.sample(pts), linear(pts) + f2(pts), atol=2e-4)
    assert total.summation_type == "PLAN" and "sum of 2 BEAM doses" in total.description
    g3 = read_rtdose(_write(tmp_path, "b3.dcm", summation="BEAM", ipp=(0.0, 0.0, 0.0)))
    with pytest.raises(GeometryError, match="cannot be summed"):
        sum_beam_doses([g1, g3])


def test_relative_dose_needs_prescription(tmp_path):
    """Truth: RELATIVE values are fractions of the reference (1.0 = 100 %), so value x
    prescription; without a prescription the file is refused."""
    ds = fac.rtdose_dataset(pixels=np.full((2, 2, 2), 500), shape_frc=(2, 2, 2), scaling=1e-3,
                            units="RELATIVE")
    path = fac.save(ds, tmp_path / "rel.dcm")
    with pytest.raises(DicomError, match="RELATIVE"):
        read_rtdose(path)
    grid = read_rtdose(path, prescription_gy=40.0)
    np.testing.assert_allclose(grid.values_gy, 20.0)
    assert "RELATIVE" in grid.description and "40" in grid.description


def test_pydicom_rtdose_files():
    """Truth: pydicom's own decoder (pixel_array x DoseGridScaling) on its test files,
    which are HFS, RELATIVE and BEAM; the RLE and big-endian copies hold the same data."""
    from pydicom.data import get_testdata_file

    ref = pydicom.dcmread(get_testdata_file("rtdose.dcm"))
    truth = ref.pixel_array * float(ref.DoseGridScaling) * 2.0
    for name in ("rtdose.dcm", "rtdose_rle.dcm", "rtdose_expb.dcm"):
        grid = read_rtdose(get_testdata_file(name), prescription_gy=2.0)
        np.testing.assert_allclose(grid.values_gy, truth, rtol=1e-15)
        assert grid.summation_type == "BEAM"
        assert grid.spacing_mm == (10.0, 10.0, 5.0)
        assert grid.origin_mm == pytest.approx((189.43125, 199.43125, -761.87))


# --- errors ---------------------------------------------------------------------------
def test_missing_dose_grid_scaling(tmp_path):
    ds = fac.rtdose_dataset(linear)
    del ds.DoseGridScaling
    with pytest.raises(MissingAttributeError, match="DoseGridScaling") as e:
        read_rtdose(fac.save(ds, tmp_path / "x.dcm"))
    assert "x.dcm" in str(e.value)


def test_oblique_grid_rejected(tmp_path):
    c, s = np.cos(0.2), np.sin(0.2)
    path = _write(tmp_path, iop=(c, s, 0.0, -s, c, 0.0))
    with pytest.raises(GeometryError, match="oblique"):
        read_rtdose(path)


def test_non_uniform_frames_rejected(tmp_path):
    path = _write(tmp_path, offsets=[0.0, 2.5, 5.0, 8.0])
    with pytest.raises(GeometryError, match="not uniformly spaced"):
        read_rtdose(path)


def test_offset_vector_neither_form_rejected(tmp_path):
    path = _write(tmp_path, offsets=[7.0, 9.5, 12.0, 14.5])
    with pytest.raises(GeometryError, match="GridFrameOffsetVector"):
        read_rtdose(path)


def test_negative_stored_dose_rejected(tmp_path):
    ds = fac.rtdose_dataset(pixels=np.array([[[1, -2]]]), shape_frc=(1, 1, 2), signed=True, scaling=1.0)
    with pytest.raises(DicomError, match="negative"):
        read_rtdose(fac.save(ds, tmp_path / "neg.dcm"))


def test_header_pixel_mismatch_small(tmp_path):
    ds = fac.rtdose_dataset(linear)
    ds.Rows = ds.Rows + 1
    with pytest.raises(DicomError, match="PixelData holds"):
        read_rtdose(fac.save(ds, tmp_path / "m.dcm"))


def test_header_pixel_mismatch_huge_fails_fast(tmp_path):
    """Rows = Columns = 65535 and 100000 frames (4.3e14 voxels) must fail before any
    allocation: well under a second and a few MB of peak memory."""
    ds = fac.rtdose_dataset(linear)
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 100000
    ds.GridFrameOffsetVector = [0.0, 2.5]
    path = fac.save(ds, tmp_path / "huge.dcm")
    tracemalloc.start()
    with pytest.raises(DicomError, match="exceeds"):
        read_rtdose(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # The memory peak is the check (no allocation of the declared 400 GB); no wall-clock
    # assertion, which a slow shared CI machine could break.
    assert peak < 20e6


def test_rle_header_mismatch_fails_before_decoding(tmp_path):
    """A compressed file claiming far more voxels than its fragments can hold is refused
    from the encoded length (RLE packs at most 64x)."""
    ds = fac.rtdose_dataset(linear, bits=16, scaling=1e-2)
    ds.compress(pydicom.uid.RLELossless)
    ds.Rows = ds.Columns = 4000
    with pytest.raises(DicomError, match="compressed bytes"):
        read_rtdose(fac.save(ds, tmp_path / "rle_big.dcm"))
