"""TG-263 metrics evaluated on a DVH: D, DC, V, CV, Mean, Min, Max and Volume, each with a
note when it has no value (see the definitions in :mod:`dosecalc.dvh`).

The arithmetic behind :meth:`DVH.evaluate <dosecalc.dvh.DVH.evaluate>`; the metric
syntax itself is :mod:`dosecalc.metrics`.  Doses in Gy (or the DVH's converted
quantity), volumes in cc.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import MetricSpecError, ParameterError
from .metrics import MetricSpec, parse_metric, quantity_matches

if TYPE_CHECKING:  # pragma: no cover
    from .dvh import DVH


@dataclass(frozen=True)
class MetricResult:
    """The value of one metric, its TG-263 label, and a note when it needs one.

    Attributes
    ----------
    spec : str
        The spec as asked, e.g. ``"D95%[Gy]"``.
    label : str
        The label with the dose quantity explicit (``"D95%[EQD2Gy(a/b=2.5)]"``).
    value : float
        In the spec's output unit; NaN when the metric has no value.
    unit : str
        Output unit (``Gy``, ``cGy``, ``cc``, ``%`` or the converted-dose label).
    note : str or None
        Why the value is NaN, or that the structure is not fully covered by the grid.
    """

    spec: str
    label: str
    value: float
    unit: str
    note: str | None = None


def evaluate_metric(dvh: "DVH", spec: str | MetricSpec) -> MetricResult:
    """:meth:`DVH.evaluate <dosecalc.dvh.DVH.evaluate>` of ``dvh``: one metric, with the
    reason when it has no value (errors as documented there)."""
    if not isinstance(spec, (str, MetricSpec)):
        raise MetricSpecError(f"metric must be a TG-263 spec such as 'D95%[Gy]', got {type(spec).__name__} {spec!r:.40}")
    s = parse_metric(spec) if isinstance(spec, str) else spec
    _check_quantity(dvh, s)
    value, note = _value(dvh, s)
    unit = s.output_unit
    if unit == "Gy" and dvh.quantity != "dose":
        unit = dvh.quantity
    cov = dvh.coverage_warning
    if cov and s.kind != "Volume" and note is None and dvh.covered_cc > 0:
        note = cov
    return MetricResult(spec=s.text, label=dvh.label(s), value=float(value), unit=unit, note=note)


def _check_quantity(dvh: "DVH", s: MetricSpec) -> None:
    lab = s.dose_label
    if lab is None:
        return
    if lab == "cGy" and dvh.quantity != "dose":
        raise MetricSpecError(f"metric {s.text!r}: cGy applies to physical dose only; this DVH "
                              f"holds {dvh.quantity} (use Gy)")
    if not quantity_matches(lab, dvh.quantity):
        raise MetricSpecError(f"metric {s.text!r} is about {lab} but the DVH of {dvh.name!r} holds "
                              f"{'physical dose' if dvh.quantity == 'dose' else dvh.quantity}")


def _rx(dvh: "DVH", s: MetricSpec) -> float:
    if dvh.prescription_gy is None:
        raise ParameterError(f"metric {s.text!r} is relative to the prescription, but the DVH of "
                             f"{dvh.name!r} has no prescription_gy: pass prescription_gy")
    return dvh.prescription_gy


def _dose_out(dvh: "DVH", s: MetricSpec, dose: float) -> float:
    if s.output_unit == "%":
        return 100.0 * dose / _rx(dvh, s)
    if s.output_unit == "cGy":
        return 100.0 * dose
    return dose


def _value(dvh: "DVH", s: MetricSpec) -> tuple[float, str | None]:
    if dvh.empty_reason:
        return math.nan, f"{dvh.name!r} has no volume: {dvh.empty_reason}"
    if s.kind == "Volume":
        return dvh.volume_cc, None
    if s.needs_prescription:
        _rx(dvh, s)  # raise before anything else when there is no prescription
    if dvh.covered_cc <= 0:
        return math.nan, f"no part of {dvh.name!r} lies inside the dose grid ({dvh.volume_cc:.3f} cc outside)"
    if s.kind in ("Mean", "Max", "Min"):
        dose = {"Mean": dvh.mean_gy, "Max": dvh.max_gy, "Min": dvh.min_gy}[s.kind]
        return _dose_out(dvh, s, dose), None
    x = 0.0 if s.value is None else float(s.value)  # D/DC/V/CV specs always carry x
    if s.kind in ("D", "DC"):
        if s.value_unit == "%":
            x_cc = x / 100.0 * dvh.covered_cc
        else:
            x_cc = x
            if x_cc > dvh.covered_cc * (1 + 1e-12):
                what = "hottest" if s.kind == "D" else "coldest"
                return math.nan, (f"the {what} {s.value:g} cc do not exist: {dvh.name!r} has "
                                  f"{dvh.covered_cc:.4g} cc inside the dose grid")
            x_cc = min(x_cc, dvh.covered_cc)
        at = x_cc if s.kind == "D" else dvh.covered_cc - x_cc
        return _dose_out(dvh, s, float(dvh.dose_at_volume(max(at, 0.0)))), None
    # V / CV
    if s.value_unit == "%":
        threshold = x / 100.0 * _rx(dvh, s)
    elif s.value_unit == "cGy":
        threshold = x / 100.0
    else:
        threshold = x
    vol = float(dvh.volume_at_dose(threshold))
    if s.kind == "CV":
        vol = max(dvh.covered_cc - vol, 0.0)
    if s.output_unit == "%":
        vol = 100.0 * vol / dvh.covered_cc
    return vol, None
