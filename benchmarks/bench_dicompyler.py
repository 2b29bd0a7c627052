"""dosecalc against dicompyler-core 0.5.6 on the same files: speed and mean-dose agreement.

dicompyler-core 0.5.6 needs pydicom < 3, so it runs in its own virtual environment
(``benchmarks/_work/dcc-venv``, created on first use from PyPI) as a subprocess.  Both
tools read the same files; each side's time covers reading the RTSTRUCT and RTDOSE and
computing the DVH of every ROI with closed contours at default settings.  To be fair to
dicompyler-core the driver parses each file once and hands the datasets to ``get_dvh``
(passing file names would re-read the dose for every ROI).  dosecalc is timed warm (numba
caches compiled by a first run; compile time is what ``bench_real_exports`` reports).

Cases: the synthetic liver case (1 mm grid, 41 structures; quick mode: 3 mm) and, in full
mode, the Eclipse breast plan (see ``bench_real_exports.py``); the Brainlab SRS export
(1 mm grid, 40 ROIs) is compared in ``bench_srs.py``, beside its floor.
Full mode also runs both tools on the Nelms 2015 analytical set when ``../shared`` holds
it (pass counts within 3 % per metric).

Agreement: mean dose of every structure over 100 cc (small structures differ by design:
dicompyler-core counts whole voxels whose centre is inside the contour, dosecalc uses
fractional volumes and sub-voxel sampling).

Ratio ``dicompyler_over_dosecalc_<case>``: their time / ours (larger = we are faster).
"""

from __future__ import annotations

# Not part of the quick (CI) run: it installs dicompyler-core and pydicom < 3 into a second virtual environment.
IN_QUICK = False

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from _common import WORK, DownloadError, best_of, real_export, synthetic_case

VENV = WORK / "dcc-venv"
LARGE_CC = 100.0

# Our own driver for the other tool (runs inside its venv with pydicom 2).
DRIVER = textwrap.dedent(
    """
    import json, sys, time
    import pydicom
    from dicompylercore import dicomparser, dvhcalc
    rtss_path, rtdose_path = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    rtss = pydicom.dcmread(rtss_path, force=True)
    rtdose = pydicom.dcmread(rtdose_path, force=True)
    structures = dicomparser.DicomParser(rtss).GetStructures()
    out, errors, per_roi = {}, {}, {}
    for number, s in structures.items():
        t1 = time.perf_counter()
        try:
            dvh = dvhcalc.get_dvh(rtss, rtdose, number)
        except Exception as exc:
            errors[s["name"]] = type(exc).__name__ + ": " + str(exc)[:200]
            continue
        per_roi[s["name"]] = time.perf_counter() - t1
        if dvh.volume > 0:
            out[s["name"]] = {"mean_gy": float(dvh.mean), "volume_cc": float(dvh.volume),
                              "max_gy": float(dvh.max)}
    print(json.dumps({"seconds": time.perf_counter() - t0, "dvhs": out, "errors": errors,
                      "per_roi_s": per_roi}))
    """
)


# Nelms 2015 pairs: argv[1] is a JSON list of [case, rtss, rtdose]; one closed-planar ROI each.
NELMS_DRIVER = textwrap.dedent(
    """
    import json, sys, time
    import pydicom
    from dicompylercore import dicomparser, dvhcalc
    pairs = json.load(open(sys.argv[1]))
    doses, out = {}, {}
    t0 = time.perf_counter()
    for case, rtss_path, rtdose_path in pairs:
        try:
            rtss = pydicom.dcmread(rtss_path, force=True)
            if rtdose_path not in doses:
                doses[rtdose_path] = pydicom.dcmread(rtdose_path, force=True)
            parser = dicomparser.DicomParser(rtss)
            rois = [n for n in parser.GetStructures()
                    if any(c.get("type") == "CLOSED_PLANAR"
                           for plane in parser.GetStructureCoordinates(n).values() for c in plane)]
            dvh = dvhcalc.get_dvh(rtss, doses[rtdose_path], rois[0])
            row = {"Total Volume (cc)": dvh.volume, "Dmin": dvh.min, "Dmax": dvh.max,
                   "Dmean": dvh.mean}
            for m in ("D99", "D95", "D5", "D1", "D0.03cc"):
                row[m] = dvh.statistic(m).value
            out[case] = {k: float(v) for k, v in row.items()}
        except Exception as exc:
            out[case] = {"error": type(exc).__name__ + ": " + str(exc)[:200]}
    print(json.dumps({"seconds": time.perf_counter() - t0, "cases": out}))
    """
)


def nelms_comparison(py: Path, timeout_s: float) -> dict | None:
    """dicompyler-core on the Nelms 2015 analytical set (when ../shared holds it): pass
    counts per metric under the paper's 3 % rule, beside ours from ``nelms_accuracy``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import nelms_accuracy as na

    nelms = na.DEFAULT_NELMS
    if not (nelms / "analytical_points.csv").exists():
        return None
    cases = na.read_cases(nelms)
    pairs = []
    for c in cases:
        key = f"{c['Structure name']}|{c['Dose Voxel (mm)']}|{c['Gradient direction']}"
        pairs.append([key, str(nelms / "structures" / f"{c['Structure name']}.dcm"),
                      str(nelms / "dose_grids" / na.grid_file(c["Dose Voxel (mm)"], c["Gradient direction"]))])
    job = WORK / "dcc_nelms_pairs.json"
    job.write_text(json.dumps(pairs))
    script = WORK / "dcc_nelms_driver.py"
    script.write_text(NELMS_DRIVER)
    proc = subprocess.run([str(py), str(script), str(job)], capture_output=True, text=True,
                          timeout=timeout_s)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    t0 = time.perf_counter()
    ours_rows = na.run(nelms)
    t_ours = time.perf_counter() - t0
    by_metric: dict = {}
    errors = {}
    for c in cases:
        key = f"{c['Structure name']}|{c['Dose Voxel (mm)']}|{c['Gradient direction']}"
        row = theirs["cases"].get(key, {})
        if "error" in row:
            errors[key] = row["error"]
        for m in na.METRICS:
            ref = float(c[m])
            val = row.get(m)
            ok = False
            if val is not None:
                val = val if m == "Total Volume (cc)" else 100.0 * val  # Gy -> cGy
                ok = abs(100.0 * (val - ref) / ref) <= na.TOLERANCE_PCT
            p, n = by_metric.get(m, (0, 0))
            by_metric[m] = (p + int(ok), n + 1)
    ours_by_metric: dict = {}
    for r in ours_rows:
        p, n = ours_by_metric.get(r["metric"], (0, 0))
        ours_by_metric[r["metric"]] = (p + int(r["pass"]), n + 1)
    return {
        "cases": len(cases), "dicompyler_s": theirs["seconds"], "dosecalc_s": t_ours,
        "dicompyler_errors": errors,
        "pass_within_3_percent": {m: {"dicompyler": list(by_metric[m]), "dosecalc": list(ours_by_metric.get(m, (0, 0)))}
                                  for m in na.METRICS},
    }


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


def run_dicompyler(py: Path, rtss: Path, rtdose: Path, timeout_s: float) -> dict:
    script = WORK / "dcc_driver.py"
    script.write_text(DRIVER)
    proc = subprocess.run([str(py), str(script), str(rtss), str(rtdose)], capture_output=True,
                          text=True, timeout=timeout_s)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"dicompyler-core driver failed on {rtss.parent}: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare_case(label: str, path: Path, py: Path, repeats: int, timeout_s: float) -> dict:
    import dosecalc

    rtss, rtdose = find_files(path)
    theirs = run_dicompyler(py, rtss, rtdose, timeout_s)

    dosecalc.load(path).dvhs()  # warm numba caches: compile time is not what is compared
    t_ours, ours = best_of(lambda: dosecalc.load(path).dvhs(), repeats)

    agreement = {}
    for name, d in ours.items():
        other = theirs["dvhs"].get(name)
        if other is None or d.volume_cc < LARGE_CC:
            continue
        agreement[name] = {
            "ours_mean_gy": d.mean_gy, "dicompyler_mean_gy": other["mean_gy"],
            "diff_percent": 100.0 * (other["mean_gy"] - d.mean_gy) / max(abs(d.mean_gy), 1e-9),
            "ours_volume_cc": d.volume_cc, "dicompyler_volume_cc": other["volume_cc"],
            "volume_diff_percent": 100.0 * (other["volume_cc"] - d.volume_cc) / d.volume_cc,
        }
    worst = max((abs(a["diff_percent"]) for a in agreement.values()), default=None)
    slowest = sorted(theirs["per_roi_s"].items(), key=lambda kv: -kv[1])[:3]
    return {
        "label": label,
        "structures_dosecalc": len(ours),
        "structures_dicompyler": len(theirs["dvhs"]),
        "dicompyler_errors": theirs["errors"],
        "dicompyler_slowest_rois_s": dict(slowest),
        "dosecalc_s": t_ours,
        "dicompyler_s": theirs["seconds"],
        "ratio": theirs["seconds"] / t_ours,
        "max_abs_mean_diff_percent_large": worst,
        "mean_dose_agreement_large_structures": agreement,
    }


def run(quick: bool) -> dict:
    spacing = 3.0 if quick else 1.0
    try:
        py = ensure_venv()
    except (OSError, subprocess.CalledProcessError) as exc:  # no PyPI: nothing to compare with
        return {"skipped": f"cannot create the dicompyler-core venv: {exc}", "timings_s": {}, "ratios": {}}
    cases = {"synthetic": (f"synthetic liver case, {spacing:g} mm grid",
                           synthetic_case(spacing, extra_structures=22))}
    skipped = {}
    if not quick:
        # the Brainlab SRS export is compared in bench_srs.py, beside its floor
        for key, label in (("eclipse_breast", "Eclipse breast plan (dicompyler-core 0.5.6 test "
                                              "data), 2.5 x 2.5 x 3 mm grid")):
            try:
                cases[key] = (label, real_export(key))
            except DownloadError as exc:
                skipped[key] = str(exc)
    out = {"timings_s": {}, "ratios": {}, "cases": {}, "skipped": skipped,
           "size": {"spacing_mm": spacing}}
    for key, (label, path) in cases.items():
        t0 = time.perf_counter()
        res = compare_case(label, path, py, repeats=2 if quick else 3,
                           timeout_s=600 if quick else 3600)
        res["wall_s"] = time.perf_counter() - t0
        out["cases"][key] = res
        out["timings_s"][f"dosecalc_load_and_dvhs_{key}"] = res["dosecalc_s"]
        out["timings_s"][f"dicompyler_core_dvhs_{key}"] = res["dicompyler_s"]
        out["ratios"][f"dicompyler_over_dosecalc_{key}"] = res["ratio"]
    if not quick:
        nelms = nelms_comparison(py, timeout_s=1800)
        if nelms is not None:
            out["nelms2015"] = nelms
    return out
