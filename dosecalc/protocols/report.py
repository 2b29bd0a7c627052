"""Reports of a protocol check: terminal table, JSON, CSV and a self-contained HTML page.

The HTML page holds the constraint table (verdict, value, limits, source and confidence
of every number), the structure matching, the notes and cumulative DVH plots of the
structures involved, with each constraint drawn as a marker on its structure's plot.
Plots are inline SVG: drawn here without any dependency, or by matplotlib (the optional
``plot`` extra) when it is installed and asked for.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import sys
from typing import TYPE_CHECKING

from ..textsafe import csv_cell, escape_control
from ..verdict import Verdict
from .identity import CSV_IDENTITY_FIELDS, csv_identity, identity_lines

if TYPE_CHECKING:  # results.Report calls this module (Report.to_html ...): no import back
    from .results import Report

PASS, ACCEPTABLE, FAIL, NOT_EVALUABLE = Verdict.PASS, Verdict.ACCEPTABLE, Verdict.FAIL, Verdict.NOT_EVALUABLE
CONF_TAG = {"primary": "P", "secondary": "S", "unconfirmed": "R"}
_ANSI = {PASS: "32", ACCEPTABLE: "33", FAIL: "31;1", NOT_EVALUABLE: "35", "incomplete": "35"}
_HTML_COLOUR = {PASS: "#1a7f37", ACCEPTABLE: "#b58100", FAIL: "#c62828", NOT_EVALUABLE: "#6a4c93",
                "incomplete": "#6a4c93"}
# Structure colours: neutral (no red, amber or green, which mean fail / acceptable / pass)
_PALETTE = ("#1f77b4", "#9467bd", "#17becf", "#8c564b", "#7f7f7f", "#e377c2", "#393b79", "#6b6ecf",
            "#5f9ea0", "#a0522d")
CSV_FIELDS = ("id", "structure", "roi", "metric", "value", "unit", "comparator", "limit", "level2",
              "level2_kind", "verdict", "reason", "source", "confidence", "level2_source",
              "level2_confidence", "note", "kind", "conversion", "required")


def fmt_number(value, unit: str = "") -> str:
    """A value for display: 2 decimals for doses, 1 for volumes and percentages."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if unit in ("cc", "%"):
        return f"{value:.1f}"
    if unit in ("points", "fx", "x ULN"):
        return f"{value:g}"
    return f"{value:.2f}"


def _limit_text(r) -> str:
    if r.comparator == "in":
        return "-"
    return f"{r.comparator} {r.limit:g}"


def _level2_text(r) -> str:
    if r.level2 is None:
        return ""
    return f"{r.level2_kind} {r.comparator} {r.level2:g}"


def _level2_origin(r) -> str:
    """Where the second level comes from, said whenever it is not the limit's source."""
    if r.level2 is None or not r.level2_source or r.level2_source == r.source:
        return ""
    return f"level 2 ({r.level2_kind}) from another source: {r.level2_source} ({r.level2_confidence})"


def _sources(report: Report) -> list[str]:
    out = []
    for r in report.results:
        for s in (r.source, r.level2_source):
            if s and s not in out:
                out.append(s)
    return out


def _source_ref(r, sources) -> str:
    ref = f"[{sources.index(r.source) + 1}]{CONF_TAG.get(r.confidence, '?')}"
    if r.level2_source:
        ref += f" [{sources.index(r.level2_source) + 1}]{CONF_TAG.get(r.level2_confidence, '?')}"
    return ref


def uses_liver_function(report: Report) -> bool:
    """Whether the Child-Pugh / ALBI header line applies: the protocol admits by Child-Pugh
    score, has Child-Pugh-specific constraints, or liver function was given."""
    p = report.protocol
    if report.child_pugh is not None or report.albi is not None or p.eligible_child_pugh_max_score is not None:
        return True
    return any(set(c.child_pugh) != {"A", "B"} for c in p.constraints)


def header_lines(report: Report) -> list[str]:
    p = report.protocol
    cp = ("unknown: Child-Pugh A values shown, check incomplete" if report.child_pugh is None
          else f"{report.child_pugh.label} ({report.child_pugh.source}); constraint set Child-Pugh {report.constraint_set}")
    rx = ("unknown" if report.prescription_gy is None
          else f"{report.prescription_gy:g} Gy ({report.prescription_source})")
    lines = [
        f"Protocol   {p.title}",
        f"           {p.id} v{p.version}" + (f" (extends {', '.join(p.extends)})" if p.extends else "")
        + f"; {p.trial}",
    ]
    lines += identity_lines(getattr(report, "identity", None) or {})
    if report.case_label:
        lines.append(f"Files      {report.case_label}")
    if report.site:
        site = next((x for x in p.sites if x.id == report.site), None)
        lines.append(f"Site       {report.site}" + (f" ({site.label}): {len(site.structures)} structures checked"
                                                     if site else ""))
    lines += [
        f"Fractions  {report.fractions if report.fractions is not None else 'unknown'} ({report.fractions_source})"
        + ("; --convert: organs without a sourced table at this fractionation are converted (labelled)"
           if report.converted else ""),
        f"Rx         {rx}",
    ]
    if uses_liver_function(report):
        lines.append(f"Liver      Child-Pugh {cp}"
                     + (f"; ALBI {report.albi[0]:.2f} grade {report.albi[1]}" if report.albi else ""))
    if report.dose_description:
        lines.append(f"Dose       {report.dose_description}")
    return lines


def to_table(report: Report, colour: bool | None = None, stream=None) -> str:
    """An aligned text table (ANSI colours when ``colour`` is true; default: when
    ``stream`` (default stdout) is a terminal and ``NO_COLOR`` is unset)."""
    if colour is None:
        s = stream if stream is not None else sys.stdout
        colour = bool(getattr(s, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ
    sources = _sources(report)

    def paint(text, verdict):
        return f"\x1b[{_ANSI[verdict]}m{text}\x1b[0m" if colour and verdict in _ANSI else text

    head = ("Verdict", "Structure", "Evaluated", "Metric", "Value", "Limit", "Level 2", "Source")
    rows = []
    for r in report.results:
        evaluated = r.roi if len(r.roi) <= 28 else r.roi[:27] + "~"
        # names come from the export: control characters are shown, never sent to the terminal
        rows.append(tuple(escape_control(c) for c in (
            r.verdict.upper(), r.structure, evaluated, r.metric, fmt_number(r.value, r.unit),
            _limit_text(r), _level2_text(r), _source_ref(r, sources))))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    right = {4}

    def line(cells, verdict=None):
        parts = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            t = c.rjust(w) if i in right else c.ljust(w)
            parts.append(paint(t, verdict) if i == 0 and verdict else t)
        return "  ".join(parts).rstrip()

    out = [escape_control(h) for h in header_lines(report)]
    out.append("")
    out.append(line(head))
    out.append("  ".join("-" * w for w in widths))
    for r, row in zip(report.results, rows):
        out.append(line(row, r.verdict))
        pad = " " * (widths[0] + 2)
        if r.reason:
            out.append(pad + f"reason: {escape_control(r.reason)}" + ("" if r.required else " (not required: shown only)"))
        if r.conversion:
            out.append(pad + escape_control(r.conversion))
        if _level2_origin(r):
            out.append(pad + escape_control(_level2_origin(r)))
    out.append("")
    counts = report.counts()
    summary = ", ".join(f"{counts[v]} {v}" for v in (PASS, ACCEPTABLE, FAIL, NOT_EVALUABLE))
    out.append(f"Verdict    {paint(report.verdict.upper(), report.verdict)}  ({summary}; exit code {report.exit_code})")
    out.append("")
    out.append("Structures")
    for name, m in report.matches.items():
        out.append(escape_control(f"  {name:<22} {m.describe()}"))
    if report.notes:
        out.append("")
        out.append("Notes")
        out += [escape_control(f"  - {n}") for n in report.notes]
    out.append("")
    out.append("Sources (P primary, S secondary, R unconfirmed)")
    out += [f"  [{i + 1}] {s}" for i, s in enumerate(sources)]
    return "\n".join(out) + "\n"


def to_json(report: Report, indent: int | None = 2) -> str:
    """The report as JSON (see :meth:`Report.as_dict`)."""
    return json.dumps(report.as_dict(), indent=indent, allow_nan=False) + "\n"


def to_csv(report: Report) -> str:
    """One CSV row per constraint result (columns: :data:`CSV_FIELDS`)."""
    buf = io.StringIO()
    ident = csv_identity(getattr(report, "identity", None) or {})
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS + CSV_IDENTITY_FIELDS, lineterminator="\n",
                       extrasaction="ignore")
    w.writeheader()
    for r in report.results:
        d = r.as_dict()
        row = {k: csv_cell(d.get(k)) for k in CSV_FIELDS}
        # identity comes from the export (patient name, plan label): same neutralising
        row.update({k: csv_cell(v or None) for k, v in ident.items()})
        w.writerow(row)
    return buf.getvalue()


# --- plots ------------------------------------------------------------------------------
def _group_of(structure: str) -> str:
    s = structure.casefold()
    if s.startswith(("ptv", "ctv", "gtv", "itv")):
        return "Targets"
    if "liver" in s:
        return "Liver"
    if s.startswith(("stomach", "duodenum", "bowel", "esophagus")):
        return "Gastrointestinal organs"
    return "Other organs at risk"


_GROUP_ORDER = ("Targets", "Liver", "Gastrointestinal organs", "Other organs at risk")


def _plot_groups(report: Report):
    """[(title, [(curve, colour)], [markers], [rows])].

    markers: (dose_gy, volume_pct, verdict, text, colour, number); rows: (number,
    ConstraintResult, placed) for every dose constraint of the group's structures, the
    numbers shared by the marker labels and the marker table under the plot."""
    structure_of: dict[str, str] = {}
    for r in report.results:
        if r.kind == "dose" and r.roi:
            structure_of.setdefault(r.roi, r.structure)
    groups: dict[str, list] = {g: [] for g in _GROUP_ORDER}
    for c in report.curves:
        groups[_group_of(structure_of.get(c.label, c.label))].append(c)
    out = []
    number = 0
    for g in _GROUP_ORDER:
        curves = groups[g]
        if not curves:
            continue
        colours = {c.label: _PALETTE[i % len(_PALETTE)] for i, c in enumerate(curves)}
        markers, rows = [], []
        for r in report.results:
            if r.roi not in colours or r.kind != "dose":
                continue
            number += 1
            curve = next(c for c in curves if c.label == r.roi)
            m = _marker(r, curve, report.prescription_gy)
            rows.append((number, r, m is not None))
            if m is not None:
                markers.append((*m, r.verdict, f"{number}. {r.structure} {r.metric} {_limit_text(r)}: "
                                f"{fmt_number(r.value, r.unit)} ({r.verdict})", colours[r.roi], number))
        out.append((g, [(c, colours[c.label]) for c in curves], markers, rows))
    return out


def _marker(r, curve, rx):
    """(dose Gy, volume %) where the limit sits on the cumulative DVH, or None."""
    from ..metrics import parse_metric

    if "EQD2" in r.metric or "BED" in r.metric:
        return None
    s = parse_metric(r.metric)
    vol = curve.volume_cc
    if vol <= 0:
        return None
    lim = r.limit
    if s.kind == "D" and s.output_unit in ("Gy", "%"):
        dose = lim if s.output_unit == "Gy" else (None if rx is None else lim / 100 * rx)
        v = s.value if s.value_unit == "%" else 100.0 * s.value / vol
        return None if dose is None else (dose, min(v, 100.0))
    if s.kind in ("V", "CV"):
        dose = s.value if s.value_unit == "Gy" else (None if rx is None else s.value / 100 * rx)
        if dose is None:
            return None
        v = lim if s.output_unit == "%" else 100.0 * lim / vol
        if s.kind == "CV":
            v = 100.0 - v
        return (dose, max(0.0, min(v, 100.0)))
    if s.kind == "Max":
        dose = lim if s.output_unit == "Gy" else (None if rx is None else lim / 100 * rx)
        return None if dose is None else (dose, 0.0)
    return None


def svg_dvh(title: str, curves, markers, width: int = 560, height: int = 330) -> str:
    """A cumulative DVH plot as inline SVG (no dependency).

    Parameters
    ----------
    curves : list of (Curve, colour)
    markers : list of (dose_gy, volume_pct, verdict, text, colour)
        Constraint limits: a marker the curve should pass on the allowed side.
    """
    left, right, top, bottom = 52, 150, 28, 40
    pw, ph = width - left - right, height - top - bottom
    dmax = max([float(c.dose_gy[-1]) for c, _ in curves] + [m[0] for m in markers] + [1.0])
    step = _nice_step(dmax / 6)
    dmax = math.ceil(dmax / step) * step

    def x(d):
        return left + pw * d / dmax

    def y(v):
        return top + ph * (1 - v / 100.0)

    e = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}" '
             'font-family="Helvetica, Arial, sans-serif" font-size="11">',
             f'<text x="{left}" y="16" font-size="13" font-weight="bold">{e(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#888"/>']
    d = 0.0
    while d <= dmax + 1e-9:
        parts.append(f'<line x1="{x(d):.1f}" y1="{top}" x2="{x(d):.1f}" y2="{top + ph}" stroke="#e6e6e6"/>')
        parts.append(f'<text x="{x(d):.1f}" y="{top + ph + 14}" text-anchor="middle">{d:g}</text>')
        d += step
    for v in range(0, 101, 20):
        parts.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + pw}" y2="{y(v):.1f}" stroke="#e6e6e6"/>')
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">Dose (Gy)</text>')
    parts.append(f'<text x="14" y="{top + ph / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + ph / 2})">Volume (%)</text>')
    for c, colour in curves:
        pts = " ".join(f"{x(float(a)):.1f},{y(float(b)):.1f}" for a, b in zip(c.dose_gy, c.volume_pct)
                       if math.isfinite(b))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.8">'
                     f'<title>{e(c.label)}</title></polyline>')
    for dose, vol, verdict, text, colour, *num in markers:
        fill = _HTML_COLOUR.get(verdict, "#444")
        cx, cy = x(dose), y(vol)
        label = ""
        if num:
            # the number of the marker table row, placed above-right (below when at the top)
            ly = cy - 6 if cy > top + 14 else cy + 14
            label = (f'<text x="{cx + 6:.1f}" y="{ly:.1f}" font-size="10" font-weight="bold" '
                     f'fill="#222">{num[0]}</text>')
        parts.append(f'<g><title>{e(text)}</title><rect x="{cx - 4:.1f}" y="{cy - 4:.1f}" width="8" height="8" '
                     f'fill="{fill}" stroke="{colour}" stroke-width="2" transform="rotate(45 {cx:.1f} {cy:.1f})"/>'
                     f'{label}</g>')
    ly = top + 4
    for c, colour in curves:
        label = c.label if len(c.label) <= 22 else c.label[:21] + "~"
        parts.append(f'<line x1="{left + pw + 10}" y1="{ly + 5}" x2="{left + pw + 28}" y2="{ly + 5}" '
                     f'stroke="{colour}" stroke-width="2.5"/>')
        parts.append(f'<text x="{left + pw + 32}" y="{ly + 9}">{e(label)}</text>')
        ly += 16
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def _matplotlib_svg(title, curves, markers) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.3), dpi=100)
    try:
        for c, colour in curves:
            ax.plot(c.dose_gy, c.volume_pct, color=colour, lw=1.6, label=c.label)
        for dose, vol, verdict, _text, colour, *num in markers:
            ax.plot([dose], [vol], marker="D", ms=6, color=_HTML_COLOUR.get(verdict, "#444"),
                    markeredgecolor=colour)
            if num:
                ax.annotate(str(num[0]), (dose, vol), xytext=(4, 4), textcoords="offset points",
                            fontsize=8, fontweight="bold")
        ax.set_xlabel("Dose (Gy)")
        ax.set_ylabel("Volume (%)")
        ax.set_ylim(0, 100)
        ax.set_xlim(left=0)
        ax.set_title(title, fontsize=11, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
    finally:
        plt.close(fig)
    text = buf.getvalue()
    return text[text.find("<svg"):]


def plots_svg(report: Report, plot: str = "builtin") -> list[str]:
    """One SVG per structure group; ``plot`` is ``"builtin"``, ``"matplotlib"`` or
    ``"auto"`` (matplotlib when installed)."""
    return [svg for svg, _ in _plots_with_tables(report, plot)]


def _marker_table(rows) -> str:
    """The constraints of one plot, numbered like its markers: a point-dose limit drawn at
    the bottom of a plot (D0.03cc, Max) is read here."""
    e = html.escape
    body = []
    for number, r, placed in rows:
        colour = _HTML_COLOUR.get(r.verdict, "#444")
        body.append(f"<tr><td class='num'>{number}</td><td>{e(r.structure)}</td><td>{e(r.metric)}</td>"
                    f"<td class='num'>{e(_limit_text(r))}</td><td class='num'>{e(fmt_number(r.value, r.unit))}"
                    f" {e(r.unit if r.value is not None else '')}</td>"
                    f"<td style='color:{colour};font-weight:bold'>{e(r.verdict)}</td>"
                    f"<td class='small'>{'' if placed else 'not drawn (no point on the plot)'}</td></tr>")
    return ("<table class='markers'><thead><tr><th>#</th><th>Structure</th><th>Metric</th><th>Limit</th>"
            f"<th>Value</th><th>Verdict</th><th></th></tr></thead><tbody>{''.join(body)}</tbody></table>")


def _plots_with_tables(report: Report, plot: str) -> list[tuple[str, str]]:
    out = []
    for title, curves, markers, rows in _plot_groups(report):
        svg = None
        if plot in ("matplotlib", "auto"):
            svg = _matplotlib_svg(title, curves, markers)
        out.append((svg if svg is not None else svg_dvh(title, curves, markers), _marker_table(rows)))
    return out


_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:22px 0 8px}
.meta{color:#555;font-size:13px;line-height:1.5}
.banner{display:inline-block;padding:8px 18px;border-radius:6px;color:#fff;font-size:20px;font-weight:bold;margin:12px 0}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.chip{display:inline-block;min-width:78px;text-align:center;padding:2px 6px;border-radius:4px;color:#fff;font-weight:bold;font-size:11px}
.conf{font-size:10px;padding:1px 4px;border-radius:3px;border:1px solid #999;color:#444;white-space:nowrap}
.conf.unconfirmed{border-color:#c62828;color:#c62828} .conf.secondary{border-color:#b58100;color:#8a6200}
.conf.primary{border-color:#1a7f37;color:#1a7f37}
.small{font-size:11px;color:#555} .plots{display:flex;flex-wrap:wrap;gap:12px}
tr.fail td{background:#fdecea} tr.acceptable td{background:#fff8e1} tr.notevaluable td{background:#f3eef8}
table.ident{width:auto;font-size:12px} table.ident th{background:none;width:150px;font-weight:normal;color:#555}
table.ident td{font-family:Menlo,Consolas,monospace;font-size:11px}
table.markers{font-size:11px;margin-top:4px} .plot{width:580px}
.signoff{margin-top:22px;border:1px solid #888;padding:10px 14px;page-break-inside:avoid}
.signoff table{font-size:12px;width:100%} .signoff td{border:none;padding:10px 6px 2px;white-space:nowrap}
.signoff .line{border-bottom:1px solid #444;min-width:160px;display:inline-block}
@page{size:A4;margin:11mm}
@media print{
 body{margin:0;max-width:none;font-size:10px} h1{font-size:15px} h2{font-size:12px;margin:10px 0 4px}
 table{font-size:8.5px;line-height:1.15} th,td{padding:1px 3px} .banner{font-size:14px;padding:4px 10px;margin:6px 0}
 .plots{gap:6px} .plot{width:48%} .plot svg{width:100%;height:auto;max-height:190px} table.markers{font-size:7.5px}
 .meta{font-size:9.5px;line-height:1.3} .small,ul.small{font-size:7.5px}
 table.constraints{font-size:7.5px} table.constraints td.src{width:30%} table.constraints td.small{font-size:7.5px;width:20%}
 table.constraints td:nth-child(7){width:12%;font-size:7.5px} table.ident{font-size:9px} table.ident td{font-size:8.5px}
 .conf{font-size:7px;padding:0 2px} .chip{min-width:0;font-size:8px;padding:1px 4px}
 tr,.plot,.signoff{page-break-inside:avoid} h2{page-break-after:avoid}
 .noprint{display:none}
}
"""


def to_html(report: Report, plot: str = "auto") -> str:
    """A self-contained HTML page (no external resource) with the constraint table, the
    structure matching, the notes and the DVH plots."""
    e = html.escape
    p = report.protocol
    counts = report.counts()
    verdict = report.verdict
    rows = []
    for r in report.results:
        colour = _HTML_COLOUR.get(r.verdict, "#444")
        level2 = ""
        if r.level2 is not None:
            level2 = (f"{e(_level2_text(r))}<br><span class='small'>{e(r.level2_source)}</span> "
                      f"<span class='conf {e(r.level2_confidence)}'>{e(r.level2_confidence)}</span>")
        detail = "; ".join(x for x in (r.reason, r.conversion, _level2_origin(r), r.note) if x)
        rows.append(
            f"<tr class='{e(r.verdict.replace(' ', ''))}'><td><span class='chip' style='background:{colour}'>"
            f"{e(r.verdict)}</span></td><td>{e(r.structure)}</td><td>{e(r.roi)}</td><td>{e(r.metric)}</td>"
            f"<td class='num'>{e(fmt_number(r.value, r.unit))} {e(r.unit if r.value is not None else '')}</td>"
            f"<td class='num'>{e(_limit_text(r))}</td><td>{level2}</td>"
            f"<td class='src'>{e(r.source)} <span class='conf {e(r.confidence)}'>{e(r.confidence)}</span></td>"
            f"<td class='small'>{e(detail)}</td></tr>")
    match_rows = "".join(
        f"<tr><td>{e(name)}</td><td>{e(m.describe())}</td><td class='small'>{e('; '.join(m.notes))}</td></tr>"
        for name, m in report.matches.items())
    notes = "".join(f"<li>{e(n)}</li>" for n in report.notes + p.notes)
    plots = "".join(f"<div class='plot'>{svg}{table}</div>" for svg, table in _plots_with_tables(report, plot))
    if not plots:
        plots = "<p class='small'>No DVH was computed (see the reasons in the table).</p>"
    ident = getattr(report, "identity", None) or {}
    meta = "<br>".join(e(line.strip()) for line in header_lines(report)
                       if not line.startswith(_IDENTITY_PREFIXES))
    summary = ", ".join(f"{counts[v]} {v}" for v in (PASS, ACCEPTABLE, FAIL, NOT_EVALUABLE))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(p.id)} check: {e(verdict)}{(' - ' + e(str(ident.get('patient_id')))) if ident.get('patient_id') else ''}</title>
<style>{_CSS}</style></head>
<body>
<h1>{e(p.title)}</h1>
{identity_html(ident)}
<div class="meta">{meta}</div>
<div class="banner" style="background:{_HTML_COLOUR.get(verdict, '#444')}">{e(verdict.upper())}</div>
<span class="meta">{e(summary)}</span>
<h2>Constraints</h2>
<table class="constraints"><thead><tr><th>Verdict</th><th>Structure</th><th>Evaluated</th><th>Metric</th><th>Value</th>
<th>Limit</th><th>Level 2</th><th>Source</th><th>Reason / note</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<h2>Dose-volume histograms</h2>
<p class="small">Cumulative DVHs of the structures evaluated (physical dose, volume in % of the part inside the
dose grid). Numbered diamonds mark each constraint's limit, coloured by verdict (green pass, amber acceptable,
red fail): the curve should pass on the allowed side. The table under each plot lists every constraint by
its number, including point-dose limits (D0.03cc, Max) that sit on the dose axis.</p>
<div class="plots">{plots}</div>
<h2>Structures</h2>
<table><thead><tr><th>Protocol structure</th><th>Evaluated</th><th>Notes</th></tr></thead>
<tbody>{match_rows}</tbody></table>
<h2>Notes</h2><ul class="small">{notes}</ul>
{signoff_html()}
<p class="small">dosecalc {e(str(ident.get('dosecalc_version', '')))} protocol check. Confidence: primary = read in a
primary source; secondary = from a secondary copy; unconfirmed = recalled, not re-read.</p>
</body></html>
"""


#: Header lines shown in the identity table of the HTML page instead of the text block.
_IDENTITY_PREFIXES = ("Patient ", "Plan ", "RTPLAN ", "RTDOSE ", "Run ", "Settings ")


def identity_html(ident: dict) -> str:
    """The identity block of the HTML report: patient, plan, UIDs, run, settings."""
    if not ident:
        return ""
    e = html.escape
    sp = ident.get("dose_grid_spacing_mm")
    s = ident.get("dvh_settings") or {}
    rows = [
        ("Patient", f"{ident.get('patient_id') or 'unknown ID'}"
         + (f" - {ident['patient_name']}" if ident.get("patient_name") else "")),
        ("Plan", f"{ident.get('plan_label') or 'no RTPLAN label'}"
         + (f", planned {ident['plan_date']}" if ident.get("plan_date") else "")),
        ("RTPLAN SOP Instance UID", ident.get("rtplan_sop_instance_uid") or "none"),
        ("RTDOSE SOP Instance UID", ident.get("rtdose_sop_instance_uid") or "none"),
        ("Protocol", f"{ident.get('protocol_id')} version {ident.get('protocol_version')}"),
        ("Run", f"{ident.get('run_at')}, dosecalc {ident.get('dosecalc_version')}"),
        ("Dose grid", "unknown" if not sp else " x ".join(f"{v:g}" for v in sp) + " mm"),
        ("DVH settings", f"masks supersample={s.get('supersample')}, end cap {s.get('end_cap')}, "
                         f"{s.get('interpolation')}; DVH exact up to {s.get('exact_limit_samples')} samples, "
                         f"else >= {s.get('binned_min_bins')} bins of <= {s.get('bin_gy')} Gy"),
    ]
    rows += [("Note", n) for n in ident.get("identity_notes", [])]
    body = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows)
    return f"<table class='ident'>{body}</table>"


def signoff_html() -> str:
    """Blank lines to sign: checked by the physicist, approved by the physician."""
    line = "<span class='line'>&nbsp;</span>"
    return ("<div class='signoff'><b>Sign-off</b><table>"
            f"<tr><td>Checked by (physicist)</td><td>{line}</td><td>Signature</td><td>{line}</td>"
            f"<td>Date</td><td>{line}</td></tr>"
            f"<tr><td>Approved by (physician)</td><td>{line}</td><td>Signature</td><td>{line}</td>"
            f"<td>Date</td><td>{line}</td></tr>"
            "<tr><td colspan='6' class='small'>Comments:</td></tr>"
            "<tr><td colspan='6'><span class='line' style='width:100%'>&nbsp;</span></td></tr></table></div>")


def render(report: Report, fmt: str, *, colour: bool | None = None, plot: str = "auto") -> str:
    """The report in ``fmt``: ``table``, ``json``, ``csv`` or ``html``."""
    if fmt == "table":
        return to_table(report, colour=colour)
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "html":
        return to_html(report, plot=plot)
    from ..errors import ParameterError

    raise ParameterError(f"--format must be table, json, csv or html, got {fmt!r}")
