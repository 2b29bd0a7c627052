"""Opt-in isoeffective conversion of a sourced constraint table to another fractionation.

Used only with ``--convert`` (``check(..., convert=True)``), for organs that have no
sourced limit at the plan's number of fractions.  A dose limit ``L`` sourced for ``N``
fractions is replaced by the total dose ``L'`` in ``n`` fractions of equal BED:

    BED_N(L) = BED_n(L')

with the organ's alpha/beta (``alpha_beta`` of the protocol structure, with its source)
and the LQ-L model (Astrahan 2008; liver-sbrt-references.md s.5): LQ up to the transition
dose per fraction ``d_T``, the LQ tangent above it.  ``d_T`` is an explicit parameter;
by default ``2 a/b`` (one common choice, [S] in the references), and every converted row
says which value was used: ``converted from 5 fx, a/b 3, LQ-L d_T 6 Gy``.

What is converted, by metric:

* dose outputs in Gy (``D5cc[Gy]``, ``D0.03cc[Gy]``, ``Mean[Gy]``, ``Max[Gy]``...): the
  limit and the second level.  (A mean dose is converted as if uniform: a mean of a
  non-uniform dose is not isoeffective in general; the label says "converted".)
* dose thresholds of volume metrics (``CV15Gy[cc]``, ``V20Gy[%]``): the threshold, rounded
  to 0.01 Gy; the volume limit is unchanged.
* metrics relative to the prescription (``V100%[%]``, ``Max[%]``), already in BED/EQD2,
  or ``Volume[cc]``: unchanged (they do not depend on the number of fractions).

The nearest sourced fractionation of the organ is used (ties: the smaller number of
fractions).  Nothing here guesses silently: with ``convert=False`` the evaluator reports
the organ as not evaluable at that fractionation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import ParameterError
from ..metrics import parse_metric
from ..radiobiology import bed, dose_for_bed
from .schema import Constraint


@dataclass(frozen=True)
class Conversion:
    """One isoeffective conversion: ``from_fractions`` -> ``to_fractions`` for one organ.

    Attributes
    ----------
    from_fractions, to_fractions : int
    alpha_beta_gy : float
        alpha/beta of the organ, Gy.
    transition_dose_gy : float
        LQ-L transition dose per fraction d_T, Gy.
    alpha_beta_source : str
    """

    from_fractions: int
    to_fractions: int
    alpha_beta_gy: float
    transition_dose_gy: float
    alpha_beta_source: str = ""

    @property
    def label(self) -> str:
        return (f"converted from {self.from_fractions} fx, a/b {self.alpha_beta_gy:g}, "
                f"LQ-L d_T {self.transition_dose_gy:g} Gy")

    def total_dose(self, total_gy: float) -> float:
        """Total dose (Gy) in ``to_fractions`` isoeffective with ``total_gy`` in ``from_fractions``."""
        b = bed(float(total_gy), self.from_fractions, self.alpha_beta_gy, "lq-l", self.transition_dose_gy)
        return float(dose_for_bed(b, self.to_fractions, self.alpha_beta_gy, "lq-l", self.transition_dose_gy))


def nearest_fractionation(available, n: int) -> int:
    """The sourced fractionation closest to ``n`` (ties: the smaller one)."""
    avail = sorted(set(available))
    if not avail:
        raise ParameterError("no sourced fractionation to convert from")
    return min(avail, key=lambda f: (abs(f - n), f))


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def convert_constraint(c: Constraint, conv: Conversion) -> Constraint:
    """``c`` (sourced for ``conv.from_fractions``) as an isoeffective constraint for
    ``conv.to_fractions``, labelled with :attr:`Conversion.label`."""
    spec = parse_metric(c.metric)
    label = conv.label
    metric, limit, level2 = c.metric, c.limit, c.level2
    if spec.is_dose_output and spec.output_unit in ("Gy", "cGy"):
        scale = 100.0 if spec.output_unit == "cGy" else 1.0
        limit = conv.total_dose(c.limit / scale) * scale
        if level2 is not None:
            level2 = conv.total_dose(level2 / scale) * scale
    elif spec.kind in ("V", "CV") and spec.value_unit in ("Gy", "cGy") and spec.value is not None:
        scale = 100.0 if spec.value_unit == "cGy" else 1.0
        threshold = round(conv.total_dose(spec.value / scale) * scale, 2)
        metric = f"{spec.kind}{_fmt(threshold)}{spec.value_unit}[{spec.output_unit}]"
    else:
        label += " (limit unchanged: it does not depend on the number of fractions)"
    return replace(c, metric=metric, limit=limit, level2=level2, fractions=(conv.to_fractions,),
                   conversion=label)
