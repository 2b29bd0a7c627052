"""Voxel-wise linear-quadratic conversions: BED / EQD2 and their inverse (numba).

Formulas (n fractions, total physical dose D, dose per fraction d = D / n, tissue
alpha/beta ``ab`` in Gy):

* LQ (Fowler 1989; liver-SBRT references section 5 [P]):
  ``BED = D (1 + d / ab)``, ``EQD2 = BED / (1 + 2 / ab) = D (d + ab) / (2 + ab)``.
* LQ-L (Astrahan 2008, the LQ tangent at a transition dose per fraction d_T; references
  section 5 [S]): identical to LQ for ``d <= d_T``; above it
  ``BED / n = d_T (1 + d_T / ab) + (d - d_T) (1 + 2 d_T / ab)``, which is continuous with
  a continuous first derivative at ``d = d_T``.
* Inverse (physical total dose giving a target BED, EQD2 = BED / (1 + 2/ab)): the positive
  root of ``D^2 / (n ab) + D - BED = 0``, written ``D = 2 BED / (1 + sqrt(1 + 4 BED / (n ab)))``
  (no cancellation for small BED); for LQ-L above the transition BED
  ``A = n d_T (1 + d_T / ab)``: ``D = n d_T + (BED - A) / (1 + 2 d_T / ab)``.

One kernel does every variant (few compiled kernels keep the cold start short). It is
element-wise, so its result does not depend on the thread count.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

MODEL_LQ = 0
MODEL_LQ_L = 1
QUANTITY_BED = 0
QUANTITY_EQD2 = 1


@njit(cache=True, parallel=True)
def lq_convert(values, scale, fractions, labels, ab_table, dt_table, model, quantity, inverse, out):
    """Convert physical dose to BED / EQD2 (or back) voxel by voxel, into ``out``.

    Parameters
    ----------
    values : float64 array (N,), C-contiguous
        Forward: physical dose in Gy (total, or per fraction with ``scale = n``).
        Inverse: BED or EQD2 in Gy (total over the course).
    scale : float
        Forward: physical total dose = ``scale * values`` (1 for a PLAN grid, n for a
        FRACTION grid).  Inverse: the output is the physical total divided by ``scale``.
    fractions : float
        Number of fractions n (>= 1, whole; checked by the caller).
    labels : uint8 or uint16 array (N,) or (0,)
        Index into ``ab_table`` / ``dt_table`` for every voxel; an empty array means
        label 0 everywhere.  The caller guarantees every label < len(ab_table).
    ab_table : float64 array (L,)
        alpha/beta in Gy per label (> 0, finite; checked by the caller).
    dt_table : float64 array (L,)
        LQ-L transition dose per fraction d_T in Gy per label (> 0; ignored for LQ).
    model : int
        ``MODEL_LQ`` or ``MODEL_LQ_L``.
    quantity : int
        ``QUANTITY_BED`` or ``QUANTITY_EQD2``.
    inverse : int
        0: physical -> BED/EQD2.  1: BED/EQD2 -> physical.
    out : float64 array (N,)
        Receives the result in Gy; may be ``values`` itself (in place).

    Returns
    -------
    int
        Number of voxels whose input was negative or NaN (their output is NaN).
    """
    n_lab = ab_table.shape[0]
    # Per-label constants: BED = D + c1 D^2 (LQ); above the total transition dose
    # D_T = n d_T: BED = A + B (D - D_T).  f converts BED to the output quantity.
    c1 = np.empty(n_lab)
    f = np.empty(n_lab)
    d_tot = np.empty(n_lab)
    a_bed = np.empty(n_lab)
    b_slope = np.empty(n_lab)
    for k in range(n_lab):
        ab = ab_table[k]
        c1[k] = 1.0 / (fractions * ab)
        f[k] = ab / (ab + 2.0) if quantity == QUANTITY_EQD2 else 1.0
        dt = dt_table[k]
        if model == MODEL_LQ_L:
            d_tot[k] = fractions * dt
            a_bed[k] = fractions * dt * (1.0 + dt / ab)
            b_slope[k] = 1.0 + 2.0 * dt / ab
        else:
            d_tot[k] = np.inf
            a_bed[k] = np.inf
            b_slope[k] = 1.0
    use_labels = labels.shape[0] > 0
    n = values.shape[0]
    bad = 0
    for i in prange(n):
        k = labels[i] if use_labels else 0
        v = values[i]
        if not (v >= 0.0):  # catches NaN as well as negative values
            out[i] = np.nan
            bad += 1
            continue
        if inverse == 0:
            dose = v * scale
            if dose > d_tot[k]:
                bed = a_bed[k] + b_slope[k] * (dose - d_tot[k])
            else:
                bed = dose + c1[k] * dose * dose
            out[i] = bed * f[k]
        else:
            bed = v / f[k]
            if bed > a_bed[k]:
                dose = d_tot[k] + (bed - a_bed[k]) / b_slope[k]
            else:
                dose = 2.0 * bed / (1.0 + math.sqrt(1.0 + 4.0 * c1[k] * bed))
            out[i] = dose / scale
    return bad
