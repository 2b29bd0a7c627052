"""The cohort search's UID reader (File Meta Information only) and the search built on it.

Truths: pydicom's own File Meta Information reader (``pydicom.filereader.read_file_meta_info``)
for the UIDs of well-formed files; for malformed meta groups, the rule that the fast reader
answers ``None`` (the caller then reads the file the thorough way) whenever it cannot be
sure; for the search, ``find_plans`` with the fast reader switched off, i.e. every file read
by the loader's header reader as before this reader existed.
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
import warnings
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import FileMetaDataset
from pydicom.filereader import read_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

import dosecalc.cohort.discover as discover
from dosecalc.cohort import find_plans
from dosecalc.io.identity import HEAD_BYTES, parse_identity, read_identity

sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import write_two_plans  # noqa: E402


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file())


def test_uids_equal_pydicoms_meta_reader(synthetic_case_dir):
    files = _files(synthetic_case_dir)
    assert {p.name[:2] for p in files} >= {"CT", "RS", "RD", "RP"}
    for p in files:
        meta = read_file_meta_info(p)
        assert read_identity(p) == (str(meta.MediaStorageSOPClassUID), str(meta.MediaStorageSOPInstanceUID))


def _meta_bytes(ds_class="1.2.840.10008.5.1.4.1.1.481.2", uid="1.2.3.4.5", syntax=ExplicitVRLittleEndian,
                implementation_name=None) -> bytes:
    """A Part 10 file written by pydicom: preamble, meta group, a one-element data set."""
    ds = pydicom.Dataset()
    ds.PatientID = "X"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds_class
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = syntax
    if implementation_name is not None:
        meta.ImplementationVersionName = implementation_name
    ds.file_meta = meta
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True, implicit_vr=syntax == ImplicitVRLittleEndian, little_endian=True)
    return buf.getvalue()


def test_any_transfer_syntax_odd_uid_length_and_padding():
    # an odd-length UID is padded with a NUL by the writer; the reader strips it as pydicom does
    for syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        for uid in ("1.2.3.4.5", "1.2.3.4.56", "2.25." + "9" * 59):
            raw = _meta_bytes(uid=uid, syntax=syntax)
            meta = pydicom.dcmread(BytesIO(raw)).file_meta
            assert parse_identity(raw) == (str(meta.MediaStorageSOPClassUID), uid)


def test_every_cut_inside_the_meta_group_is_none():
    raw = _meta_bytes()
    (group_len,) = struct.unpack_from("<I", raw, 140)
    meta_end = 144 + group_len
    full = parse_identity(raw)
    assert full is not None
    # the reader must see the first data set tag after the group to know the group ended
    for cut in range(meta_end + 8):
        assert parse_identity(raw[:cut]) is None, cut
    assert parse_identity(raw[:meta_end + 8]) == full


def _patched(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert raw.count(old) == 1
    return raw.replace(old, new)


def test_malformed_meta_groups_are_none():
    raw = _meta_bytes()
    assert parse_identity(raw) is not None
    # no 'DICM' marker (a raw data set, or not DICOM at all)
    assert parse_identity(raw[:128] + b"DICX" + raw[132:]) is None
    assert parse_identity(raw[132:]) is None
    assert parse_identity(b"not dicom" * 100) is None
    # the instance UID element written as implicit VR (no VR bytes): non-conformant
    tag = struct.pack("<HH", 2, 3)
    i = raw.index(tag + b"UI")
    (n,) = struct.unpack_from("<H", raw, i + 6)
    implicit = raw[:i] + tag + struct.pack("<I", n) + raw[i + 8:]
    assert parse_identity(implicit) is None
    # a length running past the bytes read
    huge = raw[:i + 6] + struct.pack("<H", 0xFFFF) + raw[i + 8:]
    assert parse_identity(huge) is None
    # a value that is not a UID, a UID longer than 64 characters, a UID element with another VR
    assert parse_identity(_patched(raw, b"1.2.3.4.5\x00", b"1.2.3.x.5\x00")) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns that it writes a UID that is too long
        assert parse_identity(_meta_bytes(uid="1." + "2" * 64)) is None
    assert parse_identity(raw[:i + 4] + b"LO" + raw[i + 6:]) is None
    # either UID missing
    no_instance = raw[:i] + struct.pack("<HH", 2, 0x77) + raw[i + 4:]
    assert parse_identity(no_instance) is None


def test_a_meta_group_longer_than_the_head_is_none(tmp_path):
    # a legal but huge meta group (a long private implementation name) is not cut short:
    # the fast reader declines and the thorough one reads it
    raw = _meta_bytes(implementation_name="A" * 16)
    i = raw.index(b"AAAAAAAAAAAAAAAA")
    filler = struct.pack("<HH", 2, 0x102) + b"OB\x00\x00" + struct.pack("<I", HEAD_BYTES) + b"\x00" * HEAD_BYTES
    big = raw[:i + 16] + filler + raw[i + 16:]
    p = tmp_path / "big.dcm"
    p.write_bytes(big)
    assert read_identity(p) is None
    assert read_identity(tmp_path / "absent.dcm") is None


@pytest.fixture(scope="module")
def mixed_cohort(tmp_path_factory, synthetic_case_dir):
    """Plans beside hostile files: a folder with two plans, a truncated RTDOSE, a data set
    without preamble, a file with a meta group only, a file that is not DICOM."""
    root = tmp_path_factory.mktemp("identity_cohort")
    shutil.copytree(synthetic_case_dir, root / "plain")
    odd = shutil.copytree(synthetic_case_dir, root / "odd")
    rd = next(p for p in _files(odd) if p.name.startswith("RD"))
    data = rd.read_bytes()
    rd.write_bytes(data[: len(data) // 2])
    ct = next(p for p in _files(odd) if p.name.startswith("CT"))
    ds = pydicom.dcmread(ct)
    ds.preamble = None
    ds.file_meta = FileMetaDataset()
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=False, implicit_vr=False, little_endian=True)  # no preamble, no meta group
    raw = buf.getvalue()
    assert raw[128:132] != b"DICM"
    (odd / "zz_raw.dcm").write_bytes(raw)
    (odd / "zz_meta_only.dcm").write_bytes(_meta_bytes()[:200])  # the file ends inside its meta group
    (odd / "notes.txt").write_text("not dicom\n")
    write_two_plans(root / "two", tmp_path_factory.mktemp("identity_two_plans"))
    return root


def test_search_equals_the_thorough_search(mixed_cohort, monkeypatch):
    fast = find_plans(mixed_cohort)
    with monkeypatch.context() as m:
        m.setattr(discover, "read_identity", lambda path: None)
        thorough = find_plans(mixed_cohort)
    keys = [j.key for j in fast]
    assert sum(k.startswith("two#") for k in keys) == 2 and "plain" in keys and "odd" in keys
    # the truncated RTDOSE keeps its meta UID (the thorough reader gives ''): the only
    # difference, and both readings change with the file's size and time anyway
    odd_fast = next(j for j in fast if j.key == "odd")
    odd_thorough = next(j for j in thorough if j.key == "odd")
    differ = [(a, b) for a, b in zip(odd_fast.inputs, odd_thorough.inputs) if a != b]
    assert [(a[0][:2], b[3]) for a, b in differ] == [("RD", "")]
    assert differ[0][0][3] == read_identity(os.path.join(odd_fast.folder, differ[0][0][0]))[1]
    assert [replace(j, inputs=()) if j.key == "odd" else j for j in fast] == \
        [replace(j, inputs=()) if j.key == "odd" else j for j in thorough]
    assert [r[:3] for r in odd_fast.inputs] == [r[:3] for r in odd_thorough.inputs]
    # the files no reader can identify stay at uid '' in both
    uids = {r[0]: r[3] for r in odd_fast.inputs}
    assert uids["zz_meta_only.dcm"] == "" and uids["notes.txt"] == "" and uids["zz_raw.dcm"] != ""


_VALID = _meta_bytes(uid="1.2.840.113619.2.55.3")


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(0, len(_VALID)), pos=st.integers(0, len(_VALID) - 1),
       junk=st.binary(min_size=1, max_size=12))
def test_damaged_heads_never_raise_and_give_valid_uids_or_none(cut, pos, junk):
    """Property: whatever bytes are damaged or missing, the reader returns None or two
    strings that are valid UIDs (digits and dots, at most 64 characters), never raises;
    when the damage lies past the meta group, the answer is the undamaged one."""
    raw = (_VALID[:pos] + junk + _VALID[pos + len(junk):])[:cut]
    got = parse_identity(raw)
    assert got is None or (len(got) == 2 and all(
        isinstance(u, str) and 0 < len(u) <= 64 and u.replace(".", "").isdigit() for u in got))
    (group_len,) = struct.unpack_from("<I", _VALID, 140)
    if pos >= 144 + group_len + 8 and cut >= 144 + group_len + 8:
        assert got == parse_identity(_VALID)
