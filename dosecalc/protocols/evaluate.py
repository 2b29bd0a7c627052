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
``incomplete`` if any is not evaluable, else ``acceptable`` if any is acceptable, else
``pass``.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DoseCalcError, ParameterError
from ..metrics import parse_metric
from ..quantity import DoseKind, DoseQuantity
from ..summation import Summation, classify
from .liver_function import (ALBI_SOURCE, ChildPugh, Labs, albi_grade, albi_score, child_pugh_from_labs,
                             load_labs, parse_child_pugh, parse_labs)
from .matching import StructureMatch, match_structures
from .schema import Constraint, Protocol, load_protocol

PASS, ACCEPTABLE, FAIL, NOT_EVALUABLE = "pass", "acceptable", "fail", "not evaluable"
VERDICTS = (PASS, ACCEPTABLE, FAIL, NOT_EVALUABLE)
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def meets(value: float, comparator: str, limit: float) -> bool:
    """``value comparator limit`` exactly as written (no tolerance)."""
    return bool(_OPS[comparator](value, limit))


def verdict_for(value: float | None, comparator: str, limit: float, level2: float | None = None,
                level2_kind: str | None = None) -> str:
    """Verdict of one value against a constraint's levels.

    Parameters
    ----------
    value : float or None
        Metric value (None or NaN -> ``not evaluable``).
    comparator : {"<", "<=", ">", ">="}
    limit : float
    level2 : float, optional
        Second level: an acceptable variation (looser) or an ideal goal (stricter).
    level2_kind : {"acceptable", "ideal"}, optional

    Returns
    -------
    str
        ``pass``, ``acceptable``, ``fail`` or ``not evaluable``.
    """
    if value is None or not math.isfinite(value):
        return NOT_EVALUABLE
    ok = meets(value, comparator, limit)
    if level2 is None:
        return PASS if ok else FAIL
    ok2 = meets(value, comparator, level2)
    if level2_kind == "acceptable":
        return PASS if ok else ACCEPTABLE if ok2 else FAIL
    if level2_kind == "ideal":
        return (PASS if ok2 else ACCEPTABLE) if ok else FAIL
    raise ParameterError(f"level2_kind must be 'acceptable' or 'ideal', got {level2_kind!r}")


def overall_verdict(verdicts) -> str:
    """``fail`` > ``incomplete`` (some not evaluable) > ``acceptable`` > ``pass``."""
    v = list(verdicts)
    if FAIL in v:
        return FAIL
    if NOT_EVALUABLE in v or not v:
        return "incomplete"
    if ACCEPTABLE in v:
        return ACCEPTABLE
    return PASS


@dataclass(frozen=True)
class ConstraintResult:
    """The outcome of one constraint on one structure.

    ``value``/``limit``/``level2`` are in ``unit`` (the metric's output unit: Gy, cc, %,
    or a converted-dose label); ``roi`` is what was evaluated (an ROI name or an
    expression).  ``kind`` is ``"dose"``, ``"prescription"`` or ``"eligibility"``.
    """

    id: str
    structure: str
    roi: str
    metric: str
    comparator: str
    limit: float
    unit: str
    value: float | None
    verdict: str
    reason: str
    source: str
    confidence: str
    level2: float | None = None
    level2_kind: str | None = None
    level2_source: str = ""
    level2_confidence: str = ""
    note: str = ""
    kind: str = "dose"

    def as_dict(self) -> dict:
        v = None if self.value is None or not math.isfinite(self.value) else float(self.value)
        return {
            "id": self.id, "structure": self.structure, "roi": self.roi, "metric": self.metric,
            "comparator": self.comparator, "limit": self.limit if math.isfinite(self.limit) else None,
            "unit": self.unit, "value": v,
            "level2": self.level2, "level2_kind": self.level2_kind, "verdict": self.verdict,
            "reason": self.reason, "source": self.source, "confidence": self.confidence,
            "level2_source": self.level2_source or None, "level2_confidence": self.level2_confidence or None,
            "note": self.note, "kind": self.kind,
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
        None when no liver function was given (the Child-Pugh A set is then evaluated).
    constraint_set : str
        Child-Pugh class whose constraints were evaluated.
    albi : tuple (score, grade) or None
    prescription_gy : float or None
        Reference dose for % of prescription metrics, Gy.
    prescription_source : str
    matches : dict
        Protocol structure name -> :class:`StructureMatch`.
    results : tuple of ConstraintResult
    notes : tuple of str
    curves : tuple of Curve
    case_label : str
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

    @property
    def verdict(self) -> str:
        return overall_verdict(r.verdict for r in self.results)

    @property
    def failed(self) -> bool:
        return self.verdict == FAIL

    def counts(self) -> dict[str, int]:
        out = {v: 0 for v in VERDICTS}
        for r in self.results:
            out[r.verdict] += 1
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
            "verdict": self.verdict,
            "counts": self.counts(),
            "structures": self.structures,
            "matches": {k: {"evaluated": m.expression, "rois": list(m.rois), "how": m.how,
                            "notes": list(m.notes), "reason": m.reason or None}
                        for k, m in self.matches.items()},
            "constraints": [r.as_dict() for r in self.results],
            "notes": list(self.notes),
        }

    to_dict = as_dict


# --- inputs ----------------------------------------------------------------------------
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


def _bed(total_gy: float, n: int, ab: float) -> float:
    d = total_gy / n
    return total_gy * (1.0 + d / ab)


# --- evaluation -------------------------------------------------------------------------
class _Evaluator:
    def __init__(self, case, total, n, rx, dose_reason) -> None:
        self.case = case
        self.total = total
        self.n = n
        self.rx = rx
        self.dose_reason = dose_reason
        self.grids = {}
        self.dvhs = {}
        self.used = {}

    def grid(self, label: str):
        if label in ("Gy", "cGy", None):
            return self.total
        if label not in self.grids:
            q = DoseQuantity.parse(label)
            self.grids[label] = (self.case.eqd2(q.alpha_beta, fractions=self.n) if q.kind is DoseKind.EQD2
                                 else self.case.bed(q.alpha_beta, fractions=self.n))
        return self.grids[label]

    def dvh(self, expression: str, label: str | None):
        key = (expression, label if label not in ("cGy",) else "Gy")
        if key not in self.dvhs:
            grid = self.grid(label)
            physical = label in ("Gy", "cGy", None)
            self.dvhs[key] = self.case.dvh(expression, dose=grid, prescription_gy=self.rx if physical else None)
            if physical:
                self.used.setdefault(expression, self.dvhs[key])
        return self.dvhs[key]

    def evaluate(self, c: Constraint, match: StructureMatch, extra_note: str) -> list[ConstraintResult]:
        spec = parse_metric(c.metric)
        base = dict(id=c.id, structure=c.structure, metric=c.metric, comparator=c.comparator, limit=c.limit,
                    unit=spec.output_unit, source=c.source, confidence=c.confidence, level2=c.level2,
                    level2_kind=c.level2_kind, level2_source=c.level2_source,
                    level2_confidence=c.level2_confidence,
                    note="; ".join(x for x in (c.note, extra_note) if x))

        def na(reason, roi=""):
            return ConstraintResult(roi=roi, value=None, verdict=NOT_EVALUABLE, reason=reason, **base)

        if not match.found:
            return [na(f"structure {c.structure} {match.reason}")]
        if self.total is None:
            return [na(self.dose_reason, match.expression)]
        label = spec.dose_label
        if spec.needs_prescription and self.rx is None:
            return [na("metric is relative to the prescription, which is unknown: give --prescription",
                       match.expression)]
        if spec.needs_prescription and label not in (None, "Gy", "cGy"):
            return [na("a % of prescription metric on converted dose is not defined", match.expression)]
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
                dvh = self.dvh(expr, label)
                res = dvh.evaluate(spec)
            except DoseCalcError as exc:
                out.append(na(str(exc), expr))
                continue
            value = res.value
            verdict = verdict_for(value, c.comparator, c.limit, c.level2, c.level2_kind)
            reason = "" if verdict != NOT_EVALUABLE else (res.note or "metric has no value")
            note = "; ".join(x for x in (base["note"], chosen_note,
                                         res.note if verdict != NOT_EVALUABLE else "") if x)
            row = ConstraintResult(roi=expr, value=value, verdict=verdict, reason=reason,
                                   **{**base, "unit": res.unit, "note": note})
            out.append(row)
        return out


def _prescription_rows(protocol: Protocol, n, cls, rx, rx_from_plan) -> list[ConstraintResult]:
    rows = []
    for p in protocol.prescriptions_for(n, cls):
        checks = []
        if p.min_gy is not None:
            checks.append(("Prescription[Gy]", ">=", p.min_gy, "Gy", rx))
        if p.max_gy is not None:
            checks.append(("Prescription[Gy]", "<=", p.max_gy, "Gy", rx))
        if p.min_bed_gy is not None:
            label = DoseQuantity.bed(p.bed_alpha_beta).label
            checks.append((f"Prescription[{label}]", ">=", p.min_bed_gy, label,
                           None if rx is None else _bed(rx, n, p.bed_alpha_beta)))
        for metric, comp, limit, unit, value in checks:
            if not rx_from_plan:
                verdict, reason, value = NOT_EVALUABLE, "the plan states no prescription: give --prescription", None
            else:
                verdict, reason = verdict_for(value, comp, limit), ""
            rows.append(ConstraintResult(
                id=p.id, structure="Prescription", roi=f"{n} fx", metric=metric, comparator=comp, limit=limit,
                unit=unit, value=value, verdict=verdict, reason=reason, source=p.source,
                confidence=p.confidence, note=p.note, kind="prescription"))
    return rows


def _child_pugh_row(protocol: Protocol, cp: ChildPugh | None) -> list[ConstraintResult]:
    limit = protocol.eligible_child_pugh_max_score
    if limit is None or cp is None:
        return []
    scores = cp.possible_scores()
    if all(s <= limit for s in scores):
        verdict, reason = PASS, ""
    elif not any(s <= limit for s in scores):
        verdict, reason = FAIL, f"Child-Pugh {cp.label} is not eligible for {protocol.id} (score <= {limit} required)"
    else:
        verdict, reason = NOT_EVALUABLE, (f"Child-Pugh class {cp.cls} spans scores {scores.start}-{scores.stop - 1}; "
                                          f"give the score (e.g. {cp.cls}{scores.start})")
    value = float(cp.score) if cp.score is not None else None
    return [ConstraintResult(
        id="child-pugh-eligibility", structure="Patient", roi=f"Child-Pugh {cp.label}",
        metric="ChildPugh[points]", comparator="<=", limit=float(limit), unit="points", value=value,
        verdict=verdict, reason=reason, source=protocol.eligibility_source,
        confidence=protocol.eligibility_confidence, kind="eligibility")]


def check(case, protocol, fractions: int | None = None, child_pugh=None, labs=None, mapping: dict | None = None,
          prescription_gy: float | None = None, *, curves: bool = True) -> Report:
    """Check a plan against a protocol.

    Parameters
    ----------
    case : Case
        The loaded plan (dose, structures, RTPLAN).
    protocol : Protocol or str or Path
        A protocol, a built-in id (``"hcc-oligoprogression"``) or a TOML file.
    fractions : int, optional
        Number of fractions; default the RTPLAN's NumberOfFractionsPlanned.
    child_pugh : str or ChildPugh, optional
        ``"A5"``, ``"B7"``, ``"B"``...; selects the constraint set.  Without it (and
        without ``labs``) the Child-Pugh A set is evaluated and the report says so.
    labs : Labs, dict or path, optional
        Laboratory values (see :func:`dosecalc.protocols.liver_function.load_labs`): the
        Child-Pugh score and ALBI grade are computed from them.
    mapping : dict, optional
        ``{protocol structure: ROI name or expression}`` overriding the matching.
    prescription_gy : float, optional
        Prescription (total dose, Gy); default the RTPLAN's, else the protocol's nominal
        dose for the fractionation (then the prescription checks are not evaluable).
    curves : bool
        Keep DVH curves of the evaluated structures for plots (default True).

    Returns
    -------
    Report

    Raises
    ------
    ProtocolError, ParameterError
        Bad protocol, bad liver-function input, non-physical dose, bad mapping.
    """
    proto = load_protocol(protocol)
    notes: list[str] = []

    if fractions is not None:
        if isinstance(fractions, bool) or not isinstance(fractions, (int, np.integer)) or fractions < 1:
            raise ParameterError(f"fractions must be a whole number >= 1, got {fractions!r}")
        n, n_src = int(fractions), "given"
        if case.fractions is not None and case.fractions != n:
            notes.append(f"--fractions {n} differs from the RTPLAN's NumberOfFractionsPlanned {case.fractions}")
    elif case.fractions is not None:
        n, n_src = int(case.fractions), "RTPLAN NumberOfFractionsPlanned"
    else:
        n, n_src = None, "unknown"

    cp, albi, lf_notes = _liver_function(child_pugh, labs)
    notes += lf_notes
    if cp is None:
        cls = "A"
        notes.append("no liver-function input (--child-pugh or --labs): the Child-Pugh A constraint set "
                     "is evaluated")
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

    matches = match_structures(proto, case.structures, mapping)
    used: dict = {}
    results: list[ConstraintResult] = []
    results += _child_pugh_row(proto, cp)

    if n is None:
        results.append(ConstraintResult(
            id="fractions", structure="Plan", roi="", metric="Fractions", comparator="in", limit=float("nan"),
            unit="fx", value=None, verdict=NOT_EVALUABLE,
            reason=("number of fractions unknown ("
                    + (case.plan.fractions_reason if case.plan is not None and case.plan.fractions_reason
                       else "no RTPLAN NumberOfFractionsPlanned") + "): give --fractions"),
            source=proto.id, confidence="primary", kind="prescription"))
    elif n not in proto.fractionations:
        results.append(ConstraintResult(
            id="fractions", structure="Plan", roi=f"{n} fx", metric="Fractions", comparator="in",
            limit=float("nan"), unit="fx", value=float(n), verdict=NOT_EVALUABLE,
            reason=f"{proto.id} defines constraints for {', '.join(map(str, proto.fractionations))} fractions, "
                   f"not {n}", source=proto.id, confidence="primary", kind="prescription"))
    else:
        results += _prescription_rows(proto, n, cls, rx, rx_from_plan)
        ev = _Evaluator(case, total, n, rx, dose_reason)
        for c in proto.constraints_for(n, cls):
            extra = ""
            if cls == "B" and "A" in c.child_pugh:
                extra = ("no Child-Pugh B-specific value is sourced for this constraint; the Child-Pugh A "
                         "value is used")
            results += ev.evaluate(c, matches[c.structure], extra)
        used = ev.used
        if cls == "B":
            notes.append("Child-Pugh B: stricter limits are advised (grade >= 3 hepatic toxicity at 48 Gy/3 fx "
                         "in Child-Pugh B, Cardenes 2010); only the limits the protocol sources for class B "
                         "differ, every other constraint keeps its Child-Pugh A value")
    curve_list = _curves(used) if curves else ()
    for m in matches.values():
        for note in m.notes:
            notes.append(f"{m.name}: {note}")
    label = ""
    paths = [f.path for f in getattr(case, "files", ())]
    if paths:
        label = str(Path(paths[0]).parent)
    return Report(protocol=proto, fractions=n, fractions_source=n_src, child_pugh=cp, constraint_set=cls,
                  albi=albi, prescription_gy=rx, prescription_source=rx_src, matches=matches,
                  results=tuple(results), notes=tuple(notes), curves=tuple(curve_list), case_label=label,
                  dose_description=dose_desc, dose_reading="" if reading is None else reading.text)


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
