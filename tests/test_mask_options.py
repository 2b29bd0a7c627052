"""dosecalc.mask_options: one frozen record of the rasterisation options.

Truth: the documented defaults (supersample "auto", end_cap "half", interpolation
"prism") and the allowed values listed in dosecalc.masks' docstring.
"""

import dataclasses

import pytest

from dosecalc.errors import ParameterError
from dosecalc.mask_options import DEFAULT, MaskOptions


def test_defaults_and_frozen():
    assert (DEFAULT.supersample, DEFAULT.end_cap, DEFAULT.interpolation) == ("auto", "half", "prism")
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.end_cap = "none"


def test_from_kwargs_overrides():
    o = MaskOptions.from_kwargs(supersample=2)
    assert (o.supersample, o.end_cap, o.interpolation) == (2, "half", "prism")
    o2 = MaskOptions.from_kwargs(o, end_cap="none")
    assert (o2.supersample, o2.end_cap) == (2, "none")
    assert MaskOptions.from_kwargs(o) is o
    assert o.key() != o2.key() and MaskOptions.from_kwargs(supersample=2).key() == o.key()


def test_bad_values_named():
    with pytest.raises(ParameterError, match="end_cap"):
        MaskOptions(end_cap="full")
    with pytest.raises(ParameterError, match="interpolation"):
        MaskOptions(interpolation="spline")
    with pytest.raises(ParameterError, match="unknown mask options"):
        MaskOptions.from_kwargs(supersampel=2)


def test_case_mask_options_reach_the_mask(synthetic_case):
    """The record and the keyword arguments give the same mask (the record is what flows)."""
    a = synthetic_case.mask("GTV1", options=MaskOptions(supersample=1))
    b = synthetic_case.mask("GTV1", supersample=1)
    assert a is b  # one cache entry: same options, same key
    assert a.settings["supersample"] == 1 and a.index_offset is not None
