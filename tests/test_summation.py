"""dosecalc.summation: the one rule from DoseSummationType to the course total.

Truth: PS3.3 C.8.8.3 (the defined terms) and the rule written in the module docstring
(FRACTION x n, PLAN / MULTI_PLAN as is, partial types never scaled).
"""

import pytest

from dosecalc.summation import SUMMATION_TYPES, Summation, SummationType, classify


def test_defined_terms():
    assert len(SUMMATION_TYPES) == 11 and "PLAN" in SUMMATION_TYPES and "RECORD" in SUMMATION_TYPES
    assert SummationType.FRACTION == "FRACTION"


@pytest.mark.parametrize("text, how, factor", [
    ("FRACTION", Summation.PER_FRACTION, 5.0),
    ("fraction ", Summation.PER_FRACTION, 5.0),
    ("PLAN", Summation.COURSE_TOTAL, 1.0),
    ("MULTI_PLAN", Summation.SUM_OF_PLANS, 1.0),
    ("", Summation.ABSENT, None),
    (None, Summation.ABSENT, None),
    ("BEAM", Summation.PARTIAL, None),
    ("FRACTION_SESSION", Summation.PARTIAL, None),
    ("PLAN_OVERVIEW", Summation.PARTIAL, None),
])
def test_rule(text, how, factor):
    assert classify(text) is how
    assert how.total_factor(5) == factor


def test_per_fraction_needs_n():
    assert Summation.PER_FRACTION.total_factor(None) is None
