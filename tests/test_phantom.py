"""The synthetic liver-SBRT export: validity, determinism, anatomy and dose truth."""

from __future__ import annotations

import math

import numpy as np
import pydicom
import pytest

from dosecalc import phantom
from dosecalc.errors import OutputError, ParameterError

REQUIRED = ("Body", "Liver", "CTV", "PTV", "GTV1", "GTV2", "PTV1", "PTV2", "Stomach", "Duodenum",
            "Bowel_Small", "Bowel_Large", "Esophagus", "SpinalCord", "Kidney_L", "Kidney_R",
            "Heart", "Chestwall", "Skin")


@pytest.fixture(scope="module")
def case_dir(synthetic_case_dir):
    return synthetic_case_dir


@pytest.fixture(scope="module")
def rtstruct(case_dir):
    return pydicom.dcmread(case_dir / "RS_synthetic.dcm")


def _contours(rs, name):
    """{z: [polygon (N, 2)]} of ROI ``name`` read with pydicom."""
    number = next(r.ROINumber for r in rs.StructureSetROISequence if r.ROIName == name)
    roi = next(r for r in rs.ROIContourSequence if r.ReferencedROINumber == number)
    out = {}
    for c in roi.ContourSequence:
        p = np.array([float(v) for v in c.ContourData]).reshape(-1, 3)
        assert c.ContourGeometricType == "CLOSED_PLANAR"
        assert int(c.NumberOfContourPoints) == len(p)
        assert np.ptp(p[:, 2]) == 0.0
        out.setdefault(float(p[0, 2]), []).append(p[:, :2])
    return out


def _area(poly):
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _fine_volume_cc(shape, lo, hi, h_xy=0.6, h_z=1.0):
    """Truth: midpoint-rule integral of the implicit function (plain numpy float64)."""
    x = np.arange(lo[0] + h_xy / 2, hi[0], h_xy)
    y = np.arange(lo[1] + h_xy / 2, hi[1], h_xy)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    total = 0
    for z in np.arange(lo[2] + h_z / 2, hi[2], h_z):
        total += int(shape.inside(xx, yy, z).sum())
    return total * h_xy * h_xy * h_z / 1000.0


def test_files_and_modalities(case_dir):
    """Truth: the DICOM RT object model (one frame of reference, references between files)."""
    files = sorted(case_dir.glob("*.dcm"))
    ds = {p.name: pydicom.dcmread(p, stop_before_pixels=True) for p in files}
    mods = sorted({d.Modality for d in ds.values()})
    assert mods == ["CT", "RTDOSE", "RTPLAN", "RTSTRUCT"]
    ct = [d for d in ds.values() if d.Modality == "CT"]
    assert len(ct) == len(phantom.ct_z_positions(2.5)) == 81
    rs, rp, rd = ds["RS_synthetic.dcm"], ds["RP_synthetic.dcm"], ds["RD_synthetic.dcm"]
    frames = {d.FrameOfReferenceUID for d in ds.values() if "FrameOfReferenceUID" in d}
    frames.add(rs.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID)
    assert len(frames) == 1
    assert len({d.StudyInstanceUID for d in ds.values()}) == 1
    assert len({d.SOPInstanceUID for d in ds.values()}) == len(files)
    assert rd.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == rp.SOPInstanceUID
    assert rd.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == rs.SOPInstanceUID
    assert rp.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == rs.SOPInstanceUID
    assert rp.FractionGroupSequence[0].NumberOfFractionsPlanned == 5
    assert [float(r.TargetPrescriptionDose) for r in rp.DoseReferenceSequence] == [40.0] * 3
    assert rp.RTPlanLabel == "LiverSBRT"
    ct_uids = {d.SOPInstanceUID for d in ct}
    refs = rs.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0] \
        .RTReferencedSeriesSequence[0].ContourImageSequence
    assert {r.ReferencedSOPInstanceUID for r in refs} == ct_uids


def test_ct_slices_plausible(case_dir):
    """Truth: the HU painted for known anatomy (air -1000, liver 60, vertebra 450) at points
    far from any boundary, +- 5 sigma of the 8 HU noise."""
    z_ct = phantom.ct_z_positions(2.5)
    k = int(np.argmin(np.abs(z_ct - 20.0)))
    ds = pydicom.dcmread(case_dir / f"CT_{k + 1:04d}.dcm")
    assert ds.pixel_array.dtype == np.int16 and ds.PatientPosition == "HFS"
    hu = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    x0, y0, z0 = (float(v) for v in ds.ImagePositionPatient)
    dy, dx = (float(v) for v in ds.PixelSpacing)

    def at(x, y):
        return hu[int(round((y - y0) / dy)), int(round((x - x0) / dx))]

    assert abs(at(-170.0, -120.0) + 1000) <= 40
    assert abs(at(-60.0, 0.0) - 60) <= 40  # liver centre
    assert abs(at(0.0, 58.0) - 450) <= 40  # vertebral body


def test_required_structures_and_types(rtstruct):
    """Truth: the task's TG-263 name list; interpreted types from the RT ROI Observations."""
    names = [r.ROIName for r in rtstruct.StructureSetROISequence]
    assert set(REQUIRED) <= set(names)
    types = {o.ReferencedROINumber: o.RTROIInterpretedType for o in rtstruct.RTROIObservationsSequence}
    by_name = {r.ROIName: types[r.ROINumber] for r in rtstruct.StructureSetROISequence}
    assert by_name["Body"] == "EXTERNAL"
    assert {by_name[n] for n in ("PTV", "PTV1", "PTV2")} == {"PTV"}
    assert {by_name[n] for n in ("GTV1", "GTV2")} == {"GTV"} and by_name["CTV"] == "CTV"
    for roi in rtstruct.ROIContourSequence:
        assert len(roi.ROIDisplayColor) == 3
        for c in roi.ContourSequence:
            assert c.ContourImageSequence[0].ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"


def test_skin_has_inner_hole_contours(rtstruct):
    """Truth: Skin = Body minus the body shrunk by 4 mm: two rings per plane whose area
    difference is the shell's area (superellipse area 4ab G(1+1/n)^2/G(1+2/n), n = 2.3)."""
    skin = _contours(rtstruct, "Skin")
    z = sorted(skin)[40]
    polys = skin[z]
    assert len(polys) == 2
    a, b = phantom.BODY_AXES_MM
    n = 2.3
    k = 4 * math.gamma(1 + 1 / n) ** 2 / math.gamma(1 + 2 / n)
    exact = k * (a * b - (a - 4) * (b - 4))
    got = abs(_area(polys[0]) - _area(polys[1]))
    assert got == pytest.approx(exact, rel=2e-3)


def test_liver_volume_analytic_and_contours(rtstruct):
    """Truth: the Liver implicit function integrated on a 0.6 x 0.6 x 1 mm midpoint grid.
    Its volume must be adult-like (1200-1800 cc), and the prism volume of the written
    contours (sum of polygon areas x 2.5 mm slice spacing) must agree within 1 % (slice
    sampling of a smoothly varying section plus 1 mm polygon edges)."""
    truth = _fine_volume_cc(phantom.LIVER, (-150.0, -80.0, -62.0), (45.0, 75.0, 88.0))
    assert 1200.0 <= truth <= 1800.0
    planes = _contours(rtstruct, "Liver")
    prism = sum(sum(_area(p) for p in polys) for polys in planes.values()) * 2.5 / 1000.0
    assert prism == pytest.approx(truth, rel=0.01)


@pytest.mark.parametrize("name, lo, hi", [
    ("CTV", (-112, -64, -35), (-52, -4, 25)),
    ("GTV1", (-115, 4, 22), (-82, 32, 54)),
    ("PTV2", (-48, -18, -38), (-8, 18, 2)),
])
def test_target_volumes(rtstruct, name, lo, hi):
    """Truth: fine integration of the implicit function (0.4 mm in-plane, 0.5 mm in z);
    prism volume of the contours within 3 % (small volumes: slice sampling dominates).
    Volumes in the ranges the task asks for (CTV 30-80 cc, GTVs 5-30 cc)."""
    shape = {"CTV": phantom.CTV, "GTV1": phantom.GTV1, "PTV2": phantom.PTV2}[name]
    truth = _fine_volume_cc(shape, lo, hi, h_xy=0.4, h_z=0.5)
    if name == "CTV":
        assert 30.0 <= truth <= 80.0
    if name == "GTV1":
        assert 5.0 <= truth <= 30.0
    planes = _contours(rtstruct, name)
    prism = sum(sum(_area(p) for p in polys) for polys in planes.values()) * 2.5 / 1000.0
    assert prism == pytest.approx(truth, rel=0.03)


def test_containment(rtstruct):
    """Truth: the implicit functions.  Every written vertex of a PTV lies in the Body, of a
    GTV/CTV in the Liver; and on a 1.5 mm grid every point of the GTVs/CTV is in the Liver."""
    for inner, outer in (("PTV", phantom.BODY), ("PTV1", phantom.BODY), ("PTV2", phantom.BODY),
                         ("GTV1", phantom.LIVER), ("GTV2", phantom.LIVER), ("CTV", phantom.LIVER)):
        for z, polys in _contours(rtstruct, inner).items():
            for p in polys:
                assert outer.inside(p[:, 0], p[:, 1], z).all(), (inner, z)
    x, y, z = np.meshgrid(np.arange(-150, 40, 1.5), np.arange(-80, 70, 1.5), np.arange(-60, 90, 1.5),
                          indexing="ij")
    liver = phantom.LIVER.inside(x, y, z)
    for shape in (phantom.GTV1, phantom.GTV2, phantom.CTV):
        m = shape.inside(x, y, z)
        assert m.sum() > 300 and not (m & ~liver).any()


def test_written_dose_equals_analytic(case_dir):
    """Truth: phantom.analytic_dose at every voxel centre computed from the file's own
    geometry attributes; the stored dose may differ by one DoseGridScaling quantum."""
    ds = pydicom.dcmread(case_dir / "RD_synthetic.dcm")
    dose = ds.pixel_array.astype(np.float64) * float(ds.DoseGridScaling)
    x0, y0, z0 = (float(v) for v in ds.ImagePositionPatient)
    dy, dx = (float(v) for v in ds.PixelSpacing)
    z = z0 + np.array([float(v) for v in ds.GridFrameOffsetVector])
    y = y0 + dy * np.arange(ds.Rows)
    x = x0 + dx * np.arange(ds.Columns)
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    truth = phantom.analytic_dose(np.column_stack([xx.ravel(), yy.ravel(), zz.ravel()]))
    assert np.max(np.abs(dose.ravel() - truth)) <= float(ds.DoseGridScaling)
    assert dx == dy == 4.0 and ds.DoseType == "PHYSICAL" and ds.DoseSummationType == "PLAN"
    # The grid covers the body and the scan range.
    assert x[0] <= -160 and x[-1] >= 160 and y[0] <= -110 and y[-1] >= 110
    assert z[0] - 2.0 <= -101.25 and z[-1] + 2.0 >= 101.25


def test_dose_is_sbrt_like():
    """Truth: analytic_dose at chosen points versus the design: PTV centres 110-125 % of
    the 40 Gy prescription; along a ray from PTV1's centre >= 100 % on the PTV surface,
    90 -> 50 % within 6 mm, 50 % 4-10 mm and 20 % < 25 mm beyond the surface;
    a low-dose bath (0.5-5 Gy) 5 cm from the targets, ~0 Gy outside the body, and linear
    scaling with the prescription."""
    c1 = np.array(phantom._GTV1[0])
    assert 0.0 <= phantom.analytic_dose(np.array([0.0, 200.0, 0.0])) < 1e-6
    for t in phantom._TARGETS:
        assert 1.10 * 40 <= phantom.analytic_dose(t.centre) <= 1.25 * 40
    ray = c1 + np.outer(np.arange(0.0, 60.0, 0.01), [0.0, 0.0, 1.0])
    d = phantom.analytic_dose(ray)

    def reach(level):  # distance from PTV1's centre (mm) where the dose drops below level
        return ray[np.argmax(d < level * 40), 2] - c1[2]

    surface = phantom._GTV1[1][2] + 5.0  # PTV1 surface 18 mm up
    assert reach(1.0) >= surface  # the PTV surface gets >= 100 %
    assert reach(0.9) - reach(0.5) <= 6.0  # steep edge
    assert 4.0 <= reach(0.5) - surface <= 10.0
    assert reach(0.2) - surface <= 25.0  # then the exponential tail
    assert 0.5 <= phantom.analytic_dose(np.array([40.0, 40.0, 0.0])) <= 5.0
    p = np.array([[-60.0, 0.0, 10.0], [-98.0, 18.0, 38.0]])
    assert np.allclose(phantom.analytic_dose(p, prescription_gy=30.0),
                       0.75 * phantom.analytic_dose(p), rtol=1e-12)


def test_deterministic_bytes(case_dir, tmp_path):
    """Truth: identical arguments must give identical files (UIDs from hashed seeds)."""
    again = phantom.write_case(tmp_path / "again", spacing_mm=4.0)
    for name in ("RS_synthetic.dcm", "RD_synthetic.dcm", "RP_synthetic.dcm", "CT_0040.dcm"):
        assert (again / name).read_bytes() == (case_dir / name).read_bytes(), name


def test_extra_structures_reach_40(tmp_path):
    """Truth: 21 base structures + 20 extras = 41 ROIs; small lesions are < 1 cc (ball
    volume 4/3 pi r^3 with r <= 5.5 mm) and lie inside the liver."""
    rois = phantom.STRUCTURES + phantom.extra_rois(20, seed=3)
    names = [r.name for r in rois]
    assert len(rois) >= 40 and len(set(names)) == len(names)
    lesions = [r for r in rois if r.name.startswith("Lesion_small_")]
    assert lesions
    for r in lesions:
        polys = {z: r.shape.polygons(z) for z in np.arange(-100.0, 100.01, 0.5)}
        vol = sum(_area(p[0]) for p in polys.values() if p) * 0.5 / 1000.0
        assert 0.05 < vol < 1.0
        pts = np.vstack([np.column_stack([p[0], np.full(len(p[0]), z)]) for z, p in polys.items() if p])
        assert phantom.LIVER.inside(pts[:, 0], pts[:, 1], pts[:, 2]).all()


def test_bad_arguments(tmp_path):
    with pytest.raises(ParameterError, match="spacing_mm"):
        phantom.write_case(tmp_path / "a", spacing_mm=0)
    with pytest.raises(ParameterError, match="fractions"):
        phantom.write_case(tmp_path / "a", fractions=0)
    with pytest.raises(ParameterError, match="extra_structures"):
        phantom.write_case(tmp_path / "a", extra_structures=-1)
    with pytest.raises(ParameterError, match="points_mm"):
        phantom.analytic_dose(np.zeros((3, 2)))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "foreign.dcm").write_bytes(b"x")
    with pytest.raises(OutputError, match="other DICOM"):
        phantom.write_case(tmp_path / "b", spacing_mm=8.0)


def test_round_trip_with_loader(synthetic_case):
    """Truth: what the phantom wrote (plan, structure names, dose geometry, analytic dose)."""
    case = synthetic_case
    assert case.fractions == 5 and case.prescription_gy == 40.0
    assert set(REQUIRED) <= set(case.structures.names)
    origin, shape = phantom.dose_grid_geometry(4.0)
    assert case.dose.shape == shape
    assert np.allclose(case.dose.origin_mm, origin, atol=1e-9)
    pts = np.array([[-98.0, 18.0, 38.0], [-60.0, 0.0, 10.0], [12.0, -8.0, 40.0]])
    # At voxel centres the loaded grid equals the analytic dose (one quantum ~1.2e-8 Gy).
    idx = np.array([[10, 20, 30], [26, 30, 43]])
    centres = np.array(origin)[None, :] + 4.0 * idx[:, ::-1]
    assert np.allclose(case.dose.values_gy[tuple(idx.T)], phantom.analytic_dose(centres), atol=1e-7)
    assert np.all(np.isfinite(case.dose.sample(pts)))
