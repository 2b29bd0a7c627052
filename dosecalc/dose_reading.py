"""Course total or dose per fraction: the RTDOSE label cross-checked against the RTPLAN.

Real exports lie about DoseSummationType: some Pinnacle exports write ``FRACTION`` on a
grid that holds the course total (the grid at the beams' BeamDoseSpecificationPoint equals
the sum of their BeamDose times NumberOfFractionsPlanned).  Believing such a label
multiplies the dose by n a second time (a 31 Gy course read as 31 Gy x 5 fractions).
So whenever an RTPLAN is loaded with the dose, :func:`cross_check` compares the grid with
what the plan says, wherever the plan allows:

* **Beam specification points.**  For a point where *every* beam of a fraction group
  specifies its BeamDose, the plan's dose per fraction there is the sum of those beams'
  BeamDose; the course total is that times NumberOfFractionsPlanned, summed over the
  fraction groups (or only the group the RTDOSE references).  A point where only some
  beams specify their dose tells nothing (the other beams' dose there is unknown).
* **Dose reference points.**  ``DoseReferencePointCoordinates`` of a TARGET reference with
  a TargetPrescriptionDose: the total there is the prescription, the dose per fraction
  the prescription over the fractions.

The grid is sampled trilinearly at each point.  A point *fits* a reading when the grid is
within :data:`POINT_TOLERANCE` (10 %) of it; with n >= 2 fractions the two readings are a
factor n >= 2 apart, so no value fits both.  Then:

* every fitting point says the label's reading: ``agrees`` (nothing changes);
* every fitting point says the other reading: ``contradicts``: the plan's reading is
  used, warned about, and said in every report;
* fitting points disagree: ``ambiguous``: BED/EQD2 and protocol checks refuse with a
  one-line error naming both readings and the ``dose_is`` choice
  (``--dose-is total|per-fraction``);
* points were checked but none fits: ``inconclusive``: the label is used, with a note
  (the point may sit in a steep gradient or outside the beams);
* nothing to check (no RTPLAN, no BeamDose at a common point, a single fraction where
  both readings coincide, a label that is neither total nor per fraction): ``not
  checked`` or ``agrees`` as appropriate; the label is used.

The user's ``dose_is`` always wins and is recorded as such (source ``option``), with the
cross-check's verdict beside it.

Plausibility guards (:func:`plausibility`) never pass silently: a dose per fraction above
:data:`MAX_DOSE_PER_FRACTION_GY` (no SBRT/SRS course delivers it; Gamma Knife
functional single fractions reach 90 Gy at most) and a grid maximum more than
:data:`MAX_TIMES_PRESCRIPTION` times the prescription are warnings in the case's notes
and in every report.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ParameterError
from .model import DoseGrid, DoseReading, FractionGroup, Plan
from .summation import Summation, classify

READING_TOTAL = Summation.COURSE_TOTAL
READING_PER_FRACTION = Summation.PER_FRACTION

#: A point fits a reading when the grid is within this fraction of the reading's dose.
POINT_TOLERANCE = 0.10
#: Specification points closer than this (mm) are one point.
SAME_POINT_MM = 0.5
#: Dose per fraction (Gy) above which a grid is implausible for any course.
MAX_DOSE_PER_FRACTION_GY = 100.0
#: Grid maximum above this many times the prescription is implausible.
MAX_TIMES_PRESCRIPTION = 1000.0
#: Converted doses (EQD2/BED, Gy) above this are warned about (:mod:`dosecalc.radiobiology`).
MAX_CONVERTED_GY = 1000.0

_WORDS = {READING_TOTAL: "course total", READING_PER_FRACTION: "dose per fraction"}
_CHOICES = {"total": READING_TOTAL, "plan": READING_TOTAL, "course-total": READING_TOTAL,
            "per-fraction": READING_PER_FRACTION, "fraction": READING_PER_FRACTION}


def parse_dose_is(value) -> Summation | None:
    """``"total"`` / ``"per-fraction"`` (also ``per_fraction``, ``fraction``, ``plan``,
    any case, or a :class:`Summation`) as :attr:`Summation.COURSE_TOTAL` /
    :attr:`Summation.PER_FRACTION`, or None; anything else is a :class:`ParameterError`."""
    if value is None:
        return None
    if value in (READING_TOTAL, READING_PER_FRACTION):
        return value
    key = str(value).strip().lower().replace("_", "-").replace(" ", "-")
    if key not in _CHOICES:
        raise ParameterError(f"dose_is must be 'total' or 'per-fraction', got {value!r}")
    return _CHOICES[key]


def _word(reading: Summation | None) -> str:
    """How a reading reads in a sentence."""
    return "no reading" if reading is None else _WORDS[reading]


def label_reading(label: str) -> Summation | None:
    """The reading a DoseSummationType label states: PLAN a course total, FRACTION a dose
    per fraction; None for every other label (the summation rule handles those)."""
    how = classify(label)
    return how if how in (READING_TOTAL, READING_PER_FRACTION) else None


def grid_summation(grid: DoseGrid) -> Summation:
    """The one summation rule with the loader's reading applied: what ``grid`` holds.

    The grid's recorded reading (:class:`DoseReading`) wins when it is not its label's
    own (the RTPLAN contradicted the label, or the user chose); otherwise the label is
    classified by :func:`dosecalc.summation.classify`.  An undecided reading (conflicting
    evidence) raises :class:`ParameterError` naming both readings and ``--dose-is``."""
    r = grid.reading
    if r is not None and r.refusal:
        where = grid.source_path or "the dose grid"
        raise ParameterError(f"{where}: course total or dose per fraction? {r.refusal}")
    if r is not None and r.overrides_label:
        return r.reading  # type: ignore[return-value]
    return classify(grid.summation_type)


def reading_sentence(grid: DoseGrid) -> str:
    """Why the grid is read as it is when that is not its label: for descriptions."""
    r = grid.reading
    if r is None or not r.overrides_label:
        return ""
    if r.source == "option":
        return f"read as {_word(r.reading)} by the user's choice (dose_is)"
    return (f"read as {_word(r.reading)} from the RTPLAN's beam doses, although DoseSummationType "
            f"is {r.label or '(absent)'}")


def _points_of(group: FractionGroup) -> list[tuple[tuple[float, float, float], float]]:
    """(point, plan dose per fraction there) for points where every beam of the group
    states its BeamDose."""
    beams = group.beams
    if not beams or any(b.dose_gy is None or b.specification_point_mm is None for b in beams):
        return []
    first = np.asarray(beams[0].specification_point_mm, dtype=np.float64)
    for b in beams[1:]:
        if np.linalg.norm(np.asarray(b.specification_point_mm) - first) > SAME_POINT_MM:
            return []
    x, y, z = (float(c) for c in first)
    return [((x, y, z), float(sum(b.dose_gy for b in beams if b.dose_gy is not None)))]  # all stated


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _pt(p) -> str:
    return "(" + ", ".join(f"{c:.1f}" for c in p) + ") mm"


def _expectations(grid: DoseGrid, plan: Plan) -> tuple[list[dict], int | None, str]:
    """Points to check, each {"point", "what", "per_fraction", "total"} (Gy; None when the
    plan does not fix that reading there); the course's fractions; a scope sentence."""
    groups = list(plan.fraction_groups)
    scope = ""
    ref = grid.referenced_fraction_group
    referenced = None if ref is None else plan.group(ref)
    if referenced is not None:
        groups = [referenced]
        scope = f"fraction group {ref} (referenced by the RTDOSE)"
        fractions = groups[0].fractions
    else:
        fractions = plan.fractions
    out: list[dict] = []
    per_group = [(g, _points_of(g)) for g in groups]
    if len(groups) == 1:
        g, pts = per_group[0]
        for p, pf in pts:
            out.append({"point": p, "what": f"BeamDoseSpecificationPoint of the {len(g.beams)} beam(s) "
                                              f"of fraction group {g.number}",
                        "per_fraction": pf, "total": None if g.fractions is None else pf * g.fractions})
    elif groups:
        # the total at a point needs every group's dose there
        cands = [p for _, pts in per_group for p, _ in pts]
        for p in cands:
            if any(np.linalg.norm(np.subtract(p, q)) <= SAME_POINT_MM for q in (o["point"] for o in out)):
                continue
            pairs: list[tuple[float, int]] = []  # (dose per fraction, fractions) of each group
            for g, pts in per_group:
                hit = [d for q, d in pts if np.linalg.norm(np.subtract(p, q)) <= SAME_POINT_MM]
                if hit and g.fractions is not None:
                    pairs.append((hit[0], g.fractions))
            if len(pairs) < len(per_group):
                continue
            pfs = [d for d, _ in pairs]
            total = sum(d * n for d, n in pairs)
            same = max(pfs) - min(pfs) <= 0.01 * max(pfs) + 1e-9
            out.append({"point": p, "what": f"common BeamDoseSpecificationPoint of {len(groups)} fraction groups",
                        "per_fraction": pfs[0] if same else None, "total": total})
    for r in plan.dose_references:
        if r.point_mm is None or r.prescription_gy is None:
            continue
        out.append({"point": r.point_mm,
                    "what": f"DoseReferencePointCoordinates of dose reference {r.number} "
                            f"(TargetPrescriptionDose {_fmt(r.prescription_gy)} Gy)",
                    "per_fraction": None if not fractions else r.prescription_gy / fractions,
                    "total": r.prescription_gy})
    return out, fractions, scope


def _fits(value: float, expected: float | None) -> bool:
    return expected is not None and expected > 0 and abs(value - expected) <= POINT_TOLERANCE * expected


def cross_check(grid: DoseGrid, plan: Plan | None, *, dose_is=None) -> DoseReading:
    """Decide (and explain) whether ``grid`` holds the course total or a dose per fraction.

    Parameters
    ----------
    grid : DoseGrid
        The physical dose as read (``summation_type`` is the file's label).
    plan : Plan or None
        The RTPLAN of the dose (fraction groups with BeamDose and specification points,
        dose references with point coordinates).
    dose_is : {"total", "per-fraction"}, optional
        The user's reading; wins over label and plan, recorded as such.

    Returns
    -------
    DoseReading
        See the module docstring for the rules.
    """
    choice = parse_dose_is(dose_is)
    label = (grid.summation_type or "").strip().upper()
    stated = label_reading(label)
    fractions = None if plan is None else plan.fractions
    evidence: list[str] = []
    votes: set = set()  # Summation members, or "both" (one fraction: the readings coincide)
    status = "not checked"
    checked = (grid.dose_type == "PHYSICAL" and grid.quantity == "dose" and plan is not None
               and label in ("FRACTION", "PLAN", ""))
    if checked:
        points, fractions, scope = _expectations(grid, plan)  # type: ignore[arg-type]
        if not points:
            evidence.append("the RTPLAN states no BeamDose at a specification point common to all "
                            "beams of a fraction group, and no dose reference point with a prescription")
        for e in points:
            v = float(grid.sample(np.asarray(e["point"], dtype=np.float64)))
            if not math.isfinite(v):
                evidence.append(f"{e['what']} {_pt(e['point'])} lies outside the dose grid")
                continue
            pf, tot = e["per_fraction"], e["total"]
            say = (f"grid {_fmt(v)} Gy at the {e['what']} {_pt(e['point'])}; plan: "
                   + (f"{_fmt(pf)} Gy per fraction" if pf is not None else "dose per fraction not fixed")
                   + (f", {_fmt(tot)} Gy course total" if tot is not None else ""))
            if pf is not None and tot is not None and abs(pf - tot) <= 1e-9 * max(pf, 1.0):
                say += " (one fraction: both readings coincide)"
                evidence.append(say)
                if _fits(v, pf):
                    votes.add("both")
                continue
            if _fits(v, pf):
                votes.add(READING_PER_FRACTION)
                evidence.append(say + " -> fits dose per fraction")
            elif _fits(v, tot):
                votes.add(READING_TOTAL)
                evidence.append(say + " -> fits the course total")
            else:
                evidence.append(say + f" -> fits neither within {100 * POINT_TOLERANCE:g} %")
        if scope:
            evidence.append(f"checked against {scope}")
        real = votes - {"both"}
        if len(real) > 1:
            status = "ambiguous"
        elif real:
            # an absent label states nothing: the plan's evidence decides without contradicting
            status = "agrees" if not stated or stated in real else "contradicts"
        elif "both" in votes:
            status = "agrees"
        elif points:
            status = "inconclusive"
    elif plan is not None and label not in ("FRACTION", "PLAN", ""):
        evidence.append(f"DoseSummationType {label} is neither a course total nor a dose per fraction")

    refusal = ""
    reading, source = stated, "label"
    found = votes - {"both"}
    if len(found) == 1 and next(iter(found)) != stated:
        reading, source = next(iter(found)), "plan"
    elif status == "ambiguous":
        reading = None
        fit = [s for s in evidence if "-> fits" in s and "neither" not in s]
        refusal = (f"the grid fits the course total at some points and the dose per fraction at others "
                   f"(DoseSummationType {label or '(absent)'}; {'; '.join(fit[:2])}); choose the reading "
                   "with dose_is='total' or 'per-fraction' (CLI --dose-is total|per-fraction)")
    if choice is not None:
        reading, source, refusal = choice, "option", ""
        if len(found) == 1 and choice not in found:
            evidence.insert(0, f"the user's reading ({_WORDS[choice]}) differs from the RTPLAN's "
                               f"evidence ({_WORDS[next(iter(found))]})")
    return DoseReading(label=grid.summation_type or "", reading=reading, source=source, status=status,
                       fractions=fractions, evidence=tuple(evidence), refusal=refusal)


def plausibility(grid: DoseGrid, reading: DoseReading | None, prescription_gy: float | None) -> list[str]:
    """Warnings on a physical grid that no real course produces (module docstring)."""
    out: list[str] = []
    if grid.dose_type != "PHYSICAL" or grid.quantity != "dose" or not grid.values_gy.size:
        return out
    mx = grid.max_gy
    where = grid.source_path or "the dose grid"
    r = reading.reading if reading is not None else label_reading(grid.summation_type)
    n = reading.fractions if reading is not None else None
    per_fx = mx if r == READING_PER_FRACTION else (mx / n if r == READING_TOTAL and n else None)
    if per_fx is not None and per_fx > MAX_DOSE_PER_FRACTION_GY:
        out.append(f"{where}: implausible dose: the grid maximum {_fmt(mx)} Gy read as "
                   f"{_word(r)} is {_fmt(per_fx)} Gy per fraction, above the {MAX_DOSE_PER_FRACTION_GY:g} Gy "
                   "no course delivers; check DoseSummationType, DoseGridScaling and the fractions")
    if prescription_gy and mx > MAX_TIMES_PRESCRIPTION * prescription_gy:
        out.append(f"{where}: implausible dose: the grid maximum {_fmt(mx)} Gy is "
                   f"{mx / prescription_gy:.3g} times the prescription {_fmt(prescription_gy)} Gy; "
                   "check DoseGridScaling and DoseUnits")
    return out


def converted_warning(values: np.ndarray, label: str) -> str:
    """A warning when a converted grid (EQD2/BED) reaches thousands of Gy, '' otherwise."""
    if not values.size:
        return ""
    mx = float(np.nanmax(values))
    if mx > MAX_CONVERTED_GY:
        return (f"implausible {label}: maximum {_fmt(mx)} Gy (above {MAX_CONVERTED_GY:g} Gy); "
                "check whether the dose is the course total or per fraction (dose_is / --dose-is) "
                "and the number of fractions")
    return ""
