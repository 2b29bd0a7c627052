"""Derived structures: boolean expressions of ROIs such as ``"Liver - GTV"``.

Syntax (one grammar for the whole engine, :mod:`dosecalc.expressions`)
------
* ``A - B`` difference, ``A | B`` or ``A + B`` union, ``A & B`` intersection; parentheses
  group.  ``&`` binds tighter than ``|``, ``+`` and ``-``, which associate left to right
  (``A - B | C`` is ``(A - B) | C``).
* Operators must be surrounded by spaces, so names with hyphens (``Bowel-Small``) stay
  names.  Names may contain spaces.
* A string that is itself the name of an ROI (case-insensitive) is always that ROI,
  never parsed: an ROI literally named ``"Liver-GTV"`` or ``"Liver - GTV"`` wins.

Partial volumes of cells crossed by two surfaces combine as documented in
:func:`dosecalc.masks.combine`; :func:`derived_mask` rasterises every operand on one
common lattice before combining.  With ``supersample="auto"`` the factor is the one the
*result* would get as a plain structure (its volume and extent, measured on the dose
voxels first): ``"Liver - GTV"`` is an organ-sized structure and keeps the dose voxels,
``"GTV1 | GTV2"`` of two small lesions gets a sub-voxel lattice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import ParameterError, StructureNotFoundError
from .expressions import SYMBOL, ExpressionSyntaxError, is_expression, parse
from .mask_options import MaskOptions
from .masks import (
    AUTO_MAX_CELLS,
    StructureMask,
    auto_supersample,
    box_voxels,
    combine,
    mask_from_prepared,
    prepare,
    structure_mask,
)
from .model import DoseGrid, Structure

__all__ = ["DerivedStructure", "case_structure", "derived_mask", "parse_expression"]



@dataclass(frozen=True, eq=False)
class DerivedStructure:
    """A structure defined by an expression of ROIs.

    Attributes
    ----------
    name : str
        The expression as given.
    expression : str
        Normalised expression, fully parenthesised with the ROI names as stored.
    operands : tuple of Structure
        The ROIs it uses (each once, in order of first appearance).
    tree : tuple
        ``("roi", Structure)`` or ``(op, left, right)`` with op in union / intersection /
        difference.
    """

    name: str
    expression: str
    operands: tuple[Structure, ...]
    tree: tuple

    @property
    def has_volume(self) -> bool:
        return all(s.has_volume for s in self.operands)


#: The key :func:`dosecalc.analysis.case_dvhs` gives an ROI whose name other ROIs share.
_ROI_KEY = re.compile(r"(.*\S)\s*\(ROI\s+(\d+)\)", re.IGNORECASE)


def roi_key(structure: Structure) -> str:
    """``"Name (ROI n)"``: the key of an ROI whose name is shared (see :func:`_lookup`)."""
    return f"{structure.name} (ROI {structure.number})"


def _by_number(structures, number: int) -> Structure | None:
    return next((s for s in structures if s.number == number), None)


def _lookup(case, key) -> Structure | None:
    """The ROI ``key`` names, or None.  In order: its name (exact, then case-insensitive;
    an ROI literally named ``"37"`` or ``"Frame (ROI 2)"`` wins), the key
    ``"Name (ROI n)"`` that ``case.dvhs()`` gives ROIs sharing a name (the number picks
    the ROI, the name must agree), an ROI number given as text (``"37"``)."""
    structures = case.structures
    try:
        return structures[key]
    except StructureNotFoundError:
        if not isinstance(key, str):
            raise
    text = key.strip()
    m = _ROI_KEY.fullmatch(text)
    if m:
        s = _by_number(structures, int(m.group(2)))
        if s is not None and s.name.strip().casefold() == m.group(1).strip().casefold():
            return s
        return None
    if text.isdigit():
        return _by_number(structures, int(text))
    return None


def _explain_key(case, text: str) -> None:
    """Raise a clear error for a ``"Name (ROI n)"`` key whose number and name disagree
    (rather than the parser's complaint about its parenthesis)."""
    m = _ROI_KEY.fullmatch(text)
    if m is None or is_expression(m.group(1)):
        return
    s = _by_number(case.structures, int(m.group(2)))
    what = f"no ROI number {m.group(2)}" if s is None else f"ROI {s.number} is named {s.name!r}"
    raise StructureNotFoundError(f"no structure {text!r}: {what}; structures: {_known_names(case)}")


def _known_names(case) -> list[str]:
    """Names the tokeniser matches whole: every ROI name and the ``"Name (ROI n)"`` key of
    every ROI whose name is shared (so such a key can stand in an expression)."""
    names = list(case.structures.names)
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return names + [roi_key(s) for s in case.structures if counts[s.name] > 1]


def parse_expression(case, expression: str):
    """Parse ``expression`` into a tree of ROIs of ``case`` (see module docstring).

    Raises
    ------
    StructureNotFoundError
        A name that is not an ROI of the case (the message lists the available names),
        or an expression that does not parse.
    """
    if not isinstance(expression, str):
        raise StructureNotFoundError(f"structure expression must be text, got {type(expression).__name__}")
    names = _known_names(case)
    shown = expression if len(expression) <= 200 else expression[:200] + "..."

    def leaf(name):
        s = _lookup(case, name)
        if s is None:
            try:
                case.structures[name]
            except StructureNotFoundError as exc:
                if "several ROIs" in str(exc):
                    raise  # an ambiguous name: say so and how to pick one, not "no structure"
            raise StructureNotFoundError(f"no structure named {name!r} (in expression {expression!r}); "
                                         f"structures: {names}")
        return s

    try:
        return parse(expression, names, leaf)
    except ExpressionSyntaxError as exc:
        raise StructureNotFoundError(
            f"structure expression {shown!r}: {exc}; structures: {names} "
            "(operators -, |, +, & need spaces around them)") from None


def _render(tree, shared: frozenset[str] = frozenset()) -> str:
    """The normalised expression; an ROI whose name is ``shared`` with another is written
    as its key ``"Name (ROI n)"``, so that the text (which keys the mask cache) names
    one ROI only."""
    if tree[0] == "roi":
        s = tree[1]
        return roi_key(s) if s.name in shared else s.name
    return f"({_render(tree[1], shared)} {SYMBOL[tree[0]]} {_render(tree[2], shared)})"


def _shared_names(case) -> frozenset[str]:
    seen: set[str] = set()
    shared: set[str] = set()
    for n in case.structures.names:
        (shared if n in seen else seen).add(n)
    return frozenset(shared)


def _operands(tree, acc):
    if tree[0] == "roi":
        if all(s is not tree[1] for s in acc):
            acc.append(tree[1])
    else:
        _operands(tree[1], acc)
        _operands(tree[2], acc)
    return acc


def case_structure(case, expression):
    """The Structure named ``expression`` (or ROI number), else a :class:`DerivedStructure`.

    Raises
    ------
    StructureNotFoundError
        Unknown names (the message lists the available ones) or an unparsable expression.
    """
    if isinstance(expression, (Structure, DerivedStructure)):
        return expression
    if not isinstance(expression, str):
        return case.structures[expression]
    s = _lookup(case, expression.strip())
    if s is not None:
        return s
    try:
        tree = parse_expression(case, expression)
    except StructureNotFoundError:
        _explain_key(case, expression.strip())
        raise
    if tree[0] == "roi":
        return tree[1]
    return DerivedStructure(name=expression, expression=_render(tree, _shared_names(case)), operands=tuple(_operands(tree, [])),
                            tree=tree)


def _auto_factor(mask, grid: DoseGrid) -> int:
    """``supersample="auto"`` factor of a combined mask computed on the dose voxels: the
    plain-structure rule applied to its volume and the box of its non-empty cells."""
    nz = np.nonzero(mask.fraction)
    if not len(nz[0]):
        return 1
    extent = []
    for ax in range(3):
        idx = nz[2 - ax]
        extent.append((int(idx.max()) - int(idx.min()) + 1) * mask.spacing_mm[ax])
    return auto_supersample(mask.volume_cc, extent, grid.spacing_mm)


def derived_mask(case, expression, grid: DoseGrid | None = None, options: MaskOptions | None = None,
                 **mask_options):
    """Fractional mask of a structure or a derived expression on ``grid``.

    Parameters
    ----------
    case : Case
    expression : str, int, Structure or DerivedStructure
    grid : DoseGrid, optional
        Lattice grid (default ``case.dose``).
    options : MaskOptions, optional
        ``supersample``, ``end_cap``, ``interpolation``; keyword arguments override its
        fields (as for :func:`dosecalc.structure_mask`).

    Returns
    -------
    StructureMask
        Named after the expression; ``settings["expression"]`` holds the normalised form.
    """
    grid = case.dose if grid is None else grid
    if grid is None:
        raise ParameterError("derived_mask: the case has no dose grid; pass grid=")
    opts = MaskOptions.from_kwargs(options, **mask_options)
    target = case_structure(case, expression)
    if isinstance(target, Structure):
        return structure_mask(target, grid, options=opts)
    end_cap, interpolation, supersample = opts.end_cap, opts.interpolation, opts.supersample
    for s in target.operands:
        if not s.has_volume:
            raise ParameterError(f"derived structure {target.name!r}: operand {s.name!r} has no closed "
                                 "planar contours (no volume)")
    preps = {id(s): prepare(s, grid, end_cap, opts.split_gaps) for s in target.operands}

    def evaluate(k):
        leaf = {id(s): mask_from_prepared(preps[id(s)], grid, k, end_cap, interpolation)
                for s in target.operands}

        def build(node):
            if node[0] == "roi":
                return leaf[id(node[1])]
            return combine(node[0], build(node[1]), build(node[2]))

        return build(target.tree)

    if supersample == "auto":
        # The factor follows the size of the result, as for a plain structure: in-plane
        # coverage is exact at any factor, supersampling only refines the dose sampling
        # inside cells, which a 1400 cc "Liver - GTV" does not need however small the GTV.
        result = evaluate(1)
        k = _auto_factor(result, grid)
        # every operand shares the lattice, so the memory cap applies to each one's box
        voxels = max(box_voxels(p, grid) for p in preps.values())
        while k > 1 and voxels * k ** 3 > AUTO_MAX_CELLS:
            k -= 1
        if k > 1:
            result = evaluate(k)
    else:
        result = evaluate(supersample)
    settings = dict(result.settings)
    settings.update({"expression": target.expression, "supersample_requested": supersample})
    return StructureMask(name=target.name, fraction=result.fraction, origin_mm=result.origin_mm,
                               spacing_mm=result.spacing_mm, index_offset=result.index_offset,
                               volume_cc=result.volume_cc, outside_cc=result.outside_cc, settings=settings,
                               corners_mm=result.corners_mm)
