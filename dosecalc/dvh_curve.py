"""The piecewise-linear curve ``D(v)`` of a DVH: built from weighted dose samples (exact
or binned mode) and read back at volumes and doses.

The definitions are those of :mod:`dosecalc.dvh` (its module docstring); this module is
the arithmetic behind :meth:`DVH.from_sample_chunks <dosecalc.dvh.DVH.from_sample_chunks>`,
:meth:`DVH.dose_at_volume <dosecalc.dvh.DVH.dose_at_volume>` and
:meth:`DVH.volume_at_dose <dosecalc.dvh.DVH.volume_at_dose>`.  Doses in Gy (or the DVH's
converted quantity), volumes in cc.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ParameterError
from .kernels.dvh import new_stats_state, stable_argsort, stats_accumulate, stats_result, weighted_histogram

#: Above this many samples ``mode="auto"`` histograms instead of sorting: a sort is
#: O(N log N) and dominated the DVHs of large organs, the histogram is O(N), and with
#: :data:`MIN_BINS` bins its curve differs from the sorted one by far less than the
#: dose grid resolves (<= range / 65536, 0.0008 Gy over a 50 Gy range).
EXACT_LIMIT = 200_000
#: The binned mode uses at least this many bins across [Min, Max] (finer than bin_gy
#: when the dose range is small, so low-dose structures keep their relative precision).
MIN_BINS = 65_536
#: Default (maximum) bin width of the binned mode, Gy.
DEFAULT_BIN_GY = 0.01
#: Outside volumes below this (cc) are rounding noise of the geometry, not a coverage gap.
OUTSIDE_TOL_CC = 1e-6


def read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


#: At most this many runs of tied doses are put right by :func:`stable_descending` (a
#: Python loop each) before it leaves the whole order to a sort.
MAX_TIE_RUNS = 1000


def stable_descending(dose: np.ndarray, order: np.ndarray):
    """``(stable_argsort(-dose), dose[that order])`` from a candidate ``order`` (the
    exact-mode sort of another dose on the same samples), or None when the candidate
    does not sort ``dose`` descending.

    The stable sort's permutation is the unique one that puts the doses in descending
    order with tied doses in index order.  A candidate that gives descending doses
    differs from it only inside runs of equal doses: where the other dose told two
    samples apart by a last bit that this one merges (EQD2 of two doses one ulp apart).
    Sorting the indices of each such run gives the permutation itself, the same bits.
    Linear in the samples plus the sort of those runs, against a sort's ``N log N``;
    None (sort it all) when more than :data:`MAX_TIE_RUNS` runs or half of the samples
    need it.  ``order`` must be a permutation of ``range(len(dose))``; ``dose`` finite.
    """
    if order.shape != dose.shape:
        return None
    x = dose[order]
    a, b = x[:-1], x[1:]
    if not np.all(a >= b):  # (a NaN fails too)
        return None
    wrong = np.flatnonzero((a == b) & (order[:-1] > order[1:]))
    if not wrong.size:
        return order, x
    starts = np.concatenate(([0], np.flatnonzero(a != b) + 1))
    ends = np.concatenate((starts[1:], [x.size]))
    runs = np.unique(np.searchsorted(starts, wrong, side="right") - 1)
    if runs.size > MAX_TIE_RUNS or int(np.sum(ends[runs] - starts[runs])) > x.size // 2:
        return None
    order = order.copy()
    for r in runs:
        order[starts[r]:ends[r]].sort()
    return order, x


def curve_fields(chunks, *, name: str = "", outside_cc: float = 0.0,
                 prescription_gy: float | None = None, quantity: str = "dose",
                 settings: dict | None = None, mode: str = "auto",
                 bin_gy: float = DEFAULT_BIN_GY, extremes_gy=None, minmax_gy=None,
                 minmax_source: str = "") -> dict:
    """The fields of a :class:`~dosecalc.dvh.DVH` built from samples that come in pieces
    (parameters and errors of :meth:`DVH.from_sample_chunks
    <dosecalc.dvh.DVH.from_sample_chunks>`, which passes them on unchanged).

    Returns
    -------
    dict
        Keyword arguments of the DVH: name, volumes (cc), quantity, settings (mode,
        sample count, bin width), the read-only curve points and Min/Max/Mean.
    """
    label = f" of {name!r}" if name else ""
    outside = float(outside_cc)
    if not math.isfinite(outside) or outside < -OUTSIDE_TOL_CC:
        raise ParameterError(f"DVH{label}: outside_cc must be a finite volume >= 0 cc, got {outside_cc!r}")
    outside = max(outside, 0.0)
    if prescription_gy is not None:
        prescription_gy = float(prescription_gy)
        if not (math.isfinite(prescription_gy) and prescription_gy > 0):
            raise ParameterError(f"DVH{label}: prescription_gy must be a dose > 0 Gy or None, "
                                 f"got {prescription_gy!r}")
    if mode not in ("auto", "exact", "binned"):
        raise ParameterError(f"DVH{label}: mode must be 'auto', 'exact' or 'binned', got {mode!r}")
    if not (isinstance(bin_gy, (int, float)) and math.isfinite(bin_gy) and bin_gy > 0):
        raise ParameterError(f"DVH{label}: bin_gy must be a dose step > 0 Gy, got {bin_gy!r}")
    if not isinstance(quantity, str) or not quantity:
        raise ParameterError(f"DVH{label}: quantity must be 'dose' or a label such as "
                             f"'EQD2Gy(a/b=2.5)', got {quantity!r}")

    acc = new_stats_state()
    stats_into = getattr(chunks, "stats_into", None)
    if stats_into is not None:  # reduced at the source (the same bits as the pieces)
        stats_into(acc)
    else:
        for d, v in chunks():
            stats_accumulate(d, v, acc)
    dmin, dmax, covered, sum_dv, n_used, n_bad_dose, n_bad_vol = stats_result(acc)
    if n_bad_vol:
        raise ParameterError(f"DVH{label}: volume_cc holds {n_bad_vol} negative or non-finite "
                             f"values; sample volumes must be >= 0 cc")
    if n_bad_dose:
        raise ParameterError(f"DVH{label}: dose_gy holds {n_bad_dose} non-finite values (NaN/inf) "
                             f"where the volume is > 0; every sampled dose must be finite")
    if n_used == 0 and outside <= 0.0:
        raise ParameterError(f"DVH{label}: no sample with volume > 0 and no outside volume: "
                             f"the structure is empty")

    chosen = mode if mode != "auto" else ("exact" if n_used <= EXACT_LIMIT else "binned")
    info = {"mode": chosen, "n_samples": int(n_used)}
    if n_used == 0:
        vol_pts = np.zeros(0)
        dose_pts = np.zeros(0)
        covered = 0.0
        mean = math.nan
    elif dmin == dmax:
        # One dose everywhere: the curve is flat, both modes agree exactly.
        vol_pts = np.array([0.0, covered])
        dose_pts = np.array([dmax, dmax])
        mean = dmax
    elif chosen == "exact":
        parts = list(chunks())
        d = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
        v = parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts])
        keep = v > 0.0
        ds, vs = (d[keep], v[keep]) if not keep.all() else (d, v)
        # a kept order of the same mask's samples (another dose on it) spares the sort
        # when a linear check proves it is the one the sort would give
        hint = getattr(chunks, "sort_hint", None)
        order = hint.order() if hint is not None else None
        found = stable_descending(ds, order) if order is not None else None
        if found is None:
            order = stable_argsort(-ds)
            found = order, ds[order]
            if hint is not None:
                hint.keep(read_only(order))
        order, ds = found
        vs = vs[order]
        mid = np.cumsum(vs) - 0.5 * vs
        np.minimum(mid, covered, out=mid)
        vol_pts = np.concatenate(([0.0], mid, [covered]))
        dose_pts = np.concatenate(([ds[0]], ds, [ds[-1]]))
        mean = sum_dv / covered
    else:
        nbins = max(MIN_BINS, int(math.ceil((dmax - dmin) / bin_gy - 1e-9)))
        width = (dmax - dmin) / nbins
        hist = np.zeros(nbins)
        histogram_into = getattr(chunks, "histogram_into", None)
        if histogram_into is not None:
            histogram_into(dmin, width, hist)
        else:
            for d, v in chunks():
                weighted_histogram(d, v, dmin, width, hist)
        # Cumulative volume at each edge, hottest first; edges end exactly at Max/Min.
        above = np.concatenate(([0.0], np.cumsum(hist[::-1])))
        np.minimum(above, covered, out=above)
        above[-1] = covered
        edges = dmin + width * np.arange(nbins, -1, -1, dtype=np.float64)
        edges[0] = dmax
        edges[-1] = dmin
        vol_pts, dose_pts = above, edges
        mean = sum_dv / covered
        info["bin_gy"] = width
    # Keep the mean inside [Min, Max] despite the last-bit rounding of the sums.
    if n_used:
        mean = min(max(mean, dmin), dmax)
        if minmax_gy is not None and all(math.isfinite(float(m)) for m in minmax_gy):
            dmin, dmax = float(minmax_gy[0]), float(minmax_gy[1])
            info["extremes"] = minmax_source or "given"
        elif extremes_gy is not None:
            ext = np.asarray(extremes_gy, dtype=np.float64).ravel()
            ext = ext[np.isfinite(ext)]
            if ext.size:
                dmin = min(dmin, float(ext.min()))
                dmax = max(dmax, float(ext.max()))
                info["extremes"] = "samples and prism corners"
    all_settings = dict(settings or {})
    all_settings.update(info)
    return dict(
        name=str(name),
        volume_cc=float(covered + outside),
        outside_cc=outside,
        prescription_gy=prescription_gy,
        quantity=quantity,
        settings=all_settings,
        curve_volume_cc=read_only(np.ascontiguousarray(vol_pts, dtype=np.float64)),
        curve_dose_gy=read_only(np.ascontiguousarray(dose_pts, dtype=np.float64)),
        covered_cc=float(covered),
        _min_gy=float(dmin) if n_used else math.nan,
        _max_gy=float(dmax) if n_used else math.nan,
        _mean_gy=float(mean),
    )


def dose_at_volume(curve_volume_cc: np.ndarray, curve_dose_gy: np.ndarray, covered_cc: float,
                   volume_cc) -> np.ndarray | float:
    """``D(v)`` of the curve through ``(curve_volume_cc, curve_dose_gy)``: see
    :meth:`DVH.dose_at_volume <dosecalc.dvh.DVH.dose_at_volume>`."""
    v = np.asarray(volume_cc, dtype=np.float64)
    x, y = curve_volume_cc, curve_dose_gy
    out = np.full(v.shape, np.nan)
    if x.size == 0:
        return float(out) if out.ndim == 0 else out
    ok = (v >= 0.0) & (v <= covered_cc * (1 + 1e-12))
    vv = np.minimum(v[ok], x[-1])
    # First point at or beyond v: at a vertical step (empty bins) this is its top.
    j = np.searchsorted(x, vv, side="left")
    j = np.clip(j, 1, x.size - 1)
    x0, x1, y0, y1 = x[j - 1], x[j], y[j - 1], y[j]
    span = x1 - x0
    t = np.divide(vv - x0, span, out=np.ones_like(vv), where=span > 0)
    res = y0 + np.clip(t, 0.0, 1.0) * (y1 - y0)
    res = np.where(vv <= x[0], y[0], res)
    out[ok] = res
    return float(out) if out.ndim == 0 else out


def volume_at_dose(curve_volume_cc: np.ndarray, curve_dose_gy: np.ndarray, dose_gy) -> np.ndarray | float:
    """``V(d)`` of the curve through ``(curve_volume_cc, curve_dose_gy)``: see
    :meth:`DVH.volume_at_dose <dosecalc.dvh.DVH.volume_at_dose>`."""
    d = np.asarray(dose_gy, dtype=np.float64)
    x, y = curve_volume_cc, curve_dose_gy
    if x.size == 0:
        out = np.zeros(d.shape)
        return float(out) if out.ndim == 0 else out
    # Last point whose dose is >= d (y is non-increasing).
    k = np.searchsorted(-y, -d, side="right") - 1
    kk = np.clip(k, 0, x.size - 2)
    y0, y1, x0, x1 = y[kk], y[kk + 1], x[kk], x[kk + 1]
    drop = y0 - y1
    t = np.divide(y0 - d, drop, out=np.zeros_like(d * 1.0), where=drop > 0)
    res = x0 + np.clip(t, 0.0, 1.0) * (x1 - x0)
    res = np.where(k < 0, 0.0, np.where(k >= x.size - 1, x[-1], res))
    res = np.where(np.isnan(d), np.nan, res)
    return float(res) if res.ndim == 0 else res
