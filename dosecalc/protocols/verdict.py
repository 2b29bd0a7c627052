"""Verdict rules and the one comparator of the protocol layer.

:class:`dosecalc.verdict.Verdict` (a ``StrEnum``: its members are the plain strings the
reports have always written) is the vocabulary; here live the rules on it.  :func:`meets`
is the only place where a value is compared with a limit (constraints, prescriptions,
eligibility criteria).

Exit codes of ``dosecalc check`` and ``dosecalc batch`` follow from the verdicts
(:func:`exit_code`): 0 every required row passes or is acceptable, 1 any row fails,
3 nothing fails but something required is not evaluable, 2 bad input (raised as a
:class:`dosecalc.errors.DoseCalcError` before any verdict exists).
"""

from __future__ import annotations

import math
import operator

from ..errors import ParameterError
from ..verdict import Verdict  # the vocabulary's one Verdict (values are the output strings)

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3


ROW_VERDICTS = (Verdict.PASS, Verdict.ACCEPTABLE, Verdict.FAIL, Verdict.NOT_EVALUABLE)
COMPARATORS = ("<", "<=", ">", ">=")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def meets(value: float, comparator: str, limit: float) -> bool:
    """``value comparator limit`` exactly as written (no tolerance: ``< 30`` fails at 30)."""
    try:
        op = _OPS[comparator]
    except KeyError:
        raise ParameterError(f"comparator must be one of {', '.join(COMPARATORS)}, got {comparator!r}") from None
    return bool(op(value, limit))


def verdict_for(value: float | None, comparator: str, limit: float, level2: float | None = None,
                level2_kind: str | None = None) -> Verdict:
    """Verdict of one value against a limit and an optional second level.

    Parameters
    ----------
    value : float or None
        Metric value (None or NaN -> ``not evaluable``).
    comparator : {"<", "<=", ">", ">="}
    limit : float
    level2 : float, optional
        An acceptable variation (looser than ``limit``) or an ideal goal (stricter).
    level2_kind : {"acceptable", "ideal"}, optional
    """
    if value is None or not math.isfinite(value):
        return Verdict.NOT_EVALUABLE
    ok = meets(value, comparator, limit)
    if level2 is None:
        return Verdict.PASS if ok else Verdict.FAIL
    ok2 = meets(value, comparator, level2)
    if level2_kind == "acceptable":
        return Verdict.PASS if ok else Verdict.ACCEPTABLE if ok2 else Verdict.FAIL
    if level2_kind == "ideal":
        return (Verdict.PASS if ok2 else Verdict.ACCEPTABLE) if ok else Verdict.FAIL
    raise ParameterError(f"level2_kind must be 'acceptable' or 'ideal', got {level2_kind!r}")


def overall_verdict(verdicts) -> Verdict:
    """``fail`` > ``incomplete`` (some row not evaluable, or no row) > ``acceptable`` > ``pass``."""
    v = list(verdicts)
    if Verdict.FAIL in v:
        return Verdict.FAIL
    if Verdict.NOT_EVALUABLE in v or Verdict.INCOMPLETE in v or not v:
        return Verdict.INCOMPLETE
    if Verdict.ACCEPTABLE in v:
        return Verdict.ACCEPTABLE
    return Verdict.PASS


def exit_code(verdict: str) -> int:
    """Process exit code for an overall verdict: 0 pass/acceptable, 1 fail, 3 incomplete."""
    v = Verdict(verdict)
    if v is Verdict.FAIL:
        return EXIT_FAIL
    if v in (Verdict.INCOMPLETE, Verdict.NOT_EVALUABLE):
        return EXIT_INCOMPLETE
    return EXIT_OK
