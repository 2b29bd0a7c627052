"""Stage 1 of a protocol check: what the plan and the user say, resolved once.

Number of fractions (``--fractions`` on a course-total grid must agree with the RTPLAN),
Child-Pugh class and ALBI (given or computed from labs), the total physical dose (the
dose reading and the one summation rule of :mod:`dosecalc.summation`), the prescription.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..summation import Summation, classify
from .liver_function import (ALBI_SOURCE, ChildPugh, Labs, albi_grade, albi_score, child_pugh_from_labs,
                             load_labs, parse_child_pugh, parse_labs)
from .schema import Protocol


@dataclass(frozen=True)
class Inputs:
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
    from ..dose_reading import grid_summation, reading_sentence

    how = grid_summation(grid)  # the rule of dosecalc.summation, with the RTPLAN cross-check
    why = reading_sentence(grid)
    if why:
        if how is Summation.COURSE_TOTAL:
            return grid, why, ""
        if n is None:
            return None, "", (f"the dose grid is {why} and the number of fractions is unknown: "
                              "give --fractions")
        total = grid.with_values(grid.values_gy * how.total_factor(n), summation_type="PLAN",
                                 description=f"{grid.description}; {why} x {n} fractions "
                                             "(protocol check)".lstrip("; "))
        return total, f"dose grid {why}: multiplied by {n} fractions to the course total", ""
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
    from ..dose_reading import grid_summation

    if getattr(grid, "reading", None) is not None and grid.reading.refusal:
        return classify(grid.summation_type) is Summation.PER_FRACTION
    return grid_summation(grid) is Summation.PER_FRACTION


def _fractions(case, fractions) -> tuple[int | None, str, list[str]]:
    """Number of fractions and where it comes from.  ``--fractions`` on a course-total grid
    must agree with the RTPLAN: the total was delivered in the plan's fractions, so another
    number would apply the wrong table (and the wrong BED) to it."""
    notes: list[str] = []
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


def resolve_inputs(case, proto: Protocol, fractions, child_pugh, labs, prescription_gy) -> Inputs:
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
    if dose_desc and ("FRACTION" in dose_desc or "read as" in dose_desc):
        notes.append(dose_desc)
    reading = None if case.dose is None else case.dose.reading
    if reading is not None:
        # every report says which reading of the grid (course total / per fraction) was used
        notes.append(reading.text)
        notes.extend(reading.warnings)

    rx_from_plan = True
    rx: float | None
    if prescription_gy is not None:
        if not (isinstance(prescription_gy, (int, float)) and math.isfinite(prescription_gy) and prescription_gy > 0):
            raise ParameterError(f"prescription_gy must be a positive number of Gy, got {prescription_gy!r}")
        rx, rx_src = float(prescription_gy), "given"
    elif case.prescription_gy is not None:
        rx, rx_src = float(case.prescription_gy), "RTPLAN TargetPrescriptionDose"
    else:
        rx_from_plan = False
        nominal = [(p, p.dose_gy) for p in proto.prescriptions_for(n, cls) if p.dose_gy is not None] if n else []
        if nominal:
            first, rx = nominal[0]
            rx_src = f"protocol nominal prescription {first.id} (the plan states none)"
            notes.append(f"the plan states no prescription: % of prescription metrics use the protocol's nominal "
                         f"{rx:g} Gy ({first.source})")
        else:
            rx, rx_src = None, "unknown"
    return Inputs(n, n_src, cp, cls, albi, total, dose_desc, dose_reason, rx, rx_src, rx_from_plan, tuple(notes),
                   "" if reading is None else reading.text)
