"""The rules of a protocol file: every table's allowed keys, and the building of the
validated :class:`~dosecalc.protocols.records.Protocol` from its TOML tables (``extends``
merges, derived-structure expressions, metric specs, sources and confidences).
"""

from __future__ import annotations

import math
import re

from ..errors import MetricSpecError
from ..expressions import ExpressionSyntaxError, operand_names, parse
from ..quantity import DoseQuantity
from .records import (
    COMBINE, CONFIDENCE, ELIGIBILITY_FLAGS, ELIGIBILITY_KINDS, ELIGIBILITY_QUANTITIES, LEVEL2_KINDS, Condition,
    Constraint, EligibilityCriterion, Prescription, Protocol, ProtocolStructure, Site)
from .toml_fields import FieldReader
from .verdict import COMPARATORS

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


class ProtocolValidator(FieldReader):
    """Builds the protocol of one file, table by table (errors via :meth:`FieldReader.fail`)."""

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
