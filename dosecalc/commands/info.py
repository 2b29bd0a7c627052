"""``dosecalc info``: what an export holds: files, dose grid, structures, plan, notes.

Structure volumes are those of the DVH engine (:func:`dosecalc.masks.structure_volume_cc`):
each plane's even-odd area times its slab, half-way to the neighbouring planes and half
a plane spacing beyond the first and last plane.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # dosecalc --help imports every command module: nothing heavy at the top
    from ..model import CaseData as Case

NAME = "info"
HELP = "summarise a DICOM RT export: files, dose grid, structures, plan"
DESCRIPTION = ("Summarise a DICOM RT export: files per modality, dose grid size / spacing / extent "
               "(mm), dose range (Gy), DoseType and summation, structures with plane counts and "
               "volumes (cc), fractions, prescription (Gy) and loader notes.")
ORDER = 10


def register(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="export folder(s) or DICOM files")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    parser.add_argument("--plan", default=None,
                        help="plan SOP instance UID, plan label or RTDOSE/RTSTRUCT path when several plans")
    parser.add_argument("--prescription", type=float, default=None, metavar="GY",
                        help="reference dose in Gy of a DoseUnits RELATIVE grid (without it such a grid "
                             "is shown as fractions of its implicit reference)")
    add_dose_is(parser)


def add_dose_is(parser) -> None:
    """``--dose-is total|per-fraction``, shared by every command that loads a dose."""
    parser.add_argument("--dose-is", default=None, metavar="total|per-fraction", dest="dose_is",
                        help="read the RTDOSE as the course total or as dose per fraction, whatever "
                             "its DoseSummationType and the RTPLAN's beam doses say (default: the "
                             "label, cross-checked against the RTPLAN)")


def run(args) -> int:
    from ..io.load import load

    case = load(*args.paths, plan=args.plan, dose_is=args.dose_is, prescription_gy=args.prescription,
                keep_relative=True)
    summary = case_summary(case)
    if args.format == "json":
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        sys.stdout.write(format_table(summary))
    return 0


def demo(case: Case, out, stream) -> None:
    """Short summary of the demo case."""
    s = case_summary(case)
    d = s["dose"]
    if d:
        stream.write(f"dose grid {d['shape_xyz']} voxels, spacing {_fmt3(d['spacing_mm'])} mm, "
                     f"{d['min_gy']:.2f}-{d['max_gy']:.2f} Gy, {d['dose_type']}/{d['summation_type']}\n")
    p = s["plan"]
    if p:
        stream.write(f"plan '{p['label']}': {p['prescription_gy']} Gy in {p['fractions']} fractions\n")
    stream.write(f"{len(s['structures'])} structures: "
                 + ", ".join(f"{x['name']} {x['volume_cc']:.1f} cc" for x in s["structures"] if x["planes"])
                 + "\n")


# --- volumes ---------------------------------------------------------------------------
# --- summary ---------------------------------------------------------------------------
def case_summary(case: Case) -> dict:
    """Everything ``dosecalc info`` prints, as plain data (mm, Gy, cc)."""
    modalities: dict[str, int] = {}
    for f in case.files:
        modalities[f.modality] = modalities.get(f.modality, 0) + 1
    dose = None
    g = case.dose
    if g is not None:
        nz, ny, nx = g.shape
        dose = {
            "file": g.source_path,
            "shape_xyz": [nx, ny, nz],
            "spacing_mm": list(g.spacing_mm),
            "origin_mm": list(g.origin_mm),
            "extent_mm": [list(b) for b in g.bounds_mm],
            "min_gy": float(g.values_gy.min()) if g.values_gy.size else 0.0,
            "max_gy": g.max_gy,
            "dose_type": g.dose_type,
            "summation_type": g.summation_type,
            "quantity": g.quantity,
            "source_orientation": list(g.source_orientation),
            "description": g.description,
            "reading": _reading(g.reading),
        }
    from ..masks import structure_volume_cc

    # A single-plane structure's slab is the dose grid's dz, as in its DVH; without a dose
    # grid, the CT slice spacing.
    thickness = 0.0
    if g is not None:
        thickness = g.spacing_mm[2]
    elif case.ct is not None and case.ct.n_slices > 1:
        import numpy as np  # dosecalc --help imports this module (cold start, measured)

        thickness = float(np.median(np.diff(case.ct.z_positions_mm)))
    structures = []
    for s in case.structures:
        structures.append({
            "number": s.number, "name": s.name, "type": s.roi_type,
            "planes": len(s.planes),
            "volume_cc": structure_volume_cc(s, "half", thickness),
            "points": int(len(s.points_mm)), "open_contours": len(s.open_contours),
        })
    plan = None
    if case.plan is not None:
        p = case.plan
        plan = {"label": p.label, "name": p.name, "fractions": p.fractions,
                "prescription_gy": p.prescription_gy, "sop_instance_uid": p.sop_instance_uid}
    ct = None
    if case.ct is not None:
        c = case.ct
        ct = {"series_instance_uid": c.series_instance_uid, "slices": c.n_slices,
              "z_range_mm": [min(c.z_positions_mm), max(c.z_positions_mm)] if c.z_positions_mm else None,
              "rows": c.rows, "columns": c.columns, "pixel_spacing_mm": list(c.pixel_spacing_mm)}
    return {
        "files": modalities,
        "frame_of_reference_uid": case.frame_of_reference_uid,
        "dose": dose,
        "plan": plan,
        "ct": ct,
        "structure_set": case.structures.label,
        "structures": structures,
        "notes": list(case.notes),
        "volume_rule": "right prism, even-odd polygons, half-spacing end caps",
    }


def _reading(r) -> dict | None:
    """The grid's reading (course total / per fraction) as plain data, or None."""
    if r is None:
        return None
    return {"reading": None if r.reading is None else r.reading.value, "source": r.source, "status": r.status, "label": r.label,
            "fractions": r.fractions, "evidence": list(r.evidence), "refusal": r.refusal or None,
            "warnings": list(r.warnings), "text": r.text}


def _fmt3(v) -> str:
    return " x ".join(f"{x:g}" for x in v)


def format_table(s: dict) -> str:
    """The summary as aligned text."""
    from ..textsafe import printable_tree

    s = printable_tree(s)
    lines = ["Files: " + ", ".join(f"{k} {v}" for k, v in sorted(s["files"].items()))]
    lines.append(f"Frame of reference: {s['frame_of_reference_uid']}")
    d = s["dose"]
    if d:
        lines.append(f"Dose: {d['file']}")
        lines.append(f"  grid {_fmt3(d['shape_xyz'])} voxels (x, y, z), spacing {_fmt3(d['spacing_mm'])} mm")
        lines.append("  extent " + ", ".join(f"{a} {lo:.1f}..{hi:.1f}" for a, (lo, hi) in zip("xyz", d["extent_mm"]))
                     + " mm")
        unit = "Gy" if d["quantity"] == "dose" else (
            "(relative: 1 = the implicit reference dose; give --prescription GY)"
            if d["quantity"] == "RELATIVE" else d["quantity"])
        lines.append(f"  dose {d['min_gy']:.3f}..{d['max_gy']:.3f} {unit}, DoseType {d['dose_type']}, "
                     f"summation {d['summation_type']}" + (f" ({d['description']})" if d["description"] else ""))
        if d.get("reading"):
            lines.append(f"  {d['reading']['text']}")
    else:
        lines.append("Dose: none")
    p = s["plan"]
    if p:
        rx = "?" if p["prescription_gy"] is None else f"{p['prescription_gy']:g} Gy"
        fx = "?" if p["fractions"] is None else str(p["fractions"])
        lines.append(f"Plan: '{p['label']}' prescription {rx} in {fx} fractions")
    if s["ct"]:
        c = s["ct"]
        lines.append(f"CT: {c['slices']} slices {c['rows']} x {c['columns']}, pixel {_fmt3(c['pixel_spacing_mm'])} mm")
    lines.append(f"Structures ({len(s['structures'])}), volume = {s['volume_rule']}:")
    width = max([len(x["name"]) for x in s["structures"]] + [4])
    lines.append(f"  {'#':>4}  {'Name':<{width}}  {'Type':<12} {'Planes':>6} {'Volume[cc]':>11}")
    for x in s["structures"]:
        vol = f"{x['volume_cc']:.3f}" if x["planes"] else "-"
        extra = ""
        if x["points"]:
            extra += f"  {x['points']} point(s)"
        if x["open_contours"]:
            extra += f"  {x['open_contours']} open contour(s)"
        lines.append(f"  {x['number']:>4}  {x['name']:<{width}}  {x['type']:<12} {x['planes']:>6} {vol:>11}{extra}")
    if s["notes"]:
        lines.append("Notes:")
        lines.extend(f"  - {n}" for n in s["notes"])
    return "\n".join(lines) + "\n"
