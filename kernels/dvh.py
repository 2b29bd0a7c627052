"""DVH kernels: exact statistics of (dose, volume) samples, a weighted histogram, a
stable sort.

Sums and histogram bins are accumulated serially in sample order, so they are
bit-identical for any thread count and to a plain serial pass: a DVH metric that sits
exactly on a step of the curve (a dose grid's discrete values, the Nelms 2015 gradients)
can move to the next step on a last-bit change of a cumulative volume (measured: cutting
the histogram into blocks summed afterwards moved a Nelms D95 by 2 %), so the order of
these additions is part of the result.  The passes are memory-light and fast (about
2 ns per sample); splitting them into an order-free part on threads and a serial part
read the samples twice and was slower as soon as a core was busy.  What is free of order
runs on a few threads: the two halves of a sort (:func:`stable_argsort`).

The loops release the GIL (``nogil=True``); threads over serial kernels cost nothing to
compile, where each ``parallel=True`` kernel adds one to two seconds to a cold start.
Sums use Neumaier's compensated summation, so the total volume and the mean of millions
of samples keep full float64 accuracy.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .threads import run_ranges, worker_count


# Slots of the running state of :func:`stats_accumulate`.
ACC_MIN, ACC_MAX, ACC_SV, ACC_CV, ACC_SDV, ACC_CDV, ACC_USED, ACC_BAD_DOSE, ACC_BAD_VOLUME = range(9)


def new_stats_state():
    """A fresh running state for :func:`stats_accumulate` (float64 (9,))."""
    acc = np.zeros(9)
    acc[ACC_MIN] = np.inf
    acc[ACC_MAX] = -np.inf
    return acc


@njit(cache=True, nogil=True)
def stats_accumulate(dose, volume, acc):
    """Add weighted samples to a running state (``acc``, float64 (9,), from
    :func:`new_stats_state`), ignoring samples of zero volume.

    The state carries the compensated sums with their compensation terms, so feeding the
    samples in consecutive pieces gives the same bits as one call on all of them.
    """
    dmin = acc[0]
    dmax = acc[1]
    sv = acc[2]
    cv = acc[3]
    sdv = acc[4]
    cdv = acc[5]
    n_used = 0
    n_bad_dose = 0
    n_bad_volume = 0
    for i in range(dose.shape[0]):
        v = volume[i]
        d = dose[i]
        # one well-predicted test for the common case, the rare ones sorted out after:
        # about twice as fast as testing volume and dose in turn
        if not (v > 0.0 and v < np.inf and abs(d) < np.inf):
            if not (v >= 0.0) or v == np.inf:
                n_bad_volume += 1
            elif v > 0.0:
                n_bad_dose += 1
            continue  # zero volume: not a sample
        n_used += 1
        # selects rather than branches; on ties the first value stays, as with ``if``
        dmin = d if d < dmin else dmin
        dmax = d if d > dmax else dmax
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
    acc[0] = dmin
    acc[1] = dmax
    acc[2] = sv
    acc[3] = cv
    acc[4] = sdv
    acc[5] = cdv
    acc[6] += n_used
    acc[7] += n_bad_dose
    acc[8] += n_bad_volume


@njit(cache=True, nogil=True)
def extremes_above(dose, volume, threshold, ext):
    """Running Min and Max (``ext[0]``, ``ext[1]``; float64 (2,), start them at +inf and
    -inf) of the samples whose volume is at least ``threshold`` (cc) and whose dose is
    finite, in Gy.

    The Min/Max of a DVH ignores cells that only rounding residues reach (``threshold``
    is a small part of a cell); a sampled dose is never NaN where the DVH's statistics
    accept it, and a non-finite one never becomes a Min or a Max.  Min and Max of
    finite values do not depend on the order of the samples, so pieces may come in any
    order and split anywhere.
    """
    lo = ext[0]
    hi = ext[1]
    for i in range(dose.shape[0]):
        d = dose[i]
        if volume[i] >= threshold and abs(d) < np.inf:
            lo = d if d < lo else lo
            hi = d if d > hi else hi
    ext[0] = lo
    ext[1] = hi


def stats_result(acc):
    """:func:`sample_stats`'s tuple from a running state."""
    n_used = int(acc[ACC_USED])
    dmin, dmax = (float(acc[ACC_MIN]), float(acc[ACC_MAX])) if n_used else (np.nan, np.nan)
    return (dmin, dmax, float(acc[ACC_SV] + acc[ACC_CV]), float(acc[ACC_SDV] + acc[ACC_CDV]), n_used,
            int(acc[ACC_BAD_DOSE]), int(acc[ACC_BAD_VOLUME]))


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
    acc = new_stats_state()
    stats_accumulate(np.ascontiguousarray(dose, dtype=np.float64),
                     np.ascontiguousarray(volume, dtype=np.float64), acc)
    return stats_result(acc)


@njit(cache=True, nogil=True)
def weighted_histogram(dose, volume, lo, width, hist):
    """Add each sample's volume to its dose bin, in sample order.

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


# Below this many samples one thread sorts them all (the merge would not pay).
SPLIT_SORT_MIN = 32_768


@njit(cache=True, nogil=True)
def merge_sorted_runs(keys, order, mid, out):
    """Merge ``order[:mid]`` and ``order[mid:]``, each an index order sorting ``keys``
    ascending with ties in index order, into ``out``: the stable ascending order of all
    of ``keys`` (on ties the first run, whose indices are the smaller, goes first)."""
    n = order.shape[0]
    i = 0
    j = mid
    m = 0
    while i < mid and j < n:
        if keys[order[j]] < keys[order[i]]:
            out[m] = order[j]
            j += 1
        else:
            out[m] = order[i]
            i += 1
        m += 1
    while i < mid:
        out[m] = order[i]
        i += 1
        m += 1
    while j < n:
        out[m] = order[j]
        j += 1
        m += 1


def _argsort_part(keys, order, a, b):
    order[a:b] = np.argsort(keys[a:b], kind="stable")
    order[a:b] += a


def stable_argsort(keys):
    """``np.argsort(keys, kind="stable")`` (the same permutation), with the two halves
    sorted on two threads (numpy releases the GIL while sorting) and merged.

    Parameters
    ----------
    keys : float64 array (N,), no NaN
    """
    n = keys.shape[0]
    if n < SPLIT_SORT_MIN or worker_count() <= 1:
        return np.argsort(keys, kind="stable")
    mid = n // 2
    order = np.empty(n, dtype=np.int64)
    run_ranges(_argsort_part, [(0, mid), (mid, n)], keys, order)
    out = np.empty(n, dtype=np.int64)
    merge_sorted_runs(keys, order, mid, out)
    return out
