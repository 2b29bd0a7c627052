"""A case's converted dose: the EQD2 / BED grid of its RTDOSE (one a/b or a structure
map, the plan's fractions) and the samples of a converted grid on a structure mask.
Gy throughout; rules in :mod:`dosecalc.radiobiology`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ParameterError
from .masks import mask_samples
from .model import DoseGrid
from .quantity import DoseKind, DoseQuantity
from .radiobiology_lq import _NO_LABELS, _check_fractions, _check_transition, _run_kernel, convert_grid, parse_model
from .radiobiology_map import alpha_beta_map


def _case_convert(case, alpha_beta, fractions, model, transition_dose, quantity) -> DoseGrid:
    grid = case.dose
    if grid is None:
        raise ParameterError("the case has no dose grid (RTDOSE) to convert")
    if fractions is None:
        fractions = case.fractions
        if fractions is None:
            if case.plan is not None and case.plan.fractions_reason:
                raise ParameterError(f"fractions is not given and the RTPLAN has "
                                     f"{case.plan.fractions_reason}; pass fractions=N")
            raise ParameterError("fractions is not given and the case has no RTPLAN "
                                 "NumberOfFractionsPlanned; pass fractions=N")
    if isinstance(alpha_beta, Mapping):
        # Validate cheap parameters before rasterising any structure.
        parse_model(model)
        _check_fractions(fractions)
        _check_transition(parse_model(model), transition_dose)
        abm = alpha_beta_map(case, alpha_beta, grid)
        info = {"alpha_beta": abm.as_dict(), "map_text": abm.text(),
                "membership": "voxel >= 50 % inside the structure (mask supersample=1)",
                "overlap_rule": "first listed wins",
                "overlaps": abm.overlaps,
                "map_voxels": dict(zip(abm.names, abm.voxels))}
        return convert_grid(grid, abm.table, fractions, model, transition_dose, quantity=quantity,
                            labels=abm.labels, map_info=info)
    return convert_grid(grid, alpha_beta, fractions, model, transition_dose, quantity=quantity)


def case_eqd2(case, alpha_beta, fractions=None, model="lq", transition_dose=None) -> DoseGrid:
    """Voxel-wise EQD2 grid of a case's dose (backs ``Case.eqd2``).

    Parameters
    ----------
    case : Case
    alpha_beta : float or mapping
        a/b in Gy, or ``{structure or expression: a/b, ..., "*": default}`` (first listed
        wins on overlaps; see the module docstring).
    fractions : int, optional
        Number of fractions; default ``case.plan.fractions`` (ParameterError when neither).
    model : {"lq", "lq-l"}
    transition_dose : float, optional
        d_T in Gy per fraction (LQ-L).

    Returns
    -------
    DoseGrid
        EFFECTIVE, quantity ``"EQD2Gy(a/b=...)"``, Gy.
    """
    return _case_convert(case, alpha_beta, fractions, model, transition_dose, "EQD2")


def case_bed(case, alpha_beta, fractions=None, model="lq", transition_dose=None) -> DoseGrid:
    """Voxel-wise BED grid of a case's dose (backs ``Case.bed``); see :func:`case_eqd2`."""
    return _case_convert(case, alpha_beta, fractions, model, transition_dose, "BED")




# --- sampling a converted grid on a structure mask ------------------------------------
def converted_samples(mask, converted: DoseGrid, source: DoseGrid | None,
                      sampler=None) -> tuple[np.ndarray, np.ndarray]:
    """(dose, volume_cc) samples of a converted (EQD2/BED) grid on a structure mask.

    On the dose grid's own lattice (``mask.index_offset`` set) the converted voxel values
    are read directly.  On a sub-voxel lattice the PHYSICAL ``source`` dose is
    interpolated at the cell centres and then converted: the EQD2 of the interpolated
    dose.  Interpolating the EQD2 grid instead would overestimate it between voxels, the
    LQ transform being convex (by up to ``f'' gap^2 / 8``, f'' = 2 / (n (a/b + 2)) for
    EQD2; 0.4 % on D95% of a PTV on a 4 mm grid).  For an a/b map (a/b not defined
    between voxels) or when ``source`` is None or does not match ``converted`` (same
    geometry and SOP instance UID as recorded in ``converted.model``), the converted grid
    is interpolated and the result is the same as :func:`dosecalc.masks.mask_samples`.

    Parameters
    ----------
    mask : StructureMask
    converted : DoseGrid
        EFFECTIVE grid made by this module (``model`` filled).
    source : DoseGrid or None
        The physical grid ``converted`` was made from (``case.dose``).
    sampler : callable, optional
        ``sampler(grid) -> (dose, volume_cc)``: the mask's samples on a grid (default
        :func:`dosecalc.masks.mask_samples` of ``mask``; the case's DVHs pass the samples
        of its compact form, the same bits).

    Returns
    -------
    dose, volume_cc : ndarray float64 (M,)
        One entry per mask cell with a non-zero fraction; dose in ``converted.quantity``.
    """
    if sampler is None:
        def sampler(g):
            return mask_samples(mask, g)

    m: Mapping[str, Any] = converted.model or {}
    usable = (
        mask.index_offset is None
        and source is not None
        and isinstance(m.get("alpha_beta"), float)
        and m.get("model") in ("LQ", "LQ-L")
        and m.get("fractions")
        and source.dose_type == "PHYSICAL"
        and source.same_geometry(converted, tol_mm=1e-6)
        and source.sop_instance_uid == m.get("source_sop_instance_uid")
        and source.summation_type == m.get("source_summation_type")
    )
    if not usable:
        return sampler(converted)
    d, v = sampler(source)
    quantity = "EQD2" if DoseQuantity.parse(converted.quantity).kind is DoseKind.EQD2 else "BED"
    out = np.empty_like(d)
    n = int(m["fractions"])
    _run_kernel(np.ascontiguousarray(d), float(m.get("source_scale", 1.0)), n, _NO_LABELS,
                np.array([m["alpha_beta"]]), m.get("transition_dose_gy"), m["model"], quantity,
                False, out, f"dose samples of {mask.name!r}")
    return out, v
