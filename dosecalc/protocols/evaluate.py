"""Evaluate a plan against a protocol: ``check(case, protocol) -> Report``.

For every constraint that applies to the plan's fractionation and the patient's
Child-Pugh class, the structure is matched (:mod:`.matching`), its DVH is computed by
the DVH engine on the TOTAL physical dose (a dose-per-fraction grid is multiplied by the
number of fractions, and the report says so) or on a voxel-wise EQD2/BED grid when the
metric names one, and the value is compared with the limit(s):

* ``pass``: the limit holds (and the ideal goal, when the constraint has one);
* ``acceptable``: between the two levels (fails the limit but meets the acceptable
  variation, or meets the limit but not the ideal goal);
* ``fail``: the limit (and any acceptable variation) does not hold;
* ``not evaluable``: structure missing or ambiguous, fractions or prescription unknown,
  metric undefined; the reason is given.

A value exactly at the limit follows the comparator as written (``< 30`` fails at 30,
``<= 30`` passes).  The overall verdict is ``fail`` if any constraint fails, else
``incomplete`` if any required row is not evaluable, else ``acceptable`` if any is
acceptable, else ``pass`` (exit codes 1, 3, 0; see :mod:`.verdict`).

:func:`check` is a pipeline of named stages: ``_inputs`` (fractions, Child-Pugh, total
dose, prescription), ``match_structures`` (the site's organs), ``_select`` (the sourced
table for the fractionation, or labelled conversions with ``convert``),
``_prescription_rows`` / ``_child_pugh_row`` and ``_dose_rows`` (DVH metrics), then the
:class:`Report`.  Child-Pugh: a constraint lists the classes its value is sourced for;
``not_evaluable_for`` classes get the row as not evaluable with the reason, never another
class's value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import DoseCalcError, ParameterError
from ..metrics import parse_metric
from ..quantity import DoseKind, DoseQuantity
from ..summation import Summation, classify
from .conversion import Conversion, convert_constraint, nearest_fractionation
from .liver_function import (ALBI_SOURCE, ChildPugh, Labs, albi_grade, albi_score, child_pugh_from_labs,
                             load_labs, parse_child_pugh, parse_labs)
from .matching import StructureMatch, match_structures
from .schema import Condition, Constraint, Protocol, load_protocol
from .verdict import Verdict, exit_code, meets, overall_verdict, verdict_for

__all__ = ["ConstraintResult", "Report", "Verdict", "check", "meets", "overall_verdict", "verdict_for"]

PASS, ACCEPTABLE, FAIL, NOT_EVALUABLE = Verdict.PASS, Verdict.ACCEPTABLE, Verdict.FAIL, Verdict.NOT_EVALUABLE
VERDICTS = (PASS, ACCEPTABLE, FAIL, NOT_EVALUABLE)


@dataclass(frozen=True)
class ConstraintResult:
    """The outcome of one constraint on one structure.

    Holds the :class:`Constraint` it evaluated (prescription, eligibility and
    fractionation rows carry a constraint built for them); ``value`` is in ``unit`` (the
    metric's output unit: Gy, cc, %, or a converted-dose label); ``roi`` is what was
    evaluated (an ROI name or an expression).  ``kind`` is ``"dose"``,
    ``"prescription"``, ``"eligibility"`` or ``"fractionation"`` (no sourced limit for the
    plan's number of fractions).  ``required`` is False for rows of organs
    that matter only when the lesion is near them: such a row, not evaluable, does not
    make the report incomplete.  ``level2_applies`` is False when the second level's
    condition does not hold (the NHC limit needs Liver-GTV > 700 mL).
    """

    constraint: Constraint
    roi: str
    unit: str
    value: float | None
    verdict: Verdict
    reason: str = ""
    note: str = ""
    kind: str = "dose"
    required: bool = True
    level2_applies: bool = True

    # the constraint's own fields, read through (one home for each number)
    id = property(lambda self: self.constraint.id)
    structure = property(lambda self: self.constraint.structure)
    metric = property(lambda self: self.constraint.metric)
    comparator = property(lambda self: self.constraint.comparator)
    limit = property(lambda self: self.constraint.limit)
    source = property(lambda self: self.constraint.source)
    confidence = property(lambda self: self.constraint.confidence)
    conversion = property(lambda self: self.constraint.conversion)
    level2 = property(lambda self: self.constraint.level2 if self.level2_applies else None)
    level2_kind = property(lambda self: self.constraint.level2_kind if self.level2_applies else None)
    level2_source = property(lambda self: self.constraint.level2_source if self.level2_applies else "")
    level2_confidence = property(lambda self: self.constraint.level2_confidence if self.level2_applies else "")

    @property
    def counts_for_verdict(self) -> bool:
        return self.required or self.verdict != NOT_EVALUABLE

    def as_dict(self) -> dict:
        v = None if self.value is None or not math.isfinite(self.value) else float(self.value)
        return {
            "id": self.id, "structure": self.structure, "roi": self.roi, "metric": self.metric,
            "comparator": self.comparator, "limit": self.limit if math.isfinite(self.limit) else None,
            "unit": self.unit, "value": v,
            "level2": self.level2, "level2_kind": self.level2_kind, "verdict": str(self.verdict),
            "reason": self.reason, "source": self.source, "confidence": self.confidence,
            "level2_source": self.level2_source or None, "level2_confidence": self.level2_confidence or None,
            "note": self.note, "kind": self.kind, "conversion": self.conversion or None,
            "required": self.required,
        }


@dataclass(frozen=True)
class Curve:
    """A cumulative DVH for plots: dose (Gy) and volume (% of the covered volume)."""

    label: str
    dose_gy: np.ndarray
    volume_pct: np.ndarray
    volume_cc: float


@dataclass(frozen=True, eq=False)
class Report:
    """Result of :func:`check`.

    Attributes
    ----------
    protocol : Protocol
    fractions : int or None
    fractions_source : str
    child_pugh : ChildPugh or None
        None when no liver function was given (the Child-Pugh A values are then shown and
        a not-evaluable Child-Pugh row makes the report incomplete).
    constraint_set : str
        Child-Pugh class whose constraints were evaluated.
    albi : tuple (score, grade) or None
    prescription_gy : float or None
        Reference dose for % of prescription metrics, Gy.
    prescription_source : str
    matches : dict
        Protocol structure name -> :class:`StructureMatch` (the structures of the site).
    results : tuple of ConstraintResult
    notes : tuple of str
    curves : tuple of Curve
    case_label : str
    dose_description : str
    site : str
        Treated-site profile evaluated ("" when the protocol has none).
    converted : bool
        Whether ``--convert`` was asked for.
    """

    protocol: Protocol
    fractions: int | None
    fractions_source: str
    child_pugh: ChildPugh | None
    constraint_set: str
    albi: tuple[float, int] | None
    prescription_gy: float | None
    prescription_source: str
    matches: dict
    results: tuple[ConstraintResult, ...]
    notes: tuple[str, ...] = ()
    curves: tuple[Curve, ...] = ()
    case_label: str = ""
    dose_description: str = ""
    dose_reading: str = ""
    site: str = ""
    converted: bool = False

    @property
    def verdict(self) -> Verdict:
        return overall_verdict(r.verdict for r in self.results if r.counts_for_verdict)

    @property
    def failed(self) -> bool:
        return self.verdict == FAIL

    @property
    def exit_code(self) -> int:
        """0 pass/acceptable, 1 a row fails, 3 nothing fails but something required is not
        evaluable (see :mod:`dosecalc.protocols.verdict`)."""
        return exit_code(self.verdict)

    def counts(self) -> dict[str, int]:
        out = {str(v): 0 for v in VERDICTS}
        for r in self.results:
            out[str(r.verdict)] += 1
        return out

    @property
    def structures(self) -> dict[str, str | None]:
        """Protocol structure name -> what was evaluated (ROI or expression), None if not found."""
        return {k: (", ".join(m.candidates) if m.candidates else m.expression) for k, m in self.matches.items()}

    def as_dict(self) -> dict:
        """JSON-ready dictionary (the ``--format json`` output)."""
        p = self.protocol
        return {
            "protocol": p.id,
            "protocol_info": {"id": p.id, "title": p.title, "version": p.version, "trial": p.trial,
                         "source_path": p.source_path, "extends": list(p.extends)},
            "case": self.case_label,
            "site": self.site or None,
            "fractions": self.fractions,
            "fractions_source": self.fractions_source,
            "child_pugh": None if self.child_pugh is None else self.child_pugh.label,
            "constraint_set": f"Child-Pugh {self.constraint_set}",
            "albi": None if self.albi is None else {"score": self.albi[0], "grade": self.albi[1],
                                                    "source": ALBI_SOURCE},
            "prescription_gy": self.prescription_gy,
            "prescription_source": self.prescription_source,
            "dose": self.dose_description,
            "dose_reading": self.dose_reading or None,
            "verdict": str(self.verdict),
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "structures": self.structures,
            "matches": {k: {"evaluated": m.expression, "rois": list(m.rois), "how": m.how,
                            "notes": list(m.notes), "reason": m.reason or None}
                        for k, m in self.matches.items()},
            "constraints": [r.as_dict() for r in self.results],
            "notes": list(self.notes),
        }

    to_dict = as_dict


# --- stage 1: inputs ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Inputs:
    """What the plan and the user say, resolved once: fractions, liver function, dose, Rx."""

    n: int | None
    n_source: str
    child_pugh: ChildPugh | None
    cls: str
    albi: tuple | None
    total: object
    dose_description: str
    dose_reason: str
    rx: float | None
    rx_source: str
    rx_from_plan: bool
    notes: tuple[str, ...]
    dose_reading: str = ""


def _liver_function(child_pugh, labs) -> tuple[ChildPugh | None, tuple | None, list[str]]:
    notes = []
    lab_obj = None
    if labs is not None:
        if isinstance(labs, Labs):
            lab_obj = labs
        elif isinstance(labs, dict):
            lab_obj = parse_labs(labs)
        else:
            lab_obj = load_labs(labs)
    cp = None
    if child_pugh is not None:
        cp = child_pugh if isinstance(child_pugh, ChildPugh) else parse_child_pugh(child_pugh)
        if lab_obj is not None:
            try:
                computed = child_pugh_from_labs(lab_obj)
            except ParameterError:
                computed = None
            if computed is not None and computed.cls != cp.cls:
                raise ParameterError(f"--child-pugh {cp.label} disagrees with the labs (Child-Pugh "
                                     f"{computed.label}); give one or the other")
    elif lab_obj is not None:
        cp = child_pugh_from_labs(lab_obj)
        notes.append(f"Child-Pugh {cp.label} computed from the labs (points: "
                     + ", ".join(f"{k} {v}" for k, v in cp.points.items()) + ")")
    albi = None
    if lab_obj is not None and "bilirubin" in lab_obj.values and "albumin" in lab_obj.values:
        s = albi_score(lab_obj.values["bilirubin"], lab_obj.values["albumin"])
        albi = (s, albi_grade(s))
        notes.append(f"ALBI {s:.2f}, grade {albi[1]} ({ALBI_SOURCE})")
    return cp, albi, notes


def _total_dose(case, n: int | None):
    """(physical total dose grid or None, description, reason when None)."""
    grid = case.dose
    if grid is None:
        return None, "", "the case has no dose grid (RTDOSE)"
    if grid.dose_type != "PHYSICAL" or grid.quantity != "dose":
        raise ParameterError(f"protocol checks need PHYSICAL dose; the dose grid is DoseType "
                             f"{grid.dose_type} ({grid.quantity}) from {grid.source_path or 'memory'}")
    from ..dose_reading import reading_scale

    chosen = reading_scale(grid, n or 1)
    if chosen is not None:
        if chosen[0] == 1.0 and grid.reading.reading == "total":
            return grid, chosen[1], ""
        if n is None:
            return None, "", (f"the dose grid is read as dose per fraction ({grid.reading.text}) and the "
                              "number of fractions is unknown: give --fractions")
        scale, text = reading_scale(grid, n)
        total = grid.with_values(grid.values_gy * scale, summation_type="PLAN",
                                 description=f"{grid.description}; {text} (protocol check)".lstrip("; "))
        return total, text, ""
    how = classify(grid.summation_type)  # the rule of dosecalc.summation
    if how is Summation.PER_FRACTION:
        if n is None:
            return None, "", ("the dose grid is dose per fraction (DoseSummationType FRACTION) and the "
                              "number of fractions is unknown: give --fractions")
        total = grid.with_values(grid.values_gy * how.total_factor(n), summation_type="PLAN",
                                 description=f"{grid.description}; dose per fraction x {n} fractions "
                                             "(protocol check)".lstrip("; "))
        return total, (f"dose grid is dose per fraction (DoseSummationType FRACTION): multiplied by "
                       f"{n} fractions to the course total"), ""
    if how.is_total or how is Summation.ABSENT:  # an absent type is taken as the total, and said
        desc = f"DoseSummationType {grid.summation_type or '(absent)'}: course total"
        if how is Summation.SUM_OF_PLANS:
            desc += " of several plans (one fractionation assumed)"
        return grid, desc, ""
    raise ParameterError(f"protocol checks need the course total dose (DoseSummationType PLAN) or the dose "
                         f"per fraction (FRACTION); the dose grid is {grid.summation_type!r} "
                         f"({grid.source_path or 'memory'})")


def _per_fraction(grid) -> bool:
    """Whether the grid holds dose per fraction: the dose reading (plan evidence or the
    user's --dose-is) when it overrides the label, else DoseSummationType FRACTION."""
    from ..dose_reading import READING_PER_FRACTION

    r = getattr(grid, "reading", None)
    if r is not None and not r.refusal and r.overrides_label:
        return r.reading == READING_PER_FRACTION
    return classify(grid.summation_type) is Summation.PER_FRACTION


def _fractions(case, fractions) -> tuple[int | None, str, list[str]]:
    """Number of fractions and where it comes from.  ``--fractions`` on a course-total grid
    must agree with the RTPLAN: the total was delivered in the plan's fractions, so another
    number would apply the wrong table (and the wrong BED) to it."""
    notes = []
    if fractions is None:
        if case.fractions is not None:
            return int(case.fractions), "RTPLAN NumberOfFractionsPlanned", notes
        return None, "unknown", notes
    if isinstance(fractions, bool) or not isinstance(fractions, (int, np.integer)) or fractions < 1:
        raise ParameterError(f"fractions must be a whole number >= 1, got {fractions!r}")
    n = int(fractions)
    if case.fractions is not None and case.fractions != n:
        grid = case.dose
        st = (getattr(grid, "summation_type", "") or "").upper() if grid is not None else ""
        if grid is not None and not _per_fraction(grid):
            raise ParameterError(
                f"--fractions {n} contradicts the RTPLAN's NumberOfFractionsPlanned {case.fractions}: the dose "
                f"grid is a course total (DoseSummationType {st or '(absent)'}) delivered in {case.fractions} "
                f"fractions, so a {n}-fraction table cannot apply to it; drop --fractions or load the "
                "matching RTPLAN")
        notes.append(f"--fractions {n} differs from the RTPLAN's NumberOfFractionsPlanned {case.fractions} "
                     "(dose per fraction grid: multiplied by the given number)")
    return n, "given", notes


def _inputs(case, proto: Protocol, fractions, child_pugh, labs, prescription_gy) -> _Inputs:
    n, n_src, notes = _fractions(case, fractions)
    cp, albi, lf_notes = _liver_function(child_pugh, labs)
    notes += lf_notes
    if cp is None:
        cls = "A"
        notes.append("Child-Pugh class unknown (no --child-pugh or --labs): the Child-Pugh A limits are shown, "
                     "and the check stays incomplete until the class is given")
    elif cp.cls == "C":
        cls = "B"
        notes.append(f"Child-Pugh {cp.label}: not eligible for {proto.id}; the Child-Pugh B constraint set is "
                     "shown for information")
    else:
        cls = cp.cls
    total, dose_desc, dose_reason = _total_dose(case, n)
    if dose_desc and ("FRACTION" in dose_desc or "RTPLAN" in dose_desc or "dose_is" in dose_desc):
        notes.append(dose_desc)
    reading = None if case.dose is None else case.dose.reading
    if reading is not None:
        # every report says which reading of the grid (course total / per fraction) was used
        notes.append(reading.text)
        notes.extend(reading.warnings)

    rx_from_plan = True
    if prescription_gy is not None:
        if not (isinstance(prescription_gy, (int, float)) and math.isfinite(prescription_gy) and prescription_gy > 0):
            raise ParameterError(f"prescription_gy must be a positive number of Gy, got {prescription_gy!r}")
        rx, rx_src = float(prescription_gy), "given"
    elif case.prescription_gy is not None:
        rx, rx_src = float(case.prescription_gy), "RTPLAN TargetPrescriptionDose"
    else:
        rx_from_plan = False
        nominal = [p for p in proto.prescriptions_for(n, cls) if p.dose_gy is not None] if n else []
        if nominal:
            rx, rx_src = nominal[0].dose_gy, f"protocol nominal prescription {nominal[0].id} (the plan states none)"
            notes.append(f"the plan states no prescription: % of prescription metrics use the protocol's nominal "
                         f"{rx:g} Gy ({nominal[0].source})")
        else:
            rx, rx_src = None, "unknown"
    return _Inputs(n, n_src, cp, cls, albi, total, dose_desc, dose_reason, rx, rx_src, rx_from_plan, tuple(notes),
                   "" if reading is None else reading.text)


# --- stage 2: which constraints apply ------------------------------------------------------
def _row(id_, structure, metric, comparator, limit, source, confidence, **kw) -> Constraint:
    """A constraint for a row that is not a dose constraint of the protocol file."""
    return Constraint(id=id_, structure=structure, metric=metric, comparator=comparator, limit=limit,
                      fractions=(), child_pugh=(), source=source, confidence=confidence, **kw)


def _not_evaluable(c: Constraint, reason: str, roi: str = "", *, kind="dose", required=True, unit=None):
    unit = unit if unit is not None else parse_metric(c.metric).output_unit if kind == "dose" else ""
    return ConstraintResult(constraint=c, roi=roi, unit=unit, value=None, verdict=NOT_EVALUABLE,
                            reason=reason, kind=kind, required=required)


@dataclass(frozen=True)
class _Selection:
    """Constraints to evaluate and rows decided without a DVH."""

    constraints: tuple[Constraint, ...]
    rows: tuple[ConstraintResult, ...]
    notes: tuple[str, ...]


def _family(c: Constraint) -> tuple:
    """What a constraint limits, whatever the fractionation: the same organ and metric kind
    (TG-101's CV19.2Gy at 3 fx and CV21Gy at 5 fx both spare 700 cc; D0.03cc is D0.03cc)."""
    s = parse_metric(c.metric)
    if s.kind in ("V", "CV"):
        threshold = None if s.value_unit in ("Gy", "cGy") else (s.value, s.value_unit)
        return (c.structure, s.kind, s.output_unit, c.comparator, c.limit, threshold)
    if s.kind in ("D", "DC"):
        return (c.structure, s.kind, s.value, s.value_unit, s.output_unit)
    return (c.structure, s.kind, s.output_unit)


def _select(proto: Protocol, n: int, cls: str, structures: tuple[str, ...], convert: bool,
            transition_dose: float | None) -> _Selection:
    """Constraints for ``n`` fractions and class ``cls`` on ``structures``.

    Each limit family (:func:`_family`: an organ and what is limited) uses its row sourced
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
        families.setdefault(_family(c), []).append(c)
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
        c = _row("fractions", "Plan", "Fractions", "in", float("nan"), proto.id, "primary")
        rows.append(ConstraintResult(
            constraint=c, roi=f"{n} fx", unit="fx", value=float(n), verdict=NOT_EVALUABLE, kind="fractionation",
            reason=f"{proto.id} sources no {n}-fraction limits (limits for {fx} fractions); --convert converts "
                   "the nearest sourced limits isoeffectively (LQ-L, alpha/beta per organ), labelled on every row"))
        return _Selection((), tuple(rows), ())
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
            c = _row(f"{base.id}-{n}fx", name, "Fractions", "in", float("nan"), base.source, base.confidence)
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
    return _Selection(tuple(chosen), tuple(rows), tuple(notes))


def _prescription_rows(proto: Protocol, inp: _Inputs) -> list[ConstraintResult]:
    n, cls, rx = inp.n, inp.cls, inp.rx
    rows = []
    found = proto.prescriptions_for(n, cls)
    if not found and proto.prescriptions:
        elsewhere = sorted({f for p in proto.prescriptions if cls in p.child_pugh for f in p.fractions})
        c = _row(f"rx-{n}fx", "Prescription", "Prescription[Gy]", "in", float("nan"), proto.id, "primary")
        rows.append(_not_evaluable(
            c, f"no prescription is sourced for Child-Pugh {cls} in {n} fractions"
               + (f" (sourced for {', '.join(map(str, elsewhere))} fx)" if elsewhere else ""),
            f"{n} fx", kind="prescription", unit="Gy"))
    for p in found:
        checks = []
        if p.min_gy is not None:
            checks.append(("Prescription[Gy]", ">=", p.min_gy, "Gy", rx))
        if p.max_gy is not None:
            checks.append(("Prescription[Gy]", "<=", p.max_gy, "Gy", rx))
        if p.min_bed_gy is not None:
            label = DoseQuantity.bed(p.bed_alpha_beta).label
            checks.append((f"Prescription[{label}]", ">=", p.min_bed_gy, label,
                           None if rx is None else rx * (1.0 + rx / n / p.bed_alpha_beta)))
        for metric, comp, limit, unit, value in checks:
            c = _row(p.id, "Prescription", metric, comp, limit, p.source, p.confidence, note=p.note)
            if not inp.rx_from_plan:
                rows.append(_not_evaluable(c, "the plan states no prescription: give --prescription", f"{n} fx",
                                           kind="prescription", unit=unit))
            else:
                rows.append(ConstraintResult(constraint=c, roi=f"{n} fx", unit=unit, value=value,
                                             verdict=verdict_for(value, comp, limit), kind="prescription"))
    return rows


def _child_pugh_row(proto: Protocol, cp: ChildPugh | None) -> list[ConstraintResult]:
    limit = proto.eligible_child_pugh_max_score
    if limit is None:
        return []
    c = _row("child-pugh-eligibility", "Patient", "ChildPugh[points]", "<=", float(limit),
             proto.eligibility_source, proto.eligibility_confidence)
    if cp is None:
        depends = (any(set(x.child_pugh) != {"A", "B"} or x.not_evaluable_for for x in proto.constraints)
                   or any(set(p.child_pugh) != {"A", "B"} for p in proto.prescriptions))
        if not depends:
            return []
        return [_not_evaluable(c, "Child-Pugh class unknown: give --child-pugh (e.g. A5, B7) or --labs; liver "
                                  "limits differ by class", "Child-Pugh ?", kind="eligibility", unit="points")]
    scores = cp.possible_scores()
    if all(s <= limit for s in scores):
        verdict, reason = PASS, ""
    elif not any(s <= limit for s in scores):
        verdict, reason = FAIL, f"Child-Pugh {cp.label} is not eligible for {proto.id} (score <= {limit} required)"
    else:
        verdict, reason = NOT_EVALUABLE, (f"Child-Pugh class {cp.cls} spans scores {scores.start}-{scores.stop - 1}; "
                                          f"give the score (e.g. {cp.cls}{scores.start})")
    value = float(cp.score) if cp.score is not None else None
    return [ConstraintResult(constraint=c, roi=f"Child-Pugh {cp.label}", unit="points", value=value,
                             verdict=verdict, reason=reason, kind="eligibility")]


# --- stage 3: dose constraints ---------------------------------------------------------------
class _Evaluator:
    def __init__(self, case, inp: _Inputs, proto: Protocol, matches) -> None:
        self.case = case
        self.inp = inp
        self.proto = proto
        self.matches = matches
        self.grids = {}
        self.dvhs = {}
        self.used = {}

    def grid(self, label: str):
        if label in ("Gy", "cGy", None):
            return self.inp.total
        if label not in self.grids:
            q = DoseQuantity.parse(label)
            self.grids[label] = (self.case.eqd2(q.alpha_beta, fractions=self.inp.n) if q.kind is DoseKind.EQD2
                                 else self.case.bed(q.alpha_beta, fractions=self.inp.n))
        return self.grids[label]

    def dvh(self, expression: str, label: str | None):
        key = (expression, label if label not in ("cGy",) else "Gy")
        if key not in self.dvhs:
            grid = self.grid(label)
            physical = label in ("Gy", "cGy", None)
            self.dvhs[key] = self.case.dvh(expression, dose=grid, prescription_gy=self.inp.rx if physical else None)
            if physical:
                self.used.setdefault(expression, self.dvhs[key])
        return self.dvhs[key]

    def condition(self, cond: Condition) -> tuple[bool | None, str]:
        """(holds, description) for a constraint's condition; None when it cannot be checked."""
        m = self.matches.get(cond.structure)
        if m is None or not m.found or self.inp.total is None:
            return None, f"condition {cond.text()} cannot be checked ({cond.structure} not available)"
        spec = parse_metric(cond.metric)
        try:
            value = self.dvh(m.expression, spec.dose_label).evaluate(spec).value
        except DoseCalcError as exc:
            return None, f"condition {cond.text()} cannot be checked: {exc}"
        if value is None or not math.isfinite(value):
            return None, f"condition {cond.text()} cannot be checked (no value)"
        holds = meets(value, cond.comparator, cond.limit)
        return holds, f"condition {cond.text()} {'holds' if holds else 'does not hold'} ({value:.1f})"

    def evaluate(self, c: Constraint, extra_note: str) -> list[ConstraintResult]:
        match: StructureMatch = self.matches[c.structure]
        required = self.proto.structure(c.structure).required
        spec = parse_metric(c.metric)
        note = "; ".join(x for x in (c.note, extra_note) if x)

        def na(reason, roi=""):
            return ConstraintResult(constraint=c, roi=roi, unit=spec.output_unit, value=None, verdict=NOT_EVALUABLE,
                                    reason=reason, note=note, required=required)

        if not match.found:
            return [na(f"structure {c.structure} {match.reason}")]
        if self.inp.total is None:
            return [na(self.inp.dose_reason, match.expression)]
        label = spec.dose_label
        if spec.needs_prescription and self.inp.rx is None:
            return [na("metric is relative to the prescription, which is unknown: give --prescription",
                       match.expression)]
        if spec.needs_prescription and label not in (None, "Gy", "cGy"):
            return [na("a % of prescription metric on converted dose is not defined", match.expression)]
        if c.when is not None:
            holds, text = self.condition(c.when)
            if holds is not True:
                return [na(f"{text}: the source gives this limit only when it holds", match.expression)]
            note = "; ".join(x for x in (note, text) if x)
        level2_applies = True
        if c.level2 is not None and c.level2_when is not None:
            holds, text = self.condition(c.level2_when)
            level2_applies = holds is True
            note = "; ".join(x for x in (note, f"level 2: {text}"
                                         + ("" if level2_applies else ", so it does not apply")) if x)
        items = match.items()
        chosen_note = ""
        if match.combine == "lowest_mean" and len(items) > 1:
            try:
                means = [(self.dvh(e, "Gy").mean_gy, e) for e in items]
            except DoseCalcError as exc:
                return [na(str(exc), " / ".join(items))]
            means.sort(key=lambda t: (t[0], t[1]))
            items = [means[0][1]]
            chosen_note = (f"{means[0][1]} chosen: lowest mean dose among "
                           + ", ".join(f"{e} {m:.2f} Gy" for m, e in sorted(means, key=lambda t: t[1])))
        out = []
        for expr in items:
            try:
                res = self.dvh(expr, label).evaluate(spec)
            except DoseCalcError as exc:
                out.append(na(str(exc), expr))
                continue
            l2 = c.level2 if level2_applies else None
            verdict = verdict_for(res.value, c.comparator, c.limit, l2, c.level2_kind if l2 is not None else None)
            reason = "" if verdict != NOT_EVALUABLE else (res.note or "metric has no value")
            row_note = "; ".join(x for x in (note, chosen_note, res.note if verdict != NOT_EVALUABLE else "") if x)
            out.append(ConstraintResult(constraint=c, roi=expr, unit=res.unit, value=res.value, verdict=verdict,
                                        reason=reason, note=row_note, required=required,
                                        level2_applies=level2_applies))
        return out


def _dose_rows(case, proto: Protocol, inp: _Inputs, matches, selection: _Selection):
    ev = _Evaluator(case, inp, proto, matches)
    rows = list(selection.rows)
    for c in selection.constraints:
        if inp.cls in c.not_evaluable_for and inp.cls not in c.child_pugh:
            rows.append(ConstraintResult(
                constraint=c, roi="", unit=parse_metric(c.metric).output_unit, value=None, verdict=NOT_EVALUABLE,
                reason=f"Child-Pugh {inp.cls}: {c.not_evaluable_reason}", note=c.note))
            continue
        extra = ""
        if inp.child_pugh is None and c.not_evaluable_for:
            extra = "Child-Pugh A value; the class is unknown"
        rows += ev.evaluate(c, extra)
    return rows, ev.used


# --- the pipeline ------------------------------------------------------------------------------
def check(case, protocol, fractions: int | None = None, child_pugh=None, labs=None, mapping: dict | None = None,
          prescription_gy: float | None = None, *, site: str | None = None, convert: bool = False,
          transition_dose: float | None = None, curves: bool = True) -> Report:
    """Check a plan against a protocol.

    Parameters
    ----------
    case : Case
        The loaded plan (dose, structures, RTPLAN).
    protocol : Protocol or str or Path
        A protocol, a built-in id (``"hcc-oligoprogression"``) or a TOML file.
    fractions : int, optional
        Number of fractions; default the RTPLAN's NumberOfFractionsPlanned.  On a
        course-total dose grid it must agree with the RTPLAN (else ParameterError).
    child_pugh : str or ChildPugh, optional
        ``"A5"``, ``"B7"``, ``"B"``...; selects the constraint set.  Without it (and
        without ``labs``) the class-A values are shown and the report is incomplete.
    labs : Labs, dict or path, optional
        Laboratory values (see :func:`dosecalc.protocols.liver_function.load_labs`): the
        Child-Pugh score and ALBI grade are computed from them.
    mapping : dict, optional
        ``{protocol structure: ROI name or expression}`` overriding the matching.
    prescription_gy : float, optional
        Prescription (total dose, Gy); default the RTPLAN's, else the protocol's nominal
        dose for the fractionation (then the prescription checks are not evaluable).
    site : str, optional
        Treated-site profile of the protocol (``liver``, ``lung``, ``bone``...): which
        organs are checked.  Default: the protocol's ``default_site``.
    convert : bool
        For organs without a sourced table at this fractionation, convert the nearest
        sourced table isoeffectively (LQ-L, the organ's alpha/beta); every converted row
        is labelled.  Default False: such organs are not evaluable.
    transition_dose : float, optional
        LQ-L transition dose per fraction (Gy) for ``convert``; default 2 a/b per organ.
    curves : bool
        Keep DVH curves of the evaluated structures for plots (default True).

    Returns
    -------
    Report

    Raises
    ------
    ProtocolError, ParameterError
        Bad protocol, bad liver-function input, non-physical dose, bad mapping, a
        ``fractions`` that contradicts the RTPLAN of a course-total grid, unknown site.
    """
    proto = load_protocol(protocol)
    if transition_dose is not None and not (isinstance(transition_dose, (int, float))
                                            and math.isfinite(transition_dose) and transition_dose > 0):
        raise ParameterError(f"transition_dose must be a positive number of Gy, got {transition_dose!r}")
    site_obj = proto.site(site)
    inp = _inputs(case, proto, fractions, child_pugh, labs, prescription_gy)
    notes = list(inp.notes)
    structures = site_obj.structures if site_obj is not None else tuple(s.name for s in proto.structures)
    all_matches = match_structures(proto, case.structures, mapping)
    matches = {k: m for k, m in all_matches.items() if k in structures}
    results = _child_pugh_row(proto, inp.child_pugh)
    used: dict = {}
    if inp.n is None:
        c = _row("fractions", "Plan", "Fractions", "in", float("nan"), proto.id, "primary")
        why = (case.plan.fractions_reason if getattr(case, "plan", None) is not None and case.plan.fractions_reason
               else "no RTPLAN NumberOfFractionsPlanned")
        results.append(_not_evaluable(c, f"number of fractions unknown ({why}): give --fractions",
                                      kind="prescription", unit="fx"))
    else:
        results += _prescription_rows(proto, inp)
        selection = _select(proto, inp.n, inp.cls, structures, convert, transition_dose)
        notes += selection.notes
        rows, used = _dose_rows(case, proto, inp, all_matches, selection)
        results += rows
        if inp.cls == "B":
            notes.append("Child-Pugh B: normal-liver limits have no sourced class-B value and are not evaluable "
                         "(grade >= 3 hepatic toxicity at 48 Gy/3 fx in Child-Pugh B, Cardenes 2010); other organs "
                         "keep their limits")
    for m in matches.values():
        for note in m.notes:
            notes.append(f"{m.name}: {note}")
    paths = [f.path for f in getattr(case, "files", ())]
    label = str(Path(paths[0]).parent) if paths else ""
    return Report(protocol=proto, fractions=inp.n, fractions_source=inp.n_source, child_pugh=inp.child_pugh,
                  constraint_set=inp.cls, albi=inp.albi, prescription_gy=inp.rx, prescription_source=inp.rx_source,
                  matches=matches, results=tuple(results), notes=tuple(notes),
                  curves=tuple(_curves(used)) if curves else (), case_label=label,
                  dose_description=inp.dose_description, dose_reading=inp.dose_reading,
                  site=site_obj.id if site_obj else "", converted=convert)


def _curves(dvhs: dict) -> list[Curve]:
    out = []
    for expr, dvh in dvhs.items():
        if not (dvh.covered_cc > 0 and math.isfinite(dvh.max_gy)):
            continue
        hi = dvh.max_gy * 1.02 + 1e-9
        dose = np.linspace(0.0, hi, 161)
        d, v = dvh.cumulative(dose, relative=True)
        out.append(Curve(expr, d, v, dvh.volume_cc))
    return out
