"""``dosecalc eligibility``: check a patient against every registered criterion of a protocol.

Exit codes: 0 eligible (every criterion met or attested), 1 not eligible (a criterion
fails), 3 incomplete (a value missing or a criterion not yet attested), 2 bad input
(including values outside plausible ranges: a likely unit slip).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ..errors import ParameterError

NAME = "eligibility"
ORDER = 92
HELP = "check a patient (labs and clinical items, TOML) against a protocol's registered criteria"
DESCRIPTION = (
    "Lists every registered inclusion and exclusion criterion with its status: checked from the "
    "labs, checked from a clinical item given in the same TOML (age, ecog, margin, hbv_carrier, "
    "prior_rt_area, extrahepatic_metastasis), or 'needs attestation' for what no data can show "
    "(list those ids under attested = [...] once confirmed). A value outside its plausible range "
    "is refused with the likely unit slip. Exit codes: 0 ELIGIBLE, 1 NOT ELIGIBLE, 3 INCOMPLETE, "
    "2 bad input."
)


def register(p) -> None:
    p.add_argument("labs", metavar="LABS", help="patient TOML file (labs with units, clinical items, attested)")
    p.add_argument("--protocol", required=True, metavar="ID|FILE")
    p.add_argument("--format", choices=("table", "json"), default="table")


def _value_text(r) -> str:
    from ..protocols.report import fmt_number

    if r.kind == "attestation":
        return ""
    if isinstance(r.value, bool):
        return "yes" if r.value else "no"
    return f"{fmt_number(r.value, r.unit)} {r.unit}" if r.value is not None else "-"


def _rule_text(r) -> str:
    if r.kind == "attestation":
        return "attestation"
    if r.comparator == "=":
        return "required: no" if r.label.startswith("Exclusion") else "required: yes"
    return f"{r.comparator} {r.limit:g} {r.alternative}".rstrip()


def run(args) -> int:
    from ..protocols.eligibility import EXIT, check_eligibility
    from ..protocols.liver_function import ALBI_SOURCE, albi_grade, albi_score, child_pugh_from_labs, load_labs
    from ..protocols.schema import load_protocol

    protocol = load_protocol(args.protocol)
    labs = load_labs(args.labs)
    verdict, rows = check_eligibility(protocol, labs)
    extra: dict[str, Any] = {}
    try:
        extra["child_pugh"] = child_pugh_from_labs(labs).label
    except ParameterError:
        pass
    if "bilirubin" in labs.values and "albumin" in labs.values:
        s = albi_score(labs.values["bilirubin"], labs.values["albumin"])
        extra["albi"] = {"score": round(s, 3), "grade": albi_grade(s), "source": ALBI_SOURCE}
    if args.format == "json":
        sys.stdout.write(json.dumps({"protocol": protocol.id, "verdict": verdict, "exit_code": EXIT[verdict],
                                     **extra, "criteria": [r.as_dict() for r in rows]}, indent=2) + "\n")
    else:
        tag = {"primary": "P", "secondary": "S", "unconfirmed": "R"}
        w = min(60, max(len(r.label) for r in rows))
        out = [f"Eligibility for {protocol.id} ({protocol.trial})", ""]
        for r in rows:
            label = r.label if len(r.label) <= w else r.label[:w - 1] + "~"
            out.append(f"{r.verdict.upper():<17} {label:<{w}}  {_value_text(r):>14}  {_rule_text(r):<24} "
                       f"[{tag[r.confidence]}] {r.kind}")
            for extra_line in (r.reason, r.note):
                if extra_line:
                    out.append(f"{'':<17} {'':<{w}}  {extra_line}")
        out.append("")
        if "child_pugh" in extra:
            out.append(f"Child-Pugh {extra['child_pugh']}")
        if "albi" in extra:
            out.append(f"ALBI {extra['albi']['score']:.2f}, grade {extra['albi']['grade']} ({ALBI_SOURCE})")
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
        out.append("Criteria   " + ", ".join(f"{n} {v}" for v, n in counts.items()))
        out.append(f"Sources    {protocol.eligibility_source or 'see each criterion'}")
        out.append(f"Verdict: {verdict.upper()} (exit code {EXIT[verdict]})")
        sys.stdout.write("\n".join(out) + "\n")
    return EXIT[verdict]
