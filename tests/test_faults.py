"""Fault injection: hostile and unlucky inputs, dying workers, signals, full disks.

Each case reproduces one way a cohort run or a single command broke a promise (issue 10)
and checks the promised behaviour instead: every good plan evaluated, every bad one
recorded with a one-line reason, no stale result, no input overwritten, one line and exit 2
for bad input.  Commands run in subprocesses with a wall-clock bound (a hang fails the
test instead of stalling CI) and their peak memory is read from the kernel (``wait4``).

Truths: the dose values come from ``dosecalc.check`` run directly on the plan (doubling
DoseGridScaling doubles every dose exactly in binary floating point, so Mean doubles
exactly); the deflated file's pixels from pydicom's own reader; CSV neutralisation from
the OWASP rule (a leading ``'`` on cells starting with = + - @ tab CR, numbers untouched);
everything else is the presence or absence of a file, a process, or a byte.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import dicom_factory as fac  # noqa: E402

import dosecalc  # noqa: E402
from dosecalc import batch  # noqa: E402
from dosecalc.errors import DoseCalcError, OutputError, SelectionError  # noqa: E402

PROTOCOL = "hcc-oligoprogression"
pytestmark = pytest.mark.slow
MEASURED: list[str] = []


# --- helpers -------------------------------------------------------------------------------
# ``python -m dosecalc ARGV...`` that writes its own peak resident memory (VmHWM, kB) to
# the file named first when it exits (normally or through SystemExit).
_RUN_AND_REPORT_PEAK = """
import atexit, runpy, sys
report = sys.argv[1]
def peak():
    try:
        with open("/proc/self/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        with open(report, "w") as f:
            f.write(str(kb))
    except (OSError, StopIteration, ValueError):
        pass
atexit.register(peak)
sys.argv = ["dosecalc", *sys.argv[2:]]
runpy.run_module("dosecalc", run_name="__main__", alter_sys=True)
"""


def run_bounded(args, *, timeout_s: float = 120.0, env=None, cwd=None, preexec=None, name="") -> dict:
    """Run ``python -m dosecalc ARGS`` with a wall-clock bound; return exit code, output,
    seconds and the peak resident memory (MB) of the process.

    The peak is the process's own high-water mark (``VmHWM``, reported as it exits), not
    ``ru_maxrss``: Linux carries the parent's high-water mark into a child at exec, so
    ``ru_maxrss`` read this test process's peak (1.1 GB once the suite had run its DVH
    tests) for an ``info`` that peaked at 0.3 GB.  Where no report comes (killed, no
    /proc), ``ru_maxrss`` of the process and its reaped children stands in."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "peak_kb")
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _RUN_AND_REPORT_PEAK, report, *map(os.fsdecode, args)],
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                preexec_fn=preexec)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout_s:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                pytest.fail(f"{name or args[0]}: still running after {timeout_s} s (hang)")
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        res = {"rc": proc.returncode, "out": out.read().decode("utf-8", "replace"),
               "err": err.read().decode("utf-8", "replace"), "seconds": seconds,
               "maxrss_mb": usage.ru_maxrss / 1024.0}
        try:
            with open(report) as f:
                res["maxrss_mb"] = int(f.read()) / 1024.0
        except (OSError, ValueError):
            pass
    MEASURED.append(f"{name or args[0]}: {seconds:.1f} s, {res['maxrss_mb']:.0f} MB")
    print(f"FAULT {MEASURED[-1]}")
    return res


def one_line_error(res) -> str:
    lines = res["err"].strip().splitlines()
    assert res["rc"] == 2, res
    assert len(lines) == 1, res["err"]
    assert "Traceback" not in res["err"]
    return lines[0]


def _rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _copy_case(src, dst) -> Path:
    shutil.copytree(src, dst)
    return Path(dst)


def _rd(folder) -> Path:
    return next(p for p in Path(folder).iterdir() if p.name.startswith("RD"))


def _children(pid: int) -> set[int]:
    """Every process below ``pid``: the batch's workers are forked by its fork server
    (a child of the batch), so they are its grandchildren."""
    out = set()
    for child in _direct_children(pid):
        out |= {child} | _children(child)
    return out


def _direct_children(pid: int) -> set[int]:
    out = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            status = (d / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("PPid:") and int(line.split()[1]) == pid:
                out.add(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        st = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in st


def _deflated_file(path, ds, pixel_bytes: int) -> Path:
    """A Deflated Explicit VR Little Endian file: ``ds`` then a PixelData of ``pixel_bytes``
    zeros.  The deflate stream is built from independent full-flush blocks, so a stream
    that inflates to 2 GB costs one 16 MB compression, not 2 GB of work."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info

    meta = pydicom.Dataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    fm = DicomBytesIO()
    write_file_meta_info(fm, meta, enforce_standard=True)
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    if "PixelData" in ds:
        del ds.PixelData
    write_dataset(body, ds)
    head = body.getvalue() + b"\xe0\x7f\x10\x00OB\x00\x00" + struct.pack("<I", pixel_bytes)
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = [c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)]
    block = 16 << 20
    zero = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    stream += [zero] * (pixel_bytes // block)
    stream.append(c.compress(bytes(pixel_bytes % block)) + c.flush())
    Path(path).write_bytes(b"\x00" * 128 + b"DICM" + fm.getvalue() + b"".join(stream))
    return Path(path)


# --- text and errors (fast, in-process) ------------------------------------------------------
def test_csv_cells_neutralise_formulas_and_keep_numbers():
    """Truth: OWASP CSV injection advice (prefix ', numbers unchanged)."""
    from dosecalc.textsafe import csv_cell, escape_control, one_line

    assert csv_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert csv_cell("+cmd") == "'+cmd" and csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell("-2+3") == "'-2+3" and csv_cell("\tx") == "'\\tx" and csv_cell("\rx") == "'\\rx"
    assert csv_cell("-3.5") == "-3.5" and csv_cell("+2") == "+2" and csv_cell("-1e-3") == "-1e-3"
    assert csv_cell(-3.5) == -3.5 and csv_cell(None) == "" and csv_cell("Liver") == "Liver"
    assert escape_control("a\nb\x1b[31mc\x9b") == "a\\nb\\x1b[31mc\\x9b"
    assert "\n" not in one_line("x\ny") and one_line(b"a\xffb".decode("utf-8", "surrogateescape")) == "a\\xffb"


def test_api_wrong_types_and_empty_path_are_dosecalc_errors(synthetic_case, tmp_path):
    case = synthetic_case
    bad = tmp_path / "deep.toml"
    bad.write_text("a = " + "[" * 3000 + "]" * 3000)
    probes = [
        lambda: dosecalc.load(""), lambda: dosecalc.load(5), lambda: dosecalc.load(tmp_path, plan=5),
        lambda: case.dvh("(" * 3000 + "Liver" + ")" * 3000),
        lambda: case.dvh(" - ".join(["Liver"] * 3000)),
        lambda: case.dvh("Liver").metric(5), lambda: case.dose.sample("abc"),
        lambda: case.dose.write(5), lambda: dosecalc.load_protocol(bad),
        lambda: dosecalc.check(case, 123), lambda: batch(5, PROTOCOL),
        lambda: batch(tmp_path, PROTOCOL, workers="2"), lambda: batch(tmp_path, PROTOCOL, timeout="x"),
        lambda: batch("", PROTOCOL),
    ]
    for i, probe in enumerate(probes):
        with pytest.raises(DoseCalcError):
            probe()
    with pytest.raises(SelectionError, match="empty path"):
        dosecalc.load("")


def test_cli_errors_are_one_line(tmp_path, synthetic_case_dir):
    f = tmp_path / "file"
    f.write_text("x")
    cases = {
        "scheduler": ["batch", str(synthetic_case_dir), "--protocol", PROTOCOL, "--out", str(tmp_path / "o"),
                      "--scheduler", "not-a-url"],
        "out is a file": ["batch", str(synthetic_case_dir.parent), "--protocol", PROTOCOL, "--out", str(f)],
        "newline in path": ["info", str(tmp_path / "a\nb")],
    }
    for name, args in cases.items():
        line = one_line_error(run_bounded(args, timeout_s=60, name=f"error: {name}"))
        assert "error" in line
    assert "\\n" in line  # the newline of the folder name is shown, not printed


# --- special files, deep trees, odd names ----------------------------------------------------
def test_fifo_socket_and_loops_are_never_opened(synthetic_case_dir, tmp_path):
    case = _copy_case(synthetic_case_dir, tmp_path / "case")
    os.mkfifo(case / "pipe.dcm")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(case / "sock.dcm"))
    os.symlink(case, case / "loop")
    try:
        res = run_bounded(["info", str(case)], timeout_s=60, name="info: export with FIFO, socket, link loop")
        assert res["rc"] == 0, res["err"]
        loaded = dosecalc.load(case)
        notes = " ".join(loaded.notes)
        assert "named pipe" in notes and "socket" in notes and "already visited" in notes
        line = one_line_error(run_bounded(["info", str(case / "pipe.dcm")], timeout_s=60,
                                          name="info: a FIFO given as the file"))
        assert "named pipe" in line
    finally:
        sock.close()


@pytest.fixture(scope="module")
def hostile_cohort(tmp_path_factory, synthetic_case_dir):
    """Five good plans, each beside one hostile thing, and three bad plans."""
    root = tmp_path_factory.mktemp("hostile")
    good = {}
    good["plain"] = _copy_case(synthetic_case_dir, root / "plain")
    # 1500 folders deep inside a good plan
    deep = _copy_case(synthetic_case_dir, root / "deep")
    d = deep
    for _ in range(1500):  # os.makedirs recurses once per level
        d = d / "d"
        os.mkdir(d)
    (d / "x.dcm").write_bytes(b"not dicom")
    good["deep"] = deep
    deepest = d
    # a name that is not UTF-8
    odd = os.fsencode(str(root)) + b"/pat\xff\xfe"
    shutil.copytree(synthetic_case_dir, os.fsdecode(odd))
    good["pat\\xff\\xfe"] = Path(os.fsdecode(odd))
    # a FIFO and a link loop beside a good plan
    fifo = _copy_case(synthetic_case_dir, root / "fifo")
    os.mkfifo(fifo / "pipe")
    os.symlink(fifo, fifo / "loop")
    good["fifo"] = fifo
    # a CT-class file whose deflated body is not a deflate stream, beside a good plan
    junk = _copy_case(synthetic_case_dir, root / "junk_ct")
    ct = pydicom.dcmread(next(junk.glob("CT*")))
    raw = _deflated_file(junk / "zz_junk.dcm", ct, 16).read_bytes()
    (junk / "zz_junk.dcm").write_bytes(raw[:400] + os.urandom(2000))
    good["junk_ct"] = junk
    bad = {}
    # an RTDOSE whose deflated body is junk, alone
    (root / "bad_deflate").mkdir()
    rd = pydicom.dcmread(_rd(synthetic_case_dir))
    raw = _deflated_file(root / "bad_deflate" / "RD.dcm", rd, 16).read_bytes()
    (root / "bad_deflate" / "RD.dcm").write_bytes(raw[:600] + os.urandom(4000))
    bad["bad_deflate"] = "RTDOSE"
    # a truncated RTDOSE
    cut = _copy_case(synthetic_case_dir, root / "truncated")
    data = _rd(cut).read_bytes()
    _rd(cut).write_bytes(data[: len(data) // 2])
    bad["truncated"] = "truncated"
    # a folder of nothing but a FIFO
    (root / "only_fifo").mkdir()
    os.mkfifo(root / "only_fifo" / "pipe")
    bad["only_fifo"] = "no files"
    yield root, good, bad
    # pytest's recursive clean-up cannot remove 1500 levels: remove them bottom up
    (deepest / "x.dcm").unlink()
    while deepest != deep:
        deepest.rmdir()
        deepest = deepest.parent


def test_hostile_cohort_evaluates_every_good_plan(hostile_cohort, tmp_path):
    root, good, bad = hostile_cohort
    out = tmp_path / "out"
    res = run_bounded(["batch", str(root), "--protocol", PROTOCOL, "--out", str(out), "--workers", "2"],
                      timeout_s=300, name="batch: hostile cohort (8 plans, 2 workers)")
    assert "Traceback" not in res["err"]
    summary = {r["plan"]: r for r in _rows(out / "summary.csv")}
    # the exit-code contract: 1 when a plan fails a constraint, else 2 for plans in error
    assert res["rc"] == (1 if any(r["verdict"] == "fail" for r in summary.values()) else 2), res
    assert set(summary) == set(good) | set(bad)
    for key in good:
        assert summary[key]["status"] == "ok", (key, summary[key]["error"])
    for key, what in bad.items():
        assert summary[key]["status"] == "error" and what in summary[key]["error"], (key, summary[key])
        assert "\n" not in summary[key]["error"]
    # the good plans all give the values of the plain one (same files)
    plain = json.loads(next((out / "plans").glob("plain-*.json")).read_text())
    for key in good:
        f = next(p for p in (out / "plans").glob("*.json") if json.loads(p.read_text())["plan"] == key)
        assert json.loads(f.read_text())["report"]["constraints"] == plain["report"]["constraints"]


# --- decompression bomb ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def bomb(tmp_path_factory, synthetic_case_dir):
    """A 2 MB deflated RTDOSE that inflates to 2 GiB."""
    folder = tmp_path_factory.mktemp("bomb")
    ds = fac.rtdose_dataset(lambda p: p[..., 0] * 0 + 1.0, shape_frc=(2, 4, 4))
    ds.Rows, ds.Columns, ds.NumberOfFrames = 1024, 1024, 512
    ds.GridFrameOffsetVector = [2.5 * k for k in range(512)]
    path = _deflated_file(folder / "RD_bomb.dcm", ds, 1024 * 1024 * 512 * 4)
    assert path.stat().st_size < 2.5e6
    return path


def test_deflate_bomb_is_refused_in_bounded_memory(bomb):
    res = run_bounded(["info", str(bomb)], timeout_s=120, name="info: 2 MB deflated RTDOSE inflating to 2 GiB")
    line = one_line_error(res)
    assert "inflates to more than 128 MiB" in line
    assert res["maxrss_mb"] < 1024


def test_deflated_rtdose_under_the_limit_reads_in_bounded_memory(tmp_path):
    """512 x 512 x 120 voxels of 32 bits (120 MiB inflated, 0.1 MB deflated): read once."""
    ds = fac.rtdose_dataset(lambda p: p[..., 0] * 0 + 1.0, shape_frc=(2, 4, 4))
    ds.Rows, ds.Columns, ds.NumberOfFrames = 512, 512, 120
    ds.GridFrameOffsetVector = [2.5 * k for k in range(120)]
    path = _deflated_file(tmp_path / "RD_big.dcm", ds, 512 * 512 * 120 * 4)
    res = run_bounded(["info", str(path), "--format", "json"], timeout_s=120,
                      name="info: deflated RTDOSE of 120 MiB (just under the limit)")
    assert res["rc"] == 0, res["err"]
    assert json.loads(res["out"])["dose"]["shape_xyz"] == [512, 512, 120]
    assert res["maxrss_mb"] < 1024


def test_deflated_file_reads_like_pydicom():
    """Truth: pydicom's own reading of its deflated test file."""
    from pydicom.data import get_testdata_file

    from dosecalc.io.scan import read_dataset

    f = get_testdata_file("image_dfl.dcm")
    ours, theirs = read_dataset(f), pydicom.dcmread(f)
    assert ours == theirs
    assert np.array_equal(ours.pixel_array, theirs.pixel_array)


# --- resume ------------------------------------------------------------------------------------
def test_resume_redoes_exactly_the_changed_plans(synthetic_case_dir, tmp_path):
    root = tmp_path / "cohort"
    for name in ("p1", "p2", "p3"):
        _copy_case(synthetic_case_dir, root / name)
    broken = _rd(root / "p3").read_bytes()
    _rd(root / "p3").write_bytes(broken[: len(broken) // 2])
    out = tmp_path / "out"

    def run(**kw):
        return {r.plan: r for r in batch(root, PROTOCOL, workers=0, out=out, progress=False, **kw)}

    first = run()
    assert [first[k].status for k in ("p1", "p2", "p3")] == ["ok", "ok", "error"]
    assert {r.reason for r in first.values()} == {"new"}

    # double p1's dose (DoseGridScaling x 2: every dose doubles exactly)
    rd = pydicom.dcmread(_rd(root / "p1"))
    rd.DoseGridScaling = float(rd.DoseGridScaling) * 2
    rd.save_as(_rd(root / "p1"))
    # repair p3
    shutil.copy(_rd(synthetic_case_dir), _rd(root / "p3"))
    second = run()
    assert second["p2"].status == "skipped"
    assert second["p1"].status == "ok" and second["p1"].reason.startswith("inputs changed: 1 changed (RD")
    assert second["p3"].status == "ok" and second["p3"].reason.startswith("inputs changed")
    direct = dosecalc.check(dosecalc.load(root / "p1"), PROTOCOL).to_dict()
    assert second["p1"].report["constraints"] == direct["constraints"]
    old = {(c["structure"], c["metric"]): c["value"] for c in first["p1"].report["constraints"]}
    new = {(c["structure"], c["metric"]): c["value"] for c in second["p1"].report["constraints"]}
    means = [k for k in old if k[1].startswith("Mean[Gy]") and old[k] is not None]
    assert means and all(new[k] == 2 * old[k] for k in means)

    # nothing changed: nothing redone
    assert {r.status for r in run().values()} == {"skipped"}
    # a touched file (same bytes, new time), an added file, a removed file
    ct = sorted((root / "p2").glob("CT*"))
    os.utime(ct[0], ns=(ct[0].stat().st_atime_ns, ct[0].stat().st_mtime_ns + 1_000_000_000))
    third = run()
    assert third["p2"].status == "ok" and third["p1"].status == "skipped" and third["p3"].status == "skipped"
    (root / "p1" / "notes.txt").write_text("added")
    ct[-1].unlink()
    fourth = run()
    assert "1 added (notes.txt)" in fourth["p1"].reason and "1 removed (CT" in fourth["p2"].reason
    assert fourth["p3"].status == "skipped"
    summary = {r["plan"]: r for r in _rows(out / "summary.csv")}
    assert summary["p1"]["evaluated_because"].startswith("inputs changed")

    # another cohort into the same folder is refused, unless forced
    other = tmp_path / "other"
    _copy_case(synthetic_case_dir, other / "p1")
    with pytest.raises(OutputError, match="another cohort"):
        batch(other, PROTOCOL, workers=0, out=out)
    forced = {r.plan: r for r in batch(other, PROTOCOL, workers=0, out=out, force=True, progress=False)}
    assert forced["p1"].status == "ok" and forced["p1"].reason == "forced"


def test_transient_error_is_retried(synthetic_case_dir, tmp_path):
    root = tmp_path / "cohort"
    _copy_case(synthetic_case_dir, root / "p1")
    out = tmp_path / "out"
    list(batch(root, PROTOCOL, workers=0, out=out, progress=False))
    f = next((out / "plans").glob("p1-*.json"))
    data = json.loads(f.read_text())
    data.update(status="error", error="worker died: signal 9, possibly out of memory", report=None)
    f.write_text(json.dumps(data))
    again = list(batch(root, PROTOCOL, workers=0, out=out, progress=False))
    assert again[0].status == "ok" and again[0].reason == "the previous run did not finish it"


# --- workers that die, time limits, signals ----------------------------------------------------
def test_pool_survives_a_killed_worker_and_a_plan_past_its_time_limit():
    """The real pool with the real SIGKILL: a job that kills its own worker, a job that
    sleeps past the limit; the other jobs finish and no worker outlives the pool."""
    import multiprocessing

    from dosecalc.cohort.pool import run_pool

    jobs = ["1 + 1", "__import__('signal').raise_signal(9)", "2 + 2",
            "__import__('time').sleep(60)", "3 + 3", "4 + 4"]
    t0 = time.perf_counter()
    got = list(run_pool(jobs, eval, (), 2, 4.0, lambda job, msg, s: (job, msg)))
    seconds = time.perf_counter() - t0
    MEASURED.append(f"pool: SIGKILLed worker + 4 s time limit, 6 jobs: {seconds:.1f} s")
    assert sorted(r for r in got if isinstance(r, int)) == [2, 4, 6, 8]
    fails = dict(r for r in got if isinstance(r, tuple))
    assert fails[jobs[1]] == "worker died: signal 9, possibly out of memory"
    assert fails[jobs[3]].startswith("timed out after 4 s")
    assert seconds < 50
    assert multiprocessing.active_children() == []


def _start_batch(root, out, workers=2):
    return subprocess.Popen([sys.executable, "-m", "dosecalc", "batch", str(root), "--protocol", PROTOCOL,
                             "--out", str(out), "--workers", str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(cond, timeout_s: float) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def cohort6(tmp_path_factory, synthetic_case_dir):
    root = tmp_path_factory.mktemp("cohort6")
    for i in range(6):
        _copy_case(synthetic_case_dir, root / f"p{i}")
    return root


def test_sigterm_stops_workers_and_writes_tables(cohort6, tmp_path):
    out = tmp_path / "out"
    t0 = time.perf_counter()
    proc = _start_batch(cohort6, out)
    workers: set[int] = set()
    try:
        assert _wait_for(lambda: len(list((out / "plans").glob("*.json"))) >= 1 if (out / "plans").exists()
                         else False, 120), "no plan finished"
        workers = _children(proc.pid)
        assert workers
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    MEASURED.append(f"batch: SIGTERM mid-run, stop and tables: {time.perf_counter() - t0:.1f} s")
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.count("\n") == 1 and "stopped by SIGTERM" in err
    done = len(list((out / "plans").glob("*.json")))
    assert len(_rows(out / "summary.csv")) == done >= 1
    assert _wait_for(lambda: not any(_alive(p) for p in workers), 10), "a worker outlived the batch"


def test_sigkill_of_the_batch_takes_its_workers(cohort6, tmp_path):
    proc = _start_batch(cohort6, tmp_path / "out")
    try:
        # the fork server and multiprocessing's resource tracker, then the 2 workers
        assert _wait_for(lambda: len(_children(proc.pid)) >= 4, 60)
        time.sleep(1.0)
        workers = _children(proc.pid)
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _wait_for(lambda: not any(_alive(p) for p in workers), 10), "a worker outlived the batch"


# --- outputs never touch inputs ------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_plans(tmp_path_factory):
    from dosecalc.phantom import write_case

    folder = tmp_path_factory.mktemp("twoplans")
    uids = []
    for seed in (1, 2):
        tmp = tmp_path_factory.mktemp(f"seed{seed}")
        write_case(tmp, spacing_mm=6.0, seed=seed)
        for f in tmp.iterdir():
            if not f.name.startswith("CT"):
                shutil.copy(f, folder / f"s{seed}_{f.name}")
        uids.append(pydicom.dcmread(next(tmp.glob("RP*"))).SOPInstanceUID)
    return folder, uids


def test_out_never_replaces_an_input_or_a_special_file(two_plans, tmp_path):
    folder, uids = two_plans
    other = folder / "s2_RD_synthetic.dcm"
    before = other.read_bytes()
    for cmd in (["dvh"], ["check", "--protocol", PROTOCOL]):
        line = one_line_error(run_bounded([*cmd, str(folder), "--plan", uids[0], "--out", str(other)],
                                          timeout_s=120, name=f"{cmd[0]} --out onto another plan's RTDOSE"))
        assert "input" in line
    assert other.read_bytes() == before
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    line = one_line_error(run_bounded(["dvh", str(folder), "--plan", uids[0], "--out", str(fifo)],
                                      timeout_s=120, name="dvh --out onto a FIFO"))
    assert "named pipe" in line and stat.S_ISFIFO(os.stat(fifo).st_mode)
    res = run_bounded(["dvh", str(folder), "--plan", uids[0], "--out", "/dev/null"], timeout_s=120,
                      name="dvh --out /dev/null")
    assert res["rc"] == 0 and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_batch_out_rules(cohort6, tmp_path):
    line = one_line_error(run_bounded(["batch", str(cohort6), "--protocol", PROTOCOL, "--out", str(cohort6)],
                                      timeout_s=60, name="batch --out = cohort root"))
    assert "cohort root" in line
    # an out folder inside the root is left out of the search
    root = tmp_path / "root"
    shutil.copytree(cohort6 / "p0", root / "p0")
    out = root / "results"
    first = list(batch(root, PROTOCOL, workers=0, out=out, progress=False))
    again = list(batch(root, PROTOCOL, workers=0, out=out, progress=False))
    assert [r.plan for r in first] == [r.plan for r in again] == ["p0"]
    assert again[0].status == "skipped"


def test_outputs_follow_the_umask(synthetic_case_dir, tmp_path):
    for mask, mode in ((0o022, 0o644), (0o077, 0o600)):
        out = tmp_path / f"dvh_{mask:o}.csv"
        res = run_bounded(["dvh", str(synthetic_case_dir), "--format", "csv", "--out", str(out)], timeout_s=120,
                          preexec=lambda m=mask: os.umask(m), name=f"dvh --out with umask {mask:03o}")
        assert res["rc"] == 0, res["err"]
        assert stat.S_IMODE(out.stat().st_mode) == mode


def test_file_size_limit_is_one_line(synthetic_case_dir, tmp_path):
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))

    # compiled kernels are cached before the limit applies (a cold cache writes large files)
    warm = run_bounded(["check", str(synthetic_case_dir), "--protocol", PROTOCOL, "--format", "html", "--out",
                        str(tmp_path / "warm.html")], timeout_s=180, name="check html (warm-up)")
    assert warm["rc"] in (0, 1, 3), warm["err"]  # a verdict, not bad input
    assert (tmp_path / "warm.html").stat().st_size > 16384
    out = tmp_path / "report.html"
    line = one_line_error(run_bounded(["check", str(synthetic_case_dir), "--protocol", PROTOCOL, "--format",
                                       "html", "--out", str(out)], timeout_s=120, preexec=limit,
                                      name="check --out with a 16 KB file-size limit"))
    assert "file too large" in line
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


# --- names from hostile exports ------------------------------------------------------------------
def test_injected_names_are_neutralised(synthetic_case_dir, tmp_path):
    root = tmp_path / "cohort"
    case = _copy_case(synthetic_case_dir, root / "+cmd")
    rs_path = next(case.glob("RS*"))
    rs = pydicom.dcmread(rs_path)
    for roi in rs.StructureSetROISequence:
        if roi.ROIName == "Stomach":
            roi.ROIName = "=HYPERLINK(\"http://evil\")"
        if roi.ROIName == "Heart":
            roi.ROIName = "Evil\x1b[31m\nRed"
    rs.save_as(rs_path)
    for f in case.iterdir():
        ds = pydicom.dcmread(f)
        ds.PatientID = "@SUM(A1)"
        ds.save_as(f)
    res = run_bounded(["dvh", str(case), "--format", "csv"], timeout_s=120, name="dvh csv with injected names")
    rows = list(csv.reader(io.StringIO(res["out"])))
    names = {r[0] for r in rows[1:]}
    assert "'=HYPERLINK(\"http://evil\")" in names and "Evil\\x1b[31m\\nRed" in names
    assert all(float(r[3]) == float(r[3]) for r in rows[1:] if r[3])  # values stay numbers
    table = run_bounded(["dvh", str(case)], timeout_s=120, name="dvh table with escape codes in names")
    assert "\x1b" not in table["out"] and "Evil\\x1b[31m\\nRed" in table["out"]
    out = tmp_path / "out"
    list(batch(root, PROTOCOL, workers=0, out=out, progress=False))
    cons = _rows(out / "constraints.csv")
    assert cons and all(r["plan"] == "'+cmd" and r["patient_id"] == "'@SUM(A1)" for r in cons)
    summary = _rows(out / "summary.csv")
    assert summary[0]["plan"] == "'+cmd"


# --- topology ----------------------------------------------------------------------------------
def _comb(teeth: int):
    xs, ys = [], []
    for t in range(teeth):
        xs += [2.0 * t, 2.0 * t, 2.0 * t + 1, 2.0 * t + 1]
        ys += [0.0, 100.0, 100.0, 0.0]
    xs += [2.0 * teeth - 1, 0.0]
    ys += [-5.0, -5.0]
    return np.array(xs), np.array(ys)


def test_comb_topology_40k_vertices():
    """Truth: the comb's area in closed form, teeth x 100 x 1 + (2 teeth - 1) x 5 mm^2; no
    crossings.  The 40 k-vertex, 5-plane case took 85 s with the quadratic candidates."""
    from dosecalc.masks.topology import plane_topology

    teeth = 10_000
    x, y = _comb(teeth)
    X, Y = np.tile(x, 5), np.tile(y, 5)
    ps = np.arange(6, dtype=np.int64) * len(x)
    t0 = time.perf_counter()
    sign, fallback, area = plane_topology(X, Y, ps, np.arange(6, dtype=np.int64))
    MEASURED.append(f"topology: comb of {len(x)} vertices on 5 planes: {time.perf_counter() - t0:.2f} s "
                    f"(with compilation when cold)")
    assert np.all(fallback == 0)
    assert np.allclose(area, teeth * 100.0 + (2 * teeth - 1) * 5.0, rtol=1e-12)


def _brute_topology(x, y, ps, pls, good):
    """All pairs in plain float64 loops: crossing flags and nesting depths of the contours
    marked ``good`` (non-degenerate)."""
    n_poly = len(ps) - 1
    fallback = np.zeros(len(pls) - 1, dtype=np.int64)
    depth = np.zeros(n_poly, dtype=np.int64)

    def edges(c):
        k = np.arange(ps[c], ps[c + 1])
        return [(x[a], y[a], x[b], y[b], a, b) for a, b in zip(k, np.roll(k, -1))]

    def orient(ax, ay, bx, by, cx, cy):
        return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)

    def on(ax, ay, bx, by, cx, cy):
        return min(ax, bx) <= cx <= max(ax, bx) and min(ay, by) <= cy <= max(ay, by)

    def meet(e, f):
        ax, ay, bx, by, _, _ = e
        cx, cy, dx, dy, _, _ = f
        o1, o2 = orient(ax, ay, bx, by, cx, cy), orient(ax, ay, bx, by, dx, dy)
        o3, o4 = orient(cx, cy, dx, dy, ax, ay), orient(cx, cy, dx, dy, bx, by)
        if ((o1 > 0 > o2) or (o1 < 0 < o2)) and ((o3 > 0 > o4) or (o3 < 0 < o4)):
            return True
        return ((o1 == 0 and on(ax, ay, bx, by, cx, cy)) or (o2 == 0 and on(ax, ay, bx, by, dx, dy))
                or (o3 == 0 and on(cx, cy, dx, dy, ax, ay)) or (o4 == 0 and on(cx, cy, dx, dy, bx, by)))

    for p in range(len(pls) - 1):
        cs = [c for c in range(pls[p], pls[p + 1]) if good[c]]
        es = [e for c in cs for e in edges(c)]
        for i in range(len(es)):
            for j in range(i + 1, len(es)):
                a, b = es[i], es[j]
                if a[5] == b[4] or b[5] == a[4]:
                    continue  # neighbouring edges share their vertex
                if meet(a, b):
                    fallback[p] = 1
        for c in cs:
            px, py = x[ps[c]], y[ps[c]]
            for d in cs:
                if d != c:
                    hits = sum(1 for (x0, y0, x1, y1, _, _) in edges(d)
                               if (y0 > py) != (y1 > py) and px < x0 + (py - y0) * (x1 - x0) / (y1 - y0))
                    depth[c] += hits % 2
    return fallback, depth


def test_topology_kernel_matches_brute_force():
    """Random polygons (touching on an integer lattice, nested rings, combs): the sweep
    kernels give the flags and depths of an all-pairs brute force."""
    from dosecalc.masks.topology import plane_topology

    rng = np.random.default_rng(7)
    for trial in range(150):
        xs, ys, ps, pls = [], [], [0], [0]
        for _ in range(rng.integers(1, 4)):
            for _ in range(rng.integers(1, 5)):
                n = int(rng.integers(3, 9))
                if trial % 3 == 0:
                    px, py = rng.integers(0, 5, n).astype(float), rng.integers(0, 5, n).astype(float)
                else:
                    t = np.sort(rng.uniform(0, 2 * np.pi, n))
                    r = rng.uniform(1, 10)
                    px, py = rng.normal(0, 3) + r * np.cos(t), rng.normal(0, 3) + r * np.sin(t)
                keep = np.r_[True, (np.diff(px) != 0) | (np.diff(py) != 0)]
                px, py = px[keep], py[keep]
                xs.append(px)
                ys.append(py)
                ps.append(ps[-1] + len(px))
            pls.append(len(ps) - 1)
        x, y = np.concatenate(xs), np.concatenate(ys)
        ps, pls = np.array(ps, dtype=np.int64), np.array(pls, dtype=np.int64)
        sign, fallback, _ = plane_topology(x, y, ps, pls)
        good = sign != 0  # degeneracy is decided by the numpy part, unchanged
        want_fb, want_depth = _brute_topology(x, y, ps, pls, good)
        assert np.array_equal(fallback, want_fb), trial
        # sign = +1 for even depth, -1 for odd, times the orientation (area >= 0: +1)
        signed = np.array([0.5 * np.sum(x[a:b] * np.roll(y[a:b], -1) - np.roll(x[a:b], -1) * y[a:b])
                           for a, b in zip(ps[:-1], ps[1:])])
        odd = sign * np.where(signed >= 0, 1.0, -1.0) < 0
        assert np.array_equal(odd[good], want_depth[good] % 2 == 1), trial


def test_report_measurements():
    """Prints the measured cases (run with -s); fails never on speed."""
    print("\n".join(["", "measured fault cases:"] + MEASURED))
