"""The raw-bytes ROIContourSequence reader (io/rawseq.py) against the pydicom path.

Truth everywhere: the same file read through pydicom's own sequence parsing (the path
``read_rtstruct`` takes when the walker is disabled), compared for bit-identical
structures and identical notes, or for the identical error (type and message).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DSequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

sys.path.insert(0, str(Path(__file__).parent))
import dicom_factory as fac  # noqa: E402

from dosecalc.errors import DoseCalcError  # noqa: E402
from dosecalc.io import rawseq, rtstruct  # noqa: E402
from dosecalc.io.rtstruct import read_rtstruct  # noqa: E402

REAL = Path(__file__).resolve().parents[1] / "benchmarks" / "_work" / "real"


@contextmanager
def _pydicom_only():
    with mock.patch.object(rtstruct, "_raw_read", lambda path: None), \
            mock.patch.object(rtstruct, "_raw_from_dataset", lambda ds: None):
        yield


def _outcome(path, *, fast: bool):
    """('ok', (StructureSet, notes)) or ('error', type, message)."""
    try:
        if fast:
            return ("ok", read_rtstruct(path))
        with _pydicom_only():
            return ("ok", read_rtstruct(path))
    except DoseCalcError as exc:
        return ("error", type(exc), str(exc))


def _assert_same_structures(a, b):
    (ss_a, notes_a), (ss_b, notes_b) = a, b
    assert notes_a == notes_b
    for attr in ("frame_of_reference_uid", "sop_instance_uid", "label", "source_path"):
        assert getattr(ss_a, attr) == getattr(ss_b, attr)
    assert len(ss_a.structures) == len(ss_b.structures)
    for sa, sb in zip(ss_a.structures, ss_b.structures):
        assert (sa.number, sa.name, sa.roi_type, sa.color) == (sb.number, sb.name, sb.roi_type, sb.color)
        assert len(sa.planes) == len(sb.planes)
        for pa, pb in zip(sa.planes, sb.planes):
            assert pa.z_mm == pb.z_mm
            assert len(pa.polygons) == len(pb.polygons)
            for qa, qb in zip(pa.polygons, pb.polygons):
                assert qa.dtype == qb.dtype and qa.shape == qb.shape
                assert qa.tobytes() == qb.tobytes()  # bit-identical, -0.0 included
        assert sa.points_mm.tobytes() == sb.points_mm.tobytes()
        assert sa.points_mm.shape == sb.points_mm.shape
        assert len(sa.open_contours) == len(sb.open_contours)
        for oa, ob in zip(sa.open_contours, sb.open_contours):
            assert oa.tobytes() == ob.tobytes() and oa.shape == ob.shape


def _assert_same_outcome(path):
    fast, slow = _outcome(path, fast=True), _outcome(path, fast=False)
    assert fast[0] == slow[0], (fast, slow)
    if fast[0] == "ok":
        _assert_same_structures(fast[1], slow[1])
    else:
        assert fast[1:] == slow[1:]
    return fast


def _raw_only(path):
    """The walker's result with no fallback (an exception propagates)."""
    fast = rtstruct._raw_read(str(path))
    assert fast is not None
    return rtstruct._read(fast[0], str(path), fast[1])


def _assert_walker_used_and_same(path):
    """The walker reads the file (no fallback) and gives the pydicom path's result."""
    outcome = _outcome(path, fast=False)
    assert outcome[0] == "ok"
    _assert_same_structures(_raw_only(path), outcome[1])
    # A dataset already read by the caller: its undecoded sequence bytes are walked.
    ds = pydicom.dcmread(path, force=True)
    if isinstance(ds.get_item(rtstruct.ROI_CONTOUR_SEQUENCE), pydicom.dataelem.RawDataElement):
        assert rtstruct._raw_from_dataset(ds) is not None
    _assert_same_structures(read_rtstruct(path, ds=pydicom.dcmread(path, force=True)), outcome[1])
    return outcome[1]


def _rich_rois():
    """Rings, several planes, POINT / OPEN contours, a degenerate contour (note), an empty
    ROI, an empty ContourSequence, negative zero and exponents in the coordinates."""
    ring_out = fac.square(0, 0, 10, 5.0)
    ring_in = fac.square(0, 0, 4, 5.0)[::-1]
    wavy = np.array([[-0.0, 1e-3, -2.5], [3.25e1, -7.125, -2.5], [1.5, 12.0, -2.5]])
    return [
        {"number": 7, "name": "Liver", "type": "ORGAN", "color": (10, 20, 30),
         "contours": [("CLOSED_PLANAR", ring_out), ("CLOSED_PLANAR", ring_in),
                      ("CLOSED_PLANAR", fac.square(1, 2, 3, 2.5)), ("CLOSED_PLANAR", wavy)]},
        {"number": 2, "name": "Marker", "type": "MARKER", "color": (0, 255, 0),
         "contours": [("POINT", [[1.5, -2.25, 3.0]]), ("POINT", [[-1, 0, 2]])]},
        {"number": 3, "name": "Line", "contours": [("OPEN_PLANAR", [[0, 0, 1], [1, 1, 1], [2, 0, 1]])]},
        {"number": 4, "name": "Nothing", "type": "AVOIDANCE"},
        {"number": 5, "name": "GTV", "type": "GTV", "color": (255, 0, 0),
         "contours": [("CLOSED_PLANAR", fac.square(0, 0, 2, 0.0)),
                      ("CLOSED_PLANAR", [[0, 0, 2.5], [1, 1, 2.5]])]},
        {"number": 6, "name": "EmptySeq", "empty_sequence": True},
    ]


def _decorate(ds: Dataset) -> Dataset:
    """Add what real exports carry and the walker must skip: ContourImageSequence and
    ContourNumber in contour items, a private block in ROI items, and an ROIContourSequence
    item whose ROI is not in StructureSetROISequence (a note)."""
    for roi in ds.ROIContourSequence:
        roi.add_new(0x30090010, "LO", "DOSECALC TEST")
        roi.add_new(0x30091001, "OB", b"\x01\x02\x03\x04")
        for k, c in enumerate(roi.get("ContourSequence", [])):
            ref = Dataset()
            ref.ReferencedSOPClassUID = fac.CT_IMAGE
            ref.ReferencedSOPInstanceUID = f"1.2.3.{k + 1}"
            c.ContourImageSequence = DSequence([ref])
            c.ContourNumber = k + 1
    orphan = Dataset()
    orphan.ReferencedROINumber = 99
    orphan.ROIDisplayColor = [1, 2, 3]
    item = Dataset()
    item.ContourGeometricType = "POINT"
    item.NumberOfContourPoints = 1
    item.ContourData = [1.0, 2.0, 3.0]
    orphan.ContourSequence = DSequence([item])
    ds.ROIContourSequence.append(orphan)
    return ds


def _undefined_lengths(ds: Dataset) -> Dataset:
    """Every sequence and item of undefined length (delimiters), as many exporters write."""
    def mark(elem_ds):
        for elem in elem_ds:
            if elem.VR == "SQ":
                elem.is_undefined_length = True
                for item in elem.value:
                    item.is_undefined_length_sequence_item = True
                    mark(item)
    mark(ds)
    return ds


def _save(ds: Dataset, path: Path, syntax) -> Path:
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("undefined", [False, True])
def test_factory_files_identical(tmp_path, syntax, undefined):
    """Truth: the pydicom path on the same file (defined/undefined lengths, both VR modes)."""
    ds = _decorate(fac.rtstruct_dataset(_rich_rois()))
    if undefined:
        ds = _undefined_lengths(ds)
    path = _save(ds, tmp_path / "rs.dcm", syntax)
    if undefined:  # the file really holds the delimiters
        assert b"\xfe\xff\xdd\xe0" in path.read_bytes() and b"\xfe\xff\x0d\xe0" in path.read_bytes()
    ss, notes = _assert_walker_used_and_same(path)
    # Sanity against what was written (not only against pydicom): the ring, the colours,
    # the notes on the degenerate contour and on the ROI absent from StructureSetROISequence.
    assert ss["Liver"].color == (10, 20, 30) and len(ss["Liver"].planes) == 3
    np.testing.assert_array_equal(ss["Liver"].planes[2].polygons[1], fac.square(0, 0, 4, 5.0)[::-1, :2])
    assert ss["EmptySeq"].is_empty and ss["Nothing"].is_empty
    assert len(notes) == 2 and "ROI number 99" in notes[0] and "GTV" in notes[1]


def test_pydicom_testdata_rtstruct():
    """Truth: pydicom path on pydicom's rtstruct.dcm (no preamble, read with force)."""
    from pydicom.data import get_testdata_file

    _assert_walker_used_and_same(get_testdata_file("rtstruct.dcm"))


def test_synthetic_case(synthetic_case_dir):
    """Truth: pydicom path on the synthetic export's RTSTRUCT."""
    (path,) = sorted(synthetic_case_dir.glob("RS_*.dcm"))
    _assert_walker_used_and_same(path)


def test_nelms_structures(nelms_dir):
    """Truth: pydicom path on every Nelms 2015 benchmark RTSTRUCT."""
    paths = sorted((nelms_dir / "structures").glob("*.dcm"))
    assert paths
    for path in paths:
        _assert_walker_used_and_same(path)


@pytest.mark.parametrize("name", ["brainlab_srs", "eclipse_breast"])
def test_real_exports(name):
    """Truth: pydicom path on the real Brainlab / Eclipse exports (skipped when absent)."""
    folder = REAL / name
    if not (REAL / f"{name}.complete").exists():
        pytest.skip(f"{folder} is absent")
    from dosecalc.io.scan import scan

    (header,) = scan([folder]).of("RTSTRUCT")
    _assert_walker_used_and_same(header.path)


# ---- fallback: anything the walker does not read goes through pydicom unchanged ----

def _small(tmp_path, syntax=ExplicitVRLittleEndian, name="rs.dcm", rois=None):
    ds = _decorate(fac.rtstruct_dataset(rois or _rich_rois()))
    return _save(ds, tmp_path / name, syntax)


def test_big_endian_falls_back(tmp_path):
    """Truth: the pydicom path; the walker declines Explicit VR Big Endian."""
    path = _small(tmp_path, ExplicitVRBigEndian)
    assert rtstruct._raw_read(str(path)) is None
    assert _assert_same_outcome(path)[0] == "ok"


def _sequence_span(path):
    """(start, end) byte offsets of the ROIContourSequence element, found by pydicom."""
    ds = pydicom.dcmread(path)
    elem = ds.get_item(rtstruct.ROI_CONTOUR_SEQUENCE)
    return elem.value_tell, elem.value_tell + elem.length


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_truncated_sequence_falls_back(tmp_path, syntax):
    """Truth: the pydicom path's outcome (here an error) on files cut inside the sequence."""
    path = _small(tmp_path, syntax)
    data = path.read_bytes()
    start, end = _sequence_span(path)
    for cut in (start + 3, (start + end) // 2, end - 1):
        cut_path = tmp_path / f"cut_{cut}.dcm"
        cut_path.write_bytes(data[:cut])
        assert rtstruct._raw_read(str(cut_path)) is None
        _assert_same_outcome(cut_path)


def test_values_pydicom_converts_fall_back(tmp_path):
    """Truth: the pydicom path on ROI numbers / colours the walker leaves to pydicom's IS
    conversion ('7.0', '+7', a 2-component colour); also an error raised mid-loop
    (NumberOfContourPoints mismatch) must keep the pydicom path's message."""
    base = _small(tmp_path, ImplicitVRLittleEndian, "base.dcm")
    data = base.read_bytes()
    ref7 = b"\x06\x30\x84\x00\x02\x00\x00\x007 "  # implicit VR (3006,0084) IS "7 "
    assert data.count(ref7) == 2 and data.count(b"10\\20\\30") == 1
    cases = {"plus": data.replace(ref7, ref7[:-2] + b"+7", 1),
             "decimal": data.replace(ref7, ref7[:-2] + b"7.", 1),
             "color2": data.replace(b"10\\20\\30", b"10\\20   ", 1)}
    for name, blob in cases.items():
        assert blob != data
        p = tmp_path / f"{name}.dcm"
        p.write_bytes(blob)
        assert _assert_same_outcome(p)[0] == "ok"
        with pytest.raises(rawseq.Unsupported):  # the walker's items are fine, the value is not plain
            _raw_only(p)
    bad = _small(tmp_path, ExplicitVRLittleEndian, "mismatch.dcm", rois=[
        {"number": 1, "name": "PTV", "contours": [("CLOSED_PLANAR", fac.square(0, 0, 2, 0.0), 5)]}])
    outcome = _assert_same_outcome(bad)
    assert outcome[0] == "error" and "NumberOfContourPoints is 5" in outcome[2]


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("undefined", [False, True])
def test_mutated_sequences_match_pydicom(tmp_path, syntax, undefined):
    """Truth: the pydicom path, on 120 files with random bytes overwritten inside the
    ROIContourSequence: same structures and notes, or the same error."""
    ds = _decorate(fac.rtstruct_dataset(_rich_rois()))
    if undefined:
        ds = _undefined_lengths(ds)
    path = _save(ds, tmp_path / "rs.dcm", syntax)
    data = path.read_bytes()
    start = pydicom.dcmread(path).get_item(rtstruct.ROI_CONTOUR_SEQUENCE).value_tell if not undefined else None
    if start is None:  # undefined-length sequences are parsed on reading: find the tag instead
        start = data.index(b"\x06\x30\x39\x00")
    rng = np.random.default_rng(20250101)
    n_ok = n_walked = 0
    for k in range(120):
        blob = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(start, len(blob)))
            blob[pos] = int(rng.choice([0, 0xFF, 0xFE, 0x5C, 0x20, int(rng.integers(0, 256))]))
        p = tmp_path / f"m{k}.dcm"
        p.write_bytes(bytes(blob))
        n_ok += _assert_same_outcome(p)[0] == "ok"
        n_walked += rtstruct._raw_read(str(p)) is not None
    # Both branches are exercised: files read fine and files refused, files the walker
    # reads and files it leaves to pydicom.
    assert 0 < n_ok < 120 and 0 < n_walked < 120, (n_ok, n_walked)


# ---- the walker on hand-made bytes ----

def _elem(tag, vr, value, *, implicit):
    group, element = tag >> 16, tag & 0xFFFF
    head = group.to_bytes(2, "little") + element.to_bytes(2, "little")
    if implicit:
        return head + len(value).to_bytes(4, "little") + value
    if vr in (b"SQ", b"OB", b"UN", b"UT"):
        return head + vr + b"\0\0" + len(value).to_bytes(4, "little") + value
    return head + vr + len(value).to_bytes(2, "little") + value


def _item(body, undefined=False):
    if undefined:
        return b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + body + b"\xfe\xff\x0d\xe0\0\0\0\0"
    return b"\xfe\xff\x00\xe0" + len(body).to_bytes(4, "little") + body


WANT = {0x30060084: rawseq.Want(b"IS"), 0x30060040: rawseq.Want(b"SQ", {0x30060050: rawseq.Want(b"DS")})}


@pytest.mark.parametrize("implicit", [True, False])
def test_walker_reads_handmade_items(implicit):
    """Truth: the values written by hand (PS3.5 7.1 / 7.5 encodings)."""
    contour = _elem(0x30060050, b"DS", b"1\\2\\3 ", implicit=implicit)
    inner = _elem(0x30060040, b"SQ", _item(contour) + _item(contour, undefined=True), implicit=implicit)
    body = (_elem(0x30060084, b"IS", b"12", implicit=implicit) + _elem(0x30091001, b"UN", b"xyz\0", implicit=implicit)
            + inner)
    value = _item(body) + _item(body, undefined=True)
    items = rawseq.sequence_value(value, implicit_vr=implicit, wanted=WANT)
    assert len(items) == 2
    for it in items:
        assert it[0x30060084] == b"12"
        assert [c[0x30060050] for c in it[0x30060040]] == [b"1\\2\\3 "] * 2


@pytest.mark.parametrize("bad", [
    "stray tag", "length past end", "undefined non-SQ", "wrong VR", "repeated", "unknown VR",
    "delimiter in defined item", "sequence delimiter in defined sequence"])
def test_walker_refuses_anomalies(bad):
    """Truth: PS3.5 7.5 -- each byte string breaks one encoding rule; the walker must
    decline (Unsupported) rather than guess."""
    implicit = bad != "wrong VR" and bad != "unknown VR"
    ok = _elem(0x30060084, b"IS", b"12", implicit=implicit)
    if bad == "stray tag":
        value = _item(ok) + ok
    elif bad == "length past end":
        value = b"\xfe\xff\x00\xe0" + (len(ok) + 4).to_bytes(4, "little") + ok
    elif bad == "undefined non-SQ":
        value = _item(b"\x06\x30\x84\x00\xff\xff\xff\xff12" + b"\xfe\xff\xdd\xe0\0\0\0\0")
    elif bad == "wrong VR":
        value = _item(_elem(0x30060084, b"LO", b"12", implicit=False))
    elif bad == "repeated":
        value = _item(ok + ok)
    elif bad == "unknown VR":
        value = _item(_elem(0x30060084, b"QQ", b"12", implicit=False))
    elif bad == "delimiter in defined item":
        value = _item(ok + b"\xfe\xff\x0d\xe0\0\0\0\0")
    else:
        value = _item(ok) + b"\xfe\xff\xdd\xe0\0\0\0\0"
    with pytest.raises(rawseq.Unsupported):
        rawseq.sequence_value(value, implicit_vr=implicit, wanted=WANT)
