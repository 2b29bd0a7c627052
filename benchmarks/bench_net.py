"""Plans from the network: throughput (plans per minute) of the DICOM node and of the
DICOMweb batch against the folder batch, on one cohort in one session.

The cohort: the synthetic case on a 5 mm grid (as ``bench_batch``), copied N times with
fresh UIDs (every non-standard UID remapped consistently, so references still hold), CT
included as an export has it.  Measured:

* ``folder_1`` / ``folder_2``: ``dosecalc.batch`` of the folder with 1 and 2 workers;
* ``dicomweb_cold_2``: ``dosecalc batch http://...`` (2 workers) against an Orthanc
  holding the cohort, empty cache (QIDO + WADO of the RT objects + evaluation);
* ``dicomweb_warm``: the same again (cache full, results there: nothing fetched or redone);
* ``node``: dcmtk's storescu sends each plan's folder (CT included) to ``dosecalc listen``
  one association after another; time from the first send to the last report.

Ratios are against ``folder_1`` of the same run.  Needs Orthanc (+ DICOMweb plugin) and
dcmtk, so it runs in full mode only (``IN_QUICK = False``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import WORK, synthetic_case

IN_QUICK = False
PROTOCOL = "hcc-oligoprogression"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _remap(src: Path, dst: Path, i: int) -> None:
    import pydicom
    from pydicom.uid import generate_uid

    def fresh(uid: str) -> str:
        return uid if uid.startswith("1.2.840.10008") else generate_uid(entropy_srcs=[uid, f"net-bench-{i}"])

    def visit(ds, elem):
        if elem.VR == "UI" and elem.value:
            elem.value = [fresh(str(u)) for u in elem.value] if elem.VM > 1 else fresh(str(elem.value))

    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        if f.name.startswith("."):
            continue
        ds = pydicom.dcmread(f)
        ds.walk(visit)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(dst / f.name, enforce_file_format=True)


def _cohort(n: int) -> Path:
    src = synthetic_case(5.0, extra_structures=0)
    root = WORK / f"net_cohort_{n}"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        for i in range(n):
            _remap(src, root / f"patient_{i:03d}", i)
        (root / ".complete").write_text("ok\n")
    return root


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(quick: bool) -> dict:
    from net_servers import Listener, Orthanc, missing_dcmtk, missing_orthanc, storescu

    from dosecalc import batch

    why = missing_orthanc() or missing_dcmtk()
    if why:
        raise RuntimeError(f"bench_net needs Orthanc and dcmtk: {why}")
    n = 6 if quick else 12
    root = _cohort(n)
    work = WORK / "net_run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    list(batch(root / "patient_000", PROTOCOL, workers=1, progress=False))  # warm numba caches

    t = {}
    t["folder_1"] = _timed(lambda: list(batch(root, PROTOCOL, workers=1, out=work / "f1", progress=False)))
    t["folder_2"] = _timed(lambda: list(batch(root, PROTOCOL, workers=2, out=work / "f2", progress=False)))

    orthanc = Orthanc(work / "orthanc").start()
    try:
        orthanc.upload(sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")))

        def web():
            r = subprocess.run([sys.executable, "-m", "dosecalc", "batch", orthanc.dicomweb, "--protocol",
                                PROTOCOL, "--out", str(work / "web"), "--workers", "2", "--cache",
                                str(work / "cache"), "--header", orthanc.auth_header, "--no-progress"],
                               capture_output=True, text=True)
            assert r.returncode in (0, 1), r.stderr
            return r

        t["dicomweb_cold_2"] = _timed(web)
        t["dicomweb_warm"] = _timed(web)
    finally:
        orthanc.stop()
    same = (work / "web" / "constraints.csv").read_bytes().count(b"\n") == \
        (work / "f1" / "constraints.csv").read_bytes().count(b"\n")

    node = Listener(work / "node", quiet_s=600).start()
    try:
        t0 = time.perf_counter()
        for d in sorted(p for p in root.iterdir() if p.is_dir()):
            assert storescu(node.port, d).returncode == 0
        t_sent = time.perf_counter() - t0
        node.wait_log("evaluated study", count=n, timeout_s=3600)
        t["node"] = time.perf_counter() - t0
        t["node_receive_only"] = t_sent
    finally:
        node.stop()

    per_min = {k: 60.0 * n / v for k, v in t.items() if k != "dicomweb_warm"}
    return {
        "size": {"plans": n, "grid_spacing_mm": 5.0, "ct_slices_per_plan": len(list((root / "patient_000").glob("CT*")))},
        "timings_s": t,
        "plans_per_minute": per_min,
        "ratios": {"folder_2_vs_folder_1": t["folder_1"] / t["folder_2"],
                   "dicomweb_cold_2_vs_folder_1": t["folder_1"] / t["dicomweb_cold_2"],
                   "node_vs_folder_1": t["folder_1"] / t["node"]},
        "checks": {"dicomweb_rows_equal_folder_rows": same},
    }
