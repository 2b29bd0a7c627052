"""Corrupted files end in a load or a DoseCalcError: never another exception, a hang or
a huge allocation (property test with hypothesis)."""

from __future__ import annotations

import sys
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import dicom_factory as fac  # noqa: E402

from dosecalc.errors import DoseCalcError  # noqa: E402
from dosecalc.io.load import load  # noqa: E402


def _valid_files(tmp: Path) -> dict[str, bytes]:
    rd = fac.save(fac.rtdose_dataset(lambda p: 5 + 0.1 * p[..., 0] - 0.05 * p[..., 2]), tmp / "rd.dcm")
    rs = fac.save(fac.rtstruct_dataset([
        {"number": 1, "name": "PTV", "type": "PTV", "color": (1, 2, 3),
         "contours": [("CLOSED_PLANAR", fac.square(0, 0, 4, z)) for z in (0.0, 2.5)]},
        {"number": 2, "name": "P", "contours": [("POINT", [[1, 2, 3]])]}]), tmp / "rs.dcm")
    rp = fac.save(fac.rtplan_dataset(), tmp / "rp.dcm")
    return {k: p.read_bytes() for k, p in (("rd", rd), ("rs", rs), ("rp", rp))}


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    return _valid_files(tmp_path_factory.mktemp("valid"))


@settings(max_examples=150, deadline=timedelta(seconds=10),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.sampled_from(["rd", "rs", "rp"]),
       flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_corrupted_file(valid, tmp_path_factory, which, flips, cut):
    data = bytearray(valid[which])
    for pos, value in flips:
        data[int(pos * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    d = tmp_path_factory.mktemp("fuzz")
    (d / f"{which}.dcm").write_bytes(bytes(data))
    tracemalloc.start()
    try:
        load(d)
    except DoseCalcError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 50e6
