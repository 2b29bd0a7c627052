"""dosecalc against dicompyler-core on the same structures of the synthetic case.

dicompyler-core 0.5.6 needs pydicom < 3, so it runs in its own virtual environment
(``benchmarks/_work/dcc-venv``, created on first use from PyPI) as a subprocess; both
tools read the same files in the same session.  Timings cover reading the files and
computing every DVH at default settings.  Agreement: mean dose of the large structures.
Full mode only (1 mm grid, 40 structures: dicompyler-core needs minutes); quick mode
uses the 3 mm case so CI stays fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from _common import WORK, synthetic_case

VENV = WORK / "dcc-venv"

# Our own driver for the other tool (runs inside its venv): times get_dvh per ROI.
DRIVER = textwrap.dedent(
    """
    import json, sys, time
    from dicompylercore import dicomparser, dvhcalc
    rtss, rtdose = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    structures = dicomparser.DicomParser(rtss).GetStructures()
    out = {}
    for number, s in structures.items():
        if s.get("type") == "POINT" or s.get("empty"):
            continue
        dvh = dvhcalc.get_dvh(rtss, rtdose, number)
        if dvh.volume > 0:
            out[s["name"]] = {"mean_gy": float(dvh.mean), "volume_cc": float(dvh.volume)}
    print(json.dumps({"seconds": time.perf_counter() - t0, "dvhs": out}))
    """
)


def ensure_venv() -> Path:
    py = VENV / "bin" / "python"
    if not (VENV / ".complete").exists():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "dicompyler-core==0.5.6",
                        "pydicom>=2.4,<3", "numpy<2", "matplotlib<3.9"], check=True)
        (VENV / ".complete").write_text("ok\n")
    return py


def find_files(folder: Path) -> tuple[Path, Path]:
    import pydicom

    rtss = rtdose = None
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() != ".dcm":
            continue
        m = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["Modality"]).get("Modality")
        if m == "RTSTRUCT":
            rtss = f
        elif m == "RTDOSE":
            rtdose = f
    if rtss is None or rtdose is None:
        raise RuntimeError(f"no RTSTRUCT/RTDOSE pair in {folder}")
    return rtss, rtdose


def run(quick: bool) -> dict:
    import dosecalc

    spacing = 3.0 if quick else 1.0
    path = synthetic_case(spacing, extra_structures=22)
    rtss, rtdose = find_files(path)
    py = ensure_venv()
    script = WORK / "dcc_driver.py"
    script.write_text(DRIVER)
    proc = subprocess.run([str(py), str(script), str(rtss), str(rtdose)], capture_output=True,
                          text=True, check=True)
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])

    dosecalc.load(path).dvhs()  # warm numba caches: compile time is not what is compared
    t0 = time.perf_counter()
    ours = dosecalc.load(path).dvhs()
    t_ours = time.perf_counter() - t0

    agreement = {}
    for name, d in ours.items():
        other = theirs["dvhs"].get(name)
        if other is None or d.volume_cc < 100.0:
            continue
        agreement[name] = {"ours_mean_gy": d.mean_gy, "dicompyler_mean_gy": other["mean_gy"],
                           "diff_percent": 100.0 * (other["mean_gy"] - d.mean_gy) / max(d.mean_gy, 1e-9),
                           "ours_volume_cc": d.volume_cc, "dicompyler_volume_cc": other["volume_cc"]}
    return {
        "size": {"spacing_mm": spacing, "structures": len(ours)},
        "timings_s": {"dosecalc_load_and_dvhs": t_ours, "dicompyler_core_dvhs": theirs["seconds"]},
        "ratios": {"dicompyler_over_dosecalc": theirs["seconds"] / t_ours},
        "mean_dose_agreement_large_structures": agreement,
    }
