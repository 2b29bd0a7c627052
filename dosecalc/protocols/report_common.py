"""What every report format of a protocol check shares: verdict colours, the CSV columns,
number formatting, limit and source texts, and the header lines (protocol, identity,
fractions, prescription, liver function, dose reading).  Doses in Gy, volumes in cc.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..verdict import Verdict
from .identity import identity_lines

if TYPE_CHECKING:  # results.Report calls these modules (Report.to_html ...): no import back
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
