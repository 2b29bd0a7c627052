"""Physical plan sums and dose differences of RTDOSE grids in one patient frame.

Next to :func:`dosecalc.sum_courses` (EQD2/BED summation of courses with different
fractionations) this module adds physical doses, which is right only when the plans are
delivered together or their fractionations are the same (a boost and its base plan, the
beams of one plan exported as separate grids, a re-plan mid-course).

Summation rules (:func:`sum_plans`)
-----------------------------------
1. Every grid is PHYSICAL dose.  An EFFECTIVE (BED/EQD2) or ERROR grid is refused: its
   numbers do not add as physical dose (use :func:`dosecalc.sum_courses`).
2. A grid whose DoseSummationType is FRACTION holds dose per fraction: it must be given
   as ``(grid, fractions)`` and is multiplied by ``fractions``.  Giving a fraction count
   with any other summation type is refused (it would multiply a course total).
3. All grids and the reference share one FrameOfReferenceUID; different UIDs raise
   :class:`~dosecalc.errors.FrameOfReferenceError` (no registration is done).  A grid
   without the UID is assumed to share the frame, with a :class:`PlanSumWarning`.
4. The result has the geometry of ``reference`` (default: the first grid).  A grid of the
   same geometry (within 1e-6 mm) is added voxel by voxel; any other grid is resampled
   trilinearly onto the reference lattice (in a grid's outer half voxel the edge value).
5. Reference voxels outside a grid's volume raise a ParameterError naming the plan and
   the volume (``outside="error"``, default), or count that plan as 0 Gy there with a
   warning (``outside="zero"``).
6. The result is PHYSICAL, DoseSummationType MULTI_PLAN, and its ``description`` names
   every plan, its file, its factor and whether it was resampled.

:func:`dose_difference` applies the same rules to two plans and returns ``b - a`` (Gy)
on the reference geometry (default: ``a``'s grid).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal, Sequence, Union

import numpy as np

from .errors import FrameOfReferenceError, ParameterError
from .kernels.interp import trilinear_lattice
from .model import DoseGrid

#: One plan given to :func:`sum_plans`: a grid, a loaded case, or ``(grid or case, fractions)``.
PlanLike = Union[DoseGrid, Any, tuple]


class PlanSumWarning(UserWarning):
    """A plan sum relied on an assumption (missing frame UID, uncovered voxels)."""


@dataclass(frozen=True)
class _Term:
    grid: DoseGrid
    factor: float
    label: str


def _grid_of(obj: Any, what: str) -> DoseGrid:
    if isinstance(obj, DoseGrid):
        return obj
    dose = getattr(obj, "dose", None)  # a Case
    if isinstance(dose, DoseGrid):
        return dose
    if hasattr(obj, "dose"):
        raise ParameterError(f"{what}: the case has no dose grid (no RTDOSE loaded)")
    raise ParameterError(f"{what}: expected a DoseGrid, a Case or (DoseGrid, fractions), got "
                         f"{type(obj).__name__}")


def _term(item: PlanLike, what: str) -> _Term:
    fractions = None
    obj = item
    if isinstance(item, tuple):
        if len(item) != 2:
            raise ParameterError(f"{what}: expected (DoseGrid, fractions), got a tuple of {len(item)}")
        obj, fractions = item
    grid = _grid_of(obj, what)
    label = grid.source_path or what
    if grid.dose_type != "PHYSICAL":
        raise ParameterError(f"{what} ({label}) is DoseType {grid.dose_type}, not PHYSICAL: a physical "
                             "plan sum adds physical doses only (sum EQD2/BED with dosecalc.sum_courses)")
    if grid.summation_type == "FRACTION":
        if fractions is None:
            plan = getattr(obj, "plan", None)
            fractions = getattr(plan, "fractions", None)
        if fractions is None:
            raise ParameterError(f"{what} ({label}) is DoseSummationType FRACTION (dose per fraction): "
                                 "give it as (grid, fractions) so it can be multiplied to the course total")
    elif fractions is not None:
        raise ParameterError(f"{what} ({label}) is DoseSummationType {grid.summation_type}, already a "
                             f"total: do not give a fraction count ({fractions!r}) for it")
    factor = 1.0
    if fractions is not None:
        if isinstance(fractions, bool) or not isinstance(fractions, (int, np.integer)) or fractions < 1:
            raise ParameterError(f"{what}: fractions must be an integer >= 1, got {fractions!r}")
        factor = float(fractions)
    return _Term(grid, factor, label)


def _check_frames(terms: Sequence[_Term], ref: DoseGrid) -> None:
    ref_for = ref.frame_of_reference_uid
    for i, t in enumerate(terms, start=1):
        uid = t.grid.frame_of_reference_uid
        if uid and ref_for and uid != ref_for:
            raise FrameOfReferenceError(
                f"plan {i} FrameOfReferenceUID {uid} differs from the reference's {ref_for}; plans "
                "must be registered first (no registration here)", path=t.grid.source_path)
        if not (uid and ref_for):
            warnings.warn(f"plan {i} or the reference has no FrameOfReferenceUID: the grids are "
                          "assumed to share patient coordinates", PlanSumWarning, stacklevel=3)


def _on_reference(t: _Term, i: int, ref: DoseGrid, outside: str) -> tuple[np.ndarray, bool, float]:
    """The plan's dose (times its factor) on the reference lattice, whether it was
    resampled, and the uncovered volume in cc."""
    g = t.grid
    if g.same_geometry(ref, tol_mm=1e-6):
        return g.values_gy * t.factor, False, 0.0
    out = np.empty(ref.shape, dtype=np.float64)
    trilinear_lattice(g.values_gy, np.asarray(g.origin_mm, dtype=np.float64),
                      np.asarray(g.spacing_mm, dtype=np.float64),
                      np.asarray(ref.origin_mm, dtype=np.float64),
                      np.asarray(ref.spacing_mm, dtype=np.float64), np.nan, out)
    miss = np.isnan(out)
    n_miss = int(miss.sum())
    cc = n_miss * ref.voxel_volume_cc
    if n_miss:
        if outside == "error":
            raise ParameterError(f"plan {i}'s dose grid does not cover {n_miss} voxel(s) ({cc:.4g} cc) of "
                                 "the reference grid; pass outside='zero' to count it as 0 Gy there",
                                 path=g.source_path)
        warnings.warn(f"plan {i} does not cover {n_miss} reference voxel(s) ({cc:.4g} cc): counted as "
                      "0 Gy there (outside='zero')", PlanSumWarning, stacklevel=3)
        out[miss] = 0.0
    return out * t.factor, True, cc


def _prepare(plans: Sequence[PlanLike], reference: Any, outside: str) -> tuple[list[_Term], DoseGrid]:
    if outside not in ("error", "zero"):
        raise ParameterError(f"outside must be 'error' or 'zero', got {outside!r}")
    if isinstance(plans, (DoseGrid, str)) or not isinstance(plans, Sequence):
        raise ParameterError("plans must be a list of DoseGrid, Case or (DoseGrid, fractions)")
    if not plans:
        raise ParameterError("plans is empty; give at least one dose grid")
    terms = [_term(p, f"plan {i}") for i, p in enumerate(plans, start=1)]
    ref = terms[0].grid if reference is None else _grid_of(reference, "reference")
    _check_frames(terms, ref)
    return terms, ref


def sum_plans(plans: Sequence[PlanLike], reference: Any = None, *,
              outside: Literal["error", "zero"] = "error") -> DoseGrid:
    """Physical sum of several plans' dose grids (rules in the module docstring).

    Parameters
    ----------
    plans : sequence of DoseGrid, Case, or (DoseGrid | Case, fractions)
        The plans to add.  A FRACTION (per-fraction) grid needs its fraction count; a
        case's plan supplies it when the tuple is not given.
    reference : DoseGrid or Case, optional
        Geometry of the result (its values are unused).  Default: the first plan's grid.
    outside : {"error", "zero"}
        What to do with reference voxels outside a plan's grid volume.

    Returns
    -------
    DoseGrid
        Physical dose in Gy, DoseSummationType ``MULTI_PLAN``, on the reference geometry.

    Raises
    ------
    ParameterError
        A non-physical grid, a FRACTION grid without its fraction count, uncovered
        reference voxels with ``outside="error"``.
    FrameOfReferenceError
        Plans in different frames of reference.

    Examples
    --------
    >>> import numpy as np, dosecalc
    >>> a = dosecalc.DoseGrid(np.full((2, 2, 2), 30.0), (0, 0, 0), (2, 2, 2), frame_of_reference_uid="1.2")
    >>> b = dosecalc.DoseGrid(np.full((2, 2, 2), 12.0), (0, 0, 0), (2, 2, 2), frame_of_reference_uid="1.2")
    >>> float(dosecalc.sum_plans([a, b]).values_gy.max())
    42.0
    """
    terms, ref = _prepare(plans, reference, outside)
    total = np.zeros(ref.shape, dtype=np.float64)
    parts = []
    for i, t in enumerate(terms, start=1):
        values, resampled, cc = _on_reference(t, i, ref, outside)
        total += values
        parts.append(f"plan {i} {t.label}" + (f" x {t.factor:g} fx" if t.factor != 1.0 else "")
                     + (" (resampled trilinearly)" if resampled else "")
                     + (f" ({cc:.4g} cc outside counted as 0 Gy)" if cc else ""))
    desc = f"physical sum of {len(terms)} plans: " + "; ".join(parts)
    return ref.with_values(total, dose_type="PHYSICAL", summation_type="MULTI_PLAN", quantity="dose",
                           model={}, description=desc, sop_instance_uid=None)


def dose_difference(a: PlanLike, b: PlanLike, reference: Any = None, *,
                    outside: Literal["error", "zero"] = "error") -> DoseGrid:
    """Voxel-wise dose difference ``b - a`` (Gy) between two plans in one frame.

    Parameters
    ----------
    a, b : DoseGrid, Case, or (DoseGrid | Case, fractions)
        The plans (same rules as :func:`sum_plans`); ``a`` is the reference plan.
    reference : DoseGrid or Case, optional
        Geometry of the result; default ``a``'s grid.
    outside : {"error", "zero"}
        As in :func:`sum_plans`.

    Returns
    -------
    DoseGrid
        PHYSICAL grid of ``b - a`` in Gy (negative where ``b`` is colder); its
        ``description`` says which plan was subtracted from which.

    Examples
    --------
    >>> import numpy as np, dosecalc
    >>> a = dosecalc.DoseGrid(np.full((2, 2, 2), 30.0), (0, 0, 0), (2, 2, 2), frame_of_reference_uid="1.2")
    >>> b = dosecalc.DoseGrid(np.full((2, 2, 2), 28.5), (0, 0, 0), (2, 2, 2), frame_of_reference_uid="1.2")
    >>> float(dosecalc.dose_difference(a, b).values_gy.min())
    -1.5
    """
    terms, ref = _prepare([a, b], reference, outside)
    va, ra, _ = _on_reference(terms[0], 1, ref, outside)
    vb, rb, _ = _on_reference(terms[1], 2, ref, outside)
    desc = (f"dose difference b - a: b = {terms[1].label}{' (resampled)' if rb else ''}, "
            f"a = {terms[0].label}{' (resampled)' if ra else ''}")
    return ref.with_values(vb - va, dose_type="PHYSICAL", summation_type="MULTI_PLAN", quantity="dose",
                           model={}, description=desc, sop_instance_uid=None)
