"""Plan-quality indices: Paddick conformity index, gradient index, homogeneity index.

Definitions (Rx = prescription dose, Gy):

* Paddick conformity index (Paddick 2000, J Neurosurg 93 Suppl 3):
  ``CI = TV_PIV^2 / (TV x PIV)``; TV = target volume, PIV = prescription isodose volume
  (volume receiving >= Rx), TV_PIV = target volume receiving >= Rx.  1 is ideal.
* Gradient index (Paddick & Lippitz 2006, J Neurosurg 105 Suppl):
  ``GI = PIV_50% / PIV_100%``, the volume receiving >= Rx/2 over the volume receiving
  >= Rx.  Lower is a steeper fall-off.
* Homogeneity index (ICRU Report 83, 2010): ``HI = (D2% - D98%) / D50%`` of the target.
  0 is a perfectly uniform target dose.

The isodose volumes (PIV, PIV_50%) come from the DVH of a *region*: by default the whole
dose grid, each voxel one sample at its own dose (the grid's own voxel-uniform
reading), or a named structure such as ``"Body"`` (its mask DVH).  A grid that does not
reach the Rx/2 isodose's full extent (cropped dose) understates PIV_50%; a region that
stops short of the isodose (a Body smaller than the dose) does the same - both are the
user's choice of region and are recorded in the result.  TV and TV_PIV come from the
target's mask DVH (sub-voxel sampling), so the two volumes may be sampled differently;
CI can then exceed 1 by the sampling difference (a fraction of a voxel's volume per
surface voxel), which is reported as is, never clipped.  With several targets treated
to the same Rx in one plan the PIV holds all of them: evaluate the union of the targets
(``"PTV1 | PTV2"``), or pass a region that isolates one target.  Volumes outside the dose grid
are excluded (the target DVH's coverage warning is passed on).
"""

from __future__ import annotations

import math

import numpy as np

from .analysis import case_dvh
from .dvh import DVH
from .errors import ParameterError
from .mask_options import MaskOptions
from .masks.sampling import CHUNK_SAMPLES
from .model import CaseData, DoseGrid


def grid_dvh(dose: DoseGrid, *, name: str = "dose grid") -> DVH:
    """DVH of every voxel of a grid (each voxel one sample of the voxel volume)."""
    values = dose.values_gy.reshape(-1)
    n = values.size
    vol = np.full(min(n, CHUNK_SAMPLES), dose.voxel_volume_cc)

    def chunks():
        # Pieces of whole samples, copied: writable like every other sample array, so
        # the DVH kernels keep one compiled signature (the grid's read-only values
        # compiled a second one of each into every cold start, ~1-2 s); and no array of
        # volumes as large as the grid.  The pieces give the DVH of all samples, bit for
        # bit (DVH.from_sample_chunks).
        for a in range(0, n, CHUNK_SAMPLES):
            b = min(n, a + CHUNK_SAMPLES)
            yield values[a:b].copy(), vol[:b - a]

    return DVH.from_sample_chunks(chunks, name=name, quantity=dose.quantity,
                                  settings={"region": "whole dose grid", "dose_file": dose.source_path})


def _rx(value) -> float:
    if value is None:
        raise ParameterError("prescription_gy is needed for conformity/gradient indices and the case's "
                             "plan has none: pass prescription_gy")
    rx = float(value)
    if not (math.isfinite(rx) and rx > 0):
        raise ParameterError(f"prescription_gy must be a dose > 0 Gy, got {value!r}")
    return rx


def paddick_ci(target: DVH, region: DVH, prescription_gy: float) -> float:
    """Paddick conformity index ``TV_PIV^2 / (TV x PIV)``.

    Parameters
    ----------
    target : DVH
        The target's DVH (TV = its covered volume, cc).
    region : DVH
        DVH of the region whose volume >= Rx is the PIV (the whole grid, or Body).
    prescription_gy : float
        Rx, Gy.

    Returns
    -------
    float
        NaN when nothing receives Rx (PIV = 0): the index is undefined.
    """
    rx = _rx(prescription_gy)
    tv = target.covered_cc
    tv_piv = float(target.volume_at_dose(rx))
    piv = float(region.volume_at_dose(rx))
    if tv <= 0 or piv <= 0:
        return math.nan
    return tv_piv * tv_piv / (tv * piv)


def gradient_index(region: DVH, prescription_gy: float) -> float:
    """Gradient index ``PIV_50% / PIV_100%`` of a region DVH (NaN when PIV_100% = 0)."""
    rx = _rx(prescription_gy)
    piv = float(region.volume_at_dose(rx))
    if piv <= 0:
        return math.nan
    return float(region.volume_at_dose(0.5 * rx)) / piv


def homogeneity_index(target: DVH) -> float:
    """ICRU 83 homogeneity index ``(D2% - D98%) / D50%`` (NaN when D50% is 0)."""
    d2, d98, d50 = (target.metric(s) for s in ("D2%[Gy]", "D98%[Gy]", "D50%[Gy]"))
    if not d50:
        return math.nan
    return (d2 - d98) / d50


def case_indices(case: CaseData, target, *, prescription_gy: float | None = None, dose: DoseGrid | None = None,
                 region: str | None = None, options: MaskOptions | None = None, **mask_options) -> dict:
    """Paddick CI, gradient index and ICRU 83 HI of one target of a case.

    Parameters
    ----------
    case : CaseData
    target : str
        Target structure or derived expression (``"PTV"``, ``"PTV1 | PTV2"``).
    prescription_gy : float, optional
        Rx in Gy; default the plan's prescription.
    dose : DoseGrid, optional
        Default ``case.dose`` (physical dose: the indices are defined on it).
    region : str, optional
        Structure whose volume holds the isodose volumes (``"Body"``); default the whole
        dose grid.
    options : MaskOptions, optional
        Mask options for the target (and region) DVH; keyword arguments
        (``supersample``...) override its fields.

    Returns
    -------
    dict
        ``CI_Paddick``, ``GI``, ``HI_ICRU83`` and the volumes they come from (cc):
        ``TV_cc``, ``TV_PIV_cc``, ``PIV_cc``, ``PIV50_cc``; ``prescription_gy``, ``region``
        and ``coverage_warning`` (of the target, or None).
    """
    rx = _rx(prescription_gy if prescription_gy is not None else case.prescription_gy)
    grid = case.dose if dose is None else dose
    if grid is None:
        raise ParameterError("the case has no dose grid (no RTDOSE loaded); load one or pass dose=")
    opts = MaskOptions.from_kwargs(options, **mask_options)
    tdvh = case_dvh(case, target, dose=grid, prescription_gy=rx, options=opts)
    if region is None:
        rdvh = grid_dvh(grid)
    else:
        rdvh = case_dvh(case, region, dose=grid, prescription_gy=rx, options=opts)
    return {
        "target": tdvh.name,
        "region": rdvh.name,
        "prescription_gy": rx,
        "CI_Paddick": paddick_ci(tdvh, rdvh, rx),
        "GI": gradient_index(rdvh, rx),
        "HI_ICRU83": homogeneity_index(tdvh),
        "TV_cc": tdvh.covered_cc,
        "TV_PIV_cc": float(tdvh.volume_at_dose(rx)),
        "PIV_cc": float(rdvh.volume_at_dose(rx)),
        "PIV50_cc": float(rdvh.volume_at_dose(0.5 * rx)),
        "coverage_warning": tdvh.coverage_warning,
    }
