"""Truncated DICOM files are found before pydicom reads them.

pydicom returns a value cut by the end of the file with the bytes that are there (a UID
``1.2.``, a ContourData short of points), so the loader walks the element headers itself
(:mod:`dosecalc.io.integrity`).  Truths used here:

* pydicom's own test files, which are complete DICOM except the two pydicom ships as
  truncated examples (``MR_truncated.dcm``, ``rtplan_truncated.dcm``);
* the element boundaries of a file as pydicom's element generator reports them: a cut
  anywhere else must be reported, a cut exactly at a top-level boundary leaves a
  structurally complete (shorter) data set and cannot be told from one by bytes alone.
"""

from __future__ import annotations

import io
import os
import sys
import zlib
from pathlib import Path

import pydicom
import pytest
from pydicom.filereader import data_element_generator, read_preamble

sys.path.insert(0, str(Path(__file__).parent))
import dicom_factory as fac  # noqa: E402
from dosecalc import load  # noqa: E402
from dosecalc.errors import DicomError, MissingAttributeError, TruncatedFileError  # noqa: E402
from dosecalc.io.integrity import find_truncation  # noqa: E402
from dosecalc.io.scan import looks_like_dicom  # noqa: E402

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
KNOWN_TRUNCATED = {"MR_truncated.dcm", "rtplan_truncated.dcm"}


def _pydicom_files():
    out = []
    for root, _, names in os.walk(TEST_FILES):
        for n in sorted(names):
            p = os.path.join(root, n)
            if looks_like_dicom(p)[0]:
                out.append(p)
    return sorted(out)


def test_complete_pydicom_files_are_not_reported():
    files = _pydicom_files()
    assert len(files) > 50
    wrong = []
    for p in files:
        cut = find_truncation(Path(p).read_bytes())
        if (cut is not None) != (os.path.basename(p) in KNOWN_TRUNCATED):
            wrong.append((os.path.basename(p), cut))
    assert wrong == []


def _boundaries(data: bytes) -> set[int]:
    """Byte offsets where a top-level element (File Meta or data set) ends, from pydicom's
    own element generator."""
    fp = io.BytesIO(data)
    ends = set()
    if data[128:132] == b"DICM":
        read_preamble(fp, False)
        ends.add(fp.tell())
        for _ in data_element_generator(fp, False, True, stop_when=lambda tag, vr, length: tag.group != 2):
            ends.add(fp.tell())
    implicit, little = pydicom.dcmread(io.BytesIO(data), force=True).original_encoding
    fp.seek(max(ends, default=0))
    for _ in data_element_generator(fp, implicit, little):
        ends.add(fp.tell())
    return ends


def _boundaries_meta_end(data: bytes) -> int:
    fp = io.BytesIO(data)
    read_preamble(fp, False)
    for _ in data_element_generator(fp, False, True, stop_when=lambda tag, vr, length: tag.group != 2):
        pass
    return fp.tell()


def _undefined_lengths(ds) -> None:
    """Write every sequence and item of ``ds`` with undefined length and delimiters."""
    for elem in ds:
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
                _undefined_lengths(item)


def _factory_files(tmp_path) -> dict[str, bytes]:
    info = fac.write_export(tmp_path / "exp", ct=False)
    files = {k: info[k].read_bytes() for k in ("rtdose", "rtstruct", "rtplan")}
    ds = pydicom.dcmread(info["rtstruct"])
    _undefined_lengths(ds)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    files["rtstruct-undefined-length"] = buf.getvalue()
    assert b"\xfe\xff\xdd\xe0" in files["rtstruct-undefined-length"]  # sequence delimiters
    for name in ("rtdose_expb.dcm", "rtstruct.dcm", "image_dfl.dcm"):  # big endian, RT, deflated
        files[name] = (TEST_FILES / name).read_bytes()
    return files


def test_every_cut_inside_an_element_is_reported(tmp_path):
    for name, data in _factory_files(tmp_path).items():
        assert find_truncation(data) is None, name
        if name == "image_dfl.dcm":
            # Every cut inside the deflate stream loses its end; bytes after the stream's
            # end (zlib's unused_data) are not data.
            start = _boundaries_meta_end(data)
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            inflater.decompress(data[start:])
            bounds = set(range(len(data) - len(inflater.unused_data), len(data) + 1))
        else:
            bounds = _boundaries(data)
        assert len(data) in bounds, name
        step = 1 if len(data) < 20_000 else 97
        missed = [k for k in range(0, len(data), step)
                  if k >= 132 and k not in bounds and find_truncation(data[:k]) is None]
        assert missed == [], (name, missed[:10])


def test_cut_reports_sop_class_when_read(tmp_path):
    data = _factory_files(tmp_path)["rtdose"]
    cut = find_truncation(data[: len(data) - 3])
    assert cut.sop_class_uid == "1.2.840.10008.5.1.4.1.1.481.2"
    assert "(7FE0,0010)" in cut.what and cut.file_size == len(data) - 3
    # Cut inside the File Meta Information, before MediaStorageSOPClassUID is whole.
    assert find_truncation(data[:150]).sop_class_uid == ""


@pytest.mark.parametrize("which", ["rtdose", "rtstruct", "rtplan"])
def test_load_refuses_every_truncated_rt_file(tmp_path, which):
    """A load never returns a case built from a cut RT file.  Cut points: every byte of
    the first 700 (File Meta and the UIDs) and every 13th byte after, inside elements."""
    info = fac.write_export(tmp_path / "exp", ct=False)
    data = info[which].read_bytes()
    bounds = _boundaries(data)
    cuts = [k for k in range(132, len(data)) if (k < 700 or k % 13 == 0) and k not in bounds]
    for k in cuts:
        info[which].write_bytes(data[:k])
        with pytest.raises(DicomError) as e:
            load(tmp_path / "exp")
        assert info[which].name in str(e.value), k


def test_truncated_message_names_file_modality_and_cut(tmp_path):
    info = fac.write_export(tmp_path / "exp", ct=False)
    data = info["rtstruct"].read_bytes()
    info["rtstruct"].write_bytes(data[:-5])
    with pytest.raises(TruncatedFileError) as e:
        load(tmp_path / "exp")
    msg = str(e.value)
    assert str(info["rtstruct"]) in msg and "RTSTRUCT" in msg
    assert f"ends at byte {len(data) - 5}" in msg


def test_structure_set_cut_before_its_contours(tmp_path):
    """A cut exactly at an element boundary leaves a well-formed file; the RT Structure Set
    still fails because ROIContourSequence is Type 1 (PS3.3 C.8.8.6)."""
    info = fac.write_export(tmp_path / "exp", ct=False)
    ds = pydicom.dcmread(info["rtstruct"])
    del ds.ROIContourSequence
    del ds.RTROIObservationsSequence
    ds.save_as(info["rtstruct"])
    with pytest.raises(MissingAttributeError, match=r"ROIContourSequence \(3006,0039\)"):
        load(tmp_path / "exp")


def test_structure_set_without_observations_is_noted(tmp_path):
    info = fac.write_export(tmp_path / "exp", ct=False)
    ds = pydicom.dcmread(info["rtstruct"])
    del ds.RTROIObservationsSequence
    ds.save_as(info["rtstruct"])
    case = load(tmp_path / "exp")
    assert case.structures.names == ["Body", "PTV", "Empty", "Iso"]
    assert any("RTROIObservationsSequence" in n for n in case.notes)


def test_truncated_file_of_unknown_class_is_an_error(tmp_path):
    """A Part 10 file cut before any SOP class UID could be the dose: refuse, naming it."""
    info = fac.write_export(tmp_path / "exp", ct=False)
    stray = tmp_path / "exp" / "stray.dcm"
    stray.write_bytes(info["rtdose"].read_bytes()[:140])
    with pytest.raises(TruncatedFileError, match="stray.dcm.*before its SOP Class UID"):
        load(tmp_path / "exp")


def test_truncated_file_of_other_class_is_skipped(tmp_path):
    fac.write_export(tmp_path / "exp", ct=False)
    ds = pydicom.dcmread(TEST_FILES / "MR_small.dcm")
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    (tmp_path / "exp" / "mr.dcm").write_bytes(buf.getvalue()[:-100])
    case = load(tmp_path / "exp")
    assert case.dose is not None
    assert any("mr.dcm" in n and "truncated" in n for n in case.notes)



def test_trailing_zero_padding_is_not_a_cut(tmp_path):
    """A few zero bytes after the last element (padding; pydicom ignores them) load."""
    info = fac.write_export(tmp_path / "exp", ct=False)
    for which in ("rtdose", "rtstruct", "rtplan"):
        info[which].write_bytes(info[which].read_bytes() + b"\x00" * 6)
    case = load(tmp_path / "exp")
    assert case.dose is not None and case.structures.names == ["Body", "PTV", "Empty", "Iso"]


def test_missing_final_delimiter_ct_accepted_rt_refused(tmp_path):
    """Some archives drop the final sequence delimiter of encapsulated pixel data: a CT
    slice without it still loads (no dose number reads CT pixels), while an RT file
    ending at an item boundary of an undefined-length sequence may have lost items and
    is refused."""
    info = fac.write_export(tmp_path / "exp", ct=True)
    ct_path = info["ct"][0]
    ds = pydicom.dcmread(ct_path)
    ds.compress(pydicom.uid.RLELossless)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    delimiter = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    assert data.endswith(delimiter)
    ct_path.write_bytes(data[: -len(delimiter)])
    cut = find_truncation(ct_path.read_bytes())
    assert cut is not None and cut.at_item_boundary
    case = load(tmp_path / "exp")
    assert case.ct is not None and case.ct.n_slices == 5

    ds = pydicom.dcmread(info["rtstruct"])
    _undefined_lengths(ds)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    assert data.endswith(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    info["rtstruct"].write_bytes(data[:-8])
    with pytest.raises(TruncatedFileError, match=r"RTSTRUCT.*\(3006,0080\) has no sequence delimiter"):
        load(tmp_path / "exp")
