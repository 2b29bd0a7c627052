"""The self-contained HTML page of a protocol check: identity block, verdict banner, the
constraint table with sources and confidences, the DVH plots, the structure matching,
notes and a sign-off block; printable on A4.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from .report_common import (
    _HTML_COLOUR, ACCEPTABLE, FAIL, NOT_EVALUABLE, PASS, _level2_origin, _level2_text, _limit_text, fmt_number,
    header_lines)
from .report_plots import _plots_with_tables

if TYPE_CHECKING:  # results.Report calls these modules (Report.to_html ...): no import back
    from .results import Report


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
