"""Find the plan's ROIs for each structure a protocol names.

Order, first hit wins: the user's mapping (``{"Liver": "LIVER_1"}``), the protocol's
name patterns (``match = ["gtv[0-9]*"]``, on normalised names), the TG-263 name and the
alias list (case- and separator-insensitive, via :func:`dosecalc.model.normalise_name`),
and last the derived expression (``"Liver - GTV"``) built from the other structures'
matches.  Two ROIs that both fit one name are an ambiguity: the structure is then not
matched (a guess could evaluate the wrong organ) and the report says which ROIs compete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..errors import ParameterError
from ..expressions import is_expression, tokenise
from ..model import normalise_name
from .schema import Protocol, ProtocolStructure



@dataclass(frozen=True)
class StructureMatch:
    """How one protocol structure was found in the plan.

    Attributes
    ----------
    name : str
        Protocol structure name.
    rois : tuple of str
        ROI names used (several for a union, ``each`` or ``lowest_mean``).
    expression : str or None
        What the DVH engine evaluates: an ROI name, or an expression such as
        ``"Liver - (GTV1 | GTV2)"``; None when not found.
    how : str
        ``"mapping"``, ``"name"``, ``"alias 'Normal Liver'"``, ``"pattern 'gtv[0-9]*'"``,
        ``"derived"`` or ``"members"``.
    combine : str
        ``"union"``, ``"each"`` or ``"lowest_mean"`` (from the protocol).
    notes : tuple of str
        ROIs that also fit but were not used, ROIs without contours, ...
    reason : str
        Why the structure was not found (empty when found).
    """

    name: str
    rois: tuple[str, ...] = ()
    expression: str | None = None
    how: str = ""
    combine: str = "union"
    notes: tuple[str, ...] = ()
    reason: str = ""
    candidates: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return self.expression is not None

    def items(self) -> list[str]:
        """Expressions to evaluate: one per ROI (or member) for ``each`` and
        ``lowest_mean``, the one (combined) structure otherwise."""
        if not self.found:
            return []
        if self.candidates:
            return list(self.candidates)
        return [self.expression]

    def describe(self) -> str:
        """One line for reports: what was matched and how."""
        if not self.found:
            return f"not found ({self.reason})"
        if self.candidates:
            what = (" / " if self.combine == "lowest_mean" else ", ").join(self.candidates)
        else:
            what = self.expression
        return f"{what} [{self.how}]"


def _natural_key(name: str):
    # re.split with a capture group alternates text and digits, so lists compare safely
    return ([int(t) if t.isdigit() else t for t in re.split(r"(\d+)", normalise_name(name))], name)


def _operand(expr: str) -> str:
    """``expr`` made safe as an operand of a larger expression."""
    return f"({expr})" if is_expression(expr) else expr


def match_structures(protocol: Protocol, structures, mapping: dict | None = None) -> dict[str, StructureMatch]:
    """Match every structure of ``protocol`` to the ROIs of a plan.

    Parameters
    ----------
    protocol : Protocol
    structures : StructureSet or iterable of Structure or of ROI names
        The plan's ROIs.  ROIs without closed contours are never used (noted).
    mapping : dict, optional
        ``{protocol structure name: ROI name or expression}``; keys are compared
        case- and separator-insensitively.

    Returns
    -------
    dict
        Protocol structure name -> :class:`StructureMatch`, in protocol order.

    Raises
    ------
    ParameterError
        A mapping key that is not a protocol structure, or a mapping value that is neither
        an ROI of the plan nor an expression.
    """
    names, empty = [], []
    for s in structures:
        if isinstance(s, str):
            names.append(s)
        elif getattr(s, "has_volume", True):
            names.append(s.name)
        else:
            empty.append(s.name)
    user = _check_mapping(protocol, names, mapping or {})
    resolver = _Resolver(protocol, names, empty, user)
    return {s.name: resolver.resolve(s.name) for s in protocol.structures}


def _check_mapping(protocol: Protocol, names: list[str], mapping: dict) -> dict[str, str]:
    by_key = {normalise_name(s.name): s.name for s in protocol.structures}
    out = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or not isinstance(value, str) or not value.strip():
            raise ParameterError(f"mapping entries must be 'protocol structure' -> 'ROI name', got {key!r}: {value!r}")
        target = by_key.get(normalise_name(key))
        if target is None:
            raise ParameterError(f"mapping {key}={value}: {key!r} is not a structure of protocol "
                                 f"{protocol.id!r}; its structures: {', '.join(s.name for s in protocol.structures)}")
        value = value.strip()
        exact = [n for n in names if n == value] or [n for n in names if n.casefold() == value.casefold()]
        if len(exact) == 1:
            out[target] = exact[0]
        elif len(exact) > 1:
            raise ParameterError(f"mapping {key}={value}: several ROIs match case-insensitively: {exact}")
        elif is_expression(value):
            out[target] = value
        else:
            raise ParameterError(f"mapping {key}={value}: the plan has no ROI named {value!r} "
                                 f"(ROIs with contours: {', '.join(names)})")
    return out


class _Resolver:
    def __init__(self, protocol: Protocol, names, empty, user) -> None:
        self.protocol = protocol
        self.protocol_names = [ps.name for ps in protocol.structures]
        self.names = sorted(names, key=_natural_key)
        self.empty = empty
        self.user = user
        self.done: dict[str, StructureMatch] = {}
        self.active: set[str] = set()

    def resolve(self, name: str) -> StructureMatch:
        if name in self.done:
            return self.done[name]
        self.active.add(name)
        m = self._resolve(self.protocol.structure(name))
        self.active.discard(name)
        self.done[name] = m
        return m

    def _keys(self, s: ProtocolStructure):
        keys = [("name", normalise_name(s.name))]
        keys += [(f"alias {a!r}", normalise_name(a)) for a in s.aliases]
        return keys

    def _resolve(self, s: ProtocolStructure) -> StructureMatch:
        base = dict(name=s.name, combine=s.combine)
        notes = []
        empty_hits = [e for e in self.empty
                      if any(normalise_name(e) == k for _, k in self._keys(s))
                      or any(fnmatchcase(normalise_name(e), p) for p in s.match)]
        notes += [f"ROI {e!r} fits but has no closed contours" for e in empty_hits]

        if s.name in self.user:
            value = self.user[s.name]
            return StructureMatch(rois=(value,), expression=value, how="mapping", notes=tuple(notes), **base)
        base["candidates"] = ()

        name_hits = {}
        for how, key in self._keys(s):
            hits = [n for n in self.names if normalise_name(n) == key]
            if hits:
                name_hits.setdefault(how, hits)

        for pat in s.match:
            hits = [n for n in self.names if fnmatchcase(normalise_name(n), pat)]
            if hits:
                unused = sorted({n for h in name_hits.values() for n in h} - set(hits), key=_natural_key)
                notes += [f"ROI {u!r} also fits the name but pattern {pat!r} takes precedence" for u in unused]
                expr = " | ".join(_operand(h) for h in hits)
                if s.combine != "union" and len(hits) > 1:
                    base["candidates"] = tuple(hits)
                return StructureMatch(rois=tuple(hits), expression=expr, how=f"pattern {pat!r}",
                                      notes=tuple(notes), **base)

        for how, hits in name_hits.items():
            if len(hits) > 1:
                return StructureMatch(
                    notes=tuple(notes), reason=f"ambiguous: ROIs {', '.join(repr(h) for h in hits)} all fit "
                    f"{s.name!r} ({how}); choose one with a mapping ({s.name}=ROI)", **base)
            others = [h[0] for k, h in name_hits.items() if h[0] != hits[0]]
            notes += [f"ROI {o!r} also fits ({k}) but {hits[0]!r} ({how}) comes first"
                      for k, o in zip([k for k in name_hits if name_hits[k][0] != hits[0]], others)]
            return StructureMatch(rois=(hits[0],), expression=hits[0], how=how, notes=tuple(notes), **base)

        if s.members:
            found = [(m, self.resolve(m)) for m in s.members]
            ok = [(m, r) for m, r in found if r.found]
            missing = [m for m, r in found if not r.found]
            if not ok:
                return StructureMatch(notes=tuple(notes), reason=f"none of its members {', '.join(s.members)} "
                                      "was found", **base)
            notes += [f"member {m} not found; choosing among the others" for m in missing]
            exprs = tuple(r.expression for _, r in ok)
            base["candidates"] = exprs
            return StructureMatch(rois=exprs, expression=" | ".join(_operand(e) for e in exprs),
                                  how="members", notes=tuple(notes), **base)

        if s.derive:
            return self._derive(s, notes, base)
        return StructureMatch(notes=tuple(notes), reason=self._not_found_reason(s), **base)

    def _not_found_reason(self, s: ProtocolStructure) -> str:
        tried = [s.name] + list(s.aliases) + [f"pattern {p}" for p in s.match]
        return f"no ROI named {' / '.join(tried)}; map one with {s.name}=ROI"

    def _derive(self, s: ProtocolStructure, notes, base) -> StructureMatch:
        parts = []
        rois = []
        for tok in tokenise(s.derive, self.protocol_names):
            t = tok.text
            if tok.kind == "op":
                parts.append(f" {t} ")
            elif tok.kind in "()":
                parts.append(t)
            else:
                if t in self.active:
                    return StructureMatch(notes=tuple(notes), reason=f"derive loops through {t}", **base)
                m = self.resolve(t)
                if not m.found:
                    return StructureMatch(notes=tuple(notes), reason=f"cannot derive {s.name} = {s.derive}: "
                                          f"{t} {m.reason}", **base)
                expr = m.expression
                if m.combine == "lowest_mean":
                    return StructureMatch(notes=tuple(notes), reason=f"cannot derive from {t} (a choice among "
                                          "ROIs)", **base)
                rois += list(m.rois)
                parts.append(_operand(expr))
        expr = "".join(parts)
        return StructureMatch(rois=tuple(dict.fromkeys(rois)), expression=expr, how=f"derived {s.derive}",
                              notes=tuple(notes), **base)
