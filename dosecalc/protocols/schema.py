"""Protocol files: TOML in, validated frozen :class:`Protocol` out.

A protocol file states, for a named trial or institution: the prescriptions per
fractionation, the structures (TG-263 name, aliases, name patterns, derived
expressions), the dose constraints per fractionation and Child-Pugh class, and the
laboratory eligibility criteria.  Every number carries ``source`` and ``confidence``
(``primary`` / ``secondary`` / ``unconfirmed``) so that a report can show where it comes
from.  Errors name the file, the field path (``constraints[4].limit``) and, when it can be
found, the line.

``extends = "hcc-oligoprogression"`` (a built-in id, or a path relative to the file)
starts from another protocol: top-level fields given replace the parent's; structures,
constraints, prescriptions and eligibility entries with the ``id``/``name`` of a parent
entry are merged onto it (changing ``limit`` or ``level2`` then requires a new ``source``
and ``confidence``, so a number never carries someone else's citation); new entries are
appended; ``remove = ["constraint-id", ...]`` drops parent constraints.

The format lives in four modules, one job each: :mod:`.records` (the frozen types),
:mod:`.toml_fields` (typed field getters whose errors name file, field and line),
:mod:`.validator` (the rules of each table, ``extends`` merges) and this module (finding
and loading a protocol).  Every name of the records is re-exported here.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from ..errors import ProtocolError
from .records import (  # noqa: F401  (re-exported: their old home)
    CHILD_PUGH_CLASSES, COMBINE, CONFIDENCE, ELIGIBILITY_FLAGS, ELIGIBILITY_KINDS, ELIGIBILITY_QUANTITIES,
    LEVEL2_KINDS, Condition, Constraint, EligibilityCriterion, Prescription, Protocol, ProtocolStructure, Site)
from .validator import ProtocolValidator

# --- loading ------------------------------------------------------------------------
_BUILTIN_PACKAGE = "dosecalc.protocols"


def builtin_ids() -> list[str]:
    """Ids of the protocols shipped with dosecalc."""
    root = resources.files(_BUILTIN_PACKAGE)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def builtin_protocols() -> list[Protocol]:
    """Every built-in protocol, loaded and validated."""
    return [load_protocol(i) for i in builtin_ids()]


def _builtin_path(pid: str):
    res = resources.files(_BUILTIN_PACKAGE).joinpath(f"{pid}.toml")
    return res if res.is_file() else None


def load_protocol(id_or_path, *, _chain: tuple[str, ...] = ()) -> Protocol:
    """Load and validate a protocol.

    Parameters
    ----------
    id_or_path : str or Path or Protocol
        A built-in id (``"hcc-oligoprogression"``, see :func:`builtin_ids`) or the path of a
        TOML protocol file.  A Protocol is returned as is.

    Returns
    -------
    Protocol

    Raises
    ------
    ProtocolError
        Unknown id, unreadable file, TOML syntax error, or a field that breaks the schema
        (the message names the file, the field path and the line when found).
    """
    if isinstance(id_or_path, Protocol):
        return id_or_path
    if not isinstance(id_or_path, (str, Path)):
        raise ProtocolError(f"protocol must be a built-in id or a file path, got {id_or_path!r}")
    text_id = str(id_or_path)
    res = None if isinstance(id_or_path, Path) or text_id.endswith(".toml") else _builtin_path(text_id)
    if res is not None:
        text = res.read_text(encoding="utf-8")
        path_text = f"<built-in {text_id}>"
        base_dir = None
    else:
        path = Path(id_or_path).expanduser()
        if not path.is_file():
            raise ProtocolError(
                f"no built-in protocol {text_id!r} and no such file; built-ins: {', '.join(builtin_ids())}",
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"cannot read protocol file: {exc}", path=path) from None
        path_text = str(path)
        base_dir = path.resolve().parent
    key = path_text if res is None else text_id
    if key in _chain:
        raise ProtocolError(f"'extends' loops: {' -> '.join(_chain + (key,))}", path=path_text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"TOML syntax error: {exc}", path=path_text) from None
    except RecursionError:
        raise ProtocolError("TOML nested too deep (arrays or tables within each other)", path=path_text) from None
    v = ProtocolValidator(path_text, text)
    parent = None
    if "extends" in data:
        ext = data["extends"]
        if not isinstance(ext, str) or not ext.strip():
            v.fail("extends", "must be a built-in protocol id or a file path (string)")
        target = ext
        if base_dir is not None and _builtin_path(ext) is None:
            target = str((base_dir / ext))
        try:
            parent = load_protocol(target, _chain=_chain + (key,))
        except ProtocolError as exc:
            v.fail("extends", f"cannot load {ext!r}: {exc}")
    return v.protocol(data, parent, source_path=None if res is not None else path_text,
                      display=text_id if res is not None else path_text)
