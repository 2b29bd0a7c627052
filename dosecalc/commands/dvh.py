"""``dosecalc dvh``: DVH metrics of structures (and derived structures) of one plan.

Output formats
--------------
* ``table`` (default): one row per structure, one column per metric, aligned; metrics
  without a value print ``n/a`` and their reason is listed below the table, as is any
  structure that lies partly outside the dose grid.
* ``json``: ``{"structures": [{"name", "volume_cc", "covered_cc", "outside_cc",
  "quantity", "coverage_warning", "metrics": {SPEC: value}, "labels": {SPEC: label},
  "units": {SPEC: unit}, "notes": {SPEC: reason}, "settings": {mask and DVH settings}}],
  "settings": {dose file, quantity, mask options, metrics...}}``; a metric without a
  value is ``null``.
* ``csv``: long format, one row per structure x metric, columns
  ``structure,metric,label,value,unit,volume_cc,outside_cc,quantity,note``; it pivots
  to a wide table in one line of pandas and never needs quoting rules per metric.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys

from ..errors import ParameterError, StructureNotFoundError
from ..io.atomic import write_text
from ..mask_options import MaskOptions
from ..textsafe import csv_cell, printable_tree
from ..serialise import finite_or_none, jsonable
from .info import _reading, add_dose_is

NAME = "dvh"
ORDER = 20
HELP = "DVH metrics (TG-263: D95%[Gy], D0.03cc[Gy], V20Gy[%], CV15Gy[cc], Mean[Gy]...) of structures"
DESCRIPTION = (
    "Compute TG-263 DVH metrics of the plan's structures (default: every structure with "
    "contours) from its RTDOSE and RTSTRUCT. --roi accepts derived structures such as "
    "'Liver - GTV' or 'GTV1 | GTV2' (operators need spaces). Volumes are cc, doses Gy; a "
    "structure partly outside the dose grid is flagged and its metrics describe the covered "
    "part. Exit 0 on success, 2 on bad input (malformed metric, unknown structure).")

DEFAULT_METRICS = ("Volume[cc]", "Min[Gy]", "Max[Gy]", "Mean[Gy]", "D99%[Gy]", "D95%[Gy]",
                   "D50%[Gy]", "D5%[Gy]", "D1%[Gy]", "D0.03cc[Gy]")
DEMO_STRUCTURES = ("Liver", "Liver - CTV", "Liver - (GTV1 | GTV2)", "PTV", "PTV1", "PTV2", "Stomach",
                   "Duodenum", "Bowel_Small", "Esophagus", "SpinalCord", "Kidney_R")
DEMO_TARGETS = ("PTV", "PTV1", "PTV2")


def _supersample(text: str):
    if text == "auto":
        return "auto"
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise ParameterError(f"--supersample must be 'auto' or an integer >= 1, got {text!r}")
    return k


def register(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="DICOM files or folders of one plan (RTDOSE, RTSTRUCT, optional RTPLAN)")
    parser.add_argument("--roi", action="append", default=[], metavar="NAME",
                        help="structure name or expression ('Liver - GTV'); repeat; default: all")
    parser.add_argument("--metric", action="append", default=[], metavar="SPEC",
                        help="TG-263 metric, e.g. D95%%[Gy], D0.03cc[Gy], V20Gy[%%], CV15Gy[cc]; "
                             f"repeat; default: {' '.join(DEFAULT_METRICS)}".replace("%", "%%"))
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    parser.add_argument("--out", metavar="FILE", default=None, help="write here (atomically) instead of stdout")
    parser.add_argument("--prescription", type=float, default=None, metavar="GY",
                        help="prescription dose in Gy for %% metrics (default: the RTPLAN's)")
    parser.add_argument("--plan", default=None, metavar="ID",
                        help="plan to use when the paths hold several (UID, label or file)")
    parser.add_argument("--supersample", default="auto", metavar="K",
                        help="sub-voxel factor per axis: 'auto' (default) or an integer >= 1")
    parser.add_argument("--end-cap", choices=("half", "none"), default="half",
                        help="extent beyond the first/last contour plane (default: half a spacing)")
    parser.add_argument("--eqd2", type=float, default=None, metavar="AB",
                        help="DVHs of the voxel-wise EQD2 at this alpha/beta (Gy) instead of physical dose")
    parser.add_argument("--bed", type=float, default=None, metavar="AB",
                        help="DVHs of the voxel-wise BED at this alpha/beta (Gy)")
    parser.add_argument("--fractions", type=int, default=None, metavar="N",
                        help="number of fractions for --eqd2/--bed (default: the RTPLAN's)")
    parser.add_argument("--no-gap-split", action="store_true",
                        help="do not split a structure where its contour planes are more than 1.5 x its "
                             "median spacing apart (sparse helper ROIs): every slab reaches halfway to "
                             "the next plane")
    parser.add_argument("--compare-stored", action="store_true",
                        help="print the planning system's DVHs stored in the RTDOSE (DVHSequence) beside "
                             "ours, with the difference per metric (ours - stored)")
    add_dose_is(parser)
    parser.add_argument("--curves", metavar="FILE.csv", default=None,
                        help="also write the cumulative curves (structure, dose_gy, volume_cc, "
                             "volume_pct) to this CSV")
    parser.add_argument("--curve-step", type=float, default=0.1, metavar="GY",
                        help="dose step of --curves in Gy (default 0.1)")
    parser.add_argument("--compare", action="store_true",
                        help="two plans A B (one path each): metric differences B - A per structure "
                             "(structures named alike in both; --roi to choose)")


def structure_dvhs(case, names=None, *, dose=None, prescription_gy=None, options=None, **mask_options):
    """``[(name, DVH), ...]`` for the given structures/expressions (default: all with
    contours) on ``dose`` (default the case's physical dose; pass an EQD2/BED grid to get
    converted DVHs, whose metric labels then carry the quantity)."""
    from ..analysis import case_dvhs

    opts = MaskOptions.from_kwargs(options, **mask_options)
    dvhs = case_dvhs(case, names or None, dose=dose, prescription_gy=prescription_gy, options=opts)
    return list(dvhs.items())


def report(dvhs, specs, settings: dict) -> dict:
    """The JSON-ready report of ``[(name, DVH)]`` for metric ``specs`` (see module doc)."""
    structures = []
    for name, dvh in dvhs:
        results = [dvh.evaluate(s) for s in specs]
        entry = {
            "name": name,
            "volume_cc": finite_or_none(dvh.volume_cc),
            "covered_cc": finite_or_none(dvh.covered_cc),
            "outside_cc": finite_or_none(dvh.outside_cc),
            "quantity": dvh.quantity,
            "prescription_gy": finite_or_none(dvh.prescription_gy),
            "coverage_warning": dvh.coverage_warning,
            "metrics": {r.spec: finite_or_none(r.value) for r in results},
            "labels": {r.spec: r.label for r in results},
            "units": {r.spec: r.unit for r in results},
            "settings": jsonable(dvh.settings),
        }
        notes = {r.spec: r.note for r in results if r.note and r.note != dvh.coverage_warning}
        if notes:
            entry["notes"] = notes
        structures.append(entry)
    return {"structures": structures, "settings": settings}


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    if v == 0 or abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def format_table(rep: dict) -> str:
    """Aligned text table: a row per structure, a column per metric label, then notes."""
    rep = printable_tree(rep)
    entries = rep["structures"]
    if not entries:
        return "(no structures)\n"
    specs = list(entries[0]["metrics"])
    # One header per spec; converted quantities show the full label.
    headers = ["Structure"] + [entries[0]["labels"][s] for s in specs]
    rows = [[e["name"]] + [_fmt(e["metrics"][s]) for s in specs] for e in entries]
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(headers))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
    notes = []
    if rep.get("settings", {}).get("dose_type") == "ERROR":
        notes.append("note: the RTDOSE is DoseType ERROR: values are an estimate of the dose ERROR, "
                     "not dose")
    reading = rep.get("settings", {}).get("dose_reading") or {}
    if reading.get("reading") == "per fraction" and rep.get("settings", {}).get("dose_quantity") == "dose":
        # the grid holds dose per fraction: never let it read as the course total
        notes.append("note: doses are PER FRACTION, not the course total: " + reading["text"])
    elif reading.get("text") and (reading.get("source") != "label" or reading.get("refusal")
                                  or reading.get("status") in ("inconclusive", "contradicts")):
        notes.append(f"note: {reading['text']}")
    elif not reading and rep.get("settings", {}).get("dose_summation_type") == "FRACTION":
        notes.append("note: the RTDOSE is DoseSummationType FRACTION: doses are PER FRACTION, not "
                     "the course total")
    for e in entries:
        if e["coverage_warning"]:
            notes.append(f"note: {e['coverage_warning']}")
        by_text: dict[str, list[str]] = {}
        for spec, note in e.get("notes", {}).items():
            by_text.setdefault(note, []).append(spec)
        for note, specs_ in by_text.items():
            # one line per reason: an ROI without volume does not print ten identical notes
            which = specs_[0] if len(specs_) == 1 else f"{len(specs_)} metrics ({', '.join(specs_)})"
            notes.append(f"note: {e['name']} {which}: {note}")
    return "\n".join(lines + notes) + "\n"


def format_csv(rep: dict) -> str:
    """Long CSV: one row per structure x metric (columns in the module docstring)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    compare = "compared_with" in rep.get("settings", {})
    w.writerow(["structure", "metric", "label", "value", "unit", "volume_cc", "outside_cc", "quantity", "note"]
               + (["stored_value", "difference"] if compare else []))
    for e in rep["structures"]:
        for spec, value in e["metrics"].items():
            note = e.get("notes", {}).get(spec) or e["coverage_warning"] or ""
            extra = []
            if compare:
                st, df = (e.get("stored") or {}).get(spec), (e.get("difference") or {}).get(spec)
                extra = ["" if st is None else repr(st), "" if df is None else repr(df)]
            w.writerow([csv_cell(e["name"]), spec, e["labels"][spec], "" if value is None else repr(value),
                        e["units"][spec], repr(e["volume_cc"]), repr(e["outside_cc"]), e["quantity"],
                        csv_cell(note)] + extra)
    return buf.getvalue()


def add_stored(rep: dict, case, dvhs: dict, specs, prescription_gy) -> None:
    """Add the planning system's values (``"stored"``) and ours minus theirs
    (``"difference"``) to each structure of ``rep`` that has a stored DVH."""
    from ..errors import MetricSpecError, ParameterError

    stored = case.stored_dvhs()
    if not stored:
        where = case.dose.source_path if case.dose is not None else "the case"
        raise ParameterError(f"{where}: the RTDOSE stores no DVHs (DVHSequence) to compare with")
    rx = prescription_gy if prescription_gy is not None else case.prescription_gy
    rep["settings"]["compared_with"] = "planning system DVHs (RTDOSE DVHSequence)"
    for e in rep["structures"]:
        s = stored.get(e["name"])
        if s is None:
            e["stored"] = None
            continue
        ours = dvhs[e["name"]]
        theirs = s.to_dvh(e["name"], volume_cc=ours.volume_cc, prescription_gy=rx)
        values = {}
        for spec in specs:
            try:
                values[spec] = finite_or_none(theirs.evaluate(spec).value)
            except (MetricSpecError, ParameterError):
                # a metric the stored curve cannot give: % of a prescription there is none
                # of, or a dose quantity (EQD2/BED) the physical stored curve is not in;
                # anything else is a bug and must surface
                values[spec] = None
        e["stored"] = values
        e["difference"] = {k: (None if e["metrics"][k] is None or v is None else e["metrics"][k] - v)
                           for k, v in values.items()}
        e["stored_info"] = {"type": s.dvh_type, "dose_units": s.dose_units, "volume_units": s.volume_units,
                            "bin_gy": s.bin_gy, "attribute_unit": s.attribute_unit, "notes": list(s.notes)}


def format_compare_table(rep: dict) -> str:
    """Long table: structure x metric with ours, the planning system's and the difference."""
    rows = [("Structure", "Metric", "ours", "stored", "ours-stored")]
    notes = []
    for e in rep["structures"]:
        st = e.get("stored")
        for spec, value in e["metrics"].items():
            theirs = None if st is None else st.get(spec)
            diff = None if st is None else e["difference"].get(spec)
            rows.append((e["name"], e["labels"][spec], _fmt(value), "-" if st is None else _fmt(theirs),
                         "-" if diff is None else f"{diff:+.3f}"))
        if st is None:
            notes.append(f"note: {e['name']}: no stored DVH")
        for n in (e.get("stored_info") or {}).get("notes", []):
            notes.append(f"note: {e['name']} (stored): {n}")
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(r)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + notes) + "\n"


def render(rep: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rep, indent=2, allow_nan=False) + "\n"
    if fmt == "csv":
        return format_csv(rep)
    if "compared_with" in rep.get("settings", {}):
        return format_compare_table(rep) + "".join(
            line + "\n" for line in format_table(rep).splitlines() if line.startswith("note:"))
    return format_table(rep)


def _settings(case, dose, specs, mask_options, prescription_gy) -> dict:
    return jsonable({
        "dose_file": dose.source_path if dose is not None else None,
        "dose_quantity": dose.quantity if dose is not None else None,
        "dose_type": dose.dose_type if dose is not None else None,
        "dose_summation_type": dose.summation_type if dose is not None else None,
        "dose_reading": _reading(case.dose.reading if case.dose is not None else None),
        "structure_file": case.structures.source_path,
        "prescription_gy": prescription_gy,
        "mask_options": dict(mask_options),
        "metrics": list(specs),
    })


def curves_csv(dvhs, step_gy: float, plan: str | None = None) -> str:
    """Long CSV of cumulative curves: ``[plan,] structure, quantity, dose_gy, volume_cc,
    volume_pct`` every ``step_gy`` from 0 to just above each structure's Max."""
    import numpy as np

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow((["plan"] if plan is not None else []) + ["structure", "quantity", "dose_gy", "volume_cc",
                                                         "volume_pct"])
    for name, dvh in dvhs:
        hi = dvh.max_gy if math.isfinite(dvh.max_gy) else 0.0
        n = int(math.floor(max(hi, 0.0) / step_gy + 1e-9)) + 2
        dose, vol = dvh.cumulative(step_gy * np.arange(n, dtype=np.float64))
        pct = vol / dvh.covered_cc * 100.0 if dvh.covered_cc > 0 else np.full_like(vol, np.nan)
        lead = [plan] if plan is not None else []
        for d, v, p in zip(dose.tolist(), vol.tolist(), pct.tolist()):
            w.writerow(lead + [name, dvh.quantity, repr(round(d, 10)), repr(v), "" if p != p else repr(p)])
    return buf.getvalue()


def _check_curve_step(step: float) -> float:
    from ..errors import ParameterError

    if not (math.isfinite(step) and step > 0):
        raise ParameterError(f"--curve-step must be > 0 Gy, got {step!r}")
    return step


def compare_report(comparison, settings: dict) -> dict:
    """JSON-ready report of a :class:`dosecalc.comparison.Comparison` (B - A)."""
    out = comparison.as_dict()
    out["settings"] = settings
    return out


def format_plans_table(rep: dict) -> str:
    """Aligned text: one row per structure x metric with A, B, B - A and %."""
    headers = ["Structure", "Metric", "A", "B", "B - A", "(B-A)/A %"]
    rows = [[r["structure"], r["label"], _fmt(r["a"]), _fmt(r["b"]), _fmt(r["difference"]),
             _fmt(r["relative_pct"])] for r in rep["rows"]]
    widths = [max(len(x[i]) for x in rows + [headers]) for i in range(len(headers))]
    lines = [f"A = {rep['a']}", f"B = {rep['b']}", ""]
    for r in [headers, ["-" * w for w in widths]] + rows:
        lines.append("  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(r)))
    return "\n".join(lines) + "\n"


def format_plans_csv(rep: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = ["structure", "metric", "label", "unit", "a", "b", "difference", "relative_pct"]
    w.writerow(cols)
    for r in rep["rows"]:
        w.writerow(["" if r[c] is None else (repr(r[c]) if isinstance(r[c], float) else r[c]) for c in cols])
    return buf.getvalue()


def _run_compare(args, specs, mask_options) -> int:
    from ..comparison import compare
    from ..errors import ParameterError
    from ..io.atomic import write_text
    from ..io.load import load

    if len(args.paths) != 2:
        raise ParameterError(f"--compare needs exactly two plans A B (one path each), got {len(args.paths)} "
                             "paths")
    if args.eqd2 is not None or args.bed is not None:
        raise ParameterError("--compare works on physical dose; --eqd2/--bed are not supported with it")
    cases = [load(p, plan=args.plan, prescription_gy=args.prescription, dose_is=args.dose_is)
             for p in args.paths]
    if args.roi:
        names = list(args.roi)
    else:
        b_names = {s.name for s in cases[1].structures if s.has_volume}
        names = [s.name for s in cases[0].structures if s.has_volume and s.name in b_names]
        if not names:
            raise ParameterError(f"--compare: plans {args.paths[0]} and {args.paths[1]} share no structure "
                                 "name; give --roi")
    dvhs = [dict(structure_dvhs(c, names, prescription_gy=args.prescription, **mask_options)) for c in cases]
    comparison = compare(dvhs[0], dvhs[1], specs, labels=(str(args.paths[0]), str(args.paths[1])))
    settings = {"a": _settings(cases[0], cases[0].dose, specs, mask_options, cases[0].prescription_gy),
                "b": _settings(cases[1], cases[1].dose, specs, mask_options, cases[1].prescription_gy)}
    rep = compare_report(comparison, settings)
    if args.format == "json":
        text = json.dumps(rep, indent=2, allow_nan=False) + "\n"
    elif args.format == "csv":
        text = format_plans_csv(rep)
    else:
        text = format_plans_table(rep)
    inputs = [f.path for c in cases for f in c.files]
    if args.curves:
        step = _check_curve_step(args.curve_step)
        body = curves_csv(list(dvhs[0].items()), step, plan="A")
        body += curves_csv(list(dvhs[1].items()), step, plan="B").split("\n", 1)[1]
        write_text(args.curves, body, inputs=inputs)
    if args.out:
        write_text(args.out, text, inputs=inputs)
    else:
        sys.stdout.write(text)
    return 0


def run(args) -> int:
    from ..io.atomic import input_files, write_text
    from ..case import load
    from ..metrics import parse_metric

    specs = list(args.metric) or list(DEFAULT_METRICS)
    for s in specs:
        parse_metric(s)  # a malformed spec fails before any file is read
    mask_options = {"supersample": _supersample(args.supersample), "end_cap": args.end_cap}
    if args.no_gap_split:
        mask_options["split_gaps"] = False
    if getattr(args, "compare", False):
        return _run_compare(args, specs, mask_options)
    case = load(*args.paths, plan=args.plan, prescription_gy=args.prescription, dose_is=args.dose_is)
    if args.eqd2 is not None and args.bed is not None:
        raise ParameterError("give either --eqd2 or --bed, not both")
    if args.fractions is not None and args.eqd2 is None and args.bed is None:
        raise ParameterError("--fractions applies to --eqd2/--bed only")
    dose = case.dose
    if args.eqd2 is not None:
        dose = case.eqd2(args.eqd2, fractions=args.fractions)
    elif args.bed is not None:
        dose = case.bed(args.bed, fractions=args.fractions)
    rx = args.prescription if args.prescription is not None else case.prescription_gy
    dvhs = structure_dvhs(case, args.roi or None, dose=dose, prescription_gy=args.prescription,
                          options=MaskOptions.from_kwargs(**mask_options))
    rep = report(dvhs, specs, _settings(case, dose, specs, mask_options, rx))
    if args.compare_stored:
        if dose is not case.dose:
            raise ParameterError("--compare-stored compares physical dose: drop --eqd2/--bed")
        add_stored(rep, case, dict(dvhs), specs, args.prescription)
    text = render(rep, args.format)
    if getattr(args, "curves", None):
        write_text(args.curves, curves_csv(dvhs, _check_curve_step(args.curve_step)),
                   inputs=[f.path for f in case.files])
    if args.out:
        write_text(args.out, text, inputs=[*input_files(args.paths), *(f.path for f in case.files)])
    else:
        sys.stdout.write(text)
    return 0


def demo(case, out, stream) -> None:
    """The DVH table of the synthetic case's main structures and its targets' indices."""
    from ..indices import case_indices, homogeneity_index

    names = []
    for n in DEMO_STRUCTURES:
        try:
            case.structure(n)
        except StructureNotFoundError:
            continue
        names.append(n)
    specs = list(DEFAULT_METRICS) + ["CV15Gy[cc]"]
    dvhs = structure_dvhs(case, names)
    rep = report(dvhs, specs, _settings(case, case.dose, specs, {}, case.prescription_gy))
    stream.write(f"DVH metrics (dose {case.prescription_gy} Gy Rx; volumes cc, doses Gy)\n")
    stream.write(format_table(rep))
    rx = case.prescription_gy
    targets = [n for n in DEMO_TARGETS if n in names]
    if rx and targets:
        # One plan treats every target to Rx: the isodose volume belongs to all of them,
        # so the conformity index is that of their union.
        union = " | ".join(targets)
        r = case_indices(case, union)
        stream.write(f"{union} at {rx:g} Gy: Paddick CI {r['CI_Paddick']:.3f} (TV {r['TV_cc']:.1f} cc, "
                     f"PIV {r['PIV_cc']:.1f} cc), gradient index {r['GI']:.2f}; HI (ICRU 83): "
                     + ", ".join(f"{n} {homogeneity_index(d):.3f}" for n, d in dvhs if n in targets) + "\n")
    if out is not None:
        from pathlib import Path

        write_text(Path(out) / "dvh.json", render(rep, "json"), inputs=[f.path for f in case.files])
