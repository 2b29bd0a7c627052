"""How a structure is turned into a fractional mask: one frozen record of the options.

Every layer that makes or caches masks (``Case.mask`` / ``Case.dvh``, derived
structures, alpha/beta maps, gEUD/NTCP, conformity indices, the CLI) passes a
:class:`MaskOptions` instead of loose keyword arguments, so an option is spelled, checked
and defaulted in one place.  The public keyword arguments (``case.dvh(name,
supersample=2, end_cap="none", interpolation="shape")``) are unchanged: they become a
record once, with :meth:`MaskOptions.from_kwargs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ParameterError

__all__ = ["MaskOptions", "END_CAPS", "INTERPOLATIONS", "DEFAULT_INTERPOLATION", "DEFAULT"]

END_CAPS = ("half", "none")
INTERPOLATIONS = ("prism", "shape")
DEFAULT_INTERPOLATION = "prism"
_FIELDS = ("supersample", "end_cap", "interpolation", "split_gaps")


@dataclass(frozen=True)
class MaskOptions:
    """Options of the rasterisation (see :mod:`dosecalc.masks`).

    Attributes
    ----------
    supersample : "auto" or int >= 1
        Sub-voxel factor per axis (1: the dose voxels); ``"auto"`` picks it from the
        structure's volume and extent.  Checked when the mask is made (the message names
        the structure's lattice limits).
    end_cap : {"half", "none"}
        Slab extension beyond the first and last contour plane.
    interpolation : {"prism", "shape"}
        Shape between planes: right prisms, or shape-based interpolation.
    split_gaps : bool
        True (default): consecutive contour planes more than 1.5 x the structure's
        median plane spacing apart are a gap, each side ending with a half-spacing cap.
        False: every plane's slab reaches halfway to its neighbours whatever the distance
        (sparse "helper" ROIs drawn on a few planes only).
    """

    supersample: Any = "auto"
    end_cap: str = "half"
    interpolation: str = DEFAULT_INTERPOLATION
    split_gaps: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.split_gaps, bool):
            raise ParameterError(f"split_gaps must be True or False, got {self.split_gaps!r}")
        if self.end_cap not in END_CAPS:
            raise ParameterError(f"end_cap must be one of {END_CAPS}, got {self.end_cap!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ParameterError(f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")

    @classmethod
    def from_kwargs(cls, options: "MaskOptions | None" = None, /, **kwargs) -> "MaskOptions":
        """A record from keyword arguments (``supersample``, ``end_cap``,
        ``interpolation``, ``split_gaps``), optionally on top of ``options``.

        Raises
        ------
        ParameterError
            An unknown option name.
        """
        unknown = set(kwargs) - set(_FIELDS)
        if unknown:
            raise ParameterError(f"unknown mask options {sorted(unknown)}; "
                                 f"expected {', '.join(_FIELDS)}")
        base = DEFAULT if options is None else options
        if not kwargs:
            return base
        values = {f: kwargs.get(f, getattr(base, f)) for f in _FIELDS}
        return cls(**values)

    def key(self) -> tuple:
        """Hashable cache key (an unhashable supersample value keys by its repr)."""
        ss = self.supersample
        try:
            hash(ss)
        except TypeError:
            ss = repr(ss)
        return (ss, self.end_cap, self.interpolation, self.split_gaps)

    def to_dict(self) -> dict:
        return {"supersample": self.supersample, "end_cap": self.end_cap,
                "interpolation": self.interpolation, "split_gaps": self.split_gaps}


DEFAULT = MaskOptions()
