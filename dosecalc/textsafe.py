"""Text from input files made safe for terminals, one-line errors and spreadsheets.

ROI names, patient IDs and folder names come from other people's exports.  Three things
can go wrong when they are printed or tabulated:

- control characters (a newline splits a one-line error; an ESC sequence drives the
  terminal): :func:`escape_control` shows them as ``\\n``, ``\\x1b``...;
- a CSV cell that begins with ``=``, ``+``, ``-``, ``@``, tab or carriage return is run
  as a formula by spreadsheet programs (OWASP, "CSV Injection"): :func:`csv_cell`
  prefixes such a cell with a single quote, except where the cell is a plain number
  (``-3.5`` stays a number);
- names that are not valid UTF-8: see :func:`dosecalc.io.walk.display_path`.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def escape_control(text: str) -> str:
    """``text`` with every control character (C0, DEL, C1, line/paragraph separators)
    written as a visible escape, so it prints on one line and cannot drive a terminal."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"
                                             if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"), text)


def csv_cell(value):
    """A value for a CSV cell: numbers unchanged; text with its control characters escaped
    and, when it begins like a formula, prefixed with ``'`` (OWASP CSV injection advice).

    A text that is a plain decimal number (``-3.5``, ``+2``, ``1e-3``) is left as it is:
    a spreadsheet reads it as that number, not as a formula.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        value = "'" + value
    return escape_control(value)


def printable(text) -> str:
    """``text`` (str, bytes or path) for a message or a table: bytes that are not valid
    UTF-8 (file names from other systems) shown as ``\\xNN``, control characters escaped."""
    import os

    if isinstance(text, bytes):
        text = os.fsdecode(text)
    s = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return escape_control(s)


def one_line(text, limit: int = 0) -> str:
    """``text`` as one line: control characters escaped, runs of spaces kept; cut to
    ``limit`` characters (0: no cut) with ``...``."""
    s = printable(text)
    return s if not limit or len(s) <= limit else s[:limit] + "..."


def printable_tree(obj):
    """A copy of a JSON-like tree (dicts, lists, strings) with every string (keys too)
    made printable (:func:`printable`), for text tables."""
    if isinstance(obj, str):
        return printable(obj)
    if isinstance(obj, dict):
        return {printable_tree(k): printable_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(printable_tree(v) for v in obj)
    return obj
