"""Reports of a protocol check: terminal table, JSON, CSV and a self-contained HTML page.

The HTML page holds the constraint table (verdict, value, limits, source and confidence
of every number), the structure matching, the notes and cumulative DVH plots of the
structures involved, with each constraint drawn as a marker on its structure's plot.
Plots are inline SVG: drawn here without any dependency, or by matplotlib (the optional
``plot`` extra) when it is installed and asked for.

One job a module: :mod:`.report_common` (colours, columns, number and limit texts,
header lines), :mod:`.report_plots` (DVH plots), :mod:`.report_html` (the HTML page) and
this module (table, JSON, CSV, and :func:`render` of any format); every public name of
the others is re-exported here.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from typing import TYPE_CHECKING

from ..textsafe import csv_cell, escape_control
from .identity import CSV_IDENTITY_FIELDS, csv_identity
from .report_common import (  # noqa: F401  (re-exported: their old home)
    _ANSI, _HTML_COLOUR, _PALETTE, ACCEPTABLE, CONF_TAG, CSV_FIELDS, FAIL, NOT_EVALUABLE, PASS, _level2_origin,
    _level2_text, _limit_text, _source_ref, _sources, fmt_number, header_lines, uses_liver_function)
from .report_html import identity_html, signoff_html, to_html  # noqa: F401  (re-exported)
from .report_plots import plots_svg, svg_dvh  # noqa: F401  (re-exported)

if TYPE_CHECKING:  # results.Report calls these modules (Report.to_html ...): no import back
    from .results import Report


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
