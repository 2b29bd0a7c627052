"""The Brainlab SRS export (40 ROIs, 1 mm grid of 15 M voxels) against its floor and against
dicompyler-core 0.5.6, in one run: the figures of issue 13's "Done when".

The export ships inside the public sdist of dicomhandler 0.0.1 and dicompyler-core 0.5.6
runs in its own virtual environment; both are fetched from PyPI into ``benchmarks/_work``
(never committed), as :mod:`bench_real_exports` and :mod:`bench_dicompyler` do.

Figures (seconds, best of a few, warm numba cache):

* ``floor``: what any tool must do at least = reading the RTDOSE
  (:func:`dosecalc.io.rtdose.read_rtdose`) + parsing the RTSTRUCT
  (:func:`dosecalc.io.rtstruct.read_rtstruct`) + one weighted-histogram pass over every
  voxel of the grid (:func:`dosecalc.kernels.dvh.weighted_histogram`, volumes prepared
  beforehand).
* ``memcopy``: ``np.copyto`` of the dose grid (the memory-bandwidth baseline).
* ``load_and_dvhs``: ``dosecalc.load(folder).dvhs()`` (a new case each time: masks are
  cached per case).
* ``physical_dvhs`` / ``eqd2_grid`` / ``eqd2_dvhs``: on one loaded case, every DVH in
  physical dose, then ``case.eqd2(3.0)`` and every DVH of that EQD2 grid (masks from the
  case's cache).
* ``cli_import_floor``: a new process that only imports numpy, numba and pydicom and sets up
  numba's compiler context (what loading the first cached kernel does): the part of
  ``cli_start_overhead`` that is not dosecalc's.
* ``cli_one_shot``: ``python -m dosecalc dvh FOLDER --format json --out FILE`` in a new
  process (imports from warm bytecode, kernel loading from the warm on-disk cache, load,
  DVHs, metrics);
  ``cli_in_process``: the same command through :func:`dosecalc.cli.main` in this warm
  process.  ``cli_start_overhead`` = one-shot - in-process.
* ``dicompyler_core``: dicompyler-core's DVHs of every ROI (driver of
  :mod:`bench_dicompyler`).

``DOSECALC_BENCH_SKIP_DICOMPYLER=1`` leaves dicompyler-core out (a quick look at our own
figures; its ~90 s are the same whatever our code does).

Ratios (larger is better): ``floor_over_load_and_dvhs`` (target >= 0.4, i.e. at most 2.5x
the floor), ``dicompyler_over_dosecalc`` (target >= 60), ``physical_over_eqd2_dvhs``
(target >= 2), ``in_process_over_cli_one_shot``.
"""

from __future__ import annotations

# Not part of the quick (CI) run: it downloads the export and dicompyler-core from PyPI.
IN_QUICK = False

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import DownloadError, best_of, best_time, real_export


def _floor(folder: Path, repeats: int) -> dict:
    from dosecalc.io.rtdose import read_rtdose
    from dosecalc.io.rtstruct import read_rtstruct
    from dosecalc.kernels.dvh import weighted_histogram
    from bench_dicompyler import find_files

    rtss, rtdose = find_files(folder)
    t_dose, grid = best_of(lambda: read_rtdose(rtdose), repeats)
    t_rs = best_time(lambda: read_rtstruct(rtss), repeats)
    values = np.ascontiguousarray(grid.values_gy.ravel())
    vol = np.full(values.size, float(np.prod(grid.spacing_mm)) / 1000.0)
    lo, hi = float(values.min()), float(values.max())
    nbins = max(1000, int(np.ceil((hi - lo) / 0.01)))
    hist = np.zeros(nbins)
    width = (hi - lo) / nbins if hi > lo else 1.0

    def one_pass():
        hist[:] = 0.0
        weighted_histogram(values, vol, lo, width, hist)

    one_pass()  # compile / load the kernel
    t_hist = best_time(one_pass, repeats)
    copy = np.empty_like(grid.values_gy)
    t_copy = best_time(lambda: np.copyto(copy, grid.values_gy), repeats)
    return {"read_rtdose": t_dose, "read_rtstruct": t_rs, "histogram_pass": t_hist,
            "floor": t_dose + t_rs + t_hist, "memcopy": t_copy, "voxels": int(values.size)}


def _eqd2_after_physical(folder: Path, repeats: int) -> dict:
    import dosecalc

    best = None
    for _ in range(repeats):
        case = dosecalc.load(folder)
        t0 = time.perf_counter()
        case.dvhs()
        t1 = time.perf_counter()
        eqd2 = case.eqd2(3.0)
        t2 = time.perf_counter()
        case.dvhs(dose=eqd2)
        t3 = time.perf_counter()
        row = {"physical_dvhs": t1 - t0, "eqd2_grid": t2 - t1, "eqd2_dvhs": t3 - t2}
        if best is None or row["physical_dvhs"] + row["eqd2_dvhs"] < best["physical_dvhs"] + best["eqd2_dvhs"]:
            best = row
        del case, eqd2
    return best


def _cli(folder: Path, repeats: int) -> dict:
    from dosecalc.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dvh.json"
        argv = ["dvh", str(folder), "--format", "json", "--out", str(out)]
        main(argv)  # warm this process
        t_in = best_time(lambda: main(argv), repeats)
        env = dict(os.environ)
        # Python's on-disk bytecode cache warm too, as after any pip install: with
        # PYTHONDONTWRITEBYTECODE (set on some machines) every run compiled our ~90
        # modules from source again (~0.3 s CPU measured, nothing a user pays)
        env.pop("PYTHONDONTWRITEBYTECODE", None)

        def fresh(what: str, *args: str):
            """The time of ``python ARGS`` in a new process, the first run left out (it
            fills the on-disk kernel and bytecode caches if needed: the figure is the warm one)."""
            def once():
                proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=600)
                if proc.returncode != 0:
                    raise RuntimeError(f"{what} failed: {proc.stderr.strip()[-300:]}")

            once()
            return best_time(once, repeats)

        t_one = fresh("dosecalc dvh", "-m", "dosecalc", *argv)
        t_imports = fresh("import floor", "-c", _IMPORT_FLOOR)
    return {"cli_in_process": t_in, "cli_one_shot": t_one, "cli_import_floor": t_imports}


# What any process that reads DICOM with pydicom and runs cached numba kernels pays before
# its first line of work: the imports, and numba's set-up of its compiler context that the
# first cached-kernel load triggers (it imports scipy.linalg to look for BLAS).  Nothing of
# dosecalc's runs here.
_IMPORT_FLOOR = ("import numpy, numba, pydicom\n"
                 "from numba.core.registry import cpu_target\n"
                 "cpu_target.target_context.refresh()\n")


def run(quick: bool) -> dict:
    import dosecalc
    from bench_dicompyler import ensure_venv, find_files, run_dicompyler

    repeats = 2 if quick else 3
    try:
        folder = real_export("brainlab_srs")
    except DownloadError as exc:
        return {"skipped": str(exc), "timings_s": {}, "ratios": {}}
    dosecalc.load(folder).dvhs()  # warm: compile time is bench_real_exports' figure
    floor = _floor(folder, repeats)
    t_all, dvhs = best_of(lambda: dosecalc.load(folder).dvhs(), repeats)
    eq = _eqd2_after_physical(folder, repeats)
    cli = _cli(folder, 2)
    timings = {"floor": floor["floor"], "floor_read_rtdose": floor["read_rtdose"],
               "floor_read_rtstruct": floor["read_rtstruct"],
               "floor_histogram_pass": floor["histogram_pass"], "memcopy": floor["memcopy"],
               "load_and_dvhs": t_all, **eq, **cli,
               "cli_start_overhead": cli["cli_one_shot"] - cli["cli_in_process"]}
    ratios = {"floor_over_load_and_dvhs": floor["floor"] / t_all,
              "physical_over_eqd2_dvhs": eq["physical_dvhs"] / eq["eqd2_dvhs"],
              "in_process_over_cli_one_shot": cli["cli_in_process"] / cli["cli_one_shot"],
              "memcopy_over_load_and_dvhs": floor["memcopy"] / t_all}
    dcc = None
    try:
        if os.environ.get("DOSECALC_BENCH_SKIP_DICOMPYLER"):
            raise RuntimeError("DOSECALC_BENCH_SKIP_DICOMPYLER is set")
        py = ensure_venv()
        rtss, rtdose = find_files(folder)
        dcc = run_dicompyler(py, rtss, rtdose, timeout_s=3600)
    except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
        skipped = f"dicompyler-core not run: {exc}"
    else:
        skipped = None
        timings["dicompyler_core"] = dcc["seconds"]
        ratios["dicompyler_over_dosecalc"] = dcc["seconds"] / t_all
    summary = [
        f"SRS load + all {len(dvhs)} DVHs warm: {t_all:.3f} s = {t_all / floor['floor']:.2f}x the floor "
        f"({floor['floor']:.3f} s: dose read {floor['read_rtdose']:.3f} + RTSTRUCT parse "
        f"{floor['read_rtstruct']:.3f} + one histogram pass {floor['histogram_pass']:.3f}); "
        f"memory copy of the grid {floor['memcopy']:.3f} s",
        (f"dicompyler-core 0.5.6: {dcc['seconds']:.1f} s = {dcc['seconds'] / t_all:.1f}x ours"
         if dcc else skipped),
        f"EQD2 DVHs after the physical ones: {eq['eqd2_dvhs']:.3f} s = "
        f"{eq['eqd2_dvhs'] / eq['physical_dvhs']:.2f} of the physical pass ({eq['physical_dvhs']:.3f} s); "
        f"EQD2 grid {eq['eqd2_grid']:.3f} s",
        f"one-shot `dosecalc dvh`: {cli['cli_one_shot']:.3f} s, in-process {cli['cli_in_process']:.3f} s "
        f"(+{cli['cli_one_shot'] - cli['cli_in_process']:.2f} s, of which the third-party import floor "
        f"{cli['cli_import_floor']:.3f} s: numpy, numba with its compiler context, pydicom)",
    ]
    return {"size": {"voxels": floor["voxels"], "dvhs": len(dvhs)}, "timings_s": timings,
            "ratios": ratios, "summary": summary, **({"skipped_part": skipped} if skipped else {})}
