"""RTSTRUCT reading: ROIs, planes, points, degenerate and malformed contours."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import dicom_factory as fac  # noqa: E402

from dosecalc.errors import ContourError, GeometryError  # noqa: E402
from dosecalc.io.rtstruct import read_rtstruct  # noqa: E402


def _write(tmp_path, rois, name="rs.dcm"):
    return fac.save(fac.rtstruct_dataset(rois), tmp_path / name)


def test_rois_planes_points_open(tmp_path):
    """Truth: the coordinates written (6 significant digits, exactly representable here),
    the ROI attributes written, and planes grouped by z with two polygons (ring) on one."""
    outer = fac.square(0, 0, 10, 5.0)
    inner = fac.square(0, 0, 4, 5.0)[::-1]
    rois = [
        {"number": 7, "name": "Liver", "type": "ORGAN", "color": (10, 20, 30),
         "contours": [("CLOSED_PLANAR", outer), ("CLOSED_PLANAR", inner),
                      ("CLOSED_PLANAR", fac.square(1, 2, 3, 2.5))]},
        {"number": 2, "name": "Marker", "type": "MARKER", "contours": [("POINT", [[1.5, -2.25, 3.0]])]},
        {"number": 3, "name": "Line", "contours": [("OPEN_PLANAR", [[0, 0, 1], [1, 1, 1], [2, 0, 1]])]},
        {"number": 4, "name": "Nothing", "type": "AVOIDANCE"},
    ]
    ss, notes = read_rtstruct(_write(tmp_path, rois))
    assert notes == []
    assert ss.names == ["Liver", "Marker", "Line", "Nothing"]
    assert ss.frame_of_reference_uid == "1.2.3.4"
    liver = ss["liver"]
    assert liver.number == 7 and liver.roi_type == "ORGAN" and liver.color == (10, 20, 30)
    assert [p.z_mm for p in liver.planes] == [2.5, 5.0]
    assert len(liver.planes[1].polygons) == 2
    np.testing.assert_array_equal(liver.planes[1].polygons[0], outer[:, :2])
    np.testing.assert_array_equal(liver.planes[1].polygons[1], inner[:, :2])
    np.testing.assert_array_equal(ss["Marker"].points_mm, [[1.5, -2.25, 3.0]])
    assert not ss["Marker"].has_volume
    np.testing.assert_array_equal(ss["Line"].open_contours[0], [[0, 0, 1], [1, 1, 1], [2, 0, 1]])
    assert ss["Nothing"].is_empty and ss["Nothing"].roi_type == "AVOIDANCE"


def test_planes_within_tolerance_grouped(tmp_path):
    """Two polygons whose z differ by 2e-4 mm (export rounding) share one plane."""
    rois = [{"number": 1, "name": "A", "contours": [("CLOSED_PLANAR", fac.square(0, 0, 1, 1.0)),
                                                    ("CLOSED_PLANAR", fac.square(5, 0, 1, 1.0002))]}]
    ss, _ = read_rtstruct(_write(tmp_path, rois))
    assert len(ss["A"].planes) == 1 and len(ss["A"].planes[0].polygons) == 2


def test_two_point_contour_skipped_with_note(tmp_path):
    rois = [{"number": 1, "name": "GTV", "contours": [
        ("CLOSED_PLANAR", fac.square(0, 0, 2, 0.0)),
        ("CLOSED_PLANAR", [[0, 0, 2.5], [1, 1, 2.5]]),
        ("CLOSED_PLANAR", [[0, 0, 5.0], [1, 1, 5.0], [0, 0, 5.0]]),  # 3 points, 2 distinct
    ]}]
    ss, notes = read_rtstruct(_write(tmp_path, rois))
    assert len(ss["GTV"].planes) == 1
    # one line per ROI with the count (an export may hold hundreds of them)
    assert len(notes) == 1 and "GTV" in notes[0] and "skipped 2 degenerate closed contours" in notes[0]
    assert "z = 2.50, 5.00 mm" in notes[0]
    assert ss["GTV"].degenerate_contours == 2


def test_point_count_mismatch(tmp_path):
    rois = [{"number": 1, "name": "PTV", "contours": [("CLOSED_PLANAR", fac.square(0, 0, 2, 0.0), 5)]}]
    with pytest.raises(ContourError, match="PTV.*NumberOfContourPoints is 5.*4 points"):
        read_rtstruct(_write(tmp_path, rois))


def test_non_axial_contour(tmp_path):
    pts = fac.square(0, 0, 2, 0.0)
    pts[2, 2] = 1.0
    rois = [{"number": 1, "name": "Tilted", "contours": [("CLOSED_PLANAR", pts)]}]
    with pytest.raises(GeometryError, match="Tilted.*not axial") as e:
        read_rtstruct(_write(tmp_path, rois))
    assert "rs.dcm" in str(e.value)


@pytest.mark.parametrize("bad", [b"1.0\\2.0\\abc", b"1.0\\\\3.0", b"1.0\\2.0\\nan", b"1.0\\2.0\\1e5x"])
def test_malformed_numbers(tmp_path, bad):
    """pydicom refuses to write some of these, so a valid value of the same length is
    written and replaced in the file's bytes."""
    placeholder = b"7" * len(bad)
    path = _write(tmp_path, [{"number": 1, "name": "Bad", "contours": [("POINT", placeholder, 1)]}])
    data = path.read_bytes()
    assert data.count(placeholder) == 1
    path.write_bytes(data.replace(placeholder, bad))
    with pytest.raises(ContourError, match="ContourData"):
        read_rtstruct(path)


def test_not_multiple_of_three(tmp_path):
    rois = [{"number": 1, "name": "Bad", "contours": [("POINT", b"1.0\\2.0", 1)]}]
    with pytest.raises(ContourError, match="multiple of 3"):
        read_rtstruct(_write(tmp_path, rois))


def test_fast_path_equals_pydicom_conversion(tmp_path):
    """Truth: pydicom's own value-by-value ContourData conversion on the same file
    (coordinates with 6 significant digits, exponents, negative zero)."""
    rng = np.random.default_rng(3)
    contours = []
    for k in range(30):
        t = np.linspace(0, 2 * np.pi, 50, endpoint=False)
        r = 20 * rng.random() + 1e-3
        pts = np.stack([r * np.cos(t) + rng.normal() * 1e-4, r * np.sin(t), np.full_like(t, -3.3 + k)], 1)
        contours.append(("CLOSED_PLANAR", pts))
    path = _write(tmp_path, [{"number": 1, "name": "R", "contours": contours}])
    ss, _ = read_rtstruct(path)
    ds = pydicom.dcmread(path)
    truth = [np.array(c.ContourData, dtype=float).reshape(-1, 3) for c in ds.ROIContourSequence[0].ContourSequence]
    got = ss["R"].planes
    assert len(got) == 30
    for plane, t in zip(got, truth):
        np.testing.assert_array_equal(plane.polygons[0], t[:, :2])
        assert plane.z_mm == t[0, 2]


def test_pydicom_rtstruct_file():
    """Truth: pydicom's test file rtstruct.dcm read by pydicom itself (no preamble)."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file("rtstruct.dcm")
    ss, notes = read_rtstruct(path)
    ref = pydicom.dcmread(path, force=True)
    assert ss.names == [str(r.ROIName) for r in ref.StructureSetROISequence]
    body = ss["patient"]
    assert body.roi_type == "EXTERNAL"
    cs = ref.ROIContourSequence[0].ContourSequence
    assert len(body.planes) == len(cs)
    for plane, c in zip(body.planes, sorted(cs, key=lambda c: float(c.ContourData[2]))):
        np.testing.assert_array_equal(plane.polygons[0], np.array(c.ContourData, float).reshape(-1, 3)[:, :2])
    iso = ss["Isocenter 1"]
    assert iso.roi_type == "ISOCENTER" and iso.points_mm.shape == (1, 3)
