"""Eligibility: every registered inclusion and exclusion criterion, each with a status.

A protocol's ``[[eligibility]]`` entries (see :class:`.schema.EligibilityCriterion`) are
checked against one patient file (labs and clinical items, see
:func:`.liver_function.load_labs`):

* ``lab`` / ``clinical`` value criteria: ``pass`` / ``fail``, or ``not evaluable`` when
  the value is missing (the reason names it);
* yes/no criteria (prior radiotherapy to the area, extrahepatic metastasis...): ``pass``
  when the answer is the required one;
* criteria with ``applies_if`` (HBV DNA for HBV carriers): ``not applicable`` when the
  patient is not a carrier, ``not evaluable`` when carrier status is not given;
* ``attestation`` criteria (consent, contraception...): ``attested`` when listed under
  ``attested``, else ``needs attestation``.

The verdict is ``eligible`` only when every row is met (pass, attested or not
applicable); ``not eligible`` when any row fails (exit 1); otherwise ``incomplete``
(exit 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ParameterError
from .liver_function import Labs, derived_quantities
from .schema import ELIGIBILITY_QUANTITIES
from .verdict import meets

MET = ("pass", "attested", "not applicable")
EXIT = {"eligible": 0, "not eligible": 1, "incomplete": 3}


@dataclass(frozen=True)
class EligibilityResult:
    """One criterion's outcome.

    ``verdict``: ``pass``, ``fail``, ``not evaluable``, ``not applicable``, ``attested``
    or ``needs attestation``; ``kind``: ``lab``, ``clinical`` or ``attestation``.
    """

    id: str
    label: str
    quantity: str
    unit: str
    value: float | bool | None
    comparator: str
    limit: float | None
    verdict: str
    reason: str
    source: str
    confidence: str
    note: str = ""
    alternative: str = ""
    kind: str = "lab"

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        if isinstance(d["limit"], float) and not math.isfinite(d["limit"]):
            d["limit"] = None
        return d


def _value_row(c, values, missing):
    unit = ELIGIBILITY_QUANTITIES[c.quantity]
    alt_text = ""
    if c.alternative is not None:
        aq, ac, al = c.alternative
        alt_text = f"or {aq} {ac} {al:g} {ELIGIBILITY_QUANTITIES[aq]}"
    value = values.get(c.quantity)
    ok = None if value is None else meets(value, c.comparator, c.limit)
    reason = ""
    if c.alternative is not None and ok is not True:
        aq, ac, al = c.alternative
        av = values.get(aq)
        if av is not None and meets(av, ac, al):
            ok = True
            reason = f"met by the alternative: {aq} {av:.1f} {ELIGIBILITY_QUANTITIES[aq]} {ac} {al:g}"
        elif av is not None and ok is None:
            ok = False
            reason = f"{c.quantity}: {missing.get(c.quantity)}; alternative {aq} {av:.1f} fails"
        elif av is None and ok is False:
            reason = f"alternative {aq} not available ({missing.get(aq)})"
    if ok is None:
        verdict = "not evaluable"
        reason = reason or missing.get(c.quantity, "value missing")
    else:
        verdict = "pass" if ok else "fail"
    return EligibilityResult(c.id, c.label, c.quantity, unit, value, c.comparator, c.limit, verdict, reason,
                             c.source, c.confidence, c.note, alt_text, c.kind)


def _flag_row(c, labs: Labs):
    given = labs.flags.get(c.flag)
    want = "yes" if c.expect else "no"
    if given is None:
        verdict, reason = "not evaluable", f"{c.flag} not given (true or false; required: {want})"
    else:
        verdict, reason = ("pass", "") if given == c.expect else ("fail", f"{c.flag} is {'yes' if given else 'no'}")
    return EligibilityResult(c.id, c.label, c.flag, "yes/no", given, "=", None, verdict, reason, c.source,
                             c.confidence, c.note, "", c.kind)


def check_eligibility(protocol, labs: Labs) -> tuple[str, list[EligibilityResult]]:
    """Check every registered criterion of ``protocol`` for the patient in ``labs``.

    Returns
    -------
    (verdict, rows)
        ``verdict`` is ``"eligible"``, ``"not eligible"`` or ``"incomplete"``.

    Raises
    ------
    ParameterError
        The protocol registers no criteria, or ``attested`` names an id that is not an
        attestation criterion of the protocol.
    """
    if not protocol.eligibility:
        raise ParameterError(f"protocol {protocol.id!r} registers no eligibility criteria")
    attestable = {c.id for c in protocol.eligibility if c.kind == "attestation"}
    unknown = [a for a in labs.attested if a not in attestable]
    if unknown:
        raise ParameterError(f"{labs.source_path or 'labs'}: attested {unknown} are not attestation criteria of "
                             f"{protocol.id}; they are: {', '.join(sorted(attestable))}")
    values, missing = derived_quantities(labs)
    rows = []
    for c in protocol.eligibility:
        if c.applies_if is not None and labs.flags.get(c.applies_if) is not True:
            status = labs.flags.get(c.applies_if)
            verdict = "not applicable" if status is False else "not evaluable"
            reason = (f"applies only when {c.applies_if} is true" if status is False
                      else f"applies when {c.applies_if} is true: {c.applies_if} not given")
            rows.append(EligibilityResult(c.id, c.label, c.quantity or c.flag or "", "", None, c.comparator,
                                          c.limit, verdict, reason, c.source, c.confidence, c.note, "", c.kind))
            continue
        if c.kind == "attestation":
            ok = c.id in labs.attested
            rows.append(EligibilityResult(c.id, c.label, "", "", None, "", None,
                                          "attested" if ok else "needs attestation",
                                          "" if ok else f"no data can show it: list {c.id!r} under attested",
                                          c.source, c.confidence, c.note, "", c.kind))
        elif c.flag is not None:
            rows.append(_flag_row(c, labs))
        else:
            rows.append(_value_row(c, values, missing))
    verdicts = [r.verdict for r in rows]
    overall = ("not eligible" if "fail" in verdicts
               else "eligible" if all(v in MET for v in verdicts) else "incomplete")
    return overall, rows
