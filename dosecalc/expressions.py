"""The grammar of structure expressions (``"Liver - GTV"``, ``"GTV1 | GTV2"``,
``"Liver & (PTV | CTV)"``), one tokeniser for every place that reads them: the
derived-structure parser (:mod:`dosecalc.derived`), the protocol validator
(:mod:`dosecalc.protocols.schema`) and the structure matcher
(:mod:`dosecalc.protocols.matching`), so a protocol that validates parses the same way
at run time.

Grammar
-------
* Operators: ``-`` difference, ``|`` or ``+`` union, ``&`` intersection; parentheses
  group.  ``&`` binds tighter than ``|``, ``+`` and ``-``, which associate left to right.
* An operator character is an operator only when it stands apart: preceded by a space,
  ``)`` or the start, and followed by a space, ``(`` or the end.  So names with hyphens
  (``Bowel-Small``) stay names; names may contain spaces.
* With the ROI names of a plan known, a name matches first (longest first,
  case-insensitive) so an ROI literally named ``"Liver - GTV"`` is one operand.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["OPERATORS", "SYMBOL", "Token", "ExpressionSyntaxError", "tokenise", "parse",
           "is_expression", "operand_names"]

#: operator character -> operation
OPERATORS = {"-": "difference", "|": "union", "+": "union", "&": "intersection"}
#: operation -> the symbol an expression is written back with
SYMBOL = {"difference": "-", "union": "|", "intersection": "&"}

# end of an unknown name: the next operator that stands apart, or a parenthesis
_NAME_END = re.compile(r"\s+[-|+&](?=\s|\(|$)|[()]")
_AFTER_NAME = re.compile(r"\s*($|\)|[-|+&](\s|\(|$))")


class ExpressionSyntaxError(ValueError):
    """An expression that does not parse (callers wrap it in their own error, naming the
    expression and where it came from)."""


class Token(NamedTuple):
    """One token: ``kind`` is ``"("``, ``")"``, ``"op"`` or ``"name"``; ``value`` the
    operation of an operator (``"union"``...) or the name; ``text`` as written."""

    kind: str
    value: str
    text: str


def _is_operator_at(text: str, i: int) -> bool:
    n = len(text)
    return (text[i] in OPERATORS and (i == 0 or text[i - 1].isspace() or text[i - 1] == ")")
            and (i + 1 == n or text[i + 1].isspace() or text[i + 1] == "("))


def _boundary(text: str, end: int) -> bool:
    rest = text[end:]
    return rest[0] == ")" or _AFTER_NAME.match(rest) is not None


def tokenise(text: str, names=()) -> list[Token]:
    """Tokens of an expression (:class:`Token`: parentheses, operators, names).

    Parameters
    ----------
    text : str
    names : iterable of str
        Known ROI names; they match first, longest first, case-insensitively.
    """
    known = sorted(names, key=len, reverse=True)
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "()":
            tokens.append(Token(ch, ch, ch))
            i += 1
            continue
        if _is_operator_at(text, i):
            tokens.append(Token("op", OPERATORS[ch], ch))
            i += 1
            continue
        match = None
        for name in known:
            end = i + len(name)
            if text[i:end].casefold() == name.casefold() and (end == n or _boundary(text, end)):
                match = name
                break
        if match is not None:
            word = text[i:i + len(match)]
            tokens.append(Token("name", word, word))
            i += len(match)
            continue
        m = _NAME_END.search(text, i)
        end = m.start() if m else n
        word = text[i:end].strip()
        tokens.append(Token("name", word, word))
        i = end
    return tokens


def is_expression(text: str) -> bool:
    """Whether ``text`` holds an operator or a parenthesis (so it is not a plain name)."""
    return any(t.kind != "name" for t in tokenise(text))


def operand_names(text: str, names=()) -> list[str]:
    """The operand names of an expression, in order (with repeats)."""
    return [t.value for t in tokenise(text, names) if t.kind == "name"]


#: Bounds on an expression (real ones use a handful of operators and levels).
MAX_OPERATORS = 200
MAX_NESTING = 50


def parse(text: str, names=(), leaf=lambda name: name):
    """Parse an expression into a tree: ``("roi", leaf(name))`` or ``(operation, left,
    right)`` with operation ``union`` / ``intersection`` / ``difference``.

    Parameters
    ----------
    text : str
    names : iterable of str
        Known names (see :func:`tokenise`).
    leaf : callable
        Turns a name into the leaf's value (it may raise its own error for an unknown
        name; it is called in reading order).

    Raises
    ------
    ExpressionSyntaxError
        Empty expression, a missing ``)``, a token where it cannot stand, more than
        :data:`MAX_OPERATORS` operators or parentheses deeper than :data:`MAX_NESTING`.
    """
    tokens = [t[:2] for t in tokenise(text, names)]
    pos = 0
    depth = 0
    # parsing, and every walk of the tree after it, recurse once per level: bound the tree
    if sum(1 for kind, _ in tokens if kind == "op") > MAX_OPERATORS:
        raise ExpressionSyntaxError(f"more than {MAX_OPERATORS} operators")

    def peek():
        return tokens[pos] if pos < len(tokens) else (None, None)

    def primary():
        nonlocal pos
        kind, val = peek()
        if kind == "(":
            nonlocal depth
            pos += 1
            depth += 1
            if depth > MAX_NESTING:
                raise ExpressionSyntaxError(f"parentheses nested more than {MAX_NESTING} deep")
            node = expr()
            depth -= 1
            if peek()[0] != ")":
                raise ExpressionSyntaxError("missing ')'")
            pos += 1
            return node
        if kind == "name":
            pos += 1
            return ("roi", leaf(val))
        raise ExpressionSyntaxError("expected a structure name or '('" if kind is None else f"unexpected {val!r}")

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
        raise ExpressionSyntaxError("empty expression")
    tree = expr()
    if pos != len(tokens):
        raise ExpressionSyntaxError(f"unexpected {tokens[pos][1]!r}")
    return tree
