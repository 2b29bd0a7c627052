"""``dosecalc listen``: the DICOM node, driven by real clients (dcmtk's storescu and
pynetdicom) over loopback.

Truth: the node's JSON report must equal ``dosecalc check --format json`` run on the same
files in a folder (the independent path: no network, no store), byte for byte apart from
the ``case`` entry, which is the folder the files were read from; the counts of
evaluations follow from what was sent (one per distinct set of inputs).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from net_servers import Listener, dcmtk_storescu, missing_dcmtk, storescu  # noqa: E402

pytestmark = pytest.mark.slow
pynetdicom = pytest.importorskip("pynetdicom", reason="pynetdicom is not installed (dosecalc[net])")

PROTOCOL = "hcc-oligoprogression"
_reason = missing_dcmtk()
needs_dcmtk = pytest.mark.skipif(_reason is not None, reason=_reason or "")


def _check_json(folder: Path, tmp_path: Path) -> str:
    out = tmp_path / f"check-{folder.name}.json"
    r = subprocess.run([sys.executable, "-m", "dosecalc", "check", str(folder), "--protocol", PROTOCOL,
                        "--format", "json", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr
    return out.read_text()


def _without_case(text: str) -> str:
    """The report without what differs between two runs of one check: the case path and
    the identity block's run time stamp."""
    text = re.sub(r'"run_at": "[^"]*"', '"run_at": "<time>"', text)
    return re.sub(r'^  "case": ".*",$', '  "case": "<path>",', text, count=1, flags=re.M)


def _reports(out: Path) -> list[Path]:
    return sorted(out.glob("studies/*/reports/*.json"))


def _rt_files(folder: Path) -> dict[str, Path]:
    return {p.name[:2]: p for p in folder.iterdir() if p.name[:2] in ("RP", "RD", "RS")}


def _scu(aet="TPS"):
    from pynetdicom import AE

    ae = AE(ae_title=aet)
    ae.maximum_pdu_size = 0  # pynetdicom sends large datasets ~10x slower with 16 kB PDUs
    from pynetdicom import StoragePresentationContexts
    from pynetdicom.sop_class import Verification

    ae.requested_contexts = StoragePresentationContexts[:126]
    ae.add_requested_context(Verification)
    return ae


def _send(port, datasets, aet="TPS", abort_after=None):
    """Send datasets with pynetdicom; returns the statuses (abort the association after
    ``abort_after`` instances instead of releasing it)."""
    ae = _scu(aet)
    assoc = ae.associate("127.0.0.1", port, ae_title="DOSECALC")
    if not assoc.is_established:
        return None
    statuses = []
    for i, ds in enumerate(datasets):
        if abort_after is not None and i == abort_after:
            assoc.abort()
            return statuses
        st = assoc.send_c_store(ds)
        statuses.append(int(st.Status) if st else None)
    assoc.release()
    return statuses


@pytest.fixture
def node(tmp_path):
    nodes = []

    def start(*args, **kw):
        n = Listener(tmp_path / f"node{len(nodes)}", *args, **kw).start()
        nodes.append(n)
        return n

    yield start
    for n in nodes:
        rc = n.stop()
        assert rc == 0, f"dosecalc listen exited {rc} on SIGTERM"
        assert n.log().rstrip().endswith("stopped")


@needs_dcmtk
def test_storescu_plan_gives_the_check_report_once(node, coarse_case_dir, tmp_path):
    n = node()
    r = storescu(n.port, coarse_case_dir)
    assert r.returncode == 0, r.stderr
    log = n.wait_log("evaluated study")
    reports = _reports(n.out)
    assert len(reports) == 1
    for suffix in (".csv", ".html"):
        assert reports[0].with_suffix(suffix).stat().st_size > 0
    # truth: dosecalc check on the folder, through no network
    assert _without_case(reports[0].read_text()) == _without_case(_check_json(coarse_case_dir, tmp_path))
    assert "association from TPS@127.0.0.1 released" in log
    assert re.search(r"released: \d+ CT, 1 RTDOSE, 1 RTPLAN, 1 RTSTRUCT", log)
    # every received instance is in the store under its UID, byte for byte as sent
    import pydicom

    for name, src in _rt_files(coarse_case_dir).items():
        uid = pydicom.dcmread(src, stop_before_pixels=True).SOPInstanceUID
        stored = next(n.out.glob(f"studies/*/{name}.{uid}.dcm"))
        assert pydicom.dcmread(stored) == pydicom.dcmread(src)
    # one log line per event: no traceback, no multi-line entry
    assert all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ", line) for line in log.splitlines())


@needs_dcmtk
def test_interrupted_association_and_resend(node, coarse_case_dir, tmp_path):
    import pydicom

    n = node()
    rt = _rt_files(coarse_case_dir)
    plan, struct, dose = (pydicom.dcmread(rt[k]) for k in ("RP", "RS", "RD"))
    # 1. the plan and structures arrive, then the sender aborts before the dose
    statuses = _send(n.port, [plan, struct, dose], abort_after=2)
    assert statuses == [0, 0]
    log = n.wait_log("waits for an RTDOSE that references it")
    assert "ended without release" in log and not _reports(n.out)

    # 2. storescu killed mid-transfer: what arrived whole is stored, nothing partial
    p = subprocess.Popen([dcmtk_storescu(), "-aet", "TPS", "-aec", "DOSECALC", "+sd", "127.0.0.1", str(n.port),
                          str(coarse_case_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while not list(n.out.glob("studies/*/CT.*")) and time.monotonic() - t0 < 30:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    n.wait_log("association from TPS@127.0.0.1", count=2)
    for f in n.out.glob("studies/*/*"):
        if f.is_file():
            assert not f.name.startswith("."), f"temporary file left: {f}"
            pydicom.dcmread(f)  # every stored file is whole

    # 3. the full re-send completes the plan: evaluated once
    assert storescu(n.port, coarse_case_dir).returncode == 0
    n.wait_log("evaluated study")
    assert len(_reports(n.out)) == 1
    # pynetdicom re-encoded the plan it sent: storescu's file has other bytes, same UID
    assert "replaced RTPLAN" in n.log() and "duplicate CT" not in n.log()
    # 4. the same files again: no second evaluation
    assert storescu(n.port, *rt.values()).returncode == 0
    log = n.wait_log("these inputs were already evaluated")
    assert "duplicate RTPLAN" in log and "duplicate RTDOSE" in log
    assert log.count("evaluated study") == 1 and len(_reports(n.out)) == 1

    # 5. a re-export with a recomputed dose (new SOP Instance UID, 5 % more dose): evaluated again
    from pydicom.uid import generate_uid

    dose2 = pydicom.dcmread(rt["RD"])
    dose2.SOPInstanceUID = dose2.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dose2.DoseGridScaling = float(dose2.DoseGridScaling) * 1.05
    statuses = _send(n.port, [dose2])
    assert statuses == [0]
    log = n.wait_log("evaluated study", count=2)
    assert len(_reports(n.out)) == 2 and "supersedes" in log
    # truth: check on a folder holding the new dose instead of the old one
    folder = tmp_path / "reexport"
    folder.mkdir()
    for k in ("RP", "RS"):
        shutil.copy(rt[k], folder)
    dose2.save_as(folder / "RD_new.dcm", enforce_file_format=True)
    expected = json.loads(_check_json(folder, tmp_path))
    newest = max(_reports(n.out), key=lambda p: p.stat().st_mtime)
    got = json.loads(newest.read_text())
    assert got["constraints"] == expected["constraints"]
    assert any("supersedes" in note for note in got["notes"])


@needs_dcmtk
def test_refusals_keep_the_node_serving(node, coarse_case_dir):
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    n = node("--allow", "TPS", "--allow", "OTHER@10.255.255.1")
    # unauthorised: refused at association, by both clients
    r = storescu(n.port, coarse_case_dir, aet="INTRUDER")
    assert r.returncode != 0
    assert _send(n.port, [], aet="INTRUDER") is None
    assert _send(n.port, [], aet="OTHER") is None  # admitted from another host only
    log = n.wait_log("refused association from OTHER@127.0.0.1")
    assert "refused association from INTRUDER@127.0.0.1: not in --allow" in log

    # a class the node does not evaluate, and malformed datasets: refused one by one
    def ds_of(sop_class, **kw):
        ds = Dataset()
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID = generate_uid()
        ds.Modality = "MR"
        for k, v in kw.items():
            setattr(ds, k, v)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        return ds

    mr = ds_of("1.2.840.10008.5.1.4.1.1.4")
    plan = pydicom.dcmread(_rt_files(coarse_case_dir)["RP"])
    bad_study = pydicom.dcmread(_rt_files(coarse_case_dir)["RP"])
    with pytest.warns(UserWarning):  # pydicom warns about the invalid UID, as it should
        bad_study.StudyInstanceUID = "../../escape"
    no_study = pydicom.dcmread(_rt_files(coarse_case_dir)["RP"])
    del no_study.StudyInstanceUID
    statuses = _send(n.port, [mr, bad_study, no_study, plan])
    assert statuses == [0x0122, 0xA900, 0xA900, 0]
    log = n.wait_log("association from TPS@127.0.0.1 released")
    assert "is not CT, RTSTRUCT, RTPLAN or RTDOSE" in log
    assert "StudyInstanceUID '../../escape' is missing or not a valid UID" in log
    assert not list(n.out.rglob("escape*")) and not (n.out.parent / "escape").exists()
    # still serving: an echo, then the whole plan is evaluated
    ae = _scu("TPS")
    assoc = ae.associate("127.0.0.1", n.port, ae_title="DOSECALC")
    assert assoc.is_established and assoc.send_c_echo().Status == 0
    assoc.release()
    assert storescu(n.port, coarse_case_dir).returncode == 0
    n.wait_log("evaluated study")
    assert "echo from TPS@127.0.0.1" in n.log()


@needs_dcmtk
def test_full_disk_is_refused_and_survived(coarse_case_dir, tmp_path):
    """A real full disk: the node's output on an 8 MiB tmpfs (root only; skipped otherwise)."""
    import os

    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    n = Listener(mnt / "node").start()
    try:
        filler = mnt / "filler"
        with open(filler, "wb") as fh:  # leave ~0.5 MB: the RTSTRUCT (> 1 MB) cannot be stored
            st = os.statvfs(mnt)
            fh.write(b"\0" * (st.f_bavail * st.f_frsize - 500_000))
        rt = _rt_files(coarse_case_dir)
        storescu(n.port, rt["RS"], rt["RP"], rt["RD"])
        log = n.wait_log("association from TPS@127.0.0.1")
        assert "disk full" in log and "refused RTSTRUCT" in log
        assert not _reports(n.out)
        filler.unlink()
        assert storescu(n.port, rt["RS"], rt["RP"], rt["RD"]).returncode == 0
        n.wait_log("evaluated study")
        assert len(_reports(n.out)) == 1
        assert n.stop() == 0 and n.log().rstrip().endswith("stopped")
    finally:
        n.stop()
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_listen_without_the_net_extra_says_which_extra(tmp_path):
    code = ("import sys; sys.modules['pynetdicom'] = None; from dosecalc.cli import main; "
            f"sys.exit(main(['listen', '--protocol', '{PROTOCOL}', '--out', {str(tmp_path)!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "dosecalc[net]" in r.stderr and "pynetdicom" in r.stderr
