"""Protocol records: the frozen types a validated protocol file becomes (prescriptions,
structures, constraints, eligibility criteria, sites, the protocol itself) and the
vocabularies their fields take.  Doses in Gy; see :mod:`dosecalc.protocols.schema` for
the file format and :mod:`dosecalc.protocols.validator` for the rules a file must keep.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ProtocolError

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
