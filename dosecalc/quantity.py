"""The dose quantity a grid, a DVH or a metric is in: physical dose, BED or EQD2.

One type, :class:`DoseQuantity`, builds and parses the TG-263 labels everywhere in the
engine, so the text ``"EQD2Gy(a/b=2.5)"`` is written in one place and read in one place:

=================  ==========================  ===========================================
kind               label                       meaning
=================  ==========================  ===========================================
``PHYSICAL``       ``dose``                    physical dose, Gy
``EQD2``           ``EQD2Gy(a/b=2.5)``         equivalent dose in 2 Gy fractions, Gy
``BED``            ``BED(a/b=10)``             biologically effective dose, Gy
``EQD2`` / ``BED`` ``EQD2Gy(a/b=map)``         a per-structure alpha/beta map
``EQD2`` / ``BED`` ``EQD2Gy``, ``BED``         any alpha/beta (a metric spec's label)
``OTHER``          anything else               a grid read from another system whose model
                                               is unknown; the text is kept as it is
=================  ==========================  ===========================================

alpha/beta is printed with ``format(x, "g")`` (``2.5``, ``10``), the form every output
has used.  The radiobiological model (LQ, LQ-L) is carried alongside but is not part of
the label: TG-263 labels name the quantity and its alpha/beta only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DoseKind", "DoseQuantity", "PHYSICAL", "format_g"]


def format_g(x: float) -> str:
    """Shortest ``g`` text of a number (``2.5``, ``10``, ``0.03``): how every label and
    sentence writes a parameter such as alpha/beta."""
    return format(float(x), "g")


class DoseKind(StrEnum):
    """What the numbers of a grid are."""

    PHYSICAL = "PHYSICAL"
    EQD2 = "EQD2"
    BED = "BED"
    OTHER = "OTHER"


# label prefix of each converted kind (TG-263: EQD2 carries its unit, BED does not)
_PREFIX = {DoseKind.EQD2: "EQD2Gy", DoseKind.BED: "BED"}
_KIND_OF_PREFIX = {v: k for k, v in _PREFIX.items()}
_LABEL = re.compile(r"(EQD2Gy|BED)(?:\((.*)\))?")
# a/b stated as a plain decimal number of Gy (what a protocol must write)
_PLAIN_NUMBER = re.compile(r"\d+(\.\d*)?")


@dataclass(frozen=True)
class DoseQuantity:
    """A dose quantity with its parameters.

    Attributes
    ----------
    kind : DoseKind
    alpha_beta : float, ``"map"`` or None
        alpha/beta in Gy of a converted quantity; ``"map"`` for a per-structure map; None
        for physical dose or a label that does not state it (matches any a/b).
    model : str or None
        ``"LQ"`` or ``"LQ-L"`` when known (not part of the label).
    text : str
        The label as read, for :attr:`DoseKind.OTHER` (kept verbatim).
    """

    kind: DoseKind
    alpha_beta: float | str | None = None
    model: str | None = None
    text: str = ""

    # --- building -------------------------------------------------------------------
    @classmethod
    def eqd2(cls, alpha_beta, model: str | None = None) -> "DoseQuantity":
        """EQD2 with alpha/beta in Gy (or ``"map"``)."""
        return cls(DoseKind.EQD2, _ab(alpha_beta), model)

    @classmethod
    def bed(cls, alpha_beta, model: str | None = None) -> "DoseQuantity":
        """BED with alpha/beta in Gy (or ``"map"``)."""
        return cls(DoseKind.BED, _ab(alpha_beta), model)

    @classmethod
    def converted(cls, kind, alpha_beta, model: str | None = None) -> "DoseQuantity":
        """``kind`` ``"EQD2"`` or ``"BED"`` (any case) with its alpha/beta."""
        return cls(DoseKind(str(kind).upper()), _ab(alpha_beta), model)

    # --- reading --------------------------------------------------------------------
    @classmethod
    def parse(cls, label: str | None) -> "DoseQuantity":
        """The quantity of a label: ``"dose"``, ``"Gy"``, ``"cGy"`` and None are physical
        dose; ``EQD2Gy(...)`` / ``BED(...)`` converted; anything else :attr:`DoseKind.OTHER`."""
        if label in (None, "dose", "Gy", "cGy"):
            return PHYSICAL
        m = _LABEL.fullmatch(label)
        if m is None:
            return cls(DoseKind.OTHER, text=label)
        kind = _KIND_OF_PREFIX[m.group(1)]
        params = m.group(2)
        if params is None:
            return cls(kind)
        key, sep, value = params.partition("=")
        if not sep or key.strip() != "a/b" or "," in value:
            return cls(DoseKind.OTHER, text=label)
        value = value.strip()
        if value == "map":
            return cls(kind, "map")
        try:
            return cls(kind, float(value))
        except ValueError:
            return cls(DoseKind.OTHER, text=label)

    @staticmethod
    def states_plain_alpha_beta(label: str) -> bool:
        """Whether ``label`` is ``EQD2Gy(a/b=X)`` / ``BED(a/b=X)`` with X a plain decimal
        number of Gy (what a protocol constraint must state)."""
        m = _LABEL.fullmatch(label)
        if m is None or m.group(2) is None:
            return False
        key, sep, value = m.group(2).partition("=")
        return key == "a/b" and bool(sep) and _PLAIN_NUMBER.fullmatch(value) is not None

    # --- properties -----------------------------------------------------------------
    @property
    def is_physical(self) -> bool:
        return self.kind is DoseKind.PHYSICAL

    @property
    def is_converted(self) -> bool:
        """EQD2 or BED."""
        return self.kind in _PREFIX

    @property
    def label(self) -> str:
        """TG-263 label: ``dose``, ``EQD2Gy(a/b=2.5)``, ``BED(a/b=10)``, ``EQD2Gy(a/b=map)``,
        ``EQD2Gy`` (no a/b stated), or the verbatim text of an unknown quantity."""
        if self.kind is DoseKind.PHYSICAL:
            return "dose"
        if self.kind is DoseKind.OTHER:
            return self.text
        prefix = _PREFIX[self.kind]
        if self.alpha_beta is None:
            return prefix
        ab = self.alpha_beta if isinstance(self.alpha_beta, str) else format_g(self.alpha_beta)
        return f"{prefix}(a/b={ab})"

    def __str__(self) -> str:
        return self.label

    def matches(self, other: "DoseQuantity") -> bool:
        """Whether this quantity (a metric spec's label) applies to data in ``other``: same
        kind, and same alpha/beta when this one states it (compared as numbers)."""
        if self.kind is DoseKind.OTHER or self.kind is not other.kind:
            return False
        if self.alpha_beta is None:
            return True
        return self.alpha_beta == other.alpha_beta


def _ab(alpha_beta):
    if alpha_beta is None or isinstance(alpha_beta, str):
        return alpha_beta
    return float(alpha_beta)


PHYSICAL = DoseQuantity(DoseKind.PHYSICAL)
