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

from dataclasses import dataclass

import numpy as np

from .errors import ParameterError, StructureNotFoundError
from .expressions import SYMBOL, ExpressionSyntaxError, parse
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


def _lookup(case, key):
    structures = case.structures
    try:
        return structures[key]
    except StructureNotFoundError:
        return None


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
    names = list(case.structures.names)
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


def _render(tree) -> str:
    if tree[0] == "roi":
        return tree[1].name
    return f"({_render(tree[1])} {SYMBOL[tree[0]]} {_render(tree[2])})"


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
    tree = parse_expression(case, expression)
    if tree[0] == "roi":
        return tree[1]
    return DerivedStructure(name=expression, expression=_render(tree), operands=tuple(_operands(tree, [])),
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
