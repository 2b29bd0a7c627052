"""Course summation in EQD2 / BED: each course converted with its own fractionation,
resampled onto one reference grid and added.  Gy; rules in :mod:`dosecalc.radiobiology`.
"""

from __future__ import annotations

import warnings

import numpy as np

from .errors import FrameOfReferenceError, ParameterError
from .kernels.interp import trilinear_lattice
from .model import DoseGrid
from .provenance import DoseProvenance
from .quantity import format_g
from .radiobiology_lq import (
    RadiobiologyWarning, _check_alpha_beta, _check_fractions, _check_transition, convert_grid, parse_model,
    quantity_label)


# --- course summation -----------------------------------------------------------------
def sum_courses(courses, alpha_beta, reference: DoseGrid | None = None, model="lq",
                transition_dose=None, *, quantity="EQD2", outside="error") -> DoseGrid:
    """Sum several courses in EQD2 (or BED), each converted with its own fractionation.

    Parameters
    ----------
    courses : sequence
        Each item is ``(DoseGrid, fractions)`` for a PHYSICAL grid, or an already
        converted EFFECTIVE grid whose ``quantity`` equals the sum's (e.g. from
        ``case.eqd2`` with a structure map), taken as is.
    alpha_beta : float
        a/b in Gy of the conversion of the physical courses.
    reference : DoseGrid, optional
        Geometry of the result (default: the first course's grid).  Its values are unused.
    model, transition_dose : as :func:`convert_grid`.
    quantity : {"EQD2", "BED"}
    outside : {"error", "zero"}
        Reference voxels outside a course's grid volume: ``"error"`` (default) raises a
        ParameterError naming the course and the uncovered volume; ``"zero"`` counts that
        course as 0 Gy there and warns with the volume.

    Returns
    -------
    DoseGrid
        EFFECTIVE, summation type MULTI_PLAN, on the reference geometry.  Each course is
        converted on its own grid, then resampled trilinearly (``trilinear_lattice``; in a
        grid's outer half voxel the edge value) onto the reference lattice and added.

    Raises
    ------
    FrameOfReferenceError
        Courses (or the reference) in different frames of reference: no registration is
        done.  A missing FrameOfReferenceUID is warned about, not assumed equal silently.
    """
    quantity = str(quantity).upper()
    if quantity not in ("EQD2", "BED"):
        raise ParameterError(f"quantity must be 'EQD2' or 'BED', got {quantity!r}")
    if outside not in ("error", "zero"):
        raise ParameterError(f"outside must be 'error' or 'zero', got {outside!r}")
    ab = _check_alpha_beta(alpha_beta)
    model_name = parse_model(model)
    dt = _check_transition(model_name, transition_dose)
    label = quantity_label(quantity, ab)
    courses = list(courses)
    if not courses:
        raise ParameterError("courses is empty; give at least one (DoseGrid, fractions)")
    converted: list[tuple[DoseGrid, int | None]] = []
    for i, c in enumerate(courses, start=1):
        if isinstance(c, DoseGrid):
            if c.dose_type != "EFFECTIVE":
                raise ParameterError(f"course {i}: a physical grid needs its fractions: give "
                                     "(DoseGrid, fractions)")
            if c.quantity not in (label, quantity_label(quantity, "map")):
                raise ParameterError(f"course {i} is {c.quantity!r}; the sum is {label!r}: "
                                     "convert every course to the same quantity")
            converted.append((c, None))
            continue
        try:
            g, n = c
        except (TypeError, ValueError):
            raise ParameterError(f"course {i} must be (DoseGrid, fractions) or a converted DoseGrid, "
                                 f"got {type(c).__name__}") from None
        if not isinstance(g, DoseGrid):
            raise ParameterError(f"course {i}: expected a DoseGrid, got {type(g).__name__}")
        n = _check_fractions(n, f"fractions of course {i}")
        converted.append((convert_grid(g, ab, n, model_name, dt, quantity=quantity), n))

    if any(g.quantity == quantity_label(quantity, "map") for g, _ in converted):
        label = quantity_label(quantity, "map")
    ref = converted[0][0] if reference is None else reference
    if not isinstance(ref, DoseGrid):
        raise ParameterError(f"reference must be a DoseGrid, got {type(ref).__name__}")
    ref_for = ref.frame_of_reference_uid
    for i, (g, _) in enumerate(converted, start=1):
        if g.frame_of_reference_uid and ref_for and g.frame_of_reference_uid != ref_for:
            raise FrameOfReferenceError(
                f"course {i} FrameOfReferenceUID {g.frame_of_reference_uid} differs from the "
                f"reference's {ref_for}; courses must be registered first (no registration here)",
                path=g.source_path)
        if not (g.frame_of_reference_uid and ref_for):
            warnings.warn(f"course {i} or the reference has no FrameOfReferenceUID: the grids are "
                          "assumed to share patient coordinates", RadiobiologyWarning, stacklevel=2)

    total = np.zeros(ref.shape, dtype=np.float64)
    tmp = np.empty(ref.shape, dtype=np.float64)
    records, notes = [], []
    ro = np.asarray(ref.origin_mm, dtype=np.float64)
    rs = np.asarray(ref.spacing_mm, dtype=np.float64)
    for i, (g, n) in enumerate(converted, start=1):
        rec = {"fractions": n, "source_path": g.source_path, "sop_instance_uid": g.sop_instance_uid,
               "source_summation_type": g.model.get("source_summation_type", g.summation_type),
               "quantity": g.quantity, "resampled": False, "outside_voxels": 0}
        if g.same_geometry(ref, tol_mm=1e-6):
            total += g.values_gy
        else:
            rec["resampled"] = True
            trilinear_lattice(g.values_gy, np.asarray(g.origin_mm, dtype=np.float64),
                              np.asarray(g.spacing_mm, dtype=np.float64), ro, rs, np.nan, tmp)
            miss = np.isnan(tmp)
            n_miss = int(miss.sum())
            if n_miss:
                cc = n_miss * ref.voxel_volume_cc
                if outside == "error":
                    raise ParameterError(
                        f"course {i}'s dose grid does not cover {n_miss} voxel(s) ({cc:.4g} cc) of "
                        "the reference grid; pass outside='zero' to count it as 0 Gy there",
                        path=g.source_path)
                warnings.warn(f"course {i} does not cover {n_miss} reference voxel(s) "
                              f"({cc:.4g} cc): counted as 0 Gy there (outside='zero')",
                              RadiobiologyWarning, stacklevel=2)
                tmp[miss] = 0.0
                rec["outside_voxels"] = n_miss
                notes.append(f"course {i}: {cc:.4g} cc outside its grid counted as 0 Gy")
            total += tmp
        records.append(rec)
    total.setflags(write=False)
    model_info = DoseProvenance(model=model_name, quantity=label, alpha_beta=ab, fractions=None,
                                transition_dose_gy=dt, source_summation_type="MULTI_PLAN",
                                courses=records, outside=outside)
    dt_text = "" if dt is None else f", d_T={format_g(dt)} Gy/fx"
    desc = (f"sum of {len(records)} courses in {quantity} ({model_name}{dt_text}, a/b={format_g(ab)} Gy), "
            "each converted with its own fractions ("
            + ", ".join("pre-converted" if r["fractions"] is None else f"{r['fractions']} fx" for r in records)
            + ") and resampled trilinearly onto the reference grid")
    if notes:
        desc += "; " + "; ".join(notes)
    return ref.with_values(total, dose_type="EFFECTIVE", summation_type="MULTI_PLAN", quantity=label,
                           model=model_info, description=desc,
                           frame_of_reference_uid=ref_for)
