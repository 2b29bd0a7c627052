"""DVH plots of a protocol check: the structures' cumulative DVHs grouped (targets, liver,
GI organs, other OARs), each constraint a numbered marker coloured by verdict, as inline
SVG drawn here without any dependency or by matplotlib (the optional ``plot`` extra),
with a table of the markers under each plot.  Dose in Gy, volume in % of the covered part.
"""

from __future__ import annotations

import html
import io
import math
from typing import TYPE_CHECKING

from .report_common import _HTML_COLOUR, _PALETTE, _limit_text, fmt_number

if TYPE_CHECKING:  # results.Report calls these modules (Report.to_html ...): no import back
    from .results import Report


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
