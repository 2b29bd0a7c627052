"""Stage 2 of a protocol check: which constraints apply to this fractionation and class."""

from __future__ import annotations

from dataclasses import dataclass

from ..metrics import parse_metric
from .conversion import Conversion, convert_constraint, nearest_fractionation
from .results import NOT_EVALUABLE, ConstraintResult, plan_row
from .schema import Constraint, Protocol


@dataclass(frozen=True)
class Selection:
    """Constraints to evaluate and rows decided without a DVH."""

    constraints: tuple[Constraint, ...]
    rows: tuple[ConstraintResult, ...]
    notes: tuple[str, ...]


def limit_family(c: Constraint) -> tuple:
    """What a constraint limits, whatever the fractionation: the same organ and metric kind
    (TG-101's CV19.2Gy at 3 fx and CV21Gy at 5 fx both spare 700 cc; D0.03cc is D0.03cc)."""
    s = parse_metric(c.metric)
    if s.kind in ("V", "CV"):
        threshold = None if s.value_unit in ("Gy", "cGy") else (s.value, s.value_unit)
        return (c.structure, s.kind, s.output_unit, c.comparator, c.limit, threshold)
    if s.kind in ("D", "DC"):
        return (c.structure, s.kind, s.value, s.value_unit, s.output_unit)
    return (c.structure, s.kind, s.output_unit)


def select_constraints(proto: Protocol, n: int, cls: str, structures: tuple[str, ...], convert: bool,
            transition_dose: float | None) -> Selection:
    """Constraints for ``n`` fractions and class ``cls`` on ``structures``.

    Each limit family (:func:`limit_family`: an organ and what is limited) uses its row sourced
    for ``n`` fractions; a family sourced only for other fractionations is, with
    ``convert``, the isoeffective conversion of its nearest sourced row (labelled), and
    otherwise a not-evaluable row saying so.  That row keeps the check incomplete (exit 3)
    when the family is sourced at two or more fractionations (it belongs to the protocol's
    tables) and the organ has no sourced row at all at ``n``; a family sourced at one
    fractionation only (a trial's extra row, such as FASTRACK II's 3-fraction spinal canal),
    or one of an organ that ``n``'s own rows already check, is shown without blocking.
    """
    relevant = [c for c in proto.constraints if c.structure in structures
                and (cls in c.child_pugh or cls in c.not_evaluable_for)]
    families: dict[tuple, list[Constraint]] = {}
    for c in relevant:
        families.setdefault(limit_family(c), []).append(c)
    chosen, rows, notes = [], [], []
    missing = []
    for key, own in families.items():
        here = [c for c in own if n in c.fractions]
        if here:
            chosen += here
        else:
            missing.append((key[0], sorted({f for c in own for f in c.fractions}), own))
    if missing and not chosen and not convert:
        fx = ", ".join(map(str, sorted({f for c in relevant for f in c.fractions})))
        c = plan_row("fractions", "Plan", "Fractions", "in", float("nan"), proto.id, "primary")
        rows.append(ConstraintResult(
            constraint=c, roi=f"{n} fx", unit="fx", value=float(n), verdict=NOT_EVALUABLE, kind="fractionation",
            reason=f"{proto.id} sources no {n}-fraction limits (limits for {fx} fractions); --convert converts "
                   "the nearest sourced limits isoeffectively (LQ-L, alpha/beta per organ), labelled on every row"))
        return Selection((), tuple(rows), ())
    said = set()
    covered = {c.structure for c in chosen}
    for name, sourced, own in missing:
        s = proto.structure(name)
        src = nearest_fractionation(sourced, n)
        base = next(c for c in own if src in c.fractions)
        table = s.required and len(sourced) > 1 and name not in covered
        if not convert or s.alpha_beta is None:
            why = (f"--convert converts the {src}-fraction limit isoeffectively" if s.alpha_beta is not None
                   else "the protocol states no alpha/beta for this organ to convert it")
            c = plan_row(f"{base.id}-{n}fx", name, "Fractions", "in", float("nan"), base.source, base.confidence)
            rows.append(ConstraintResult(
                constraint=c, roi=f"{n} fx", unit="fx", value=float(n), verdict=NOT_EVALUABLE, kind="fractionation",
                required=table,
                reason=f"no sourced {n}-fraction limit for {name} {base.metric} (sourced for "
                       f"{', '.join(map(str, sourced))} fx); {why}"))
            continue
        dt = transition_dose if transition_dose is not None else 2.0 * s.alpha_beta
        conv = Conversion(src, n, s.alpha_beta, dt, s.alpha_beta_source)
        chosen += [convert_constraint(c, conv) for c in own if src in c.fractions]
        if (name, src) not in said:
            said.add((name, src))
            notes.append(f"{name}: {conv.label} (a/b source: {s.alpha_beta_source}; d_T "
                         + ("given" if transition_dose is not None else "2 a/b, one common choice") + ")")
    order = {c.id: i for i, c in enumerate(proto.constraints)}
    chosen.sort(key=lambda c: order.get(c.id, len(order)))
    return Selection(tuple(chosen), tuple(rows), tuple(notes))
