"""Find the plan's ROIs for each structure a protocol names.

Order, first hit wins: the user's mapping (``{"Liver": "LIVER_1"}``), the protocol's
name patterns (``match = ["gtv[0-9]*"]``, on normalised names), the TG-263 name and the
alias list (case- and separator-insensitive, via :func:`dosecalc.model.normalise_name`),
and last the derived expression (``"Liver - GTV"``) built from the other structures'
matches.  Two ROIs that both fit one name are an ambiguity: the structure is then not
matched (a guess could evaluate the wrong organ) and the report says which ROIs compete.

Helper structures never match a protocol name, alias or pattern: names with a helper word
(``opt``, ``ring``, ``PRV``, ``avoid``, ``push``, ``dummy``, ``help``, ``tune``, ``ctrl``,
``block``, ``shell``, ``hot``/``cold`` spots...; not ``eval`` or ``crop``, which name the
evaluation target) or a ``z``/``zz``/``x_`` prefix, and ROIs whose
RTROIInterpretedType marks them as planning aids (CONTROL, AVOIDANCE, DOSE_REGION, ...).
An optimisation ring ``PTV1_ring_opt`` can otherwise decide a coverage verdict.  A user
mapping may still name one; it is then used with a warning.  An organ not found lists the
closest ROI names ("did you mean ...").
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from ..errors import ParameterError
from ..expressions import is_expression, tokenise
from ..model import normalise_name
from .schema import Protocol, ProtocolStructure
from .toml_fields import read_toml_file

# words that mark a planning aid rather than an anatomical or target structure
_HELPER_WORDS = ("opt", "ring", "prv", "avoid", "avd", "push", "dummy", "help", "helper", "tune", "ctrl",
                 "control", "block", "shell", "temp", "tmp", "hot", "cold", "expand", "exp")
_HELPER_TYPES = ("CONTROL", "AVOIDANCE", "DOSE_REGION", "SUPPORT", "FIXATION", "BOLUS", "MARKER",
                 "REGISTRATION", "ISOCENTER", "CONTRAST_AGENT", "CAVITY")
_WORD = re.compile(r"[a-z]+|\d+")


def helper_reason(name: str, roi_type: str = "") -> str:
    """Why an ROI looks like a planning helper ("" when it does not).

    A name is split into words at separators, digits and case changes (``PTV1_ring_opt`` ->
    ptv, 1, ring, opt; ``optPTV`` -> opt, ptv); a helper word anywhere, or a ``z``/``zz``/
    ``x_`` prefix (a common convention that sorts helpers last), marks a helper.
    """
    t = (roi_type or "").strip().upper()
    if t in _HELPER_TYPES:
        return f"RTROIInterpretedType {t}"
    raw = name.strip()
    if re.match(r"(?i)(zz|z[_\-. ]|x[_\-. ])", raw) or re.match(r"z[A-Z]", raw):
        return "a z/zz/x_ prefix (helper naming convention)"
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", raw)
    words = _WORD.findall(spaced.casefold())
    for w in words:
        if w in _HELPER_WORDS:
            return f"the word {w!r} in its name"
    return ""


def load_mapping(path) -> dict[str, str]:
    """A mapping file: TOML lines ``Liver = "LIVER_1"`` (top level or a ``[map]`` table)."""
    p, data = read_toml_file(path, "mapping")
    if isinstance(data.get("map"), dict) and len(data) == 1:
        data = data["map"]
    out = {}
    for key, value in data.items():
        if not isinstance(value, str) or not value.strip():
            raise ParameterError(f"{p}: {key} must be an ROI name or expression in quotes, got {value!r}")
        out[key] = value.strip()
    return out


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
        if self.expression is None:
            return []
        if self.candidates:
            return list(self.candidates)
        return [self.expression]

    def describe(self) -> str:
        """One line for reports: what was matched and how."""
        if self.expression is None:
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
    names, empty, helpers = [], [], {}
    for s in structures:
        name = s if isinstance(s, str) else s.name
        why = helper_reason(name, "" if isinstance(s, str) else getattr(s, "roi_type", ""))
        if why:
            helpers[name] = why
        if isinstance(s, str) or getattr(s, "has_volume", True):
            names.append(name)
        else:
            empty.append(name)
    user = _check_mapping(protocol, names, mapping or {})
    resolver = _Resolver(protocol, names, empty, user, helpers)
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
    def __init__(self, protocol: Protocol, names, empty, user, helpers=None) -> None:
        self.protocol = protocol
        self.protocol_names = [ps.name for ps in protocol.structures]
        self.helpers = helpers or {}
        self.all_names = sorted(names, key=_natural_key)
        # helpers never match by name, alias or pattern: only a user mapping may pick one
        self.names = [n for n in self.all_names if n not in self.helpers]
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
        # the fields every StructureMatch of s shares (candidates set where a choice is made)
        base: dict[str, Any] = dict(name=s.name, combine=s.combine)
        notes: list[str] = []
        empty_hits = [e for e in self.empty
                      if any(normalise_name(e) == k for _, k in self._keys(s))
                      or any(fnmatchcase(normalise_name(e), p) for p in s.match)]
        notes += [f"ROI {e!r} fits but has no closed contours" for e in empty_hits]

        if s.name in self.user:
            value = self.user[s.name]
            if value in self.helpers:
                notes.append(f"WARNING: mapped to {value!r}, which looks like a planning helper "
                             f"({self.helpers[value]}), not the organ itself")
            return StructureMatch(rois=(value,), expression=value, how="mapping", notes=tuple(notes), **base)
        skipped = [h for h in self.helpers if h in self.all_names
                   and (any(normalise_name(h) == k for _, k in self._keys(s))
                        or any(fnmatchcase(normalise_name(h), p) for p in s.match))]
        notes += [f"helper ROI {h!r} ignored ({self.helpers[h]}); map it explicitly to use it" for h in skipped]
        base["candidates"] = ()

        name_hits: dict[str, list[str]] = {}
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
            exprs = tuple(r.expression for _, r in ok if r.expression is not None)  # found: all
            base["candidates"] = exprs
            return StructureMatch(rois=exprs, expression=" | ".join(_operand(e) for e in exprs),
                                  how="members", notes=tuple(notes), **base)

        if s.derive:
            return self._derive(s, s.derive, notes, base)
        return StructureMatch(notes=tuple(notes), reason=self._not_found_reason(s), **base)

    def _not_found_reason(self, s: ProtocolStructure) -> str:
        tried = [s.name] + list(s.aliases) + [f"pattern {p}" for p in s.match]
        text = f"no ROI named {' / '.join(tried)}; map one with {s.name}=ROI"
        close = self._did_you_mean(s)
        if close:
            text += f"; did you mean {', '.join(repr(c) for c in close)}?"
        return text

    def _did_you_mean(self, s: ProtocolStructure) -> list[str]:
        """ROI names close to the structure's name or aliases (helpers flagged as such)."""
        keys = [normalise_name(k) for k in (s.name, *s.aliases) if normalise_name(k)]
        by_key: dict[str, str] = {}
        for n in self.all_names:
            by_key.setdefault(normalise_name(n), n)
        scored: dict[str, float] = {}
        for k in keys:
            for hit in difflib.get_close_matches(k, list(by_key), n=3, cutoff=0.6):
                r = difflib.SequenceMatcher(None, k, hit).ratio()
                scored[hit] = max(r, scored.get(hit, 0.0))
            for nk in by_key:  # "SmallBowel" inside "Bowel_Small_1": contained names count too
                if len(k) >= 4 and (k in nk or nk in k) and nk not in scored:
                    scored[nk] = 0.59
        best = sorted(scored, key=lambda h: (-scored[h], h))[:3]
        return [by_key[h] + (" (helper)" if by_key[h] in self.helpers else "") for h in best]

    def _derive(self, s: ProtocolStructure, derive: str, notes: list[str], base: dict[str, Any]) -> StructureMatch:
        parts = []
        rois: list[str] = []
        for tok in tokenise(derive, self.protocol_names):
            t = tok.text
            if tok.kind == "op":
                parts.append(f" {t} ")
            elif tok.kind in "()":
                parts.append(t)
            else:
                if t in self.active:
                    return StructureMatch(notes=tuple(notes), reason=f"derive loops through {t}", **base)
                m = self.resolve(t)
                if m.expression is None:  # not found
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
