"""Short text and HTML displays for notebooks: ``repr`` and ``_repr_html_`` of the case,
its dose grid and structure set, DVHs, protocol reports and batch runs.

Every display is a few lines whatever the data: it reads only scalar fields and at most
:data:`MAX_NAMES` names (never a voxel, contour or point array), so it takes constant
time and a 40-ROI case displays in well under 1 kB.
"""

from __future__ import annotations

import html
from typing import Any, Iterable

#: Structure names listed in a text display before "... (+n more)".
MAX_NAMES = 8
#: Rows of an HTML table before "... n more".
MAX_ROWS = 60


#: Characters of one name (or expression) shown before "~".
MAX_NAME = 24


def _short(text: str, limit: int = MAX_NAME) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "~"


def _names(names: list[str], limit: int = MAX_NAMES) -> str:
    shown = [_short(n) for n in names[:limit]]
    more = f", ... (+{len(names) - limit})" if len(names) > limit else ""
    return ", ".join(shown) + more


def _fmt3(t: Iterable[float]) -> str:
    return " x ".join(f"{v:g}" for v in t)


def grid_summary(g: Any) -> str:
    """``61 x 52 x 41 voxels of 2.5 x 2.5 x 2.5 mm, PHYSICAL PLAN`` (x, y, z order)."""
    nz, ny, nx = g.values_gy.shape
    q = "" if g.quantity == "dose" else f", {g.quantity}"
    return f"{nx} x {ny} x {nz} voxels of {_fmt3(g.spacing_mm)} mm, {g.dose_type} {g.summation_type}{q}"


def grid_repr(g: Any) -> str:
    """Text display of a :class:`DoseGrid`."""
    o = ", ".join(f"{v:.1f}" for v in g.origin_mm)
    src = f", from {g.source_path.rsplit('/', 1)[-1]}" if g.source_path else ""
    return f"<DoseGrid {grid_summary(g)}; origin ({o}) mm{src}>"


def _table(rows: list[tuple[str, str]], caption: str) -> str:
    body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                   f"{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table><caption style='text-align:left'><b>{html.escape(caption)}</b></caption>{body}</table>"


def grid_html(g: Any) -> str:
    rows = [("Voxels (x, y, z)", " x ".join(str(n) for n in reversed(g.values_gy.shape))),
            ("Spacing", f"{_fmt3(g.spacing_mm)} mm"),
            ("Origin (voxel centre)", f"({', '.join(f'{v:.2f}' for v in g.origin_mm)}) mm"),
            ("DoseType / summation", f"{g.dose_type} / {g.summation_type}"),
            ("Quantity", g.quantity), ("File", g.source_path or "made in memory")]
    if g.description:
        rows.append(("Description", g.description if len(g.description) < 300 else g.description[:297] + "..."))
    return _table(rows, "DoseGrid")


def structures_repr(s: Any) -> str:
    """Text display of a :class:`StructureSet`."""
    label = f" {s.label!r}" if s.label else ""
    return f"<StructureSet{label}: {len(s)} ROIs: {_names(s.names)}>"


def structures_html(s: Any) -> str:
    rows = []
    for st in list(s)[:MAX_ROWS]:
        n_planes = len(getattr(st, "planes", ()) or ())
        rows.append(f"<tr><td>{st.number}</td><td>{html.escape(st.name)}</td>"
                    f"<td>{html.escape(str(getattr(st, 'roi_type', '') or ''))}</td>"
                    f"<td>{'yes' if st.has_volume else 'no'}</td><td>{n_planes}</td></tr>")
    more = f"<p>... {len(s) - MAX_ROWS} more ROIs</p>" if len(s) > MAX_ROWS else ""
    label = f" {html.escape(s.label)}" if s.label else ""
    return (f"<table><caption style='text-align:left'><b>StructureSet{label}</b> ({len(s)} ROIs)</caption>"
            "<thead><tr><th>ROI</th><th>Name</th><th>Type</th><th>Volume</th><th>Planes</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>{more}")


def _plan_text(case: Any) -> str:
    p = case.plan
    if p is None:
        return "no RTPLAN"
    rx = "?" if p.prescription_gy is None else f"{p.prescription_gy:g}"
    fx = "?" if p.fractions is None else str(p.fractions)
    return f"plan {p.label!r} {rx} Gy / {fx} fx"


def case_repr(case: Any) -> str:
    """Text display of a :class:`Case` (a few lines, constant time)."""
    pid = f"patient {case.patient_id!r}" if case.patient_id else "no patient ID"
    dose = "no dose" if case.dose is None else f"dose {grid_summary(case.dose)}"
    rois = f"{len(case.structures)} ROIs: {_names(case.structures.names)}"
    notes = f"\n  {len(case.notes)} loader note(s): see case.notes" if case.notes else ""
    return f"<Case {pid}; {_plan_text(case)}\n  {dose}\n  {rois}{notes}>"


def case_html(case: Any) -> str:
    rows = [("Patient ID", case.patient_id or "(none)"), ("Plan", _plan_text(case)),
            ("Dose grid", "none" if case.dose is None else grid_summary(case.dose)),
            ("Structures", f"{len(case.structures)}: {_names(case.structures.names, 30)}"),
            ("Files", str(len(case.files)))]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in case.notes[:10])
    more = f"<li>... {len(case.notes) - 10} more</li>" if len(case.notes) > 10 else ""
    return _table(rows, "Case") + (f"<ul>{notes}{more}</ul>" if notes else "")


def _dvh_unit(d: Any) -> str:
    return "Gy" if d.quantity == "dose" else d.quantity


def dvh_repr(d: Any) -> str:
    """Text display of a :class:`DVH` (one line; a long expression is cut)."""
    out = f", {d.outside_cc:.3g} cc outside the dose grid" if d.coverage_warning else ""
    return (f"<DVH {_short(d.name, 60)!r}: {d.volume_cc:.4g} cc{out}; Min {d.min_gy:.4g}, Mean "
            f"{d.mean_gy:.4g}, Max {d.max_gy:.4g} {_short(_dvh_unit(d), 40)}; "
            f"{_short(str(d.settings.get('mode', '')), 20)}>")


def dvh_html(d: Any) -> str:
    """HTML display of a :class:`DVH`: its volumes and extremes (the curve is
    ``dvh.to_dataframe()``)."""
    u = _dvh_unit(d)
    rows = [("Structure", _short(d.name, 200)), ("Volume", f"{d.volume_cc:.4g} cc"),
            ("Outside dose grid", f"{d.outside_cc:.4g} cc"),
            ("Min / Mean / Max", f"{d.min_gy:.4g} / {d.mean_gy:.4g} / {d.max_gy:.4g} {u}"),
            ("Prescription", "none" if d.prescription_gy is None else f"{d.prescription_gy:g} Gy"),
            ("Mode", str(d.settings.get("mode", "")))]
    warn = d.coverage_warning
    note = f"<p style='color:#8a6200'>{html.escape(_short(warn, 500))}</p>" if warn else ""
    return _table(rows, "DVH") + note


def report_repr(r: Any) -> str:
    """Text display of a protocol :class:`Report`."""
    counts = r.counts()
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    ident = getattr(r, "identity", None) or {}
    who = ""
    if ident.get("patient_id") or ident.get("plan_label"):
        who = f"; patient {ident.get('patient_id')!r}, plan {ident.get('plan_label')!r}"
    return (f"<Report {r.protocol.id} {r.protocol.version}: {str(r.verdict).upper()} ({summary}); "
            f"{len(r.results)} rows{who}>")


def report_html(r: Any) -> str:
    e = html.escape
    colour = {"pass": "#1a7f37", "acceptable": "#b58100", "fail": "#c62828"}
    rows = []
    for c in r.results[:MAX_ROWS]:
        value = "n/a" if c.value is None else f"{c.value:.4g}"
        rows.append(f"<tr><td style='color:{colour.get(c.verdict, '#6a4c93')}'><b>{e(c.verdict)}</b></td>"
                    f"<td>{e(c.structure)}</td><td>{e(c.metric)}</td><td>{e(value)} {e(c.unit)}</td>"
                    f"<td>{e(c.comparator)} {c.limit:g}</td></tr>")
    more = f"<p>... {len(r.results) - MAX_ROWS} more rows</p>" if len(r.results) > MAX_ROWS else ""
    return (f"<p><b>{e(r.protocol.title)}</b> ({e(r.protocol.id)} {e(r.protocol.version)}): "
            f"<b style='color:{colour.get(r.verdict, '#6a4c93')}'>{e(str(r.verdict).upper())}</b></p>"
            "<table><thead><tr><th>Verdict</th><th>Structure</th><th>Metric</th><th>Value</th>"
            f"<th>Limit</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{more}")


def _batch_counts(run: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for res in run.results:
        key = res.verdict if res.status != "error" and res.verdict else res.status
        out[key] = out.get(key, 0) + 1
    return out


def batch_repr(run: Any) -> str:
    """Text display of a :class:`BatchRun` (counts only; results so far)."""
    counts = ", ".join(f"{n} {k}" for k, n in sorted(_batch_counts(run).items()))
    return f"<BatchRun {len(run.jobs)} plans, {len(run.results)} finished ({counts or 'none yet'})>"


def batch_html(run: Any) -> str:
    rows = [("Plans", str(len(run.jobs))), ("Finished", str(len(run.results)))]
    rows += [(k, str(n)) for k, n in sorted(_batch_counts(run).items())]
    return _table(rows, "BatchRun")
