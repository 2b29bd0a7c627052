"""``dosecalc eligibility``: check a patient's labs against a protocol's registered criteria.

Exit codes: 0 eligible, 1 not eligible or a required value missing, 2 bad input.
"""

from __future__ import annotations

import json
import sys

NAME = "eligibility"
ORDER = 92
HELP = "check laboratory eligibility (labs TOML) against a protocol's registered criteria"


def register(p) -> None:
    p.add_argument("labs", metavar="LABS", help="labs TOML file (values with units)")
    p.add_argument("--protocol", required=True, metavar="ID|FILE")
    p.add_argument("--format", choices=("table", "json"), default="table")


def run(args) -> int:
    from ..protocols.liver_function import (ALBI_SOURCE, albi_grade, albi_score, check_eligibility,
                                            child_pugh_from_labs, load_labs)
    from ..protocols.report import fmt_number
    from ..protocols.schema import load_protocol
    from ..errors import ParameterError

    protocol = load_protocol(args.protocol)
    labs = load_labs(args.labs)
    verdict, rows = check_eligibility(protocol, labs)
    extra = {}
    try:
        cp = child_pugh_from_labs(labs)
        extra["child_pugh"] = cp.label
    except ParameterError:
        pass
    if "bilirubin" in labs.values and "albumin" in labs.values:
        s = albi_score(labs.values["bilirubin"], labs.values["albumin"])
        extra["albi"] = {"score": round(s, 3), "grade": albi_grade(s), "source": ALBI_SOURCE}
    if args.format == "json":
        sys.stdout.write(json.dumps({"protocol": protocol.id, "verdict": verdict, **extra,
                                     "criteria": [r.as_dict() for r in rows]}, indent=2) + "\n")
    else:
        tag = {"primary": "P", "secondary": "S", "unconfirmed": "R"}
        w = max(len(r.label) for r in rows)
        out = [f"Eligibility for {protocol.id} ({protocol.trial})", ""]
        for r in rows:
            value = fmt_number(r.value, r.unit)
            out.append(f"{r.verdict.upper():<13} {r.label:<{w}}  {value:>8} {r.unit:<7} "
                       f"{r.comparator} {r.limit:g} {r.alternative}  [{tag[r.confidence]}] {r.source}")
            for extra_line in (r.reason, r.note):
                if extra_line:
                    out.append(f"{'':<13} {'':<{w}}  {extra_line}")
        out.append("")
        if "child_pugh" in extra:
            out.append(f"Child-Pugh {extra['child_pugh']}")
        if "albi" in extra:
            out.append(f"ALBI {extra['albi']['score']:.2f}, grade {extra['albi']['grade']} ({ALBI_SOURCE})")
        out.append(f"Verdict: {verdict.upper()}")
        sys.stdout.write("\n".join(out) + "\n")
    return 0 if verdict == "eligible" else 1
