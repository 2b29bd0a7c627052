"""LQ and LQ-L conversions: BED / EQD2 of numbers, arrays and physical dose grids, and
their inverses.  The formulas and the rules applied (summation type, outputs) are
stated in :mod:`dosecalc.radiobiology`, which re-exports every public name.  Gy
throughout.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping

import numpy as np

from .dose_reading import converted_warning, grid_summation, reading_sentence
from .errors import ParameterError
from .kernels.radiobiology import (
    MODEL_LQ,
    MODEL_LQ_L,
    QUANTITY_BED,
    QUANTITY_EQD2,
    lq_convert,
)
from .model import DoseGrid
from .provenance import DoseProvenance
from .quantity import DoseQuantity, format_g
from .summation import Summation


class RadiobiologyWarning(UserWarning):
    """A conversion that is valid but that the physicist must know about (overlapping
    a/b structures, MULTI_PLAN source, zero-filled course regions...)."""


_MODELS = {"lq": "LQ", "lq-l": "LQ-L", "lql": "LQ-L", "lq_l": "LQ-L"}


# --- parameter checks -----------------------------------------------------------------
def parse_model(model) -> str:
    """Canonical model name ``"LQ"`` or ``"LQ-L"`` from ``"lq"``, ``"lq-l"`` (any case)."""
    key = str(model).strip().lower() if isinstance(model, str) else None
    if key not in _MODELS:
        raise ParameterError(f"model must be 'lq' or 'lq-l', got {model!r}")
    return _MODELS[key]


def _check_alpha_beta(value, name: str = "alpha_beta") -> float:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, Mapping):
        raise ParameterError(f"{name}: a per-structure map needs a case (case.eqd2 / case_eqd2); "
                             "here give one number of Gy or a per-voxel array")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be a number of Gy > 0, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ParameterError(f"{name} must be a finite number of Gy > 0, got {value!r}")
    return v


def _check_fractions(value, name: str = "fractions") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be a whole number >= 1, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v >= 1 and v == int(v)):
        raise ParameterError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(v)


def _check_transition(model: str, transition_dose) -> float | None:
    if model == "LQ":
        if transition_dose is not None:
            raise ParameterError("transition_dose is only used by model 'lq-l'; "
                                 f"got transition_dose={transition_dose!r} with model 'lq'")
        return None
    if transition_dose is None:
        raise ParameterError("model 'lq-l' needs transition_dose (d_T, Gy per fraction > 0); "
                             "it is never assumed")
    return _check_alpha_beta(transition_dose, "transition_dose")


def quantity_label(quantity: str, alpha_beta) -> str:
    """TG-263 label of a converted dose: ``EQD2Gy(a/b=2.5)``, ``BED(a/b=10)``,
    ``EQD2Gy(a/b=map)`` when ``alpha_beta`` is ``"map"`` (:class:`DoseQuantity`)."""
    return DoseQuantity.converted("EQD2" if quantity == "EQD2" else "BED", alpha_beta).label


def _run_kernel(values, scale, fractions, labels, ab_table, dt, model, quantity, inverse, out,
                what: str) -> None:
    table = np.ascontiguousarray(ab_table, dtype=np.float64)
    dt_table = np.full(table.shape, dt if dt is not None else 1.0)
    if labels.size and int(labels.max()) >= table.size:
        raise ParameterError("alpha/beta label map refers to a missing table entry")
    # numba compiles one version per array type and read-only is part of the type: pass
    # read-only views always, so every call shares one compiled kernel (cold start)
    values = values.view()
    values.setflags(write=False)
    labels = labels.view()
    labels.setflags(write=False)
    bad = lq_convert(values, float(scale), float(fractions), labels, table, dt_table,
                    MODEL_LQ_L if model == "LQ-L" else MODEL_LQ,
                    QUANTITY_EQD2 if quantity == "EQD2" else QUANTITY_BED,
                    1 if inverse else 0, out)
    if bad:
        raise ParameterError(f"{what} holds {bad} negative or NaN value(s); dose must be >= 0 Gy")


_NO_LABELS = np.zeros(0, dtype=np.uint8)


# --- scalar / array conversions -------------------------------------------------------
def _convert_values(values, fractions, alpha_beta, model, transition_dose, quantity, inverse, what):
    model = parse_model(model)
    n = _check_fractions(fractions)
    ab = _check_alpha_beta(alpha_beta)
    dt = _check_transition(model, transition_dose)
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"{what} must be a number or an array of numbers (Gy), got {values!r}") from None
    scalar = arr.ndim == 0
    flat = np.ascontiguousarray(arr.reshape(-1))
    out = np.empty_like(flat)
    _run_kernel(flat, 1.0, n, _NO_LABELS, np.array([ab]), dt, model, quantity, inverse, out, what)
    return float(out[0]) if scalar else out.reshape(arr.shape)


def bed(dose_gy, fractions, alpha_beta, model="lq", transition_dose=None):
    """Biologically effective dose of a total physical dose.

    Parameters
    ----------
    dose_gy : float or array_like
        Total physical dose over the course, Gy (>= 0).
    fractions : int
        Number of equal fractions n (whole, >= 1).
    alpha_beta : float
        alpha/beta of the tissue, Gy (> 0).
    model : {"lq", "lq-l"}
        LQ, or LQ-L (linear above ``transition_dose``).
    transition_dose : float, optional
        LQ-L transition dose per fraction d_T, Gy (required for LQ-L).

    Returns
    -------
    float or ndarray
        BED in Gy: ``D (1 + d/(a/b))`` for LQ (d = D/n); LQ-L as in the module docstring.
    """
    return _convert_values(dose_gy, fractions, alpha_beta, model, transition_dose, "BED", False, "dose_gy")


def eqd2(dose_gy, fractions, alpha_beta, model="lq", transition_dose=None):
    """Equivalent dose in 2 Gy fractions, ``EQD2 = BED / (1 + 2/(a/b))``, in Gy.

    Parameters as :func:`bed` (``dose_gy`` total physical dose in Gy).
    """
    return _convert_values(dose_gy, fractions, alpha_beta, model, transition_dose, "EQD2", False, "dose_gy")


def dose_for_bed(bed_gy, fractions, alpha_beta, model="lq", transition_dose=None):
    """Total physical dose (Gy) in n fractions that gives ``bed_gy`` (inverse of :func:`bed`).

    LQ: ``D = 2 BED / (1 + sqrt(1 + 4 BED / (n a/b)))`` (positive root of the quadratic);
    LQ-L: linear branch above the BED reached at d_T.
    """
    return _convert_values(bed_gy, fractions, alpha_beta, model, transition_dose, "BED", True, "bed_gy")


def dose_for_eqd2(eqd2_gy, fractions, alpha_beta, model="lq", transition_dose=None):
    """Total physical dose (Gy) in n fractions that gives ``eqd2_gy`` (inverse of :func:`eqd2`)."""
    return _convert_values(eqd2_gy, fractions, alpha_beta, model, transition_dose, "EQD2", True, "eqd2_gy")


# --- grids ----------------------------------------------------------------------------
def _source_scale(grid: DoseGrid, n: int) -> tuple[float, str]:
    """(factor from grid values to total dose, sentence for the description); the rule
    is :mod:`dosecalc.summation`'s, an absent DoseSummationType is refused here."""
    if grid.dose_type != "PHYSICAL":
        raise ParameterError(
            f"dose grid DoseType is {grid.dose_type} (quantity {grid.quantity!r}); BED/EQD2 "
            "conversion needs PHYSICAL dose (converting a converted dose twice is wrong)")
    how = grid_summation(grid)  # the summation rule, with the loader's RTPLAN cross-check
    why = reading_sentence(grid)
    if why:
        if how is Summation.PER_FRACTION:
            return float(n), f"source {why}: multiplied by {n} fractions"
        return 1.0, f"source {why} (course total)"
    if how is Summation.PER_FRACTION:
        return float(n), (f"source DoseSummationType FRACTION (dose per fraction) "
                          f"multiplied by {n} fractions")
    if how.is_total:
        st = (grid.summation_type or "").upper()
        if how is Summation.SUM_OF_PLANS:
            warnings.warn("dose grid is a MULTI_PLAN sum: converted as one course of "
                          f"{n} equal fractions; convert each plan and use sum_courses() "
                          "when their fractionations differ", RadiobiologyWarning, stacklevel=4)
        return 1.0, f"source DoseSummationType {st} (course total)"  # a total: factor 1
    raise ParameterError(
        f"dose grid DoseSummationType is {grid.summation_type!r}; BED/EQD2 needs the course "
        "total (PLAN) or the dose of one fraction (FRACTION): LQ is not additive over "
        "beams or sessions")


def convert_grid(grid: DoseGrid, alpha_beta, fractions, model="lq", transition_dose=None, *,
                 quantity="EQD2", labels: np.ndarray | None = None, map_info: dict | None = None) -> DoseGrid:
    """Voxel-wise BED or EQD2 of a physical dose grid.

    Parameters
    ----------
    grid : DoseGrid
        PHYSICAL dose, summation type PLAN (total), FRACTION (one fraction: total =
        n x grid) or MULTI_PLAN (warned).
    alpha_beta : float, or ndarray of shape ``grid.shape``, or 1-D table with ``labels``
        alpha/beta in Gy (> 0): one value, one per voxel, or a table indexed by ``labels``.
    fractions : int
        Number of fractions n of the course (whole, >= 1).
    model : {"lq", "lq-l"}
    transition_dose : float, optional
        d_T in Gy per fraction (LQ-L only, required there).
    quantity : {"EQD2", "BED"}
    labels : ndarray of uint8/uint16, shape ``grid.shape``, optional
        Index of each voxel's a/b in the 1-D ``alpha_beta`` table (memory-cheap map).
    map_info : dict, optional
        Extra entries for ``model`` (the structure map, overlaps); internal use.

    Returns
    -------
    DoseGrid
        EFFECTIVE grid in Gy, summation type PLAN (course total), ``quantity`` e.g.
        ``"EQD2Gy(a/b=2.5)"``, ``model`` {model, alpha_beta, fractions,
        transition_dose_gy, source_summation_type, ...}.
    """
    if not isinstance(grid, DoseGrid):
        raise ParameterError(f"grid must be a DoseGrid, got {type(grid).__name__}")
    quantity = str(quantity).upper()
    if quantity not in ("EQD2", "BED"):
        raise ParameterError(f"quantity must be 'EQD2' or 'BED', got {quantity!r}")
    model_name = parse_model(model)
    n = _check_fractions(fractions)
    dt = _check_transition(model_name, transition_dose)
    scale, scale_text = _source_scale(grid, n)

    if labels is not None:
        lab = np.ascontiguousarray(labels)
        if lab.shape != grid.shape or lab.dtype not in (np.uint8, np.uint16):
            raise ParameterError(f"labels must be a uint8/uint16 array of shape {grid.shape}, "
                                 f"got {lab.dtype} {lab.shape}")
        table = np.atleast_1d(np.asarray(alpha_beta, dtype=np.float64))
        for i, v in enumerate(table):
            _check_alpha_beta(float(v), f"alpha_beta[{i}]")
        ab_record = (map_info or {}).get("alpha_beta", [float(v) for v in table])
        ab_label = "map"
    elif isinstance(alpha_beta, np.ndarray) and alpha_beta.ndim > 0:
        if alpha_beta.shape != grid.shape:
            raise ParameterError(f"alpha_beta array must have the grid's shape {grid.shape}, "
                                 f"got {alpha_beta.shape}")
        table, inverse = np.unique(np.asarray(alpha_beta, dtype=np.float64), return_inverse=True)
        for v in table:
            _check_alpha_beta(float(v), "alpha_beta (per-voxel array)")
        if table.size > 65536:
            raise ParameterError("alpha_beta array holds more than 65536 distinct values; "
                                 "give a label map instead")
        lab = inverse.reshape(grid.shape).astype(np.uint8 if table.size <= 256 else np.uint16)
        ab_record = [float(v) for v in table] if table.size <= 16 else f"{table.size} values"
        ab_label = "map" if table.size > 1 else format_g(table[0])
    else:
        table = np.array([_check_alpha_beta(alpha_beta)])
        lab = None
        ab_record = float(table[0])
        ab_label = format_g(table[0])

    out = np.empty(grid.shape, dtype=np.float64)
    _run_kernel(grid.values_gy.reshape(-1), scale, n,
                _NO_LABELS if lab is None else lab.reshape(-1),
                table, dt, model_name, quantity, False, out.reshape(-1),
                f"dose grid {grid.source_path or ''}".strip())
    out.setflags(write=False)  # hand ownership to the grid without a copy

    label = quantity_label(quantity, ab_label)
    info = dict(
        model=model_name,
        quantity=label,
        alpha_beta=ab_record,
        fractions=n,
        transition_dose_gy=dt,
        source_dose_type=grid.dose_type,
        source_summation_type=grid.summation_type,
        source_scale=scale,
        source_sop_instance_uid=grid.sop_instance_uid,
        source_path=grid.source_path,
        **{k: v for k, v in (map_info or {}).items() if k != "alpha_beta"},
    )
    model_text = model_name if dt is None else f"{model_name}, d_T={format_g(dt)} Gy/fx"
    ab_text = (f"a/b={format_g(table[0])} Gy" if ab_label != "map"
               else "a/b map " + (map_info or {}).get("map_text", str(ab_record)))
    desc = f"{quantity} ({model_text}, {ab_text}, {n} fx); {scale_text}"
    if map_info and map_info.get("overlaps"):
        desc += "; overlaps (first listed wins): " + "; ".join(
            f"{o['winner']} over {o['loser']} {o['volume_cc']:.3g} cc" for o in map_info["overlaps"])
    if grid.reading is not None:
        info["source_reading"] = grid.reading.text
    implausible = converted_warning(out, label)
    if implausible:
        # never silent: thousands of Gy EQD2 means a total read as per fraction (or worse)
        warnings.warn(implausible, RadiobiologyWarning, stacklevel=3)
        info["warnings"] = [implausible]
        desc += f"; {implausible}"
    return grid.with_values(out, dose_type="EFFECTIVE", summation_type="PLAN", quantity=label,
                            model=DoseProvenance(**info), description=desc, reading=None)


def eqd2_grid(grid: DoseGrid, alpha_beta, fractions, model="lq", transition_dose=None) -> DoseGrid:
    """Voxel-wise EQD2 (Gy) of a physical grid; see :func:`convert_grid`."""
    return convert_grid(grid, alpha_beta, fractions, model, transition_dose, quantity="EQD2")


def bed_grid(grid: DoseGrid, alpha_beta, fractions, model="lq", transition_dose=None) -> DoseGrid:
    """Voxel-wise BED (Gy) of a physical grid; see :func:`convert_grid`."""
    return convert_grid(grid, alpha_beta, fractions, model, transition_dose, quantity="BED")
