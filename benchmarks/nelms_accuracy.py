"""Nelms 2015 analytical DVH benchmark: 100 cases x 9 metrics against analytical values.

Usage::

    python benchmarks/nelms_accuracy.py [--nelms DIR] [--interpolation prism] [--supersample auto]

Writes ``benchmarks/results/nelms.csv`` (case, metric, ours, analytical, % diff, pass)
and ``benchmarks/results/nelms_summary.json`` atomically, and prints pass counts per
metric and per contour spacing.  The pass rule is the paper's: within 3 % of the
analytical value.

Conventions of the set (see its README): ``Gradient direction`` ``Y(SI)`` is the
``Linear_SupInf`` grid (dose varies along DICOM z), ``Z(AP)`` the ``Linear_AntPost`` grid
(dose varies along DICOM y); ``Dose Voxel (mm)`` names the grid; analytical doses are
in cGy; the analytical DVHs use half-spacing end caps (our default ``end_cap="half"``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NELMS = ROOT.parent / "shared" / "validation" / "nelms2015"
RESULTS = Path(__file__).resolve().parent / "results"

METRICS = ("Total Volume (cc)", "Dmin", "Dmax", "Dmean", "D99", "D95", "D5", "D1", "D0.03cc")
TG263 = {"Total Volume (cc)": "Volume[cc]", "Dmin": "Min[Gy]", "Dmax": "Max[Gy]", "Dmean": "Mean[Gy]",
         "D99": "D99%[Gy]", "D95": "D95%[Gy]", "D5": "D5%[Gy]", "D1": "D1%[Gy]", "D0.03cc": "D0.03cc[Gy]"}
TOLERANCE_PCT = 3.0


def grid_file(voxel: str, gradient: str) -> str:
    """Dose file of a case: ``Y(SI)`` -> SupInf (dose along z), ``Z(AP)`` -> AntPost."""
    kind = {"Y(SI)": "SupInf", "Z(AP)": "AntPost"}[gradient]
    size = "0-4_0-2_0-4_mm" if voxel.startswith("0.4") else f"{int(float(voxel))}mm"
    return f"Linear_{kind}_{size}_Aligned.dcm"


def read_cases(nelms: Path) -> list[dict]:
    with open(nelms / "analytical_points.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def load_structure(path: Path):
    """The closed-planar ROI of a Nelms structure file (the other ROI is a point)."""
    from dosecalc.io.rtstruct import read_rtstruct

    ss, _notes = read_rtstruct(path)
    vols = [s for s in ss if s.has_volume]
    if len(vols) != 1:
        raise RuntimeError(f"{path}: expected one closed-planar ROI, found {[s.name for s in vols]}")
    return vols[0]


def load_dose(path: Path):
    from dosecalc.io.rtdose import read_rtdose

    return read_rtdose(path)


def reference_metrics(dose: np.ndarray, vol: np.ndarray, volume_cc: float) -> dict[str, float]:
    """Float64 numpy metrics (Gy, cc) with the DVH module's definitions, for cross-checks."""
    order = np.argsort(-dose, kind="stable")
    d = dose[order]
    v = vol[order]
    c = np.cumsum(v)
    mid = c - v / 2
    covered = c[-1]

    def at(x):
        return float(np.interp(x, mid, d))

    return {"Volume[cc]": volume_cc, "Min[Gy]": float(d[-1]), "Max[Gy]": float(d[0]),
            "Mean[Gy]": float(np.sum(d * v) / covered),
            "D99%[Gy]": at(0.99 * covered), "D95%[Gy]": at(0.95 * covered), "D5%[Gy]": at(0.05 * covered),
            "D1%[Gy]": at(0.01 * covered), "D0.03cc[Gy]": at(0.03)}


def our_metrics(structure, grid, **mask_options) -> dict[str, float]:
    """The metrics through the public path (``Case.dvh``), as a planning script gets them."""
    from dosecalc.case import Case
    from dosecalc.model import StructureSet

    case = Case(dose=grid, structures=StructureSet((structure,)))
    dvh = case.dvh(structure.number, **mask_options)
    return {m: float(dvh.metric(m)) for m in TG263.values()}


def run(nelms: Path = DEFAULT_NELMS, **mask_options) -> list[dict]:
    """All 900 comparisons as rows (case, metric, ours, analytical, diff_pct, pass)."""
    cases = read_cases(nelms)
    structures, grids, rows = {}, {}, []
    for c in cases:
        sname, gname = c["Structure name"], grid_file(c["Dose Voxel (mm)"], c["Gradient direction"])
        if sname not in structures:
            structures[sname] = load_structure(nelms / "structures" / f"{sname}.dcm")
        if gname not in grids:
            grids[gname] = load_dose(nelms / "dose_grids" / gname)
        ours = our_metrics(structures[sname], grids[gname], **mask_options)
        case = f"{sname}|{c['Dose Voxel (mm)']}|{c['Gradient direction']}"
        for m in METRICS:
            ref = float(c[m])
            val = ours[TG263[m]]
            if m != "Total Volume (cc)":
                val *= 100.0  # Gy -> cGy, the table's unit
            diff = 100.0 * (val - ref) / ref
            rows.append({"case": case, "structure": sname, "spacing": c["CT slice spacing (mm)"],
                         "voxel": c["Dose Voxel (mm)"], "gradient": c["Gradient direction"], "metric": m,
                         "ours": val, "analytical": ref, "diff_pct": diff,
                         "pass": abs(diff) <= TOLERANCE_PCT})
    return rows


def summarise(rows: list[dict]) -> dict:
    def count(key):
        out = {}
        for r in rows:
            k = r[key]
            p, n = out.get(k, (0, 0))
            out[k] = (p + int(r["pass"]), n + 1)
        return {k: {"pass": p, "total": n} for k, (p, n) in out.items()}

    worst = sorted(rows, key=lambda r: -abs(r["diff_pct"]))[:10]
    return {"pass": sum(r["pass"] for r in rows), "total": len(rows),
            "by_metric": count("metric"), "by_spacing": count("spacing"),
            "worst": [{k: r[k] for k in ("case", "metric", "ours", "analytical", "diff_pct")} for r in worst]}


def write_results(rows: list[dict], summary: dict, out_dir: Path = RESULTS, tag: str = "") -> None:
    from dosecalc.io.atomic import write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["case", "metric", "ours", "analytical", "diff_pct", "pass"])
    for r in rows:
        w.writerow([r["case"], r["metric"], f"{r['ours']:.6g}", f"{r['analytical']:.6g}",
                    f"{r['diff_pct']:.4f}", int(r["pass"])])
    write_text(out_dir / f"nelms{tag}.csv", buf.getvalue())
    write_text(out_dir / f"nelms{tag}_summary.json", json.dumps(summary, indent=2) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nelms", type=Path, default=DEFAULT_NELMS)
    ap.add_argument("--interpolation", default=None, help="prism or shape (default: both)")
    ap.add_argument("--supersample", default="auto")
    args = ap.parse_args(argv)
    if not args.nelms.is_dir():
        print(f"Nelms set not found at {args.nelms}", file=sys.stderr)
        return 2
    ss = args.supersample if args.supersample == "auto" else int(args.supersample)
    from dosecalc.masks import _INTERPOLATIONS

    modes = [args.interpolation] if args.interpolation else list(_INTERPOLATIONS)
    all_summaries = {}
    for mode in modes:
        t = time.perf_counter()
        rows = run(args.nelms, interpolation=mode, supersample=ss)
        elapsed = time.perf_counter() - t
        summary = summarise(rows)
        summary.update({"interpolation": mode, "supersample": args.supersample, "seconds": round(elapsed, 2)})
        write_results(rows, summary, tag="" if mode == "prism" else f"_{mode}")
        all_summaries[mode] = summary
        print(f"== interpolation={mode} supersample={args.supersample}: {summary['pass']}/{summary['total']} "
              f"within {TOLERANCE_PCT}% ({elapsed:.1f} s)")
        for key in ("by_metric", "by_spacing"):
            print("  " + ", ".join(f"{k}: {v['pass']}/{v['total']}" for k, v in summary[key].items()))
        for wr in summary["worst"][:5]:
            print(f"  worst: {wr['case']} {wr['metric']}: {wr['ours']:.4g} vs {wr['analytical']:.4g} "
                  f"({wr['diff_pct']:+.2f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
