"""Liver function and laboratory values: Child-Pugh, ALBI, Cockcroft-Gault, eligibility.

Sources (see ``../shared/domain/liver-sbrt-references.md`` section 7):

* Child-Pugh points 1/2/3: bilirubin < 2 / 2-3 / > 3 mg/dL (< 34 / 34-51 / > 51 umol/L);
  albumin > 3.5 / 2.8-3.5 / < 2.8 g/dL; INR < 1.7 / 1.7-2.3 / > 2.3; ascites none / mild /
  moderate-severe; encephalopathy none / grade 1-2 / grade 3-4; class A 5-6, B 7-9,
  C >= 10 [primary].  Bilirubin is scored in the unit it was given in (the two rows of the
  table are not exact conversions of each other: 2 mg/dL is 34.2 umol/L); albumin uses
  the g/dL cut-points (3.5 and 2.8 g/dL = 35 and 28 g/L exactly).
* ALBI = 0.66 log10(bilirubin umol/L) - 0.085 albumin g/L; grade 1 <= -2.60, grade 2
  <= -1.39, grade 3 above (Johnson, J Clin Oncol 2015) [primary].
* Cockcroft-Gault CrCl (mL/min) = (140 - age) x weight kg / (72 x creatinine mg/dL),
  x 0.85 for women [unconfirmed: recalled, not re-read].

Unit conversions use molar masses (bilirubin 584.66 g/mol, creatinine 113.12 g/mol):
1 mg/dL bilirubin = 17.104 umol/L, 1 mg/dL creatinine = 88.40 umol/L.

Plausibility: a value outside :data:`PLAUSIBLE` (wide bounds for adult patients, an
engineering guard against unit slips, not a clinical limit) is refused with an error that
names the value as given and the reading that would be plausible ("albumin 38 g/dL =
380 g/L is outside 10-60 g/L: did you mean 38 g/L?").  Clinical items given in the same
file: ``ecog`` (0-5), ``margin`` (cm or mm), yes/no items ``hbv_carrier``,
``prior_rt_area``, ``extrahepatic_metastasis``, and ``attested = [ids]`` for criteria no
data can show (consent, contraception...).  Eligibility itself is :mod:`.eligibility`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..errors import ParameterError
from .toml_fields import read_toml_file

BILIRUBIN_UMOL_PER_MG_DL = 10.0 / 584.66 * 1000.0   # mg/dL -> umol/L
CREATININE_UMOL_PER_MG_DL = 10.0 / 113.12 * 1000.0  # mg/dL -> umol/L

CHILD_PUGH_SOURCE = "Child-Pugh score (liver-sbrt-references.md s.7)"
ALBI_SOURCE = "ALBI grade, Johnson J Clin Oncol 2015"
CG_SOURCE = "Cockcroft-Gault (recalled, not re-read)"

# unit -> factor to the canonical unit, per quantity
_UNITS = {
    "bilirubin": ("umol/L", {"umol/l": 1.0, "µmol/l": 1.0, "mg/dl": BILIRUBIN_UMOL_PER_MG_DL}),
    "bilirubin_uln": ("umol/L", {"umol/l": 1.0, "µmol/l": 1.0, "mg/dl": BILIRUBIN_UMOL_PER_MG_DL}),
    "albumin": ("g/L", {"g/l": 1.0, "g/dl": 10.0}),
    "creatinine": ("umol/L", {"umol/l": 1.0, "µmol/l": 1.0, "mg/dl": CREATININE_UMOL_PER_MG_DL}),
    "creatinine_uln": ("umol/L", {"umol/l": 1.0, "µmol/l": 1.0, "mg/dl": CREATININE_UMOL_PER_MG_DL}),
    "haemoglobin": ("g/L", {"g/l": 1.0, "g/dl": 10.0}),
    "neutrophils": ("1e9/L", {"1e9/l": 1.0, "10^9/l": 1.0, "x10^9/l": 1.0, "g/l": 1.0, "/ul": 1e-3, "/mm3": 1e-3}),
    "platelets": ("1e9/L", {"1e9/l": 1.0, "10^9/l": 1.0, "x10^9/l": 1.0, "g/l": 1.0, "/ul": 1e-3, "/mm3": 1e-3}),
    "ast": ("U/L", {"u/l": 1.0, "iu/l": 1.0}),
    "ast_uln": ("U/L", {"u/l": 1.0, "iu/l": 1.0}),
    "alt": ("U/L", {"u/l": 1.0, "iu/l": 1.0}),
    "alt_uln": ("U/L", {"u/l": 1.0, "iu/l": 1.0}),
    "weight": ("kg", {"kg": 1.0}),
    "age": ("years", {"years": 1.0, "y": 1.0, "yr": 1.0}),
    "hbv_dna": ("IU/mL", {"iu/ml": 1.0}),
    "antiviral_days": ("days", {"days": 1.0, "d": 1.0}),
    "margin": ("cm", {"cm": 1.0, "mm": 0.1}),
}
_UNITLESS = {"inr", "ecog"}
FLAGS = ("hbv_carrier", "prior_rt_area", "extrahepatic_metastasis")
# plausibility bounds in the canonical unit (wider than any adult patient's value; a guard
# against unit slips, not a clinical limit)
PLAUSIBLE = {
    "albumin": (10.0, 60.0), "bilirubin": (2.0, 850.0), "bilirubin_uln": (5.0, 60.0),
    "creatinine": (20.0, 1500.0), "creatinine_uln": (40.0, 200.0), "inr": (0.5, 10.0),
    "platelets": (1.0, 2000.0), "neutrophils": (0.01, 100.0), "haemoglobin": (30.0, 250.0),
    "age": (0.0, 120.0), "weight": (2.0, 350.0), "ast": (1.0, 20000.0), "alt": (1.0, 20000.0),
    "ast_uln": (10.0, 200.0), "alt_uln": (10.0, 200.0), "ecog": (0.0, 5.0), "margin": (0.0, 20.0),
}
_GRADES = {
    "ascites": {"none": 1, "absent": 1, "mild": 2, "slight": 2, "moderate": 3, "severe": 3,
                "moderate-severe": 3, "moderate to severe": 3},
    "encephalopathy": {"none": 1, "absent": 1, "grade 1": 2, "grade 2": 2, "grade 1-2": 2,
                       "grade 3": 3, "grade 4": 3, "grade 3-4": 3},
}
_KNOWN = set(_UNITS) | _UNITLESS | set(_GRADES) | {"sex", "attested"} | set(FLAGS)


@dataclass(frozen=True)
class ChildPugh:
    """A Child-Pugh assessment.

    Attributes
    ----------
    score : int or None
        5..15; None when only the class is known (``--child-pugh B``).
    cls : str
        "A", "B" or "C".
    points : dict
        Points per item (bilirubin, albumin, inr, ascites, encephalopathy) when computed.
    source : str
        "labs" or "given".
    """

    score: int | None
    cls: str
    points: dict = field(default_factory=dict)
    source: str = "given"

    @property
    def label(self) -> str:
        return f"{self.cls}{self.score}" if self.score is not None else self.cls

    def possible_scores(self) -> range:
        if self.score is not None:
            return range(self.score, self.score + 1)
        return {"A": range(5, 7), "B": range(7, 10), "C": range(10, 16)}[self.cls]


def class_for_score(score: int) -> str:
    """Child-Pugh class of a score: A 5-6, B 7-9, C 10-15."""
    if not 5 <= score <= 15:
        raise ParameterError(f"Child-Pugh score must be 5..15, got {score}")
    return "A" if score <= 6 else "B" if score <= 9 else "C"


def parse_child_pugh(text: str) -> ChildPugh:
    """Parse ``"A5"``, ``"B7"``, ``"A"``, ``"C10"`` (a class letter with an optional score).

    Raises
    ------
    ParameterError
        Anything else, or a score that does not belong to the class (``"A7"``).
    """
    m = re.fullmatch(r"\s*([ABCabc])\s*(\d{1,2})?\s*", str(text))
    if not m:
        raise ParameterError(f"--child-pugh: expected a class with an optional score such as A5, A6, B7, B, C10; "
                             f"got {text!r}")
    cls = m.group(1).upper()
    score = int(m.group(2)) if m.group(2) else None
    if score is not None and class_for_score(score) != cls:
        raise ParameterError(f"--child-pugh: score {score} is class {class_for_score(score)}, not {cls} "
                             "(A 5-6, B 7-9, C 10-15)")
    return ChildPugh(score, cls, source="given")


@dataclass(frozen=True)
class Labs:
    """Laboratory and clinical values in canonical units.

    ``values`` maps a quantity to its value in the canonical unit (bilirubin umol/L,
    albumin g/L, creatinine umol/L, haemoglobin g/L, neutrophils and platelets 1e9/L,
    AST/ALT U/L, weight kg, age years, INR unitless); ``given`` keeps the value and unit
    as written; ``grades`` holds ascites/encephalopathy points (1..3).
    """

    values: dict
    given: dict
    grades: dict
    sex: str | None = None
    source_path: str | None = None
    flags: dict = field(default_factory=dict)
    attested: tuple = ()

    def get(self, key: str):
        return self.values.get(key)


def _parse_value(key: str, raw, where: str):
    """(canonical value, (value, unit) as given) for one lab entry."""
    if key in _UNITLESS:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise ParameterError(f"{where}: {key} must be a number (unitless), got {raw!r}")
        v = float(raw)
        unit = ""
    else:
        canonical, factors = _UNITS[key]
        if isinstance(raw, dict):
            if set(raw) - {"value", "unit"} or "value" not in raw or "unit" not in raw:
                raise ParameterError(f"{where}: {key} must be {{ value = ..., unit = \"...\" }}, got {raw!r}")
            v, unit = raw["value"], raw["unit"]
        elif isinstance(raw, str):
            m = re.fullmatch(r"\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*(\S.*?)\s*", raw)
            if not m:
                raise ParameterError(f"{where}: {key} must be a value with a unit such as \"1.2 mg/dL\", got {raw!r}")
            v, unit = float(m.group(1)), m.group(2)
        else:
            raise ParameterError(f"{where}: {key} needs a unit ({' or '.join(_unit_names(factors))}): "
                                 f"write {key} = \"{raw} {canonical}\" or {key} = {{ value = {raw}, unit = \"{canonical}\" }}")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ParameterError(f"{where}: {key} value must be a number, got {v!r}")
        f = factors.get(str(unit).strip().casefold().replace(" ", ""))
        if f is None:
            raise ParameterError(f"{where}: {key} unit {unit!r} is not understood; use one of "
                                 f"{', '.join(_unit_names(factors))}")
        v = float(v) * f
    if not math.isfinite(v) or v < 0:
        raise ParameterError(f"{where}: {key} must be a finite number >= 0, got {raw!r}")
    _plausible(key, v, raw, unit, where)
    return v, (raw if not isinstance(raw, dict) else f"{raw['value']} {raw['unit']}")


def _plausible(key: str, v: float, raw, unit, where: str) -> None:
    """Refuse a value outside :data:`PLAUSIBLE`, naming the reading that would fit."""
    lo, hi = PLAUSIBLE.get(key, (-math.inf, math.inf))
    if lo <= v <= hi:
        return
    canonical = "" if key in _UNITLESS else _UNITS[key][0]
    number = raw["value"] if isinstance(raw, dict) else (raw if not isinstance(raw, str) else raw.split()[0])
    shown = f"{number} {unit}".strip()
    text = f"{where}: {key} {shown}" + (f" = {v:g} {canonical}" if canonical and str(unit).casefold()
                                       != canonical.casefold() else "")
    text += f" is outside the plausible {lo:g}-{hi:g} {canonical}".rstrip()
    hints = []
    if key not in _UNITLESS:
        try:
            x = float(number)
        except (TypeError, ValueError):
            x = None
        if x is not None:
            for name, f in _UNITS[key][1].items():
                pretty = _unit_names({name: f})
                if pretty and lo <= x * f <= hi and name != str(unit).strip().casefold().replace(" ", ""):
                    hints.append(f"{number} {pretty[0]}")
    text += (f": a unit slip? did you mean {' or '.join(dict.fromkeys(hints))}" if hints
             else ": check the value and its unit")
    raise ParameterError(text)


def _unit_names(factors) -> list[str]:
    pretty = {"umol/l": "umol/L", "mg/dl": "mg/dL", "g/l": "g/L", "g/dl": "g/dL", "1e9/l": "1e9/L",
              "u/l": "U/L", "iu/ml": "IU/mL", "kg": "kg", "years": "years", "days": "days"}
    return [pretty[k] for k in factors if k in pretty]


def parse_labs(data: dict, *, source_path: str | None = None) -> Labs:
    """Validate a labs table (see :func:`load_labs` for the format)."""
    where = source_path or "labs"
    if not isinstance(data, dict):
        raise ParameterError(f"{where}: labs must be a table")
    if "labs" in data and isinstance(data["labs"], dict):
        data = data["labs"]
    values, given, grades, flags = {}, {}, {}, {}
    sex = None
    attested: tuple = ()
    for key, raw in data.items():
        k = key.casefold()
        k = {"hemoglobin": "haemoglobin", "hb": "haemoglobin", "anc": "neutrophils",
             "plt": "platelets", "total_bilirubin": "bilirubin"}.get(k, k)
        if k not in _KNOWN:
            raise ParameterError(f"{where}: unknown lab {key!r}; known: {', '.join(sorted(_KNOWN))}")
        if k in FLAGS:
            if not isinstance(raw, bool):
                raise ParameterError(f"{where}: {key} must be true or false, got {raw!r}")
            flags[k] = raw
        elif k == "attested":
            if not isinstance(raw, list) or not all(isinstance(x, str) and x.strip() for x in raw):
                raise ParameterError(f"{where}: attested must be a list of criterion ids, got {raw!r}")
            attested = tuple(x.strip() for x in raw)
        elif k == "ecog":
            if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 5:
                raise ParameterError(f"{where}: ecog must be a whole number 0-5 (ECOG performance status), "
                                     f"got {raw!r}")
            values[k], given[k] = float(raw), raw
        elif k == "sex":
            s = str(raw).strip().casefold()
            if s not in ("female", "male", "f", "m"):
                raise ParameterError(f"{where}: sex must be 'female' or 'male', got {raw!r}")
            sex = "female" if s.startswith("f") else "male"
        elif k in _GRADES:
            g = _GRADES[k]
            if isinstance(raw, int) and not isinstance(raw, bool) and k == "encephalopathy" and 0 <= raw <= 4:
                grades[k] = 1 if raw == 0 else 2 if raw <= 2 else 3
            elif isinstance(raw, str) and raw.strip().casefold() in g:
                grades[k] = g[raw.strip().casefold()]
            else:
                raise ParameterError(f"{where}: {key} must be one of {', '.join(repr(x) for x in g)}"
                                     + (" or a grade 0-4" if k == "encephalopathy" else "") + f", got {raw!r}")
            given[k] = raw
        else:
            values[k], given[k] = _parse_value(k, raw, where)
    return Labs(values, given, grades, sex, source_path, flags, attested)


def load_labs(path) -> Labs:
    """Read a labs TOML file.

    Format (units are required and converted; a ``[labs]`` table or top-level keys)::

        bilirubin = "18 umol/L"             # or { value = 1.1, unit = "mg/dL" }
        bilirubin_uln = "21 umol/L"
        albumin = "38 g/L"                  # or g/dL
        inr = 1.1
        ascites = "none"                    # none | mild | moderate-severe
        encephalopathy = "none"             # none | grade 1-2 | grade 3-4 (or 0-4)
        neutrophils = "2.1 1e9/L"
        platelets = "120 1e9/L"
        haemoglobin = "125 g/L"
        ast = "40 U/L"                      # with ast_uln, alt, alt_uln
        creatinine = "80 umol/L"            # with creatinine_uln, or age, weight, sex
        age = "62 years"
        weight = "70 kg"
        sex = "male"
        ecog = 1                            # clinical items of the eligibility check
        margin = "0.5 cm"                   # or mm
        hbv_carrier = true
        hbv_dna = "500 IU/mL"
        antiviral_days = "14 days"
        prior_rt_area = false
        extrahepatic_metastasis = false
        attested = ["consent", "contraception"]   # criteria no data can show

    Raises
    ------
    ParameterError
        Unreadable file, unknown key, missing or unknown unit, a value outside the plausible
        range (the message names the file, the key, the value and the likely unit slip).
    """
    p, data = read_toml_file(path, "labs")
    return parse_labs(data, source_path=str(p))


# --- scores ----------------------------------------------------------------------------
def _bilirubin_points(labs: Labs) -> int:
    given = str(labs.given.get("bilirubin", "")).casefold().replace(" ", "")
    if "mg/dl" in given:
        mg = labs.values["bilirubin"] / BILIRUBIN_UMOL_PER_MG_DL
        return 1 if mg < 2.0 else 2 if mg <= 3.0 else 3
    um = labs.values["bilirubin"]
    return 1 if um < 34.0 else 2 if um <= 51.0 else 3


def _finite_lab(name: str, v: float | None) -> float:
    if v is None or not math.isfinite(v) or v < 0:
        raise ParameterError(f"{name} must be a finite number >= 0, got {v!r}")
    return v


def child_pugh_points(bilirubin_umol_l: float | None = None, albumin_g_l: float | None = None,
                      inr: float | None = None, ascites: int | None = None, encephalopathy: int | None = None, *,
                      bilirubin_mg_dl: float | None = None) -> dict:
    """Child-Pugh points per item (1..3).

    Parameters
    ----------
    bilirubin_umol_l : float, optional
        Total bilirubin in umol/L (cut-points 34 / 51 umol/L); or give ``bilirubin_mg_dl``
        (cut-points 2 / 3 mg/dL).
    albumin_g_l : float
        Albumin in g/L (cut-points 35 / 28 g/L, i.e. 3.5 / 2.8 g/dL; both bounds in the
        middle band).
    inr : float
        INR (cut-points 1.7 / 2.3, both in the middle band).
    ascites, encephalopathy : int
        Points 1 (none), 2 (mild / grade 1-2), 3 (moderate-severe / grade 3-4).
    """
    if (bilirubin_umol_l is None) == (bilirubin_mg_dl is None):
        raise ParameterError("give bilirubin in exactly one unit (bilirubin_umol_l or bilirubin_mg_dl)")
    albumin, inr_value = _finite_lab("albumin_g_l", albumin_g_l), _finite_lab("inr", inr)
    for name, v in (("ascites", ascites), ("encephalopathy", encephalopathy)):
        if v not in (1, 2, 3):
            raise ParameterError(f"{name} points must be 1, 2 or 3, got {v!r}")
    if bilirubin_mg_dl is not None:
        mg = _finite_lab("bilirubin_mg_dl", bilirubin_mg_dl)
        bili = 1 if mg < 2.0 else 2 if mg <= 3.0 else 3
    else:
        um = _finite_lab("bilirubin_umol_l", bilirubin_umol_l)
        bili = 1 if um < 34.0 else 2 if um <= 51.0 else 3
    alb = 1 if albumin > 35.0 else 2 if albumin >= 28.0 else 3
    i = 1 if inr_value < 1.7 else 2 if inr_value <= 2.3 else 3
    return {"bilirubin": bili, "albumin": alb, "inr": i, "ascites": ascites, "encephalopathy": encephalopathy}


def child_pugh_from_labs(labs: Labs) -> ChildPugh:
    """Child-Pugh score and class from labs (bilirubin, albumin, INR, ascites, encephalopathy).

    Raises
    ------
    ParameterError
        When an item is missing (the message lists them).
    """
    missing = [k for k in ("bilirubin", "albumin", "inr") if k not in labs.values]
    missing += [k for k in ("ascites", "encephalopathy") if k not in labs.grades]
    if missing:
        where = labs.source_path or "labs"
        raise ParameterError(f"{where}: Child-Pugh needs {', '.join(missing)} (missing)")
    given = str(labs.given.get("bilirubin", "")).casefold().replace(" ", "")
    kw = ({"bilirubin_mg_dl": labs.values["bilirubin"] / BILIRUBIN_UMOL_PER_MG_DL} if "mg/dl" in given
          else {"bilirubin_umol_l": labs.values["bilirubin"]})
    pts = child_pugh_points(albumin_g_l=labs.values["albumin"], inr=labs.values["inr"],
                            ascites=labs.grades["ascites"], encephalopathy=labs.grades["encephalopathy"], **kw)
    score = sum(pts.values())
    return ChildPugh(score, class_for_score(score), pts, source="labs")


def albi_score(bilirubin_umol_l: float, albumin_g_l: float) -> float:
    """ALBI = 0.66 log10(bilirubin umol/L) - 0.085 albumin g/L (Johnson, J Clin Oncol 2015)."""
    if not (bilirubin_umol_l > 0 and math.isfinite(bilirubin_umol_l)):
        raise ParameterError(f"bilirubin must be > 0 umol/L for ALBI, got {bilirubin_umol_l!r}")
    if not (albumin_g_l >= 0 and math.isfinite(albumin_g_l)):
        raise ParameterError(f"albumin must be >= 0 g/L for ALBI, got {albumin_g_l!r}")
    return 0.66 * math.log10(bilirubin_umol_l) - 0.085 * albumin_g_l


def albi_grade(score: float) -> int:
    """ALBI grade: 1 (<= -2.60), 2 (<= -1.39), 3 (above)."""
    return 1 if score <= -2.60 else 2 if score <= -1.39 else 3


def cockcroft_gault_ml_min(age_years: float, weight_kg: float, creatinine_umol_l: float, sex: str) -> float:
    """Creatinine clearance (mL/min) by Cockcroft-Gault.

    CrCl = (140 - age) x weight / (72 x creatinine mg/dL), x 0.85 for women.  The formula is
    tagged "recalled, not re-read" in the team references: reports mark it unconfirmed.
    """
    if sex not in ("female", "male"):
        raise ParameterError(f"Cockcroft-Gault needs sex 'female' or 'male', got {sex!r}")
    if not (creatinine_umol_l > 0):
        raise ParameterError(f"creatinine must be > 0, got {creatinine_umol_l!r}")
    if not (0 < age_years < 140) or not (weight_kg > 0):
        raise ParameterError(f"Cockcroft-Gault needs 0 < age < 140 years and weight > 0 kg, got "
                             f"{age_years!r}, {weight_kg!r}")
    mg_dl = creatinine_umol_l / CREATININE_UMOL_PER_MG_DL
    crcl = (140.0 - age_years) * weight_kg / (72.0 * mg_dl)
    return crcl * 0.85 if sex == "female" else crcl


def derived_quantities(labs: Labs) -> tuple[dict, dict]:
    """Quantities the eligibility criteria use, and why each missing one is missing.

    Returns
    -------
    (values, missing) : dict, dict
        ``values`` maps eligibility quantities (``bilirubin_x_uln``, ``creatinine_clearance``,
        ``child_pugh_score``...) to numbers; ``missing`` maps the others to a reason.
    """
    v = labs.values
    out, missing = {}, {}
    for key in ("neutrophils", "platelets", "haemoglobin", "albumin", "hbv_dna", "antiviral_days", "age", "ecog"):
        if key in v:
            out[key] = v[key]
        else:
            missing[key] = f"{key} not given"
    if "margin" in v:
        out["margin_cm"] = v["margin"]
    else:
        missing["margin_cm"] = "margin not given (the shortest tumour-to-transection distance)"
    for lab in ("bilirubin", "ast", "alt", "creatinine"):
        q = f"{lab}_x_uln"
        if lab in v and f"{lab}_uln" in v:
            if v[f"{lab}_uln"] <= 0:
                missing[q] = f"{lab}_uln must be > 0"
            else:
                out[q] = v[lab] / v[f"{lab}_uln"]
        else:
            missing[q] = f"needs {lab} and {lab}_uln"
    need = [k for k in ("age", "weight", "creatinine") if k not in v] + ([] if labs.sex else ["sex"])
    if need or labs.sex is None:
        missing["creatinine_clearance"] = f"Cockcroft-Gault needs {', '.join(need)}"
    else:
        out["creatinine_clearance"] = cockcroft_gault_ml_min(v["age"], v["weight"], v["creatinine"], labs.sex)
    try:
        score = child_pugh_from_labs(labs).score  # from labs: always a score, never a class alone
        if score is not None:
            out["child_pugh_score"] = float(score)
    except ParameterError as exc:
        missing["child_pugh_score"] = exc.detail.split(": ", 1)[-1]
    return out, missing


# --- eligibility (moved to .eligibility; kept importable from here) -------------------------
def check_eligibility(protocol, labs: Labs):
    """See :func:`dosecalc.protocols.eligibility.check_eligibility`."""
    from .eligibility import check_eligibility as _check

    return _check(protocol, labs)
