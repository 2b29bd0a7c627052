"""Case-level DVHs: masks cached per case, DVHs of ROIs and derived structures.

These functions back ``Case.mask``, ``Case.dvh`` and ``Case.dvhs``
(:class:`dosecalc.case.Case`); they take any :class:`~dosecalc.model.CaseData`.

* A mask depends on the structure (or derived expression), the dose grid's geometry
  (shape, origin, spacing) and the mask options; it does not depend on the dose values.
  A case that carries a :class:`~dosecalc.mask_cache.MaskCache` (``case.mask_cache``,
  as :class:`dosecalc.case.Case` does) keeps its masks there under that key, so the
  physical DVH and the EQD2 DVH of one structure rasterise it once: the most recently
  used dense masks and every mask in compact form (:mod:`dosecalc.mask_cache`).
* The prescription of a DVH defaults to the plan's (``case.plan.prescription_gy``) for
  physical dose only: a converted dose (EQD2, BED) gets none unless one is given, since
  a physical prescription would make ``V100%`` of an EQD2 DVH meaningless.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

import numba
import numpy as np

from .derived import case_structure, derived_mask, roi_key
from .dvh import DEFAULT_BIN_GY, DVH, CoverageWarning, DVHWarning
from .dvh_curve import EXACT_LIMIT
from .errors import ContourError, ParameterError
from .kernels.threads import worker_count
from .mask_cache import MASK_CACHE_BYTES, MaskCache, compact_budget_bytes  # noqa: F401  (kept importable from here)
from .mask_options import MaskOptions
from .masks import structure_mask
from .masks.rasterise import structure_compact_mask
from .masks.compact import compact, expand
from .masks.extremes import MINMAX_FRACTION_TOL, prism_extremes
from .masks.sampling import SamplePiece, chunk_extremes, compact_sample_chunks
from .model import CaseData, DoseGrid, Structure


def _dose_grid(case: CaseData, dose: DoseGrid | None) -> DoseGrid:
    grid = case.dose if dose is None else dose
    if grid is None:
        raise ParameterError("the case has no dose grid (no RTDOSE loaded); load one or pass dose=")
    if not isinstance(grid, DoseGrid):
        raise ParameterError(f"dose must be a dosecalc.model.DoseGrid, got {type(grid).__name__}")
    return grid


def _resolve(case: CaseData, name):
    """The ROI (:class:`Structure`) or :class:`dosecalc.derived.DerivedStructure` that
    ``name`` refers to.

    An existing ROI name (case-insensitive) always wins over parsing, so an ROI literally
    named ``"Liver-GTV"`` or ``"Liver - GTV"`` is used as is.
    """
    return case_structure(case, name)


def case_mask(case: CaseData, name, *, grid: DoseGrid | None = None, options: MaskOptions | None = None,
              **mask_options):
    """Fractional mask of a structure or derived expression on a dose grid (cached).

    Parameters
    ----------
    case : CaseData
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
    opts = MaskOptions.from_kwargs(options, **mask_options)
    return _masks(case, name, _dose_grid(case, grid), opts, dense=True)[1]


def case_compact_mask(case: CaseData, name, *, grid: DoseGrid | None = None,
                      options: MaskOptions | None = None, **mask_options):
    """:func:`case_mask` in compact form (:class:`dosecalc.masks.compact.CompactMask`),
    from the case's cache: what the DVHs read (no dense array is expanded)."""
    opts = MaskOptions.from_kwargs(options, **mask_options)
    return _masks(case, name, _dose_grid(case, grid), opts, dense=False)[0]


def _masks(case: CaseData, name, g: DoseGrid, opts: MaskOptions, dense: bool):
    """(compact, dense) masks of a structure from the cache, built on a miss; ``dense`` is
    None unless asked for (or still in the dense tier)."""
    target = _resolve(case, name)
    if isinstance(target, Structure):
        if not target.has_volume:
            raise ContourError(f"structure {target.name!r} has no closed planar contours, so no volume "
                               f"and no DVH (only points or open contours)",
                               path=case.structures.source_path)
        ident: tuple[str, ...] | tuple[str, int, str] = ("roi", target.number, target.name)
    else:
        ident = ("expr", target.expression)
    key = (ident, g.shape, g.origin_mm, g.spacing_mm, opts.key())
    cache: MaskCache | None = getattr(case, "mask_cache", None)
    mask = packed = None
    if cache is not None:
        mask, packed = cache.get(key), cache.get_compact(key)
    if packed is not None and (mask is not None or not dense):
        return packed, mask
    if packed is not None:
        mask = expand(packed)
    elif isinstance(target, Structure) and not dense:
        # straight to compact form: a big box is rasterised in blocks of layers, so its
        # dense array (1 GB for a 0.5 mm Body) is never held
        packed = structure_compact_mask(target, g, opts)
    else:
        if isinstance(target, Structure):
            mask = structure_mask(target, g, options=opts)
        else:
            mask = derived_mask(case, target, g, options=opts)
        packed = compact(mask)
    if cache is not None:
        with cache.lock:
            cache.put_compact(key, packed, compact_budget_bytes(g))
            if mask is not None:
                cache.put(key, mask)
    return packed, mask


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


def case_dvh(case: CaseData, name, *, dose: DoseGrid | None = None, prescription_gy: float | None = None,
             mode: str = "auto", bin_gy: float = DEFAULT_BIN_GY, options: MaskOptions | None = None,
             **mask_options) -> DVH:
    """DVH of one structure or derived expression.

    Parameters
    ----------
    case : CaseData
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
    grid = _dose_grid(case, dose)
    target = _resolve(case, name)
    if prescription_gy is None and grid.quantity == "dose":
        prescription_gy = case.prescription_gy
    why = _no_volume(target)
    packed = None
    if not why:
        packed = case_compact_mask(case, target, grid=grid, options=MaskOptions.from_kwargs(options, **mask_options))
        if packed.mask.volume_cc <= 0.0 and packed.mask.outside_cc <= 0.0:
            why = "its closed contours enclose no area (collinear or repeated points)"
    if why:
        # one empty ROI must never cost the other structures their DVHs
        warnings.warn(f"structure {_display_name(target)!r} has no volume ({why}): its DVH metrics "
                      "are NaN", DVHWarning, stacklevel=2)
        return DVH.empty(_display_name(target), why, prescription_gy=prescription_gy,
                         quantity=grid.quantity,
                         settings={"structure": _display_name(target), "dose_file": grid.source_path,
                                   "dose_quantity": grid.quantity})
    assert packed is not None  # set whenever the structure has volume (why == "")
    mask = packed.mask  # the mask's metadata (its fraction array is empty)
    if grid.dose_type == "EFFECTIVE" and grid.model and mask.index_offset is None:
        # On a sub-voxel lattice, convert the interpolated physical dose rather than
        # interpolate the (convex) EQD2/BED grid, which would overestimate between voxels.
        # local: only a converted grid comes here, and radiobiology made it (a physical
        # DVH run does not import it)
        from .radiobiology import converted_samples

        def sampler(g):
            return _subvoxel_samples(case, packed, g)

        chunks = SamplePiece(*converted_samples(mask, grid, case.dose, sampler=sampler))
    elif mask.index_offset is None and grid.dose_type == "PHYSICAL":
        # a sub-voxel lattice: one piece of samples, kept for the EQD2/BED DVHs that
        # convert them
        chunks = SamplePiece(*_subvoxel_samples(case, packed, grid))
    else:
        # On the dose grid's own lattice (converted grids too: their voxels are read
        # directly) the samples come in pieces of whole planes: a Body of 100 M voxels
        # never holds its 1.6 GB of samples at once.
        _, chunks = compact_sample_chunks(packed, grid, reduce_above=EXACT_LIMIT)
    cache: MaskCache | None = getattr(case, "mask_cache", None)
    if cache is not None:
        chunks.sort_hint = _SortHint(cache, packed)
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
    minmax, how = _extremes(case, target, grid, mask, chunks)
    dvh = DVH.from_sample_chunks(chunks, name=_display_name(target), outside_cc=mask.outside_cc,
                                 prescription_gy=prescription_gy, quantity=grid.quantity,
                                 settings=settings, mode=mode, bin_gy=bin_gy, minmax_gy=minmax,
                                 minmax_source=how)
    if dvh.coverage_warning:
        # the CLI prints this as a note; scripts and notebooks get it as a warning
        warnings.warn(dvh.coverage_warning, CoverageWarning, stacklevel=3)
    return dvh


class _SortHint:
    """The exact-mode DVH's sort order of a compact mask's samples, kept in the case's
    mask cache for the next DVH on the same mask (:meth:`MaskCache.keep_sort_order`)."""

    def __init__(self, cache: MaskCache, packed) -> None:
        self._cache, self._packed = cache, packed

    def order(self):
        return self._cache.sort_order(self._packed)

    def keep(self, order) -> None:
        self._cache.keep_sort_order(self._packed, order)


def _subvoxel_samples(case: CaseData, packed, grid: DoseGrid):
    """The samples of a compact mask on a sub-voxel lattice (one piece), shared through
    the case's mask cache when ``grid`` is physical (:meth:`MaskCache.samples`)."""
    def compute():
        return next(iter(compact_sample_chunks(packed, grid)[1]()))

    cache: MaskCache | None = getattr(case, "mask_cache", None)
    if cache is None or grid.dose_type != "PHYSICAL":
        return compute()
    return cache.samples(packed, grid, compute)


def _extremes(case, target, grid, mask, chunks):
    """(Min, Max) and how they were found (see :mod:`dosecalc.masks.extremes`).

    A plain ROI in physical dose with right-prism geometry: the extremes of the
    trilinear dose over the exact prism (corners, edges split at grid lines, grid nodes
    inside, at slab ends and dose planes).  Otherwise (derived structures, shape
    interpolation, converted dose): cell samples covering at least
    MINMAX_FRACTION_TOL of their cell, widened by the prism corners where known."""
    cell_cc = float(np.prod(mask.spacing_mm)) / 1000.0
    if isinstance(target, Structure) and grid.quantity == "dose" and mask.prism is not None:
        prep = mask.prism
        lo, hi, n = prism_extremes(prep.x, prep.y, prep.poly_start, prep.plane_start, prep.sign,
                                   prep.lo, prep.hi, mask.corners_mm, grid)
        if n:
            return (lo, hi), "prism geometry: corners, edges at grid lines, grid nodes inside"
    # fused with the statistics' pass on the grid's own lattice (SampleChunks.extremes)
    lo, hi = chunk_extremes(chunks, MINMAX_FRACTION_TOL * cell_cc)
    how = "cell samples covering >= 1e-6 of a cell"
    if grid.quantity == "dose" and len(mask.corners_mm):
        c = grid.sample(mask.corners_mm)
        c = c[np.isfinite(c)]
        if c.size and np.isfinite(lo):
            lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
            how += " and prism corners"
    return (lo, hi), how


def case_dvhs(case: CaseData, names: "Iterable[str | int] | str | int | None" = None, **options) -> dict[str, DVH]:
    """DVHs of several structures, keyed by structure name (or expression).

    Parameters
    ----------
    case : CaseData
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
    # a name shared by several ROIs of the structure set (asked for or not) is no key that
    # case.dvh() could resolve: such ROIs are keyed "Name (ROI n)"
    counts: dict[str, int] = {}
    for st in case.structures:
        counts[st.name] = counts.get(st.name, 0) + 1
    dvhs = _dvhs_on_threads(case, targets, options)
    out: dict[str, DVH] = {}
    for t, dvh in zip(targets, dvhs):
        key = dvh.name
        if isinstance(t, Structure) and counts.get(t.name, 0) > 1:
            key = roi_key(t)
        out[key] = dvh
    return out


#: A structure whose box on the dose grid holds more voxels than this is done alone (its
#: kernels split over threads by planes); smaller ones (every sub-voxel box is at most
#: :data:`dosecalc.masks.AUTO_MAX_CELLS` cells) run side by side, so that two large masks
#: never live at once (the 0.5 mm Body alone is 1 GB).
SIDE_BY_SIDE_MAX_VOXELS = 4_000_000


def _box_voxels(structure: Structure, grid: DoseGrid) -> float:
    """Voxels of the dose grid in the bounding box of a structure's contours."""
    pts = [p for plane in structure.planes for p in plane.polygons if len(p)]
    if not pts:
        return 0.0
    xy = np.concatenate(pts)
    z = structure.z_planes_mm
    extent = (float(np.ptp(xy[:, 0])), float(np.ptp(xy[:, 1])), float(np.ptp(z)))
    cells = 1.0
    for e, h in zip(extent, grid.spacing_mm):
        cells *= e / h + 3.0  # + end caps and partial voxels at both ends
    return cells


def _dvhs_on_threads(case: CaseData, targets: list, options: dict) -> list[DVH]:
    """``[case_dvh(case, t, **options) for t in targets]``, small structures side by side
    on ``worker_count()`` threads (their kernels release the GIL).

    Every DVH is computed by itself, as it would be alone, so the results do not depend
    on the thread count; an error is raised for the first failing target in order.
    """
    threads = worker_count()
    if threads <= 1 or len(targets) <= 1:
        return [case_dvh(case, t, **options) for t in targets]
    try:
        grid = _dose_grid(case, options.get("dose"))
    except ParameterError:
        return [case_dvh(case, t, **options) for t in targets]
    small = [isinstance(t, Structure) and t.has_volume and _box_voxels(t, grid) <= SIDE_BY_SIDE_MAX_VOXELS
             for t in targets]
    if sum(small) <= 1:
        return [case_dvh(case, t, **options) for t in targets]
    def one(t):
        # A new thread starts at NUMBA_NUM_THREADS; setting it when it is already that
        # would start numba's threading layer (~40 ms) that no kernel of ours uses.
        if threads != numba.config.NUMBA_NUM_THREADS:
            numba.set_num_threads(threads)
        return case_dvh(case, t, **options)

    results: list = [None] * len(targets)
    errors: list[Exception | None] = [None] * len(targets)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dosecalc-dvh") as pool:
        futures = {i: pool.submit(one, t) for i, t in enumerate(targets) if small[i]}
        # the large ones one after the other on this thread meanwhile
        for i, t in enumerate(targets):
            if not small[i]:
                try:
                    results[i] = case_dvh(case, t, **options)
                except Exception as exc:  # raised below, in the order of the targets
                    errors[i] = exc
        for i, f in futures.items():
            try:
                results[i] = f.result()
            except Exception as exc:
                errors[i] = exc
    for failure in errors:
        if failure is not None:
            raise failure
    return results
