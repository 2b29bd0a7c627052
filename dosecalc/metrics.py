"""Parser of DVH metric specifications in AAPM TG-263 syntax.

Grammar (strict: case-sensitive, no inner whitespace; surrounding whitespace is ignored)::

    D<x>%[<dose>]      D<x>cc[<dose>]       minimum dose to the hottest x % / x cc
    DC<x>%[<dose>]     DC<x>cc[<dose>]      maximum dose to the coldest x % / x cc
    V<x><dose>[cc|%]   V<x>%[cc|%]          volume receiving >= x Gy / >= x % of Rx
    CV<x><dose>[cc|%]  CV<x>%[cc|%]         volume receiving <  x Gy / <  x % of Rx
    Mean[<dose>]  Max[<dose>]  Min[<dose>]  Volume[cc]

``<x>`` is a plain decimal number (``0.03``, ``95``, ``19.2``).  ``<dose>`` is a dose unit:
``Gy``, ``cGy``, ``%`` (as output only: percent of the prescription), or a converted-dose
label such as ``EQD2Gy(a/b=2.5)``, ``EQD2Gy``, ``BED(a/b=10)`` or ``BED``.  A volume
output ``[%]`` is percent of the structure's (covered) volume.

The output unit in brackets is mandatory, as TG-263 requires: ``D95%`` alone is refused
with a message suggesting ``D95%[Gy]``.

A converted-dose label in a spec (``D95%[EQD2Gy(a/b=2.5)]``, ``V60EQD2Gy[cc]``) states
which quantity the metric is about; :class:`dosecalc.dvh.DVH` refuses it on a DVH of
another quantity, so a protocol written in EQD2 cannot silently be evaluated on physical
dose.  A label without ``(a/b=...)`` matches any a/b of that model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .errors import MetricSpecError
from .quantity import DoseQuantity

KINDS = ("D", "DC", "V", "CV", "Mean", "Max", "Min", "Volume")

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"
# A converted-dose label: EQD2Gy or BED, optionally with its model in parentheses.
_QUANTITY = r"(?:EQD2Gy|BED)(?:\([^()\[\]]*\))?"
_DOSE_UNIT = rf"(?:cGy|Gy|{_QUANTITY})"

_RE_D = re.compile(rf"(?P<kind>DC|D)(?P<value>{_NUM})(?P<vunit>%|cc)\[(?P<out>{_DOSE_UNIT}|%)\]")
_RE_V = re.compile(rf"(?P<kind>CV|V)(?P<value>{_NUM})(?P<vunit>{_DOSE_UNIT}|%)\[(?P<out>cc|%)\]")
_RE_STAT = re.compile(rf"(?P<kind>Mean|Max|Min)\[(?P<out>{_DOSE_UNIT}|%)\]")
_RE_VOLUME = re.compile(r"Volume\[cc\]")

SYNTAX_HELP = ("expected TG-263 syntax such as D95%[Gy], D0.03cc[Gy], D95%[%], DC700cc[Gy], "
               "V20Gy[%], V15Gy[cc], V100%[%], CV15Gy[cc], Mean[Gy], Max[Gy], Min[Gy], Volume[cc] "
               "(EQD2/BED: D95%[EQD2Gy(a/b=2.5)], V60EQD2Gy[cc])")


@dataclass(frozen=True)
class MetricSpec:
    """One parsed DVH metric.

    Attributes
    ----------
    text : str
        The specification as written (outer whitespace removed), e.g. ``"D0.03cc[Gy]"``.
    kind : str
        ``"D"`` (min dose to the hottest volume), ``"DC"`` (max dose to the coldest
        volume), ``"V"`` (volume receiving >= a dose), ``"CV"`` (volume receiving < a
        dose), ``"Mean"``, ``"Max"``, ``"Min"`` or ``"Volume"``.
    value : float or None
        The number after the kind (volume for D/DC, dose for V/CV); None otherwise.
    value_unit : str or None
        D/DC: ``"%"`` (of the structure volume) or ``"cc"``.  V/CV: ``"Gy"``, ``"cGy"``,
        ``"%"`` (percent of the prescription) or a converted-dose label.
    output_unit : str
        ``"Gy"``, ``"cGy"``, a converted-dose label, ``"%"`` (percent of the prescription
        for dose outputs, of the structure volume for volume outputs) or ``"cc"``.
    """

    text: str
    kind: str
    value: float | None
    value_unit: str | None
    output_unit: str

    @property
    def is_dose_output(self) -> bool:
        """True when the metric's result is a dose (D, DC, Mean, Max, Min)."""
        return self.kind in ("D", "DC", "Mean", "Max", "Min")

    @property
    def needs_prescription(self) -> bool:
        """True when the metric cannot be evaluated without a prescription dose."""
        if self.is_dose_output:
            return self.output_unit == "%"
        return self.kind in ("V", "CV") and self.value_unit == "%"

    @property
    def dose_label(self) -> str | None:
        """The dose unit or converted-dose label the spec names (None if it names none)."""
        if self.is_dose_output and self.output_unit != "%":
            return self.output_unit
        if self.kind in ("V", "CV") and self.value_unit != "%":
            return self.value_unit
        return None

    def __str__(self) -> str:
        return self.text


def _hint(text: str) -> str:
    """A targeted hint for the most common mistakes, or ''."""
    if re.fullmatch(rf"(DC|D)({_NUM})(%|cc)", text):
        return f"; the output unit is required: write {text}[Gy] (or {text}[%] for percent of the prescription)"
    if re.fullmatch(rf"(CV|V)({_NUM})({_DOSE_UNIT}|%)", text):
        return f"; the output unit is required: write {text}[cc] or {text}[%]"
    if text in ("Mean", "Max", "Min"):
        return f"; the output unit is required: write {text}[Gy]"
    if text == "Volume":
        return "; write Volume[cc]"
    if re.fullmatch(r"(DC|D)" + _NUM + r"(%|cc)\[(cc)\]", text):
        return "; a D metric returns a dose: use [Gy] or [%]"
    if re.fullmatch(r"(CV|V)" + _NUM + r"\S*\[(Gy|cGy)\]", text):
        return "; a V metric returns a volume: use [cc] or [%]"
    if " " in text:
        return "; remove the spaces"
    lowered = {"d": "D", "dc": "DC", "v": "V", "cv": "CV", "mean": "Mean", "max": "Max",
               "min": "Min", "volume": "Volume", "gy": "Gy", "cgy": "cGy"}
    fixed = re.sub(r"[A-Za-z]+", lambda m: lowered.get(m.group(0).lower(), m.group(0)), text)
    if fixed != text:
        try:
            parse_metric(fixed)
        except MetricSpecError:
            return ""
        return f"; did you mean {fixed}? (the syntax is case-sensitive)"
    return ""


@lru_cache(maxsize=1024)
def parse_metric(spec: str) -> MetricSpec:
    """Parse a TG-263 DVH metric specification.

    Parameters
    ----------
    spec : str
        For example ``"D0.03cc[Gy]"``, ``"V20Gy[%]"``, ``"CV15Gy[cc]"``, ``"Mean[Gy]"``.

    Returns
    -------
    MetricSpec

    Raises
    ------
    MetricSpecError
        When ``spec`` does not follow the grammar (see the module docstring); the message
        names the spec and the expected syntax.
    """
    if not isinstance(spec, str):
        raise MetricSpecError(f"metric spec must be a string, got {spec!r}; {SYNTAX_HELP}")
    text = spec.strip()
    m = _RE_D.fullmatch(text)
    if m:
        value = float(m["value"])
        if m["vunit"] == "%" and value > 100.0:
            raise MetricSpecError(f"metric {text!r}: a volume percentage must be between 0 and 100")
        return MetricSpec(text, m["kind"], value, m["vunit"], m["out"])
    m = _RE_V.fullmatch(text)
    if m:
        return MetricSpec(text, m["kind"], float(m["value"]), m["vunit"], m["out"])
    m = _RE_STAT.fullmatch(text)
    if m:
        return MetricSpec(text, m["kind"], None, None, m["out"])
    if _RE_VOLUME.fullmatch(text):
        return MetricSpec(text, "Volume", None, None, "cc")
    raise MetricSpecError(f"malformed metric {spec!r}{_hint(text)}; {SYNTAX_HELP}")


def quantity_matches(label: str, quantity: str) -> bool:
    """Whether a spec's dose label (``Gy``, ``EQD2Gy``, ``EQD2Gy(a/b=2.5)``...) applies to a
    DVH of ``quantity`` (``"dose"`` or a converted-dose label).

    ``Gy``/``cGy`` apply to any quantity (the label of the result then names the
    quantity); a model label must match the DVH's model, and its a/b when it states one.
    """
    if label in ("Gy", "cGy"):
        return True
    return DoseQuantity.parse(label).matches(DoseQuantity.parse(quantity))


def metric_label(spec: MetricSpec | str, quantity: str = "dose") -> str:
    """The spec's label with the dose quantity made explicit.

    For physical dose the label is the spec itself.  For a converted dose every ``Gy``
    becomes the quantity label: ``D95%[Gy]`` on EQD2 (a/b 2.5) dose is
    ``D95%[EQD2Gy(a/b=2.5)]``, ``V20Gy[cc]`` is ``V20EQD2Gy(a/b=2.5)[cc]``, and
    ``Mean[Gy]`` is ``Mean[EQD2Gy(a/b=2.5)]``.  A spec that already names a model label
    gets the full label of the DVH (with its a/b).
    """
    s = parse_metric(spec) if isinstance(spec, str) else spec
    if quantity == "dose":
        return s.text
    if s.kind == "Volume":
        return s.text
    value = _fmt(s.value) if s.value is not None else ""
    if s.kind in ("D", "DC"):
        out = quantity if s.output_unit != "%" else "%"
        return f"{s.kind}{value}{s.value_unit}[{out}]"
    if s.kind in ("V", "CV"):
        vu = "%" if s.value_unit == "%" else quantity
        return f"{s.kind}{value}{vu}[{s.output_unit}]"
    out = quantity if s.output_unit != "%" else "%"
    return f"{s.kind}[{out}]"


def _fmt(x: float) -> str:
    """Shortest decimal text of a spec number (95.0 -> '95', 0.03 -> '0.03')."""
    return repr(float(x)).removesuffix(".0") if float(x).is_integer() else repr(float(x))
