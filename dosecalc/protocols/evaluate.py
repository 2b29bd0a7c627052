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

:func:`check` is a pipeline of named stages: ``resolve_inputs`` (:mod:`.inputs`:
fractions, Child-Pugh, total dose, prescription), ``match_structures`` (the site's
organs), ``select_constraints`` (:mod:`.selection`: the sourced row of each limit for the
fractionation, or labelled conversions with ``convert``), ``_prescription_rows`` /
``_child_pugh_row`` and ``_dose_rows`` (DVH metrics), then the
:class:`Report`.  Child-Pugh: a constraint lists the classes its value is sourced for;
``not_evaluable_for`` classes get the row as not evaluable with the reason, never another
class's value.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DoseCalcError, ParameterError
from ..metrics import parse_metric
from ..quantity import DoseKind, DoseQuantity
from .identity import report_identity
from .inputs import Inputs, resolve_inputs
from .liver_function import ChildPugh
from .matching import StructureMatch, match_structures
from .results import (ACCEPTABLE, FAIL, NOT_EVALUABLE, PASS, VERDICTS, ConstraintResult, Curve, Report,
                      not_evaluable_row, plan_row)
from .schema import Condition, Constraint, Protocol, load_protocol
from .selection import Selection, select_constraints
from .verdict import Verdict, meets, overall_verdict, verdict_for

if TYPE_CHECKING:  # pragma: no cover
    from ..dvh import DVH
    from ..model import DoseGrid

__all__ = ["ACCEPTABLE", "FAIL", "NOT_EVALUABLE", "PASS", "VERDICTS", "ConstraintResult", "Curve", "Report",
           "Verdict", "check", "meets", "overall_verdict", "verdict_for"]


def _prescription_rows(proto: Protocol, inp: Inputs) -> list[ConstraintResult]:
    n, cls, rx = inp.n, inp.cls, inp.rx
    rows = []
    found = proto.prescriptions_for(n, cls)
    if not found and proto.prescriptions:
        elsewhere = sorted({f for p in proto.prescriptions if cls in p.child_pugh for f in p.fractions})
        c = plan_row(f"rx-{n}fx", "Prescription", "Prescription[Gy]", "in", float("nan"), proto.id, "primary")
        rows.append(not_evaluable_row(
            c, f"no prescription is sourced for Child-Pugh {cls} in {n} fractions"
               + (f" (sourced for {', '.join(map(str, elsewhere))} fx)" if elsewhere else ""),
            f"{n} fx", kind="prescription", unit="Gy"))
    for p in found:
        checks = []
        if p.min_gy is not None:
            checks.append(("Prescription[Gy]", ">=", p.min_gy, "Gy", rx))
        if p.max_gy is not None:
            checks.append(("Prescription[Gy]", "<=", p.max_gy, "Gy", rx))
        if p.min_bed_gy is not None and p.bed_alpha_beta is not None:  # the schema sets both or neither
            ab = p.bed_alpha_beta
            label = DoseQuantity.bed(ab).label
            checks.append((f"Prescription[{label}]", ">=", p.min_bed_gy, label,
                           None if rx is None or n is None else rx * (1.0 + rx / n / ab)))
        for metric, comp, limit, unit, value in checks:
            c = plan_row(p.id, "Prescription", metric, comp, limit, p.source, p.confidence, note=p.note)
            if not inp.rx_from_plan:
                rows.append(not_evaluable_row(c, "the plan states no prescription: give --prescription", f"{n} fx",
                                           kind="prescription", unit=unit))
            else:
                rows.append(ConstraintResult(constraint=c, roi=f"{n} fx", unit=unit, value=value,
                                             verdict=verdict_for(value, comp, limit), kind="prescription"))
    return rows


def _child_pugh_row(proto: Protocol, cp: ChildPugh | None) -> list[ConstraintResult]:
    limit = proto.eligible_child_pugh_max_score
    if limit is None:
        return []
    c = plan_row("child-pugh-eligibility", "Patient", "ChildPugh[points]", "<=", float(limit),
             proto.eligibility_source, proto.eligibility_confidence)
    if cp is None:
        depends = (any(set(x.child_pugh) != {"A", "B"} or x.not_evaluable_for for x in proto.constraints)
                   or any(set(p.child_pugh) != {"A", "B"} for p in proto.prescriptions))
        if not depends:
            return []
        return [not_evaluable_row(c, "Child-Pugh class unknown: give --child-pugh (e.g. A5, B7) or --labs; liver "
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
    def __init__(self, case, inp: Inputs, proto: Protocol, matches) -> None:
        self.case = case
        self.inp = inp
        self.proto = proto
        self.matches = matches
        self.grids: dict[str, DoseGrid] = {}
        self.dvhs: dict[tuple[str, str | None], DVH] = {}
        self.used: dict[str, DVH] = {}

    def grid(self, label: str | None):
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


def _dose_rows(case, proto: Protocol, inp: Inputs, matches, selection: Selection):
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

    Examples
    --------
    ``export_dir`` holds the synthetic export (:func:`dosecalc.phantom.write_case`: 5
    fractions, 40 Gy): one constraint (large bowel D0.03cc) is met at its acceptable level.

    >>> import dosecalc
    >>> case = dosecalc.load(export_dir)
    >>> report = dosecalc.check(case, "hcc-oligoprogression", child_pugh="A6")
    >>> str(report.verdict), report.exit_code, report.fractions
    ('acceptable', 0, 5)
    >>> row = next(r for r in report.results if r.id == "liver-gtv-cv15-5fx")
    >>> row.metric, row.comparator, row.limit, str(row.verdict)   # >= 700 cc of liver below 15 Gy
    ('CV15Gy[cc]', '>=', 700.0, 'pass')
    >>> str(dosecalc.check(case, "hcc-oligoprogression").verdict)  # no Child-Pugh class given
    'incomplete'
    """
    proto = load_protocol(protocol)
    if transition_dose is not None and not (isinstance(transition_dose, (int, float))
                                            and math.isfinite(transition_dose) and transition_dose > 0):
        raise ParameterError(f"transition_dose must be a positive number of Gy, got {transition_dose!r}")
    site_obj = proto.site(site)
    inp = resolve_inputs(case, proto, fractions, child_pugh, labs, prescription_gy)
    notes = list(inp.notes)
    structures = site_obj.structures if site_obj is not None else tuple(s.name for s in proto.structures)
    all_matches = match_structures(proto, case.structures, mapping)
    matches = {k: m for k, m in all_matches.items() if k in structures}
    results = _child_pugh_row(proto, inp.child_pugh)
    used: dict = {}
    if inp.n is None:
        c = plan_row("fractions", "Plan", "Fractions", "in", float("nan"), proto.id, "primary")
        why = (case.plan.fractions_reason if getattr(case, "plan", None) is not None and case.plan.fractions_reason
               else "no RTPLAN NumberOfFractionsPlanned")
        results.append(not_evaluable_row(c, f"number of fractions unknown ({why}): give --fractions",
                                      kind="prescription", unit="fx"))
    else:
        results += _prescription_rows(proto, inp)
        selection = select_constraints(proto, inp.n, inp.cls, structures, convert, transition_dose)
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
                  site=site_obj.id if site_obj else "", converted=convert,
                  identity=report_identity(case, proto))


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
