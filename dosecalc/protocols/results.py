"""Results of a protocol check: one :class:`ConstraintResult` per row, the :class:`Report`.

A row holds the :class:`~.schema.Constraint` it evaluated (rows that are not dose
constraints of the protocol file, such as prescription, Child-Pugh and fractionation rows,
carry a constraint built by :func:`plan_row`), so each number has one home.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..metrics import parse_metric
from .liver_function import ALBI_SOURCE, ChildPugh
from .schema import Constraint, Protocol
from .verdict import Verdict, exit_code, overall_verdict

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
    #: patient, plan, UIDs, versions, run time and settings (see protocols/identity.py)
    identity: dict = field(default_factory=dict)

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
            "identity": dict(self.identity),
        }

    to_dict = as_dict

    # --- notebook and export conveniences (see protocols/report.py, tables.py, display.py)
    def __repr__(self) -> str:
        from ..display import report_repr

        return report_repr(self)

    def _repr_html_(self) -> str:
        from ..display import report_html

        return report_html(self)

    def to_dataframe(self):
        """One row per constraint, the plan's identity on every row (needs pandas)."""
        from ..tables import report_frame

        return report_frame(self)

    def to_html(self, plot: str = "auto") -> str:
        """The self-contained HTML report (see :func:`dosecalc.protocols.report.to_html`)."""
        from .report import to_html

        return to_html(self, plot=plot)

    def to_csv(self) -> str:
        """One CSV row per constraint (see :func:`dosecalc.protocols.report.to_csv`)."""
        from .report import to_csv

        return to_csv(self)

    def to_json(self) -> str:
        """The JSON report (``dosecalc check --format json``)."""
        from .report import to_json

        return to_json(self)


def plan_row(id_, structure, metric, comparator, limit, source, confidence, **kw) -> Constraint:
    """A constraint for a row that is not a dose constraint of the protocol file."""
    return Constraint(id=id_, structure=structure, metric=metric, comparator=comparator, limit=limit,
                      fractions=(), child_pugh=(), source=source, confidence=confidence, **kw)


def not_evaluable_row(c: Constraint, reason: str, roi: str = "", *, kind="dose", required=True, unit=None):
    unit = unit if unit is not None else parse_metric(c.metric).output_unit if kind == "dose" else ""
    return ConstraintResult(constraint=c, roi=roi, unit=unit, value=None, verdict=NOT_EVALUABLE,
                            reason=reason, kind=kind, required=required)
