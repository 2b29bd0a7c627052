"""DVH kernels: one pass over (dose, volume) samples for exact statistics, one weighted
histogram.

Both loops are serial: they are memory bound (a few ns per sample, ~20 ms for 10 M
samples), and a serial loop sums in a fixed order, so the result is bit-identical for
any numba thread count.  Sums use Neumaier's compensated summation so that the total
volume and the mean of millions of samples keep full float64 accuracy.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def sample_stats(dose, volume):
    """Exact statistics of weighted samples, ignoring samples of zero volume.

    Parameters
    ----------
    dose : float64 array (N,)
        Dose of each sample in Gy.
    volume : float64 array (N,)
        Volume of each sample in cc.

    Returns
    -------
    (min_gy, max_gy, sum_volume_cc, sum_dose_x_volume, n_used, n_bad_dose, n_bad_volume)
        Minimum and maximum dose over samples with volume > 0 (NaN if none), the
        compensated sums of volume and dose x volume, the number of samples with volume
        > 0, the number of non-finite doses among them, and the number of volumes that
        are negative or not finite.
    """
    dmin = np.inf
    dmax = -np.inf
    sv = 0.0
    cv = 0.0
    sdv = 0.0
    cdv = 0.0
    n_used = 0
    n_bad_dose = 0
    n_bad_volume = 0
    for i in range(dose.shape[0]):
        v = volume[i]
        if not (v >= 0.0) or v == np.inf:
            n_bad_volume += 1
            continue
        if v == 0.0:
            continue
        d = dose[i]
        if not np.isfinite(d):
            n_bad_dose += 1
            continue
        n_used += 1
        if d < dmin:
            dmin = d
        if d > dmax:
            dmax = d
        # Neumaier: keep the low-order bits lost by each addition.
        t = sv + v
        if abs(sv) >= abs(v):
            cv += (sv - t) + v
        else:
            cv += (v - t) + sv
        sv = t
        w = d * v
        t = sdv + w
        if abs(sdv) >= abs(w):
            cdv += (sdv - t) + w
        else:
            cdv += (w - t) + sdv
        sdv = t
    if n_used == 0:
        dmin = np.nan
        dmax = np.nan
    return dmin, dmax, sv + cv, sdv + cdv, n_used, n_bad_dose, n_bad_volume


@njit(cache=True)
def weighted_histogram(dose, volume, lo, width, hist):
    """Add each sample's volume to its dose bin.

    Bin ``k`` holds doses in ``[lo + k width, lo + (k + 1) width)``; doses below ``lo``
    go to bin 0 and doses at or above the last edge to the last bin (the caller chooses
    ``lo`` = minimum dose and the last edge = maximum dose, so only rounding lands
    there).  Samples of zero volume are skipped.

    Parameters
    ----------
    dose, volume : float64 arrays (N,)
        Dose in Gy and volume in cc of each sample (finite, volume >= 0).
    lo, width : float
        Lower edge of bin 0 and bin width, in Gy (width > 0).
    hist : float64 array (nbins,)
        Receives the summed volume per bin (cc); it is added to, not cleared.
    """
    nb = hist.shape[0]
    inv = 1.0 / width
    for i in range(dose.shape[0]):
        v = volume[i]
        if v == 0.0:
            continue
        k = int(np.floor((dose[i] - lo) * inv))
        if k < 0:
            k = 0
        elif k >= nb:
            k = nb - 1
        hist[k] += v
