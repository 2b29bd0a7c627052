"""gEUD and Lyman-Kutcher-Burman (LKB) NTCP, with sourced parameter sets.

* gEUD = (sum_i v_i D_i^a)^(1/a), a = 1/n, v_i the fractional volumes of the structure's
  dose samples (``docs/REFERENCES.md``, section 6 [P]).  n = 1 gives the mean dose; a large
  a tends to the maximum dose; a < 0 (tumours) tends to the minimum.
* LKB: NTCP = Phi(t), t = (gEUD - TD50) / (m TD50), Phi the standard normal CDF
  (section 6 [P]).

Parameter sets carry the dose quantity they were fitted in (e.g. ``EQD2Gy(a/b=2.5)``):
:func:`ntcp_lkb` with a named set refuses a DVH of another quantity (a physical-dose DVH
fed to an EQD2 model gives a wrong NTCP without any visible sign).
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .errors import ParameterError
from .mask_options import MaskOptions
from .masks import mask_samples
from .quantity import DoseKind, DoseQuantity
from .radiobiology import case_eqd2, converted_samples

__all__ = ["LKBParameters", "NTCPPopulationWarning", "RILD_PARAMETER_SETS", "population_warning", "geud", "geud_from_samples", "geud_from_curve",
           "ntcp_lkb", "ntcp_from_geud", "lkb_parameters", "case_geud", "case_ntcp"]


@dataclass(frozen=True)
class LKBParameters:
    """One published LKB parameter set.

    Attributes
    ----------
    name : str
        Registry key.
    structure : str
        TG-263 structure the set applies to (e.g. ``"Liver-GTV"``).
    endpoint : str
        Toxicity modelled.
    td50_gy : float
        Dose (in ``quantity``) giving 50 % complication probability, Gy.
    m : float
        Slope parameter (dimensionless).
    n : float
        Volume-effect parameter (gEUD exponent a = 1/n).
    quantity : str
        Dose quantity of the fit, TG-263 label (``"EQD2Gy(a/b=2.5)"`` or ``"dose"``).
    source : str
        Where the numbers come from.
    alpha_beta_gy : float or None
        a/b (Gy) of the EQD2 the set was fitted in (None for physical dose).
    population : str
        Patients the parameters were fitted on; every report that prints an NTCP says it.
    child_pugh : tuple of str
        Child-Pugh classes the fit is known to cover (empty: not stated in a source read);
        :func:`case_ntcp` warns for a patient outside them.
    confidence : str
        ``"primary"`` (read in the primary source), ``"secondary"`` (secondary copy) or
        ``"unconfirmed"`` (recalled), as tagged in ``docs/REFERENCES.md``.
    """

    name: str
    structure: str
    endpoint: str
    td50_gy: float
    m: float
    n: float
    quantity: str
    source: str
    confidence: str
    alpha_beta_gy: float | None = None
    notes: str = ""
    population: str = ""
    child_pugh: tuple[str, ...] = ()


RILD_PARAMETER_SETS = MappingProxyType({
    "michigan": LKBParameters(
        name="michigan",
        structure="Liver-GTV",
        endpoint="radiation-induced liver disease (RILD)",
        td50_gy=35.4,
        m=0.12,
        n=0.97,
        quantity="EQD2Gy(a/b=2.5)",
        source=("Michigan NTCP library (Dawson et al. 2002 RILD fit: TD50 39.8 Gy at 1.5 Gy "
                "b.i.d. for primary liver cancer, = 35.4 Gy EQD2 at a/b 2.5); "
                "liver-sbrt-references.md section 6"),
        confidence="secondary",
        alpha_beta_gy=2.5,
        notes="primary liver cancer; whole normal liver (Liver - GTV), EQD2 with a/b 2.5 Gy",
        population=("primary liver cancer treated with conventionally fractionated conformal RT at 1.5 Gy "
                     "twice daily (Dawson 2002, as summarised in liver-sbrt-references.md s.6); the Child-Pugh "
                     "class and hepatitis B status of the fitted cohort are not stated in the sources read"),
        child_pugh=(),
    ),
})


def lkb_parameters(parameters) -> LKBParameters:
    """An :class:`LKBParameters` from itself or its registry name (case-insensitive)."""
    if isinstance(parameters, LKBParameters):
        return parameters
    if isinstance(parameters, str) and parameters.strip().lower() in RILD_PARAMETER_SETS:
        return RILD_PARAMETER_SETS[parameters.strip().lower()]
    raise ParameterError(f"parameters must be an LKBParameters or one of "
                         f"{sorted(RILD_PARAMETER_SETS)}, got {parameters!r}")


def _positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _exponent(a, n) -> float:
    if (a is None) == (n is None):
        raise ParameterError("give exactly one of a (gEUD exponent) or n (volume parameter, a = 1/n)")
    if n is not None:
        return 1.0 / _positive(n, "n")
    if isinstance(a, bool) or not isinstance(a, numbers.Real) or not math.isfinite(a) or a == 0:
        raise ParameterError(f"a must be a finite non-zero number, got {a!r}")
    return float(a)


def geud_from_samples(dose_gy, volume_cc, a=None, n=None) -> float:
    """gEUD of dose samples, Gy.

    Parameters
    ----------
    dose_gy : array_like (N,)
        Dose of each sample (voxel or DVH bin), Gy (>= 0).
    volume_cc : array_like (N,)
        Volume of each sample, cc (>= 0; only ratios matter).
    a, n : float
        Exactly one: the exponent a (non-zero), or the volume parameter n > 0 (a = 1/n).

    Returns
    -------
    float
        ``(sum v_i D_i^a)^(1/a)`` with ``v_i = volume_i / sum(volume)``.  For a < 0 a sample
        of 0 Gy with volume > 0 gives 0 Gy (the limit).
    """
    a = _exponent(a, n)
    d = np.asarray(dose_gy, dtype=np.float64).reshape(-1)
    v = np.asarray(volume_cc, dtype=np.float64).reshape(-1)
    if d.shape != v.shape:
        raise ParameterError(f"dose_gy and volume_cc must have the same length, got {d.shape} and {v.shape}")
    if not (np.all(np.isfinite(d)) and np.all(d >= 0)):
        raise ParameterError("dose_gy must hold finite doses >= 0 Gy")
    if not (np.all(np.isfinite(v)) and np.all(v >= 0)):
        raise ParameterError("volume_cc must hold finite volumes >= 0 cc")
    total = v.sum()
    if total <= 0:
        raise ParameterError("volume_cc sums to 0: the structure has no volume inside the dose grid")
    keep = v > 0
    d, w = d[keep], v[keep] / total
    dmax = d.max()
    if dmax == 0:
        return 0.0
    if a < 0 and d.min() == 0:
        return 0.0
    # Scale by the maximum so that large |a| neither overflows nor underflows.
    s = float(np.sum(w * (d / dmax) ** a))
    return float(dmax * s ** (1.0 / a))


def _dvh_samples(dvh):
    """(dose_gy, volume_cc) samples when the object exposes them, else None."""
    if isinstance(dvh, (tuple, list)) and len(dvh) == 2:
        return dvh
    s = getattr(dvh, "samples", None)
    if s is not None:
        s = s() if callable(s) else s
        return s[0], s[1]
    return None


def geud_from_curve(volume_cc, dose_gy, a=None, n=None) -> float:
    """gEUD (Gy) of a piecewise-linear cumulative DVH curve ``D(v)``.

    ``(1/V integral_0^V D(v)^a dv)^(1/a)``, integrated exactly on every linear segment:
    for a segment of length L from its higher dose h to h (1 + r), r in [-1, 0],
    ``L h^a expm1((a+1) log1p(r)) / ((a+1) r)`` (limit ``L h^a`` at r = 0, ``log1p(r)/r``
    for a = -1): the cancellation-free form of ``(d1^(a+1) - d0^(a+1)) / ((a+1)(d1 - d0))``.

    Parameters
    ----------
    volume_cc : array_like (K,)
        Curve volumes, non-decreasing from 0 to the covered volume, cc.
    dose_gy : array_like (K,)
        Curve doses at those volumes, Gy (>= 0).
    a, n : float
        Exactly one of the exponent a or the volume parameter n (a = 1/n).
    """
    a = _exponent(a, n)
    v = np.asarray(volume_cc, dtype=np.float64).reshape(-1)
    d = np.asarray(dose_gy, dtype=np.float64).reshape(-1)
    if v.shape != d.shape or v.size < 2:
        raise ParameterError("DVH curve needs >= 2 points with matching volume and dose arrays")
    if not (np.all(np.isfinite(d)) and np.all(d >= 0) and np.all(np.isfinite(v))
            and np.all(np.diff(v) >= 0)):
        raise ParameterError("DVH curve must have finite doses >= 0 Gy and non-decreasing volumes")
    seg = np.diff(v)
    keep = seg > 0
    total = float(seg.sum())
    if total <= 0:
        raise ParameterError("DVH curve has no volume: the structure has no volume inside the dose grid")
    d0, d1, seg = d[:-1][keep], d[1:][keep], seg[keep]
    dmax = float(max(d0.max(), d1.max()))
    if dmax == 0:
        return 0.0
    if a < 0 and min(d0.min(), d1.min()) == 0:
        return 0.0
    hi = np.maximum(d0, d1) / dmax
    lo = np.minimum(d0, d1) / dmax
    r = lo / hi - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.log1p(r)
        if a == -1.0:
            g = np.where(r == 0, 1.0, lr / r)
        else:
            g = np.where(r == 0, 1.0, np.expm1((a + 1.0) * lr) / ((a + 1.0) * r))
    s = float(np.sum(seg * hi ** a * g)) / total
    return float(dmax * s ** (1.0 / a))


def geud(dvh, a=None, n=None) -> float:
    """gEUD (Gy, in the DVH's quantity) of a DVH.

    Parameters
    ----------
    dvh : DVH, or (dose_gy, volume_cc) samples
        With samples (or a DVH exposing ``samples``) the voxel-wise sum
        :func:`geud_from_samples` is used.  Otherwise the DVH's piecewise-linear
        cumulative curve (``curve_volume_cc``, ``curve_dose_gy``) is integrated exactly
        (:func:`geud_from_curve`): equal to the sample gEUD for a uniform dose; for n = 1
        it is the curve's mean, which differs from the sample mean by at most
        ``sum |v_k - v_k+1| |d_k - d_k+1| / 4`` (zero for equal sample volumes).  For the
        voxel-wise value on a case use :func:`case_geud`.
        A structure partly outside the grid (``dvh.outside_cc > 0``) gives a warning: that
        part's dose is unknown and is left out of the gEUD.
    a, n : float
        Exactly one of the exponent a or the volume parameter n (a = 1/n).
    """
    outside = float(getattr(dvh, "outside_cc", 0.0) or 0.0)
    if outside > 1e-6:
        total = float(getattr(dvh, "volume_cc", 0.0) or 0.0)
        warnings.warn(f"gEUD of {getattr(dvh, 'name', '') or 'structure'}: {outside:.4g} cc "
                      f"of {total:.4g} cc lies outside the dose grid and is left out",
                      UserWarning, stacklevel=2)
    samples = _dvh_samples(dvh)
    if samples is not None:
        return geud_from_samples(samples[0], samples[1], a=a, n=n)
    if hasattr(dvh, "curve_volume_cc") and hasattr(dvh, "curve_dose_gy"):
        return geud_from_curve(dvh.curve_volume_cc, dvh.curve_dose_gy, a=a, n=n)
    raise ParameterError(f"cannot read doses from {type(dvh).__name__}; give a DVH or "
                         "(dose_gy, volume_cc) arrays")


def ntcp_from_geud(geud_gy: float, td50: float, m: float) -> float:
    """LKB NTCP (fraction 0..1) = Phi((gEUD - TD50) / (m TD50))."""
    td50 = _positive(td50, "td50")
    m = _positive(m, "m")
    if not math.isfinite(geud_gy) or geud_gy < 0:
        raise ParameterError(f"gEUD must be a finite dose >= 0 Gy, got {geud_gy!r}")
    t = (geud_gy - td50) / (m * td50)
    return 0.5 * math.erfc(-t / math.sqrt(2.0))


def ntcp_lkb(dvh, td50=None, m=None, n=None, *, parameters=None) -> float:
    """LKB normal-tissue complication probability of a DVH.

    Parameters
    ----------
    dvh : DVH or (dose_gy, volume_cc)
    td50, m, n : float
        TD50 (Gy), slope m, volume parameter n; all three, or none with ``parameters``.
    parameters : str or LKBParameters, optional
        A registered set (e.g. ``"michigan"``).  The DVH's ``quantity`` must be the
        set's (``EQD2Gy(a/b=2.5)`` for the Michigan RILD set): a ParameterError otherwise.

    Returns
    -------
    float
        NTCP as a fraction in [0, 1] (multiply by 100 for %).
    """
    if parameters is not None:
        if any(x is not None for x in (td50, m, n)):
            raise ParameterError("give either parameters or td50/m/n, not both")
        p = lkb_parameters(parameters)
        q = getattr(dvh, "quantity", None)
        if q != p.quantity:
            raise ParameterError(
                f"LKB parameter set {p.name!r} is defined in {p.quantity}; the DVH's quantity is "
                f"{q!r}: compute the DVH on case.eqd2(...) with the matching a/b")
        td50, m, n = p.td50_gy, p.m, p.n
    elif any(x is None for x in (td50, m, n)):
        raise ParameterError("ntcp_lkb needs td50, m and n (or parameters=<set name>)")
    return ntcp_from_geud(geud(dvh, n=n), td50, m)


def case_geud(case, name, a=None, n=None, *, dose=None, options=None, **mask_options) -> float:
    """Voxel-wise gEUD (Gy, in the dose grid's quantity) of a structure of a case.

    Parameters
    ----------
    case : Case
    name : str
        Structure name or derived expression (``"Liver - GTV"``).
    a, n : float
        Exactly one of the exponent a or the volume parameter n (a = 1/n).
    dose : DoseGrid, optional
        Grid to sample (default ``case.dose``); e.g. ``case.eqd2(2.5)``.
    options : MaskOptions, optional
        Mask options (keyword arguments ``supersample``... override its fields).

    Returns
    -------
    float
        ``(sum v_i D_i^a)^(1/a)`` over the mask's cells (``dosecalc.masks.mask_samples``;
        for a converted grid :func:`dosecalc.radiobiology.converted_samples`, which
        converts the interpolated physical dose on sub-voxel lattices).
        A part of the structure outside the grid is left out, with a warning.
    """
    grid = case.dose if dose is None else dose
    if grid is None:
        raise ParameterError("the case has no dose grid; pass dose=")
    mask = case.mask(name, options=MaskOptions.from_kwargs(options, **mask_options))
    if mask.outside_cc > 1e-6:
        warnings.warn(f"gEUD of {name!r}: {mask.outside_cc:.4g} cc of {mask.volume_cc:.4g} cc lies "
                      "outside the dose grid and is left out", UserWarning, stacklevel=2)
    if grid.dose_type == "EFFECTIVE":
        d, v = converted_samples(mask, grid, case.dose)
    else:
        d, v = mask_samples(mask, grid)
    return geud_from_samples(d, v, a=a, n=n)


class NTCPPopulationWarning(UserWarning):
    """An NTCP asked for a patient outside the population the parameters were fitted on."""


def population_warning(parameters, child_pugh_class: str | None) -> str:
    """The warning for a Child-Pugh B/C patient (or any class the set does not cover), "" if none."""
    p = lkb_parameters(parameters)
    if child_pugh_class is None or child_pugh_class in p.child_pugh:
        return ""
    if child_pugh_class == "A" and not p.child_pugh:
        return ""
    return (f"NTCP set {p.name!r} was fitted on {p.population}; no Child-Pugh {child_pugh_class} parameters "
            "have been read from a source: Child-Pugh B is the strongest predictor of RILD after SBRT "
            "(Radiat Oncol 2013;8:249) and the value likely underestimates the risk")


def case_ntcp(case, name, parameters="michigan", *, fractions=None, dose=None, options=None,
              child_pugh: str | None = None,
              **mask_options) -> float:
    """LKB NTCP (fraction 0..1) of a structure of a case with a registered parameter set.

    Parameters
    ----------
    case : Case
    name : str
        Structure or expression the set applies to (``"Liver - GTV"`` for RILD).
    parameters : str or LKBParameters
        Default the Michigan RILD set (EQD2, a/b 2.5 Gy).
    fractions : int, optional
        Fractions for the EQD2 conversion (default: the plan's).
    dose : DoseGrid, optional
        A grid already in the set's quantity; default: ``case.eqd2(set a/b, fractions)``
        for an EQD2 set, ``case.dose`` for a physical one.
    child_pugh : {"A", "B", "C"}, optional
        The patient's class: outside the set's population an :class:`NTCPPopulationWarning`
        is issued (the Michigan set has no class-B fit).

    Returns
    -------
    float
        ``Phi((gEUD - TD50) / (m TD50))`` with the voxel-wise gEUD (:func:`case_geud`).
    """
    p = lkb_parameters(parameters)
    text = population_warning(p, child_pugh)
    if text:
        warnings.warn(text, NTCPPopulationWarning, stacklevel=2)
    if dose is None:
        if p.quantity == "dose":
            dose = case.dose
        elif p.alpha_beta_gy is not None and DoseQuantity.parse(p.quantity).kind is DoseKind.EQD2:
            dose = case_eqd2(case, p.alpha_beta_gy, fractions=fractions)
        else:
            raise ParameterError(f"parameter set {p.name!r} ({p.quantity}) needs dose= in that quantity")
    if getattr(dose, "quantity", None) != p.quantity:
        raise ParameterError(f"LKB parameter set {p.name!r} is defined in {p.quantity}; dose grid "
                             f"quantity is {getattr(dose, 'quantity', None)!r}")
    opts = MaskOptions.from_kwargs(options, **mask_options)
    return ntcp_from_geud(case_geud(case, name, n=p.n, dose=dose, options=opts), p.td50_gy, p.m)
