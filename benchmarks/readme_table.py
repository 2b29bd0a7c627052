"""The README's table of speed figures, built from the results ``benchmarks/run.py`` wrote.

Usage::

    python benchmarks/readme_table.py            # Markdown on stdout

Every figure in it is one that ``run.py`` printed (a timing, a ratio to a baseline of the
same run, or a summary line), read back from ``benchmarks/results/<name>.json``, with the
date and load average of the run that measured it.  A benchmark without a full-mode
result is left out rather than filled with an older figure.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _load(name: str) -> dict | None:
    p = RESULTS / f"{name}.json"
    if not p.exists():
        return None
    return json.loads(p.read_text(encoding="utf-8"))


def _when(r: dict) -> str:
    load = (r.get("load_average") or {}).get("before")
    load_s = f", load {load[0]:.1f}" if load else ""
    return f"{r.get('date', '?')[:16].replace('T', ' ')}{load_s}"


def _srs_rows(srs: dict) -> list[str]:
    t, q = srs["timings_s"], srs["ratios"]
    dcc = (f"; dicompyler-core 0.5.6 {t['dicompyler_core']:.1f} s = {q['dicompyler_over_dosecalc']:.1f}x slower"
           if "dicompyler_core" in t else "")
    return [f"| Brainlab SRS export (15 M voxels, 39 ROIs): load + all DVHs, warm (`srs`, {_when(srs)}) | "
            f"{t['load_and_dvhs']:.2f} s = {t['load_and_dvhs'] / t['floor']:.2f}x the floor "
            f"({t['floor']:.2f} s: dose read + RTSTRUCT parse + one histogram pass){dcc} |",
            f"| the same case: EQD2 DVHs of every ROI after the physical ones (`srs`) | "
            f"{t['eqd2_dvhs']:.2f} s = {t['eqd2_dvhs'] / t['physical_dvhs']:.2f} of the physical pass "
            f"({t['physical_dvhs']:.2f} s) |",
            f"| one-shot `dosecalc dvh` on it, warm kernel cache (`srs`) | {t['cli_one_shot']:.2f} s, "
            f"{t['cli_start_overhead']:+.2f} s over the same command in a warm process"
            + (f" (a process that only imports numpy, numba and pydicom and sets up numba takes "
               f"{t['cli_import_floor']:.2f} s of it)" if "cli_import_floor" in t else "") + " |"]


def _memory_rows(mem: dict) -> list[str]:
    m = mem["memory"]
    return [f"| synthetic case, {mem['size']['spacing_mm']:g} mm grid ({mem['size']['voxels'] / 1e6:.1f} M voxels, "
            f"{mem['size']['structures']} structures): load + all DVHs, peak memory (`memory`, {_when(mem)}) | "
            f"{m['peak_gb']:.2f} GB ({m['peak_bytes_per_voxel']:.1f} bytes per voxel; the float64 grid "
            f"{m['grid_gb']:.2f} GB) |"]


def _dvh_rows(dvh: dict) -> list[str]:
    t = dvh["timings_s"]
    return [f"| synthetic liver case, {dvh['size']['spacing_mm']:g} mm grid ({dvh['size']['voxels'] / 1e6:.1f} M "
            f"voxels), {dvh['size']['structures']} structures: load + all DVHs, warm (`dvh`, {_when(dvh)}) | "
            f"{t['load_and_all_dvhs_warm']:.2f} s (numpy reference sort + cumsum of the grid: "
            f"{t['numpy_reference']:.2f} s) |"]


def _load_rows(load: dict) -> list[str]:
    t, q = load["timings_s"], load["ratios"]
    return [f"| 40-ROI RTSTRUCT with {load['size']['coordinates'] / 1e6:.0f} M coordinates: read (`load`, "
            f"{_when(load)}) | {t['read_rtstruct']:.2f} s (pydicom's default parsing "
            f"{t['pydicom_contourdata']:.1f} s, {q['pydicom_contourdata_over_read_rtstruct']:.0f}x) |"]


def _eqd2_rows(eq: dict) -> list[str]:
    t = eq["timings_s"]
    return [f"| EQD2 of a {eq['size']['voxels'] / 1e6:.1f} M-voxel grid (`eqd2`, {_when(eq)}) | "
            f"{1000 * t['eqd2_scalar_ab']:.0f} ms (numpy {1000 * t['numpy_scalar_ab']:.0f} ms, memory copy "
            f"{1000 * t['memcopy']:.0f} ms) |"]


def _batch_rows(b: dict) -> list[str]:
    p, q = b["plans_per_minute"], b["ratios"]
    dask = f" / {p['dask_localcluster_2']:.0f}" if "dask_localcluster_2" in p else ""
    return [f"| cohort of {b['size']['plans']} plans ({b['size']['grid_spacing_mm']:g} mm grids): 1 / 2 local "
            f"workers{' / 2-worker Dask LocalCluster' if dask else ''} (`batch`, {_when(b)}) | {p['workers_1']:.0f} / "
            f"{p['workers_2']:.0f}{dask} plans per minute (2 workers = {q['speedup_2_workers_vs_1']:.2f}x one) |"]


#: (benchmark, the key its result file must hold, the README rows made from it), in table order
ROWS = (("srs", "timings_s", _srs_rows), ("memory", "memory", _memory_rows), ("dvh", "timings_s", _dvh_rows),
        ("load", "timings_s", _load_rows), ("eqd2", "timings_s", _eqd2_rows),
        ("batch", "plans_per_minute", _batch_rows))


def rows() -> list[str]:
    out = []
    for name, key, make in ROWS:
        result = _load(name)
        if result and result.get(key):
            out += make(result)
    return out


def main() -> int:
    body = rows()
    if not body:
        print("no full-mode results in benchmarks/results/", file=sys.stderr)
        return 1
    print("| what (benchmark, date of the run, 1-min load average) | result |")
    print("|---|---|")
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
