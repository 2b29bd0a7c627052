"""Where an EFFECTIVE (BED/EQD2) dose grid came from: a typed, frozen record.

:class:`DoseProvenance` replaces the free-form ``DoseGrid.model`` dict.  It has named,
typed fields (the model, alpha/beta, fractions, the source grid it was converted from,
the a/b map and the courses of a sum) and still reads like the mapping it replaced
(``grid.model["fractions"]``, ``dict(grid.model)``, ``grid.model.get(...)``), so scripts
and the JSON outputs (``dose_model`` in the DVH settings, the RTDOSE
DerivationDescription) are unchanged: :meth:`DoseProvenance.to_dict` gives the same keys
in the same order as before.  An absent field is not a key (a physical grid's record is
empty and false).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["DoseProvenance", "NONE"]


class _Absent:
    """Marker of a field that the record does not hold (not a key of the mapping)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self):
        return (_Absent, ())


ABSENT: Any = _Absent()


@dataclass(frozen=True, eq=False)
class DoseProvenance(Mapping):
    """The model behind an EFFECTIVE grid (empty for physical dose).

    Attributes (absent unless the grid was made so)
    ----------------------------------------------
    model : str
        ``"LQ"`` or ``"LQ-L"``.
    quantity : str
        TG-263 label of the result (``"EQD2Gy(a/b=2.5)"``).
    alpha_beta : float, dict or list
        a/b in Gy; ``{structure: a/b, "*": default}`` for a structure map.
    fractions : int or None
        Fractions of the conversion (None for a sum of courses).
    transition_dose_gy : float or None
        LQ-L transition dose per fraction.
    source_dose_type, source_summation_type : str
        DoseType / DoseSummationType of the physical grid converted.
    source_scale : float
        Factor from the source grid's values to the course total (n for FRACTION).
    source_sop_instance_uid, source_path : str or None
        The physical grid converted.
    map_text, membership, overlap_rule, overlaps, map_voxels
        The a/b structure map: its text, the membership rule, the overlap rule, the
        overlaps found and the voxels each entry received.
    source_reading : str
        How the source grid was read (course total or dose per fraction, and why:
        :mod:`dosecalc.dose_reading`).
    warnings : list of str
        Warnings of the conversion (an implausible converted dose).
    courses : list of dict
        The courses of a sum (:func:`dosecalc.radiobiology.sum_courses`).
    outside : str
        The sum's rule for voxels outside a course's grid.
    extra : dict
        Keys read from a file that are none of the above (kept, never dropped).
    """

    model: Any = ABSENT
    quantity: Any = ABSENT
    alpha_beta: Any = ABSENT
    fractions: Any = ABSENT
    transition_dose_gy: Any = ABSENT
    source_dose_type: Any = ABSENT
    source_summation_type: Any = ABSENT
    source_scale: Any = ABSENT
    source_sop_instance_uid: Any = ABSENT
    source_path: Any = ABSENT
    map_text: Any = ABSENT
    membership: Any = ABSENT
    overlap_rule: Any = ABSENT
    overlaps: Any = ABSENT
    map_voxels: Any = ABSENT
    source_reading: Any = ABSENT
    warnings: Any = ABSENT
    courses: Any = ABSENT
    outside: Any = ABSENT
    extra: dict = field(default_factory=dict)
    # key order of a record read back from a file (that order is kept in outputs)
    order: tuple = ()

    # --- construction ---------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping | None) -> "DoseProvenance":
        """A record from a mapping (a file's JSON, or an older script's dict)."""
        if isinstance(data, DoseProvenance):
            return data
        if not data:
            return NONE
        names = _FIELD_NAMES
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        order = tuple(data)
        natural = tuple(k for k in names if k in known) + tuple(extra)
        return cls(**known, extra=extra, order=() if order == natural else order)

    # --- mapping view (the keys and order the dict had) -----------------------------
    def _keys(self) -> tuple:
        present = [f for f in _FIELD_NAMES if getattr(self, f) is not ABSENT] + list(self.extra)
        if self.order:
            return tuple(k for k in self.order if k in present) + tuple(k for k in present if k not in self.order)
        return tuple(present)

    def __getitem__(self, key):
        if key in _FIELD_NAMES:
            value = getattr(self, key)
            if value is ABSENT:
                raise KeyError(key)
            return value
        return self.extra[key]

    def __iter__(self):
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __eq__(self, other) -> bool:
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # holds lists and dicts

    def to_dict(self) -> dict:
        """A plain dict (JSON-serialisable when the values are), keys in record order."""
        return {k: self[k] for k in self._keys()}

    def __repr__(self) -> str:
        return f"DoseProvenance({self.to_dict()!r})"


_FIELD_NAMES = tuple(f.name for f in fields(DoseProvenance) if f.name not in ("extra", "order"))

NONE = DoseProvenance()
