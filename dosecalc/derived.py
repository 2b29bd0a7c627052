"""Derived structures: boolean expressions of ROIs such as ``"Liver - GTV"``.

Syntax
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
from .model import DoseGrid, Structure

__all__ = ["DerivedStructure", "case_structure", "derived_mask", "parse_expression"]

_OPS = {"-": "difference", "|": "union", "+": "union", "&": "intersection"}
_SYMBOL = {"difference": "-", "union": "|", "intersection": "&"}


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


def _tokenise(text: str, names: list[str]) -> list[tuple[str, object]]:
    """Tokens ('(' / ')' / 'op' / 'name'); known ROI names match first, longest first."""
    known = sorted(names, key=len, reverse=True)
    tokens: list[tuple[str, object]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "()":
            tokens.append((ch, ch))
            i += 1
            continue
        if ch in _OPS and (i == 0 or text[i - 1].isspace() or text[i - 1] == ")") and \
                (i + 1 == n or text[i + 1].isspace() or text[i + 1] == "("):
            tokens.append(("op", _OPS[ch]))
            i += 1
            continue
        match = None
        for name in known:
            seg = text[i:i + len(name)]
            end = i + len(name)
            if seg.casefold() == name.casefold() and (end == n or _boundary(text, end)):
                match = name
                break
        if match is not None:
            tokens.append(("name", text[i:i + len(match)]))
            i += len(match)
            continue
        # unknown word(s): up to the next operator surrounded by spaces or a parenthesis
        m = re.compile(r"\s+[-|+&](?=\s|\()|[()]").search(text, i)
        end = m.start() if m else n
        tokens.append(("name", text[i:end].strip()))
        i = end
    return tokens


def _boundary(text: str, end: int) -> bool:
    rest = text[end:]
    return rest[0] == ")" or re.match(r"\s*($|\)|[-|+&](\s|\(|$))", rest) is not None


def parse_expression(case, expression: str):
    """Parse ``expression`` into a tree of ROIs of ``case`` (see module docstring).

    Raises
    ------
    StructureNotFoundError
        A name that is not an ROI of the case (the message lists the available names),
        or an expression that does not parse.
    """
    names = list(case.structures.names)
    tokens = _tokenise(expression, names)
    pos = 0

    def fail(msg):
        raise StructureNotFoundError(
            f"structure expression {expression!r}: {msg}; structures: {names} "
            "(operators -, |, +, & need spaces around them)")

    def peek():
        return tokens[pos] if pos < len(tokens) else (None, None)

    def primary():
        nonlocal pos
        kind, val = peek()
        if kind == "(":
            pos += 1
            node = expr()
            if peek()[0] != ")":
                fail("missing ')'")
            pos += 1
            return node
        if kind == "name":
            pos += 1
            s = _lookup(case, val)
            if s is None:
                raise StructureNotFoundError(f"no structure named {val!r} (in expression {expression!r}); "
                                             f"structures: {names}")
            return ("roi", s)
        fail("expected a structure name or '('" if kind is None else f"unexpected {val!r}")

    def term():
        nonlocal pos
        node = primary()
        while peek() == ("op", "intersection"):
            pos += 1
            node = ("intersection", node, primary())
        return node

    def expr():
        nonlocal pos
        node = term()
        while peek()[0] == "op" and peek()[1] in ("union", "difference"):
            op = peek()[1]
            pos += 1
            node = (op, node, term())
        return node

    if not tokens:
        fail("empty expression")
    tree = expr()
    if pos != len(tokens):
        fail(f"unexpected {tokens[pos][1]!r}")
    return tree


def _render(tree) -> str:
    if tree[0] == "roi":
        return tree[1].name
    return f"({_render(tree[1])} {_SYMBOL[tree[0]]} {_render(tree[2])})"


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
    from . import masks

    nz = np.nonzero(mask.fraction)
    if not len(nz[0]):
        return 1
    extent = []
    for ax in range(3):
        idx = nz[2 - ax]
        extent.append((int(idx.max()) - int(idx.min()) + 1) * mask.spacing_mm[ax])
    return masks.auto_supersample(mask.volume_cc, extent, grid.spacing_mm)


def derived_mask(case, expression, grid: DoseGrid | None = None, **mask_options):
    """Fractional mask of a structure or a derived expression on ``grid``.

    Parameters
    ----------
    case : Case
    expression : str, int, Structure or DerivedStructure
    grid : DoseGrid, optional
        Lattice grid (default ``case.dose``).
    **mask_options
        ``supersample``, ``end_cap``, ``interpolation`` as for
        :func:`dosecalc.masks.structure_mask`.

    Returns
    -------
    StructureMask
        Named after the expression; ``settings["expression"]`` holds the normalised form.
    """
    from . import masks

    grid = case.dose if grid is None else grid
    if grid is None:
        raise ParameterError("derived_mask: the case has no dose grid; pass grid=")
    target = case_structure(case, expression)
    if isinstance(target, Structure):
        return masks.structure_mask(target, grid, **mask_options)
    end_cap = mask_options.get("end_cap", "half")
    interpolation = mask_options.get("interpolation", masks.DEFAULT_INTERPOLATION)
    supersample = mask_options.get("supersample", "auto")
    unknown = set(mask_options) - {"end_cap", "interpolation", "supersample"}
    if unknown:
        raise ParameterError(f"derived_mask: unknown mask options {sorted(unknown)}")
    for s in target.operands:
        if not s.has_volume:
            raise ParameterError(f"derived structure {target.name!r}: operand {s.name!r} has no closed "
                                 "planar contours (no volume)")
    preps = {id(s): masks.prepare(s, grid, end_cap) for s in target.operands}

    def evaluate(k):
        leaf = {id(s): masks.mask_from_prepared(preps[id(s)], grid, k, end_cap, interpolation)
                for s in target.operands}

        def build(node):
            if node[0] == "roi":
                return leaf[id(node[1])]
            return masks.combine(node[0], build(node[1]), build(node[2]))

        return build(target.tree)

    if supersample == "auto":
        # The factor follows the size of the result, as for a plain structure: in-plane
        # coverage is exact at any factor, supersampling only refines the dose sampling
        # inside cells, which a 1400 cc "Liver - GTV" does not need however small the GTV.
        result = evaluate(1)
        k = _auto_factor(result, grid)
        # every operand shares the lattice, so the memory cap applies to each one's box
        voxels = max(masks.box_voxels(p, grid) for p in preps.values())
        while k > 1 and voxels * k ** 3 > masks.AUTO_MAX_CELLS:
            k -= 1
        if k > 1:
            result = evaluate(k)
    else:
        result = evaluate(supersample)
    settings = dict(result.settings)
    settings.update({"expression": target.expression, "supersample_requested": supersample})
    return masks.StructureMask(name=target.name, fraction=result.fraction, origin_mm=result.origin_mm,
                               spacing_mm=result.spacing_mm, index_offset=result.index_offset,
                               volume_cc=result.volume_cc, outside_cc=result.outside_cc, settings=settings,
                               corners_mm=result.corners_mm)
