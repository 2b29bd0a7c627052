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
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import MetricSpecError, ProtocolError
from ..expressions import ExpressionSyntaxError, operand_names, parse
from ..quantity import DoseQuantity
from .verdict import COMPARATORS

CONFIDENCE = ("primary", "secondary", "unconfirmed")
LEVEL2_KINDS = ("acceptable", "ideal")
CHILD_PUGH_CLASSES = ("A", "B", "C")
COMBINE = ("union", "each", "lowest_mean")
ELIGIBILITY_QUANTITIES = {
    # quantity -> unit shown in reports
    "neutrophils": "1e9/L",
    "platelets": "1e9/L",
    "haemoglobin": "g/L",
    "bilirubin_x_uln": "x ULN",
    "ast_x_uln": "x ULN",
    "alt_x_uln": "x ULN",
    "albumin": "g/L",
    "creatinine_x_uln": "x ULN",
    "creatinine_clearance": "mL/min",
    "hbv_dna": "IU/mL",
    "antiviral_days": "days",
    "child_pugh_score": "points",
    # clinical items (given in the same TOML as the labs)
    "age": "years",
    "ecog": "points",
    "margin_cm": "cm",
}
# yes/no clinical items: the criterion states the required answer (``expect``)
ELIGIBILITY_FLAGS = ("hbv_carrier", "prior_rt_area", "extrahepatic_metastasis")
ELIGIBILITY_KINDS = ("lab", "clinical", "attestation")


# --- domain objects -----------------------------------------------------------------
@dataclass(frozen=True)
class Prescription:
    """A prescription the protocol allows for one fractionation and Child-Pugh classes.

    Attributes
    ----------
    id : str
    fractions : tuple of int
        Fraction numbers it applies to (the China NHC range covers 3 to 10).
    child_pugh : tuple of str
        Classes ("A", "B", "C") it applies to.
    dose_gy : float or None
        Nominal total dose in Gy (the reference for % of prescription when the plan
        states none).
    min_gy, max_gy : float or None
        Allowed range of the total dose in Gy (inclusive).
    min_bed_gy : float or None
        Minimum BED (Gy) of the prescription, at ``bed_alpha_beta`` Gy.
    bed_alpha_beta : float or None
    source, confidence, note : str
    """

    id: str
    fractions: tuple[int, ...]
    child_pugh: tuple[str, ...]
    dose_gy: float | None
    min_gy: float | None
    max_gy: float | None
    min_bed_gy: float | None
    bed_alpha_beta: float | None
    source: str
    confidence: str
    note: str = ""


@dataclass(frozen=True)
class ProtocolStructure:
    """A structure the protocol names, and how to find it in a plan.

    Attributes
    ----------
    name : str
        TG-263 name used in the protocol ("Liver", "Liver-CTV", "Stomach").
    aliases : tuple of str
        Other names accepted, compared case- and separator-insensitively.
    match : tuple of str
        Glob patterns on normalised ROI names (``"gtv[0-9]*"``), tried in order: the
        first pattern that matches any ROI gives the set of ROIs.
    combine : str
        How several ROIs found by ``match`` are used: ``"union"`` (one structure),
        ``"each"`` (every ROI evaluated on its own) or ``"lowest_mean"`` (the ROI with the
        lowest mean dose, e.g. the contralateral kidney).
    derive : str or None
        Expression over protocol structure names (``"Liver - GTV"``) used when no ROI
        matches the name or aliases.
    members : tuple of str
        Protocol structures to choose from with ``combine = "lowest_mean"`` (for example
        ``["Kidney_L", "Kidney_R"]``).
    required : bool
        False for organs that matter only when the lesion is near them (central
        hepatobiliary tract, great vessels): when no ROI is found their rows are shown as
        not evaluable but do not make the check incomplete.
    alpha_beta, alpha_beta_source
        alpha/beta (Gy) used to convert this organ's limits to another fractionation
        (``--convert``), and where it comes from.
    note : str
    """

    name: str
    aliases: tuple[str, ...] = ()
    match: tuple[str, ...] = ()
    combine: str = "union"
    derive: str | None = None
    members: tuple[str, ...] = ()
    required: bool = True
    alpha_beta: float | None = None
    alpha_beta_source: str = ""
    note: str = ""


@dataclass(frozen=True)
class Condition:
    """``metric(structure) comparator limit``: when a constraint (or its second level)
    applies, e.g. the China NHC mean-liver limit only when Liver-GTV > 700 mL."""

    structure: str
    metric: str
    comparator: str
    limit: float

    def text(self) -> str:
        return f"{self.structure} {self.metric} {self.comparator} {self.limit:g}"


@dataclass(frozen=True)
class Site:
    """A treated-site profile (oligoprogression): the organs checked for that site."""

    id: str
    label: str
    structures: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Constraint:
    """One dose constraint.

    Attributes
    ----------
    id : str
        Unique within the protocol (used by ``extends`` overrides).
    structure : str
        Protocol structure name.
    metric : str
        TG-263 metric (``"D0.03cc[Gy]"``, ``"CV15Gy[cc]"``, ``"Mean[EQD2Gy(a/b=2.5)]"``);
        a converted-dose label makes the metric be evaluated on that voxel-wise quantity.
    comparator : str
        ``<``, ``<=``, ``>``, ``>=``: the value must satisfy ``value comparator limit``.
    limit : float
        In the metric's output unit.
    level2 : float or None
        Second level: with ``level2_kind = "acceptable"`` a looser limit (a value that
        fails ``limit`` but meets ``level2`` is "acceptable"); with ``"ideal"`` a stricter
        goal (a value that meets ``limit`` but not ``level2`` is "acceptable").
    fractions : tuple of int
    child_pugh : tuple of str
    source, confidence : str
        Citation and confidence of ``limit``.
    level2_source, level2_confidence : str
        Citation and confidence of ``level2``.
    when, level2_when : Condition or None
        The constraint (or only its second level) applies when this holds.
    not_evaluable_for : tuple of str
        Child-Pugh classes for which no sourced value exists: a patient of such a class
        gets this row as ``not evaluable`` with ``not_evaluable_reason`` (never the value
        sourced for another class).
    conversion : str
        Set on constraints converted to another fractionation (``--convert``): the label
        ``converted from N fx, a/b X, ...`` every report shows.
    note : str
    """

    id: str
    structure: str
    metric: str
    comparator: str
    limit: float
    fractions: tuple[int, ...]
    child_pugh: tuple[str, ...]
    source: str
    confidence: str
    level2: float | None = None
    level2_kind: str | None = None
    level2_source: str = ""
    level2_confidence: str = ""
    when: Condition | None = None
    level2_when: Condition | None = None
    not_evaluable_for: tuple[str, ...] = ()
    not_evaluable_reason: str = ""
    conversion: str = ""
    note: str = ""

    def applies(self, fractions: int | None, child_pugh_class: str | None) -> bool:
        """Whether the constraint applies to this fractionation and Child-Pugh class."""
        return ((fractions is None or fractions in self.fractions)
                and (child_pugh_class is None or child_pugh_class in self.child_pugh))


@dataclass(frozen=True)
class EligibilityCriterion:
    """A registered inclusion or exclusion criterion.

    ``kind`` says how it is checked: ``lab`` and ``clinical`` criteria compare a value
    (``quantity comparator limit``; when ``alternative`` is given, meeting either one
    suffices) or a yes/no item (``flag`` must equal ``expect``); ``attestation`` criteria
    (consent, contraception...) no data can show: they are met only when the patient file
    lists their id under ``attested``.  ``applies_if`` names a yes/no item that makes the
    criterion apply (HBV DNA for HBV carriers).
    """

    id: str
    label: str
    quantity: str | None
    comparator: str
    limit: float
    source: str
    confidence: str
    kind: str = "lab"
    flag: str | None = None
    expect: bool | None = None
    applies_if: str | None = None
    alternative: tuple[str, str, float] | None = None
    alternative_confidence: str = ""
    optional: bool = False
    note: str = ""


@dataclass(frozen=True)
class Protocol:
    """A validated protocol (see the module docstring for the file format).

    Attributes
    ----------
    id, title, version, trial, description : str
    source_path : str or None
        File it was read from.
    extends : tuple of str
        Chain of protocols it extends (nearest first).
    eligible_child_pugh_max_score : int or None
        Highest Child-Pugh score the protocol admits (7 = "A or B7").
    eligibility_source, eligibility_confidence : str
    prescriptions, structures, constraints, eligibility : tuples of the entries
    sites : tuple of Site
        Treated-site profiles (``--site``); empty when the protocol has one site.
    default_site : str or None
    notes : tuple of str
    """

    id: str
    title: str
    version: str
    trial: str
    description: str = ""
    source_path: str | None = None
    extends: tuple[str, ...] = ()
    eligible_child_pugh_max_score: int | None = None
    eligibility_source: str = ""
    eligibility_confidence: str = ""
    prescriptions: tuple[Prescription, ...] = ()
    structures: tuple[ProtocolStructure, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    eligibility: tuple[EligibilityCriterion, ...] = ()
    sites: tuple[Site, ...] = ()
    default_site: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def fractionations(self) -> tuple[int, ...]:
        """Fraction numbers for which the protocol has constraints or prescriptions."""
        fx = {f for c in self.constraints for f in c.fractions} | {f for p in self.prescriptions
                                                                    for f in p.fractions}
        return tuple(sorted(fx))

    def site(self, site_id: str | None) -> Site | None:
        """The site profile ``site_id`` (None: the default; None when the protocol has none)."""
        if not self.sites:
            if site_id is not None:
                from ..errors import ParameterError

                raise ParameterError(f"--site {site_id}: protocol {self.id!r} has no site profiles")
            return None
        key = site_id or self.default_site
        for s in self.sites:
            if s.id == key:
                return s
        from ..errors import ParameterError

        raise ParameterError(f"--site {site_id}: protocol {self.id!r} has sites "
                             f"{', '.join(s.id for s in self.sites)}")

    def structure(self, name: str) -> ProtocolStructure:
        """The protocol structure called ``name``."""
        for s in self.structures:
            if s.name == name:
                return s
        raise ProtocolError(f"protocol {self.id!r} has no structure {name!r}")

    def to_dict(self) -> dict:
        """The validated protocol as plain data (JSON-able)."""
        from dataclasses import asdict

        return asdict(self)

    def constraints_for(self, fractions: int | None, child_pugh_class: str | None) -> tuple[Constraint, ...]:
        return tuple(c for c in self.constraints if c.applies(fractions, child_pugh_class))

    def prescriptions_for(self, fractions: int | None, child_pugh_class: str | None) -> tuple[Prescription, ...]:
        return tuple(p for p in self.prescriptions
                     if (fractions is None or fractions in p.fractions)
                     and (child_pugh_class is None or child_pugh_class in p.child_pugh))


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
    v = _Validator(path_text, text)
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


# --- validation ---------------------------------------------------------------------
_TOP_KEYS = {"id", "title", "version", "trial", "description", "extends", "notes",
             "eligible_child_pugh_max_score", "eligibility_source", "eligibility_confidence",
             "prescriptions", "structures", "constraints", "eligibility", "remove", "sites",
             "default_site"}
_PRESCRIPTION_KEYS = {"id", "fractions", "child_pugh", "dose_gy", "min_gy", "max_gy", "min_bed_gy",
                      "bed_alpha_beta", "source", "confidence", "note"}
_STRUCTURE_KEYS = {"name", "aliases", "match", "combine", "derive", "members", "required", "alpha_beta",
                   "alpha_beta_source", "note"}
_CONSTRAINT_KEYS = {"id", "structure", "metric", "comparator", "limit", "level2", "level2_kind",
                    "level2_source", "level2_confidence", "fractions", "child_pugh", "source",
                    "confidence", "note", "when", "level2_when", "not_evaluable_for", "not_evaluable_reason"}
_ELIGIBILITY_KEYS = {"id", "label", "quantity", "comparator", "limit", "source", "confidence",
                     "alternative", "alternative_confidence", "optional", "note", "kind", "flag", "expect",
                     "applies_if"}
_SITE_KEYS = {"id", "label", "structures", "note"}


class _Validator:
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

    # -- the protocol
    def protocol(self, data: dict, parent: Protocol | None, source_path, display) -> Protocol:
        self.keys(data, _TOP_KEYS, "")
        if parent is None and "remove" in data:
            self.fail("remove", "is only allowed together with 'extends'")
        pid = self.string(data, "id", "")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", pid):
            self.fail("id", f"must be letters, digits, '.', '_' or '-', got {pid!r}")

        def top(key, required):
            if parent is not None and key not in data:
                return getattr(parent, key)
            return self.string(data, key, "", required=required)

        title = top("title", True)
        version = top("version", True)
        trial = top("trial", True)
        description = top("description", False)
        notes = self.str_list(data, "notes", "", default=()) if "notes" in data else (parent.notes if parent else ())
        if "eligible_child_pugh_max_score" in data:
            score = data["eligible_child_pugh_max_score"]
            if isinstance(score, bool) or not isinstance(score, int) or not 5 <= score <= 15:
                self.fail("eligible_child_pugh_max_score", f"must be a whole number 5..15, got {score!r}")
            e_src = self.string(data, "eligibility_source", "")
            e_conf = self.choice(data, "eligibility_confidence", "", CONFIDENCE)
        elif parent is not None:
            score, e_src, e_conf = (parent.eligible_child_pugh_max_score, parent.eligibility_source,
                                    parent.eligibility_confidence)
        else:
            score, e_src, e_conf = None, "", ""

        structures = self._merge(parent.structures if parent else (), data, "structures", "name",
                                 self._structure)
        names = {s.name for s in structures}
        self._check_derive(structures, names)
        constraints = list(self._merge(parent.constraints if parent else (), data, "constraints", "id",
                                       self._constraint))
        for r_i, rid in enumerate(self.str_list(data, "remove", "", default=()) if "remove" in data else ()):
            if rid not in {c.id for c in constraints}:
                where = "the protocol" if parent is None else repr(parent.id)
                self.fail(f"remove[{r_i}]", f"no constraint with id {rid!r} in {where}")
            constraints = [c for c in constraints if c.id != rid]
        for i, c in enumerate(constraints):
            if c.structure not in names:
                self.fail(self._where("constraints", data, c.id, i) + ".structure",
                          f"{c.structure!r} is not a structure of the protocol; structures: {sorted(names)}")
        prescriptions = self._merge(parent.prescriptions if parent else (), data, "prescriptions", "id",
                                    self._prescription)
        eligibility = self._merge(parent.eligibility if parent else (), data, "eligibility", "id",
                                  self._eligibility)
        if not constraints:
            self.fail("constraints", "the protocol has no constraint")
        for i, c in enumerate(constraints):
            for key, cond in (("when", c.when), ("level2_when", c.level2_when)):
                if cond is not None and cond.structure not in names:
                    self.fail(self._where("constraints", data, c.id, i) + f".{key}",
                              f"{cond.structure!r} is not a structure of the protocol")
        sites = self._merge(parent.sites if parent else (), data, "sites", "id", self._site)
        for i, site in enumerate(sites):
            for name in site.structures:
                if name not in names:
                    self.fail(f"sites[{i}].structures", f"{name!r} is not a structure of the protocol")
        default_site = (self.string(data, "default_site", "") if "default_site" in data
                        else (parent.default_site if parent else None))
        if sites and default_site not in {x.id for x in sites}:
            self.fail("default_site", f"must be one of the sites {[x.id for x in sites]}, got {default_site!r}")
        chain = ((parent.id,) + parent.extends) if parent else ()
        return Protocol(id=pid, title=title, version=version, trial=trial, description=description,
                        source_path=source_path, extends=chain, eligible_child_pugh_max_score=score,
                        eligibility_source=e_src, eligibility_confidence=e_conf,
                        prescriptions=tuple(prescriptions), structures=tuple(structures),
                        constraints=tuple(constraints), eligibility=tuple(eligibility),
                        sites=tuple(sites), default_site=default_site if sites else None, notes=notes)

    def _site(self, d, where) -> Site:
        self.keys(d, _SITE_KEYS, where)
        structures = self.str_list(d, "structures", where)
        if not structures:
            self.fail(f"{where}.structures", "is required (the protocol structures checked for this site)")
        return Site(id=self.string(d, "id", where), label=self.string(d, "label", where),
                    structures=structures, note=self.string(d, "note", where, required=False))

    def _condition(self, d, key, where) -> Condition | None:
        if key not in d:
            return None
        raw = d[key]
        fp = f"{where}.{key}"
        self.keys(raw, {"structure", "metric", "comparator", "limit"}, fp)
        metric = self.string(raw, "metric", fp)
        from ..metrics import parse_metric

        try:
            parse_metric(metric)
        except MetricSpecError as exc:
            self.fail(f"{fp}.metric", str(exc))
        return Condition(structure=self.string(raw, "structure", fp), metric=metric,
                         comparator=self.choice(raw, "comparator", fp, COMPARATORS),
                         limit=self.number(raw, "limit", fp))

    def _where(self, table, data, ident, fallback_index):
        for i, e in enumerate(data.get(table, []) if isinstance(data.get(table), list) else []):
            if isinstance(e, dict) and e.get("id") == ident:
                return f"{table}[{i}]"
        return f"{table}[{fallback_index}]"

    def _merge(self, inherited, data, table, key, build):
        """Entries of ``table``: parent's, overridden (merged by ``key``) or extended by the file."""
        out = {getattr(e, key): e for e in inherited}
        order = list(out)
        seen = set()
        for i, raw in enumerate(self.entries(data, table)):
            where = f"{table}[{i}]"
            ident = raw.get(key)
            if not isinstance(ident, str) or not ident.strip():
                self.fail(f"{where}.{key}", "is required (a non-empty string)")
            if ident in seen:
                self.fail(f"{where}.{key}", f"duplicate {key} {ident!r}")
            seen.add(ident)
            base = out.get(ident)
            if base is not None:
                if table == "constraints" and ({"limit", "level2"} & raw.keys()) and not {"source", "confidence"} <= raw.keys():
                    self.fail(where, f"overrides the limit of {ident!r}: give its own 'source' and "
                                     "'confidence' too (the parent's citation does not cover a new number)")
                merged = {k: v for k, v in _as_dict(base).items() if v is not None and v != ""}
                merged.update(raw)
                raw = merged
            else:
                order.append(ident)
            out[ident] = build(raw, where)
        return [out[i] for i in order]

    def _structure(self, d, where) -> ProtocolStructure:
        self.keys(d, _STRUCTURE_KEYS, where)
        name = self.string(d, "name", where)
        match = self.str_list(d, "match", where)
        derive = self.string(d, "derive", where, required=False, default=None) if "derive" in d else None
        combine = self.choice(d, "combine", where, COMBINE, required=False, default="union")
        members = self.str_list(d, "members", where)
        if combine == "lowest_mean" and not (members or match):
            self.fail(f"{where}.members", "combine = 'lowest_mean' needs members (protocol structures) or match patterns")
        if members and combine != "lowest_mean":
            self.fail(f"{where}.members", "members are only used with combine = 'lowest_mean'")
        required = d.get("required", True)
        if not isinstance(required, bool):
            self.fail(f"{where}.required", f"must be true or false, got {required!r}")
        ab = self.number(d, "alpha_beta", where, required=False, positive=True)
        ab_src = self.string(d, "alpha_beta_source", where, required=ab is not None)
        return ProtocolStructure(
            name=name, aliases=self.str_list(d, "aliases", where),
            match=tuple(m.casefold() for m in match), combine=combine,
            derive=derive, members=members, required=required, alpha_beta=ab, alpha_beta_source=ab_src,
            note=self.string(d, "note", where, required=False))

    def _check_derive(self, structures, names):
        for i, s in enumerate(structures):
            for m in s.members:
                if m not in names or m == s.name:
                    self.fail(f"structures[{i}].members", f"{m!r} is not another structure of the protocol")
            if s.derive is None:
                continue
            try:
                parse(s.derive, names)
            except ExpressionSyntaxError as exc:
                self.fail(f"structures[{i}].derive", f"{s.derive!r} does not parse: {exc} "
                          "(operators need spaces around them: 'Liver - GTVs')")
            for tok in operand_names(s.derive, names):
                if tok not in names:
                    self.fail(f"structures[{i}].derive",
                              f"{tok!r} in {s.derive!r} is not a structure of the protocol "
                              "(operators need spaces around them: 'Liver - GTVs')")
                if tok == s.name:
                    self.fail(f"structures[{i}].derive", f"{s.name!r} cannot be derived from itself")

    def _constraint(self, d, where) -> Constraint:
        self.keys(d, _CONSTRAINT_KEYS, where)
        metric = self.string(d, "metric", where)
        from ..metrics import parse_metric

        try:
            spec = parse_metric(metric)
        except MetricSpecError as exc:
            self.fail(f"{where}.metric", str(exc))
        label = spec.dose_label
        if label is not None and label not in ("Gy", "cGy"):
            if not DoseQuantity.states_plain_alpha_beta(label):
                self.fail(f"{where}.metric", f"converted dose {label!r} must state alpha/beta in Gy, "
                                             "e.g. EQD2Gy(a/b=2.5) or BED(a/b=10)")
        limit = self.number(d, "limit", where)
        comparator = self.choice(d, "comparator", where, COMPARATORS)
        level2 = self.number(d, "level2", where, required=False)
        kind = None
        l2_src = l2_conf = ""
        if level2 is not None:
            kind = self.choice(d, "level2_kind", where, LEVEL2_KINDS)
            l2_src = self.string(d, "level2_source", where)
            l2_conf = self.choice(d, "level2_confidence", where, CONFIDENCE)
            upper = comparator in ("<", "<=")
            looser = level2 > limit if upper else level2 < limit
            if level2 == limit or (kind == "acceptable") != looser:
                want = ("looser" if kind == "acceptable" else "stricter")
                self.fail(f"{where}.level2", f"a level2 of kind {kind!r} must be {want} than limit "
                                             f"{limit:g} for comparator {comparator!r}, got {level2:g}")
        elif any(k in d for k in ("level2_kind", "level2_source", "level2_confidence", "level2_when")):
            self.fail(f"{where}.level2", "is required when level2_kind/level2_source/level2_confidence/"
                                         "level2_when is given")
        ne_for = ()
        if "not_evaluable_for" in d:
            ne_for = self.classes(d, "not_evaluable_for", where)
            if "not_evaluable_reason" not in d:
                self.fail(f"{where}.not_evaluable_reason", "is required with not_evaluable_for (say why no "
                                                           "value is sourced for that class)")
        return Constraint(
            id=self.string(d, "id", where), structure=self.string(d, "structure", where), metric=spec.text,
            comparator=comparator, limit=limit, fractions=self.fraction_list(d, "fractions", where),
            child_pugh=self.classes(d, "child_pugh", where), source=self.string(d, "source", where),
            confidence=self.choice(d, "confidence", where, CONFIDENCE), level2=level2, level2_kind=kind,
            level2_source=l2_src, level2_confidence=l2_conf, when=self._condition(d, "when", where),
            level2_when=self._condition(d, "level2_when", where), not_evaluable_for=ne_for,
            not_evaluable_reason=self.string(d, "not_evaluable_reason", where, required=False),
            note=self.string(d, "note", where, required=False))

    def _prescription(self, d, where) -> Prescription:
        self.keys(d, _PRESCRIPTION_KEYS, where)
        fx = self.fraction_list(d, "fractions", where)
        p = Prescription(
            id=self.string(d, "id", where), fractions=fx, child_pugh=self.classes(d, "child_pugh", where),
            dose_gy=self.number(d, "dose_gy", where, required=False, positive=True),
            min_gy=self.number(d, "min_gy", where, required=False, positive=True),
            max_gy=self.number(d, "max_gy", where, required=False, positive=True),
            min_bed_gy=self.number(d, "min_bed_gy", where, required=False, positive=True),
            bed_alpha_beta=self.number(d, "bed_alpha_beta", where, required=False, positive=True),
            source=self.string(d, "source", where), confidence=self.choice(d, "confidence", where, CONFIDENCE),
            note=self.string(d, "note", where, required=False))
        if p.dose_gy is None and p.min_gy is None and p.max_gy is None and p.min_bed_gy is None:
            self.fail(where, "needs at least one of dose_gy, min_gy, max_gy, min_bed_gy")
        if p.min_gy is not None and p.max_gy is not None and p.min_gy > p.max_gy:
            self.fail(f"{where}.min_gy", f"min_gy {p.min_gy:g} exceeds max_gy {p.max_gy:g}")
        if (p.min_bed_gy is None) != (p.bed_alpha_beta is None):
            self.fail(f"{where}.bed_alpha_beta", "min_bed_gy and bed_alpha_beta go together")
        return p

    def _eligibility(self, d, where) -> EligibilityCriterion:
        self.keys(d, _ELIGIBILITY_KEYS, where)
        kind = self.choice(d, "kind", where, ELIGIBILITY_KINDS, required=False, default="lab")
        applies_if = (self.choice(d, "applies_if", where, ELIGIBILITY_FLAGS) if "applies_if" in d else None)
        common = dict(id=self.string(d, "id", where), label=self.string(d, "label", where),
                      source=self.string(d, "source", where),
                      confidence=self.choice(d, "confidence", where, CONFIDENCE), kind=kind, applies_if=applies_if,
                      note=self.string(d, "note", where, required=False))
        if kind == "attestation" or "flag" in d:
            extra = set(d) & {"quantity", "comparator", "limit", "alternative", "optional"}
            if extra:
                self.fail(f"{where}.{sorted(extra)[0]}", f"is not used by a {'yes/no' if 'flag' in d else kind} "
                                                         "criterion")
            if kind == "attestation":
                return EligibilityCriterion(quantity=None, comparator="", limit=float("nan"), **common)
            flag = self.choice(d, "flag", where, ELIGIBILITY_FLAGS)
            expect = d.get("expect")
            if not isinstance(expect, bool):
                self.fail(f"{where}.expect", f"must be true or false, got {expect!r}")
            return EligibilityCriterion(quantity=None, comparator="", limit=float("nan"), flag=flag,
                                        expect=expect, **common)
        quantity = self.choice(d, "quantity", where, tuple(ELIGIBILITY_QUANTITIES))
        alt = None
        if "alternative" in d:
            a = d["alternative"]
            self.keys(a, {"quantity", "comparator", "limit"}, f"{where}.alternative")
            alt = (self.choice(a, "quantity", f"{where}.alternative", tuple(ELIGIBILITY_QUANTITIES)),
                   self.choice(a, "comparator", f"{where}.alternative", COMPARATORS),
                   self.number(a, "limit", f"{where}.alternative"))
        opt = d.get("optional", False)
        if not isinstance(opt, bool):
            self.fail(f"{where}.optional", f"must be true or false, got {opt!r}")
        return EligibilityCriterion(
            quantity=quantity, comparator=self.choice(d, "comparator", where, COMPARATORS),
            limit=self.number(d, "limit", where), alternative=alt,
            alternative_confidence=(self.choice(d, "alternative_confidence", where, CONFIDENCE)
                                    if alt is not None else ""),
            optional=opt, **common)


def _as_dict(entry) -> dict:
    """A schema entry back as the TOML table it came from (for ``extends`` merges)."""
    from dataclasses import fields

    out = {}
    for f in fields(entry):
        v = getattr(entry, f.name)
        if isinstance(v, Condition):
            v = {"structure": v.structure, "metric": v.metric, "comparator": v.comparator, "limit": v.limit}
        elif f.name == "conversion" or (f.name == "limit" and isinstance(v, float) and math.isnan(v)):
            continue  # set by the engine / defaults: never part of a TOML table
        elif f.name in ("comparator", "kind") and v == "":
            continue
        elif f.name == "not_evaluable_for" and not v:
            continue
        elif isinstance(v, tuple) and f.name == "alternative" and v is not None:
            v = {"quantity": v[0], "comparator": v[1], "limit": v[2]}
        elif isinstance(v, tuple):
            v = list(v)
        if f.name == "optional" and v is False:
            continue
        out[f.name] = v
    return out
