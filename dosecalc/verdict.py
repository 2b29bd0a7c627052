"""Verdicts of a protocol check, one constraint or a whole plan.

The values are the strings every output has always carried (JSON, CSV, table), so a
:class:`Verdict` compares equal to, and serialises as, its string.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Verdict"]


class Verdict(StrEnum):
    """``pass`` / ``acceptable`` (within a published variation) / ``fail`` /
    ``not evaluable`` (one constraint) / ``incomplete`` (a plan with a constraint that
    could not be evaluated)."""

    PASS = "pass"
    ACCEPTABLE = "acceptable"
    FAIL = "fail"
    NOT_EVALUABLE = "not evaluable"
    INCOMPLETE = "incomplete"
