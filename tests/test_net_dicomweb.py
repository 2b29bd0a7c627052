"""DICOMweb source: a cohort in a real Orthanc (with its DICOMweb plugin) through
``dosecalc batch http://...`` and ``dosecalc.load("http://.../studies/<UID>")``.

Truth: the folder pipeline on the same files (no network).  The cohort is laid out one
folder per StudyInstanceUID, so the folder batch and the archive batch name plans alike
and their ``constraints.csv`` must be identical byte for byte; ``load`` of a study URL
must give the arrays and metrics ``load`` of the folder gives.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from net_servers import Orthanc, missing_orthanc  # noqa: E402

pytestmark = pytest.mark.slow
pytest.importorskip("dicomweb_client", reason="dicomweb-client is not installed (dosecalc[net])")
_reason = missing_orthanc()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

PROTOCOL = "hcc-oligoprogression"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, coarse_case_dir):
    """Three studies, one of them with two plans: folder root, one folder per study."""
    import pydicom

    from dosecalc.phantom import write_case

    root = tmp_path_factory.mktemp("web_cohort")
    cases = [coarse_case_dir]
    for seed, rx in ((1, 35.0), (2, 45.0), (3, 40.0)):
        d = tmp_path_factory.mktemp(f"web_seed{seed}")
        write_case(d, spacing_mm=6.0, ct_spacing_mm=5.0, seed=seed, prescription_gy=rx)
        cases.append(d)
    studies = []
    for d in cases[:3]:
        study = pydicom.dcmread(next(d.glob("RP*")), stop_before_pixels=True).StudyInstanceUID
        shutil.copytree(d, root / study)
        studies.append(study)
    # the fourth plan (its own CT series, frame of reference and structure set) joins the
    # third study: two plans there
    for f in cases[3].iterdir():
        ds = pydicom.dcmread(f)
        ds.StudyInstanceUID = studies[2]
        ds.save_as(root / studies[2] / f"s3_{f.name}", enforce_file_format=True)
    return root


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, cohort):
    server = Orthanc(tmp_path_factory.mktemp("orthanc")).start()
    try:
        server.upload(sorted(p for p in cohort.rglob("*") if p.is_file()))
        yield server
    finally:
        server.stop()


def _batch(root, out, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dosecalc", "batch", str(root), "--protocol", PROTOCOL,
                           "--out", str(out), "--workers", "1", *extra], capture_output=True, text=True)


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_orthanc_listens_on_loopback_only(orthanc):
    assert orthanc.listening_addresses() == {"0100007F"}  # 127.0.0.1 in /proc/net/tcp


def test_batch_over_dicomweb_equals_the_folder_batch_and_resumes(orthanc, cohort, tmp_path):
    folder = _batch(cohort, tmp_path / "folder")
    assert folder.returncode in (0, 1), folder.stderr
    cache = tmp_path / "cache"
    web_args = ("--cache", str(cache), "--header", orthanc.auth_header)
    web = _batch(orthanc.dicomweb, tmp_path / "web", *web_args)
    assert web.returncode == folder.returncode, web.stderr
    assert (tmp_path / "web" / "constraints.csv").read_bytes() == (tmp_path / "folder" / "constraints.csv").read_bytes()
    plans = {r["plan"] for r in _rows(tmp_path / "web" / "summary.csv")}
    assert len(plans) == 4 and sum("#" in p for p in plans) == 2
    assert "3 studies with an RTPLAN; 12 instances fetched" in web.stderr
    # the protocol check reads no CT: none was fetched
    import pydicom

    cached = sorted((cache / "instances").iterdir())
    assert len(cached) == 12
    assert {pydicom.dcmread(p, stop_before_pixels=True).Modality for p in cached} == {"RTPLAN", "RTDOSE", "RTSTRUCT"}
    before = {p.name: p.stat().st_mtime_ns for p in cached}

    # a second run fetches nothing and redoes nothing
    again = _batch(orthanc.dicomweb, tmp_path / "web", *web_args)
    assert again.returncode == folder.returncode, again.stderr
    assert "0 instances fetched (0.0 MB), 12 from the cache" in again.stderr
    assert "4 plans: 4 skipped" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (cache / "instances").iterdir()} == before
    assert (tmp_path / "web" / "constraints.csv").read_bytes() == (tmp_path / "folder" / "constraints.csv").read_bytes()

    # one study by UID, and a date filter that keeps nothing
    one = sorted(p.name for p in cohort.iterdir() if len(list(p.glob("*RP_*"))) == 1)[0]
    sel = _batch(orthanc.dicomweb, tmp_path / "one", *web_args, "--study", one)
    assert sel.returncode in (0, 1), sel.stderr
    assert [r["plan"] for r in _rows(tmp_path / "one" / "summary.csv")] == [one]
    late = _batch(orthanc.dicomweb, tmp_path / "late", *web_args, "--since", "2999-01-01")
    assert late.returncode == 2 and late.stderr.strip().endswith("no study with an RTPLAN since 2999-01-01 could be fetched")


def test_load_of_a_study_url_equals_load_of_the_folder(orthanc, cohort, tmp_path, monkeypatch):
    import dosecalc

    monkeypatch.setenv("DOSECALC_CACHE", str(tmp_path / "cache"))
    study = sorted(p.name for p in cohort.iterdir() if len(list(p.glob("*RP_*"))) == 1)[0]
    url = orthanc.dicomweb.replace("http://", "http://dosecalc:test-only-password@") + f"/studies/{study}"
    web = dosecalc.load(url)
    local = dosecalc.load(cohort / study)
    assert np.array_equal(web.dose.values_gy, local.dose.values_gy)
    assert web.ct is not None and web.ct.n_slices == local.ct.n_slices  # load fetches the CT
    assert web.structures.names == local.structures.names
    for roi in ("Liver - (GTV1 | GTV2)", "PTV1"):
        assert web.dvh(roi).metric("Mean[Gy]") == local.dvh(roi).metric("Mean[Gy]")


def test_archive_errors_are_one_line(orthanc, tmp_path):
    from net_servers import free_port

    no_auth = _batch(orthanc.dicomweb, tmp_path / "a", "--cache", str(tmp_path / "c"))
    assert no_auth.returncode == 2 and no_auth.stderr.count("\n") == 1
    assert "HTTP 401" in no_auth.stderr and "--header" in no_auth.stderr
    closed = _batch(f"http://127.0.0.1:{free_port()}/dicom-web", tmp_path / "b", "--cache", str(tmp_path / "c"))
    assert closed.returncode == 2 and closed.stderr.count("\n") == 1 and "ConnectionError" in closed.stderr
    wrong = _batch(str(tmp_path), tmp_path / "c2", "--study", "1.2.3")
    assert wrong.returncode == 2 and "apply to a DICOMweb ROOT" in wrong.stderr
