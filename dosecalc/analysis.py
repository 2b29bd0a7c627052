"""Case-level DVHs: masks cached per case, DVHs of ROIs and derived structures.

These functions back ``Case.mask``, ``Case.dvh`` and ``Case.dvhs``.

* A mask depends on the structure (or derived expression), the dose grid's geometry
  (shape, origin, spacing) and the mask options; it does not depend on the dose values.
  Masks are therefore cached in ``case._cache`` under that key, so the physical DVH and
  the EQD2 DVH of one structure rasterise it once.  The cache is bounded
  (:data:`MASK_CACHE_BYTES`, least recently used masks dropped first) so that a case
  with 40 structures never keeps 40 large masks alive.
* The prescription of a DVH defaults to the plan's (``case.plan.prescription_gy``) for
  physical dose only: a converted dose (EQD2, BED) gets none unless one is given, since
  a physical prescription would make ``V100%`` of an EQD2 DVH meaningless.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
from typing import Iterable

from .dvh import DEFAULT_BIN_GY, DVH, DVHWarning
from .errors import ContourError, ParameterError
from .mask_options import MaskOptions
from .model import Case, DoseGrid, Structure

#: Upper bound on the bytes of mask arrays kept in one case's cache.
MASK_CACHE_BYTES = 512 * 1024 * 1024
_CACHE_KEY = "analysis.masks"


def _dose_grid(case: Case, dose: DoseGrid | None) -> DoseGrid:
    grid = case.dose if dose is None else dose
    if grid is None:
        raise ParameterError("the case has no dose grid (no RTDOSE loaded); load one or pass dose=")
    if not isinstance(grid, DoseGrid):
        raise ParameterError(f"dose must be a dosecalc.model.DoseGrid, got {type(grid).__name__}")
    return grid


def _resolve(case: Case, name):
    """The ROI (:class:`Structure`) or :class:`dosecalc.derived.DerivedStructure` that
    ``name`` refers to.

    An existing ROI name (case-insensitive) always wins over parsing, so an ROI literally
    named ``"Liver-GTV"`` or ``"Liver - GTV"`` is used as is.
    """
    from .derived import case_structure

    return case_structure(case, name)


def _cache(case: Case) -> OrderedDict:
    c = case._cache.get(_CACHE_KEY)
    if c is None:
        c = case._cache[_CACHE_KEY] = OrderedDict()
    return c


def case_mask(case: Case, name, *, grid: DoseGrid | None = None, options: MaskOptions | None = None,
              **mask_options):
    """Fractional mask of a structure or derived expression on a dose grid (cached).

    Parameters
    ----------
    case : Case
    name : str, int or Structure
        ROI name (case-insensitive), ROI number, or a derived expression such as
        ``"Liver - GTV"`` (see :mod:`dosecalc.derived`).
    grid : DoseGrid, optional
        Grid whose lattice the mask uses; default ``case.dose``.  Any grid of the same
        geometry (an EQD2 grid of the same dose) shares the cached mask.
    options : MaskOptions, optional
        How to rasterise; keyword arguments ``supersample``, ``end_cap``,
        ``interpolation`` override its fields (see :mod:`dosecalc.mask_options`).

    Returns
    -------
    dosecalc.masks.StructureMask

    Raises
    ------
    StructureNotFoundError
        No such ROI (the message lists the ROI names).
    ContourError
        The ROI has no closed planar contours, hence no volume.
    """
    from .masks import structure_mask

    opts = MaskOptions.from_kwargs(options, **mask_options)
    g = _dose_grid(case, grid)
    target = _resolve(case, name)
    if isinstance(target, Structure):
        if not target.has_volume:
            raise ContourError(f"structure {target.name!r} has no closed planar contours, so no volume "
                               f"and no DVH (only points or open contours)",
                               path=case.structures.source_path)
        ident = ("roi", target.number, target.name)
    else:
        ident = ("expr", target.expression)
    key = (ident, g.shape, g.origin_mm, g.spacing_mm, opts.key())
    cache = _cache(case)
    mask = cache.get(key)
    if mask is not None:
        cache.move_to_end(key)
        return mask
    if isinstance(target, Structure):
        mask = structure_mask(target, g, options=opts)
    else:
        from .derived import derived_mask

        mask = derived_mask(case, target, g, options=opts)
    cache[key] = mask
    _trim(cache)
    return mask


def _trim(cache: OrderedDict) -> None:
    total = sum(m.fraction.nbytes for m in cache.values())
    while total > MASK_CACHE_BYTES and len(cache) > 1:
        _, old = cache.popitem(last=False)
        total -= old.fraction.nbytes


def _display_name(target) -> str:
    return target.name


def _no_volume(target) -> str:
    """Why a structure (or a derived one's operand) has no volume, '' when it has one."""
    if isinstance(target, Structure):
        if target.has_volume:
            return ""
        if target.degenerate_contours:
            return (f"its {target.degenerate_contours} closed contour(s) have fewer than 3 distinct "
                    "points")
        if len(target.points_mm) or target.open_contours:
            return "it holds only points or open contours"
        return "it has no contours"
    for s in getattr(target, "operands", ()):
        inner = _no_volume(s)
        if inner:
            return f"operand {s.name!r}: {inner}"
    return ""


def case_dvh(case: Case, name, *, dose: DoseGrid | None = None, prescription_gy: float | None = None,
             mode: str = "auto", bin_gy: float = DEFAULT_BIN_GY, options: MaskOptions | None = None,
             **mask_options) -> DVH:
    """DVH of one structure or derived expression.

    Parameters
    ----------
    case : Case
    name : str, int or Structure
        ROI name, ROI number, or derived expression (``"Liver - GTV"``, ``"GTV1 | GTV2"``).
    dose : DoseGrid, optional
        Dose to histogram (default ``case.dose``); an EQD2/BED grid gives a DVH whose
        ``quantity`` is its label.
    prescription_gy : float, optional
        Prescription (Gy) for ``%`` metrics.  Default: the plan's, for physical dose only.
    mode, bin_gy
        DVH mode and bin width, see :meth:`dosecalc.dvh.DVH.from_samples`.
    options : MaskOptions, optional
        Keyword arguments ``supersample``, ``end_cap``, ``interpolation`` override its
        fields (see :mod:`dosecalc.mask_options`).

    Returns
    -------
    DVH
        ``volume_cc`` is the structure's whole volume; ``outside_cc`` the part outside
        the dose grid (flagged by ``coverage_warning``).  A structure without volume
        (no contours, only points, contours that enclose no area) gives
        :meth:`DVH.empty <dosecalc.dvh.DVH.empty>` (every metric NaN with the reason)
        and a :class:`~dosecalc.dvh.DVHWarning`; it never raises for that.
    """
    from .masks import mask_samples

    grid = _dose_grid(case, dose)
    target = _resolve(case, name)
    if prescription_gy is None and grid.quantity == "dose":
        prescription_gy = case.prescription_gy
    why = _no_volume(target)
    mask = None
    if not why:
        mask = case_mask(case, target, grid=grid, options=MaskOptions.from_kwargs(options, **mask_options))
        if mask.volume_cc <= 0.0 and mask.outside_cc <= 0.0:
            why = "its closed contours enclose no area (collinear or repeated points)"
    if why:
        # one empty ROI must never cost the other structures their DVHs
        warnings.warn(f"structure {_display_name(target)!r} has no volume ({why}): its DVH metrics "
                      "are NaN", DVHWarning, stacklevel=2)
        return DVH.empty(_display_name(target), why, prescription_gy=prescription_gy,
                         quantity=grid.quantity,
                         settings={"structure": _display_name(target), "dose_file": grid.source_path,
                                   "dose_quantity": grid.quantity})
    if grid.dose_type == "EFFECTIVE" and grid.model:
        # On a sub-voxel lattice, convert the interpolated physical dose rather than
        # interpolate the (convex) EQD2/BED grid, which would overestimate between voxels.
        from .radiobiology import converted_samples

        dose_s, vol_s = converted_samples(mask, grid, case.dose)
    else:
        dose_s, vol_s = mask_samples(mask, grid)
    settings = dict(mask.settings)
    settings.update({
        "structure": _display_name(target),
        "dose_file": grid.source_path,
        "dose_quantity": grid.quantity,
        "dose_type": grid.dose_type,
        "dose_summation_type": grid.summation_type,
        "dose_spacing_mm": list(grid.spacing_mm),
        "mask_spacing_mm": list(mask.spacing_mm),
    })
    if grid.model:
        settings["dose_model"] = grid.model.to_dict()
    minmax, how = _extremes(case, target, grid, mask, dose_s, vol_s)
    return DVH.from_samples(dose_s, vol_s, name=_display_name(target), outside_cc=mask.outside_cc,
                            prescription_gy=prescription_gy, quantity=grid.quantity,
                            settings=settings, mode=mode, bin_gy=bin_gy, minmax_gy=minmax,
                            minmax_source=how)


def _extremes(case, target, grid, mask, dose_s, vol_s):
    """(Min, Max) and how they were found (see :mod:`dosecalc.masks.extremes`).

    A plain ROI in physical dose with right-prism geometry: the extremes of the
    trilinear dose over the exact prism (corners, edges split at grid lines, grid nodes
    inside, at slab ends and dose planes).  Otherwise (derived structures, shape
    interpolation, converted dose): cell samples covering at least
    MINMAX_FRACTION_TOL of their cell, widened by the prism corners where known."""
    from .masks.extremes import prism_extremes, sample_extremes

    cell_cc = float(np.prod(mask.spacing_mm)) / 1000.0
    if isinstance(target, Structure) and grid.quantity == "dose" and mask.prism is not None:
        prep = mask.prism
        lo, hi, n = prism_extremes(prep.x, prep.y, prep.poly_start, prep.plane_start, prep.sign,
                                   prep.lo, prep.hi, mask.corners_mm, grid)
        if n:
            return (lo, hi), "prism geometry: corners, edges at grid lines, grid nodes inside"
    lo, hi = sample_extremes(dose_s, vol_s, cell_cc)
    how = "cell samples covering >= 1e-6 of a cell"
    if grid.quantity == "dose" and len(mask.corners_mm):
        c = grid.sample(mask.corners_mm)
        c = c[np.isfinite(c)]
        if c.size and np.isfinite(lo):
            lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
            how += " and prism corners"
    return (lo, hi), how


def case_dvhs(case: Case, names: Iterable | None = None, **options) -> dict[str, DVH]:
    """DVHs of several structures, keyed by structure name (or expression).

    Parameters
    ----------
    case : Case
    names : iterable of str/int, optional
        Structures or derived expressions.  Default: every ROI with closed contours
        (ROIs that hold only points or open contours are skipped, being volumeless).
        A structure without volume (contours that enclose no area, or named explicitly
        while holding only points) gets a DVH whose metrics are NaN, with a
        :class:`~dosecalc.dvh.DVHWarning` naming it and why; a missing name raises.
    **options
        Passed to :func:`case_dvh` (``dose``, ``prescription_gy``, mask options...).

    Returns
    -------
    dict of str -> DVH
        In the order asked (or the structure set's order).  ROIs that share a name
        (exports do hold duplicates) are keyed ``"Name (ROI n)"`` so none is dropped.
    """
    if names is None:
        # ROIs drawn as volumes, including those whose contours all turned out degenerate
        # (they get a NaN DVH saying why); point-only and contour-less ROIs are skipped
        targets = [s for s in case.structures if s.has_volume or s.degenerate_contours]
    else:
        if isinstance(names, (str, int)):
            names = [names]
        targets = [_resolve(case, n) for n in names]
    counts: dict[str, int] = {}
    for t in targets:
        if isinstance(t, Structure):
            counts[t.name] = counts.get(t.name, 0) + 1
    out: dict[str, DVH] = {}
    for t in targets:
        dvh = case_dvh(case, t, **options)
        key = dvh.name
        if isinstance(t, Structure) and counts.get(t.name, 0) > 1:
            key = f"{t.name} (ROI {t.number})"
        out[key] = dvh
    return out
