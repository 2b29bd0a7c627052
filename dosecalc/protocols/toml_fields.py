"""Reading the TOML files of the protocol layer: :func:`read_toml_file` (mapping and labs
files) and :class:`FieldReader`, typed getters over a protocol's tables (string, number,
choice, lists, fractions, Child-Pugh classes) whose errors name the file, the field path
(``constraints[4].limit``) and, when it can be found, the line.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

from ..errors import ParameterError, ProtocolError
from .records import CHILD_PUGH_CLASSES


def read_toml_file(path, what: str) -> tuple[Path, dict]:
    """The path (user's ``~`` expanded) and the parsed TOML of a ``what`` file
    (``"mapping"``, ``"labs"``); ParameterError naming the file when it is absent or not
    valid TOML (syntax, encoding, nesting too deep)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ParameterError(f"{what} file {str(p)!r} does not exist")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"{p}: not a valid TOML {what} file: {exc}") from None
    except RecursionError:
        raise ParameterError(f"{p}: not a valid TOML {what} file: nested too deep") from None
    return p, data


class FieldReader:
    """Typed getters over one protocol file's tables; :meth:`fail` raises the
    ProtocolError that names the file, the field path and the line."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    # -- error with the line, when the key can be found cheaply
    def _line(self, field_path: str) -> int | None:
        lines = self.text.splitlines()
        m = re.match(r"(\w+)(?:\[(\d+)\])?(?:\.(\w+))?", field_path)
        if not m:
            return None
        table, index, key = m.group(1), m.group(2), m.group(3)
        if index is None:
            for i, line in enumerate(lines):
                if re.match(rf"\s*{re.escape(table)}\s*=", line):
                    return i + 1
            return None
        count = -1
        start = None
        for i, line in enumerate(lines):
            if re.match(rf"\s*\[\[\s*{re.escape(table)}\s*\]\]", line):
                count += 1
                if count == int(index):
                    start = i
                    break
        if start is None:
            return None
        if key is None:
            return start + 1
        for j in range(start + 1, len(lines)):
            if re.match(r"\s*\[", lines[j]):
                break
            if re.match(rf"\s*{re.escape(key)}\s*=", lines[j]):
                return j + 1
        return start + 1

    def fail(self, field_path: str, message: str):
        line = self._line(field_path)
        where = f"{field_path}" + (f" (line {line})" if line else "")
        raise ProtocolError(f"{where}: {message}", path=self.path)

    # -- typed getters
    def keys(self, d, allowed, where):
        if not isinstance(d, dict):
            self.fail(where, "must be a table")
        for k in d:
            if k not in allowed:
                self.fail(f"{where}.{k}" if where else k,
                          f"unknown field {k!r}; allowed: {', '.join(sorted(allowed))}")

    def string(self, d, key, where, required=True, default=""):
        if key not in d:
            if required:
                self.fail(f"{where}.{key}" if where else key, "is required (a non-empty string)")
            return default
        val = d[key]
        if not isinstance(val, str) or (required and not val.strip()):
            self.fail(f"{where}.{key}" if where else key, f"must be a non-empty string, got {val!r}")
        return val.strip()

    def number(self, d, key, where, required=True, positive=False):
        fp = f"{where}.{key}" if where else key
        if key not in d:
            if required:
                self.fail(fp, "is required (a number)")
            return None
        val = d[key]
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
            self.fail(fp, f"must be a finite number, got {val!r}")
        if positive and val <= 0:
            self.fail(fp, f"must be > 0, got {val!r}")
        return float(val)

    def choice(self, d, key, where, choices, required=True, default=None):
        fp = f"{where}.{key}" if where else key
        if key not in d:
            if required:
                self.fail(fp, f"is required (one of {', '.join(choices)})")
            return default
        val = d[key]
        if val not in choices:
            self.fail(fp, f"must be one of {', '.join(repr(c) for c in choices)}, got {val!r}")
        return val

    def str_list(self, d, key, where, default=()):
        fp = f"{where}.{key}"
        val = d.get(key, list(default))
        if isinstance(val, str):
            val = [val]
        if not isinstance(val, list) or not all(isinstance(x, str) and x.strip() for x in val):
            self.fail(fp, f"must be a list of non-empty strings, got {val!r}")
        return tuple(x.strip() for x in val)

    def fraction_list(self, d, key, where):
        fp = f"{where}.{key}"
        if key not in d:
            self.fail(fp, "is required (a list of fraction numbers, e.g. [3, 5])")
        val = d[key]
        if isinstance(val, int) and not isinstance(val, bool):
            val = [val]
        if (not isinstance(val, list) or not val
                or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in val)):
            self.fail(fp, f"must be a non-empty list of whole numbers >= 1, got {val!r}")
        return tuple(sorted(set(val)))

    def classes(self, d, key, where):
        fp = f"{where}.{key}"
        val = d.get(key, ["A", "B"])
        if isinstance(val, str):
            val = [val]
        if not isinstance(val, list) or not val or not all(x in CHILD_PUGH_CLASSES for x in val):
            self.fail(fp, f"must be a non-empty list of Child-Pugh classes {CHILD_PUGH_CLASSES}, got {val!r}")
        return tuple(sorted(set(val)))

    def entries(self, data, key):
        val = data.get(key, [])
        if not isinstance(val, list) or not all(isinstance(x, dict) for x in val):
            self.fail(key, f"must be an array of tables ([[{key}]])")
        return val
