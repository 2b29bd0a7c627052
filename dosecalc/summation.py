"""DoseSummationType: what part of a course a dose grid holds, and the one rule that
turns it into the course total.

PS3.3 C.8.8.3 defines the terms.  The rule (used by the BED/EQD2 conversion and by the
protocol check, each with its own wording of the refusal):

* ``FRACTION`` holds the dose of ONE fraction: the course total is ``n x grid``.
* ``PLAN`` holds the course total; ``MULTI_PLAN`` a sum of plans, taken as the total of
  one course (callers say so: one fractionation is assumed).
* anything else (``BEAM``, ``BRACHY``, ``*_SESSION``, ``CONTROL_POINT``, ``RECORD``,
  ``PLAN_OVERVIEW``) is partial or not a dose of the course: never scaled to a total.
* an absent attribute is reported as :attr:`Summation.ABSENT`; the caller decides (the
  protocol check takes it as the course total and says so, the BED/EQD2 conversion
  refuses it: converting an unknown part of a course is never right).
"""

from __future__ import annotations

from enum import Enum, StrEnum

__all__ = ["SummationType", "Summation", "classify", "SUMMATION_TYPES"]


class SummationType(StrEnum):
    """Defined terms of DICOM DoseSummationType (PS3.3 C.8.8.3)."""

    PLAN = "PLAN"
    MULTI_PLAN = "MULTI_PLAN"
    PLAN_OVERVIEW = "PLAN_OVERVIEW"
    FRACTION = "FRACTION"
    BEAM = "BEAM"
    BRACHY = "BRACHY"
    FRACTION_SESSION = "FRACTION_SESSION"
    BEAM_SESSION = "BEAM_SESSION"
    BRACHY_SESSION = "BRACHY_SESSION"
    CONTROL_POINT = "CONTROL_POINT"
    RECORD = "RECORD"


SUMMATION_TYPES = tuple(t.value for t in SummationType)


class Summation(Enum):
    """How a grid's values relate to the course total dose."""

    PER_FRACTION = "per fraction"   # total = n x grid
    COURSE_TOTAL = "course total"   # PLAN
    SUM_OF_PLANS = "sum of plans"   # MULTI_PLAN: total of one course, one fractionation assumed
    ABSENT = "absent"               # no DoseSummationType: the caller decides
    PARTIAL = "partial"             # beams, sessions, control points...: never a total

    @property
    def is_total(self) -> bool:
        """PLAN or MULTI_PLAN: the values are the course total as they are."""
        return self in (Summation.COURSE_TOTAL, Summation.SUM_OF_PLANS)

    def total_factor(self, fractions: int | None) -> float | None:
        """Factor from the grid's values to the course total: ``n`` per fraction, 1 for a
        total, None when no factor applies (partial, absent, or n unknown)."""
        if self is Summation.PER_FRACTION:
            return None if fractions is None else float(fractions)
        if self.is_total:
            return 1.0
        return None


def classify(summation_type: str | None) -> Summation:
    """The :class:`Summation` of a DoseSummationType value (case- and space-insensitive)."""
    st = (summation_type or "").strip().upper()
    if st == SummationType.FRACTION:
        return Summation.PER_FRACTION
    if st == SummationType.PLAN:
        return Summation.COURSE_TOTAL
    if st == SummationType.MULTI_PLAN:
        return Summation.SUM_OF_PLANS
    if st == "":
        return Summation.ABSENT
    return Summation.PARTIAL
