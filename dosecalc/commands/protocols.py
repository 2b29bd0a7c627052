"""``dosecalc protocols``: list the built-in protocols, or show one with every source."""

from __future__ import annotations

import json
import sys

from ..errors import ParameterError
from ..quantity import DoseQuantity

NAME = "protocols"
ORDER = 91
HELP = "list the built-in protocols, or 'protocols show ID|FILE' to print every constraint with its source"


def register(p) -> None:
    p.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    p.add_argument("protocol", nargs="?", metavar="ID|FILE", help="protocol to show (built-in id or TOML file)")
    p.add_argument("--format", choices=("table", "json"), default="table")


def run(args) -> int:
    from ..protocols.schema import builtin_protocols, load_protocol

    if args.action == "list":
        if args.protocol:
            raise ParameterError("'dosecalc protocols' lists the built-ins; use 'dosecalc protocols show ID'")
        protos = builtin_protocols()
        if args.format == "json":
            sys.stdout.write(json.dumps([{"id": p.id, "title": p.title, "version": p.version, "trial": p.trial,
                                          "fractions": list(p.fractionations), "constraints": len(p.constraints)}
                                         for p in protos], indent=2) + "\n")
            return 0
        w = max(len(p.id) for p in protos)
        for p in protos:
            fx = "/".join(map(str, p.fractionations))
            sys.stdout.write(f"{p.id:<{w}}  v{p.version}  {fx} fx  {len(p.constraints):>3} constraints  {p.title}\n")
        return 0
    if not args.protocol:
        raise ParameterError("'dosecalc protocols show' needs a protocol id or file")
    p = load_protocol(args.protocol)
    if args.format == "json":
        sys.stdout.write(json.dumps(p.to_dict(), indent=2) + "\n")
        return 0
    sys.stdout.write(show_text(p))
    return 0


def show_text(p) -> str:
    """Every prescription, structure and constraint of ``p`` with its source and confidence."""
    tag = {"primary": "P", "secondary": "S", "unconfirmed": "R"}
    out = [f"{p.title}", f"{p.id} v{p.version}; {p.trial}"]
    if p.extends:
        out.append(f"extends {' -> '.join(p.extends)}")
    if p.source_path:
        out.append(f"file {p.source_path}")
    if p.description:
        out.append(p.description)
    if p.eligible_child_pugh_max_score is not None:
        out.append(f"Child-Pugh score <= {p.eligible_child_pugh_max_score}  [{tag[p.eligibility_confidence]}] "
                   f"{p.eligibility_source}")
    out.append("")
    out.append("Prescriptions")
    for rx in p.prescriptions:
        parts = []
        if rx.dose_gy is not None:
            parts.append(f"nominal {rx.dose_gy:g} Gy")
        if rx.min_gy is not None and rx.max_gy is not None:
            parts.append(f"{rx.min_gy:g}-{rx.max_gy:g} Gy")
        elif rx.max_gy is not None:
            parts.append(f"<= {rx.max_gy:g} Gy")
        elif rx.min_gy is not None:
            parts.append(f">= {rx.min_gy:g} Gy")
        if rx.min_bed_gy is not None:
            parts.append(f"{DoseQuantity.bed(rx.bed_alpha_beta)} >= {rx.min_bed_gy:g} Gy")
        out.append(f"  {', '.join(map(str, rx.fractions))} fx, Child-Pugh {'/'.join(rx.child_pugh)}: {', '.join(parts)}  "
                   f"[{tag[rx.confidence]}] {rx.source}")
    out.append("")
    out.append("Structures")
    for s in p.structures:
        how = []
        if s.aliases:
            how.append("aliases " + ", ".join(s.aliases))
        if s.match:
            how.append("patterns " + ", ".join(s.match) + f" ({s.combine})")
        if s.members:
            how.append(f"{s.combine} of " + ", ".join(s.members))
        if s.derive:
            how.append(f"derived {s.derive}")
        if not s.required:
            how.append("checked when contoured")
        if s.alpha_beta is not None:
            how.append(f"a/b {s.alpha_beta:g} Gy for --convert")
        out.append(f"  {s.name:<22} {'; '.join(how)}")
    if p.sites:
        out.append("")
        out.append(f"Sites (--site; default {p.default_site})")
        for site in p.sites:
            out.append(f"  {site.id:<8} {site.label}: {', '.join(site.structures)}")
    for fx in p.fractionations:
        out.append("")
        out.append(f"Constraints, {fx} fractions")
        for c in p.constraints:
            if fx not in c.fractions:
                continue
            cp = "" if c.child_pugh == ("A", "B") else f" (Child-Pugh {'/'.join(c.child_pugh)})"
            out.append(f"  {c.structure:<20} {c.metric:<14} {c.comparator} {c.limit:<6g}{cp}  "
                       f"[{tag[c.confidence]}] {c.source}")
            if c.when is not None:
                out.append(f"  {'':<20} {'':<14} only when {c.when.text()}")
            if c.not_evaluable_for:
                out.append(f"  {'':<20} {'':<14} Child-Pugh {'/'.join(c.not_evaluable_for)}: not evaluable "
                           "(no sourced value)")
            if c.level2 is not None:
                cond = "" if c.level2_when is None else f" (only when {c.level2_when.text()})"
                out.append(f"  {'':<20} {'':<14} {c.level2_kind} {c.comparator} {c.level2:g}{cond}  "
                           f"[{tag[c.level2_confidence]}] {c.level2_source}")
    if p.eligibility:
        out.append("")
        out.append("Eligibility (every registered criterion)")
        for e in p.eligibility:
            if e.kind == "attestation":
                rule = "needs attestation"
            elif e.flag is not None:
                rule = f"{e.flag} must be {'yes' if e.expect else 'no'}"
            else:
                alt = "" if e.alternative is None else f" or {e.alternative[0]} {e.alternative[1]} {e.alternative[2]:g}"
                rule = f"{e.quantity} {e.comparator} {e.limit:g}{alt}"
            if e.applies_if:
                rule += f" (when {e.applies_if})"
            out.append(f"  {e.label:<40} {rule}  [{tag[e.confidence]}] {e.source}")
    if p.notes:
        out.append("")
        out += [f"- {n}" for n in p.notes]
    out.append("")
    out.append("[P] primary source, [S] secondary copy, [R] recalled, unconfirmed")
    return "\n".join(out) + "\n"
