"""Dose-volume histograms from weighted dose samples, and TG-263 metrics on them.

Definitions (used by every metric; volumes in cc, doses in Gy or in the DVH's quantity)
---------------------------------------------------------------------------------------
A DVH is built from samples ``(d_i, v_i)``: a small volume ``v_i`` (cc) at dose ``d_i``
(a voxel, a fraction of a voxel, or a sub-voxel cell of a structure mask).  Only the
part of the structure inside the dose grid has samples: its volume is ``covered_cc``;
``outside_cc`` is the rest of the structure, whose dose is unknown, and
``volume_cc = covered_cc + outside_cc``.

Cumulative curve, exact mode.  Sort the samples from hottest to coldest and let
``C_k = v_0 + ... + v_k``.  Sample ``k`` is placed at the middle of its own volume,
``m_k = C_k - v_k / 2``, and the curve ``D(v)`` (the dose at hottest-first volume ``v``)
is the piecewise-linear line through the points ``(m_k, d_k)``, flat at ``d_0`` (Max)
for ``v < m_0`` and flat at the Min beyond the last midpoint.  Each sample's volume is
thus spread over the dose gap to its neighbours, half on each side: the curve never
moves volume by more than half a sample from the exact step DVH of the samples
(``|V(d) - sum(v_i for d_i >= d)| <= max(v_i) / 2``), a uniform dose gives exactly that
dose for every D metric, and for a dose linear along the sample order (slabs of a
linear gradient) the line through the midpoints is the exact analytic DVH.  Equal
doses are not merged: a plateau of equal doses stays flat over its whole volume.

Cumulative curve, binned mode (many samples; default above 4 million).  The samples are
histogrammed in ``n`` equal bins of width <= ``bin_gy`` (default 0.01 Gy) spanning
exactly [Min, Max]; the dose inside a bin is assumed uniformly distributed, so the
curve is linear between bin edges and exact at every edge.  Every D metric is then
within one bin width of the exact value of the samples, and no metric depends on where
a fixed bin edge falls (the bins are interpolated, not looked up).

Metrics (``spec`` in TG-263 syntax, see :mod:`dosecalc.metrics`):

* ``V(d)`` = volume receiving >= d = ``sup{v : D(v) >= d}`` (0 above Max, covered_cc at
  or below Min).  ``V<x>Gy``; ``V<x>%`` uses d = x % of the prescription.
* ``CV<x>Gy`` = volume receiving < x = ``covered_cc - V(x)``.
* ``D<x>cc`` = minimum dose to the hottest x cc = ``D(x)``; ``D<x>%`` uses x % of
  covered_cc.  ``D0cc`` is the Max, ``D100%`` the Min.
* ``DC<x>cc`` = maximum dose to the coldest x cc = ``D(covered_cc - x)``.
* ``Max``/``Min`` = highest/lowest sampled point dose; ``Mean`` = volume-weighted mean of
  the samples (compensated float64 sums), all exact in both modes, never from bins.
* ``Volume[cc]`` = ``volume_cc``, the whole structure including any outside part.
* Output ``[%]``: a dose as percent of the prescription; a volume as percent of
  covered_cc.

When a metric has no value - ``D<x>cc`` / ``DC<x>cc`` with x larger than the covered
volume (the hottest x cc do not exist), or any dose metric of a DVH with no covered
volume - the result is NaN with a reason (:meth:`DVH.evaluate` returns it, and
:meth:`DVH.metric` issues a :class:`DVHWarning`).  Never a silently clipped number.

Outside part.  Doses outside the grid are unknown, so V, CV, D and DC are computed on the
covered part only and the DVH is flagged (``coverage_warning``; every volume-dependent
metric's note repeats it).  For a ">= x cc spared" constraint (CV15Gy[cc] of the
liver) this is conservative: the spared volume can only be larger.

Converted dose.  ``quantity`` is ``"dose"`` or a TG-263 label such as
``"EQD2Gy(a/b=2.5)"``; metric labels make it explicit (``D95%[Gy]`` on that DVH is
labelled ``D95%[EQD2Gy(a/b=2.5)]``, ``V20Gy[cc]`` is ``V20EQD2Gy(a/b=2.5)[cc]``), and a
spec naming another quantity is refused.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Literal

import numpy as np

from ._pandas import pandas_module
from .errors import DoseCalcWarning, MetricSpecError, ParameterError
from .kernels.dvh import new_stats_state, stable_argsort, stats_accumulate, stats_result, weighted_histogram
from .metrics import MetricSpec, metric_label, parse_metric, quantity_matches
from .serialise import jsonable

if TYPE_CHECKING:  # pragma: no cover
    import pandas

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
_OUTSIDE_TOL_CC = 1e-6


class DVHWarning(UserWarning):
    """A metric came out NaN (with the reason in the message)."""


class CoverageWarning(DVHWarning, DoseCalcWarning):
    """Part of a structure lies outside the dose grid: its metrics describe the covered
    part only (``DVH.outside_cc``, ``DVH.coverage_warning``)."""


@dataclass(frozen=True)
class MetricResult:
    """The value of one metric, its TG-263 label, and a note when it needs one.

    Attributes
    ----------
    spec : str
        The spec as asked, e.g. ``"D95%[Gy]"``.
    label : str
        The label with the dose quantity explicit (``"D95%[EQD2Gy(a/b=2.5)]"``).
    value : float
        In the spec's output unit; NaN when the metric has no value.
    unit : str
        Output unit (``Gy``, ``cGy``, ``cc``, ``%`` or the converted-dose label).
    note : str or None
        Why the value is NaN, or that the structure is not fully covered by the grid.
    """

    spec: str
    label: str
    value: float
    unit: str
    note: str | None = None


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class DVH:
    """Cumulative dose-volume histogram of one structure (see the module docstring for
    the exact definitions).  Build it with :meth:`from_samples`.

    Attributes
    ----------
    name : str
        Structure name or derived expression.
    volume_cc : float
        Whole structure volume in cc, including ``outside_cc``.
    outside_cc : float
        Part of the structure outside the dose grid (unknown dose), cc.
    prescription_gy : float or None
        Prescription used by ``%``-of-prescription metrics.
    quantity : str
        ``"dose"`` (physical) or a converted-dose label (``"EQD2Gy(a/b=2.5)"``).
    settings : dict
        How the DVH was made: mode (exact/binned), bin width, sample count, and the mask
        options passed by the caller.
    curve_volume_cc, curve_dose_gy : ndarray float64, read-only
        The points of the piecewise-linear curve ``D(v)``: volume from 0 (hottest) to
        ``covered_cc`` (non-decreasing) and dose from Max to Min (non-increasing).
    """

    name: str
    volume_cc: float
    outside_cc: float
    prescription_gy: float | None
    quantity: str
    settings: dict
    curve_volume_cc: np.ndarray = field(repr=False)
    curve_dose_gy: np.ndarray = field(repr=False)
    covered_cc: float = 0.0
    _min_gy: float = field(default=math.nan, repr=False)
    _max_gy: float = field(default=math.nan, repr=False)
    _mean_gy: float = field(default=math.nan, repr=False)
    empty_reason: str = ""

    # --- construction -----------------------------------------------------------------
    @classmethod
    def empty(cls, name: str, reason: str, *, prescription_gy: float | None = None,
              quantity: str = "dose", settings: dict | None = None) -> "DVH":
        """The DVH of a structure without volume (no contours, only points, contours that
        enclose no area): every metric, Volume included, is NaN with ``reason`` as its
        note, so a report shows ``n/a`` and why instead of failing the other structures.

        Parameters
        ----------
        name : str
            Structure name.
        reason : str
            Why there is no volume, e.g. "its closed contours enclose no area".
        """
        all_settings = dict(settings or {})
        all_settings.update({"mode": "empty", "n_samples": 0, "empty_reason": reason})
        return cls(name=str(name), volume_cc=0.0, outside_cc=0.0, prescription_gy=prescription_gy,
                   quantity=quantity, settings=all_settings,
                   curve_volume_cc=_readonly(np.zeros(0)), curve_dose_gy=_readonly(np.zeros(0)),
                   covered_cc=0.0, empty_reason=str(reason))

    @classmethod
    def from_samples(cls, dose_gy, volume_cc, *, name: str = "", outside_cc: float = 0.0,
                     prescription_gy: float | None = None, quantity: str = "dose",
                     settings: dict | None = None, mode: str = "auto",
                     bin_gy: float = DEFAULT_BIN_GY, extremes_gy=None, minmax_gy=None,
                     minmax_source: str = "") -> "DVH":
        """Build a DVH from weighted dose samples.

        Parameters
        ----------
        dose_gy : array_like of float
            Dose of each sample, Gy (or the unit of ``quantity``).  Finite.
        volume_cc : array_like of float, same shape
            Volume of each sample, cc, >= 0 (zero-volume samples are ignored).
        name : str
            Structure name, used in messages and reports.
        outside_cc : float
            Volume of the structure outside the dose grid, cc (>= 0).
        prescription_gy : float or None
            Prescription dose, Gy, for ``%`` metrics (> 0).
        quantity : str
            ``"dose"`` or a converted-dose label such as ``"EQD2Gy(a/b=2.5)"``.
        settings : dict or None
            Options that produced the samples (mask options...), kept in ``settings``.
        mode : {"auto", "exact", "binned"}
            ``exact`` sorts the samples; ``binned`` histograms them (bins <= ``bin_gy``);
            ``auto`` is exact up to :data:`EXACT_LIMIT` samples.
        bin_gy : float
            Maximum bin width of the binned mode, Gy (> 0); the bins span exactly
            [Min, Max] with at least :data:`MIN_BINS` of them, so the actual width is
            (Max - Min) / max(MIN_BINS, ceil((Max - Min) / bin_gy)).
        extremes_gy : array_like of float, optional
            Further point doses inside the structure (e.g. at the corners of its prism
            geometry, :func:`dosecalc.masks.prism_vertex_doses`).  They widen Min and
            Max only; the curve is built from the weighted samples alone.
        minmax_gy : (float, float), optional
            Min and Max found otherwise (the exact extremes over the structure's geometry,
            :mod:`dosecalc.masks.extremes`): they replace the samples' extremes (and
            ``extremes_gy`` is not used); ``minmax_source`` says how they were found.

        Returns
        -------
        DVH

        Raises
        ------
        ParameterError
            Mismatched shapes, non-finite doses, negative or non-finite volumes, bad
            ``outside_cc``/``prescription_gy``/``mode``/``bin_gy``, or no volume at all.
        """
        label = f" of {name!r}" if name else ""
        d = np.ascontiguousarray(np.asarray(dose_gy, dtype=np.float64).ravel())
        v = np.ascontiguousarray(np.asarray(volume_cc, dtype=np.float64).ravel())
        if np.shape(dose_gy) != np.shape(volume_cc):
            raise ParameterError(f"DVH{label}: dose_gy and volume_cc must have the same shape, got "
                                 f"{np.shape(dose_gy)} and {np.shape(volume_cc)}")
        return cls.from_sample_chunks(lambda: ((d, v),), name=name, outside_cc=outside_cc,
                                      prescription_gy=prescription_gy, quantity=quantity,
                                      settings=settings, mode=mode, bin_gy=bin_gy,
                                      extremes_gy=extremes_gy, minmax_gy=minmax_gy,
                                      minmax_source=minmax_source)

    @classmethod
    def from_sample_chunks(cls, chunks, *, name: str = "", outside_cc: float = 0.0,
                           prescription_gy: float | None = None, quantity: str = "dose",
                           settings: dict | None = None, mode: str = "auto",
                           bin_gy: float = DEFAULT_BIN_GY, extremes_gy=None, minmax_gy=None,
                           minmax_source: str = "") -> "DVH":
        """:meth:`from_samples` of samples that come in consecutive pieces, so that a
        structure of 100 M voxels never holds all its samples at once.

        ``chunks()`` returns an iterable of ``(dose_gy, volume_cc)`` pairs of contiguous
        float64 arrays; it is called once for the statistics and once more for the
        histogram (binned mode), and must give the same pieces each time.  The DVH is the
        same, bit for bit, as :meth:`from_samples` of the concatenated samples: sums and
        histogram bins are accumulated in sample order across the pieces.  Other
        parameters as in :meth:`from_samples`.
        """
        label = f" of {name!r}" if name else ""
        outside = float(outside_cc)
        if not math.isfinite(outside) or outside < -_OUTSIDE_TOL_CC:
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
            order = stable_argsort(-ds)
            ds = ds[order]
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
        return cls(
            name=str(name),
            volume_cc=float(covered + outside),
            outside_cc=outside,
            prescription_gy=prescription_gy,
            quantity=quantity,
            settings=all_settings,
            curve_volume_cc=_readonly(np.ascontiguousarray(vol_pts, dtype=np.float64)),
            curve_dose_gy=_readonly(np.ascontiguousarray(dose_pts, dtype=np.float64)),
            covered_cc=float(covered),
            _min_gy=float(dmin) if n_used else math.nan,
            _max_gy=float(dmax) if n_used else math.nan,
            _mean_gy=float(mean),
        )

    # --- summary values ---------------------------------------------------------------
    @property
    def min_gy(self) -> float:
        """Lowest sampled dose (Gy, or the unit of ``quantity``); NaN if nothing is covered."""
        return self._min_gy

    @property
    def max_gy(self) -> float:
        """Highest sampled point dose; NaN if nothing is covered."""
        return self._max_gy

    @property
    def mean_gy(self) -> float:
        """Volume-weighted mean dose of the covered part; NaN if nothing is covered."""
        return self._mean_gy

    @property
    def coverage_warning(self) -> str | None:
        """A sentence when part of the structure lies outside the dose grid, else None."""
        if self.outside_cc <= _OUTSIDE_TOL_CC:
            return None
        pct = 100.0 * self.outside_cc / self.volume_cc
        who = f"{self.name!r}: " if self.name else ""
        return (f"{who}{self.outside_cc:.3f} cc ({pct:.1f} %) of the structure lies outside the dose "
                f"grid; dose there is unknown and metrics describe the covered "
                f"{self.covered_cc:.3f} cc only")

    # --- the curve --------------------------------------------------------------------
    def dose_at_volume(self, volume_cc) -> np.ndarray | float:
        """``D(v)``: minimum dose to the hottest ``volume_cc`` (cc, 0..covered_cc).

        Values outside [0, covered_cc] give NaN.
        """
        v = np.asarray(volume_cc, dtype=np.float64)
        x, y = self.curve_volume_cc, self.curve_dose_gy
        out = np.full(v.shape, np.nan)
        if x.size == 0:
            return float(out) if out.ndim == 0 else out
        ok = (v >= 0.0) & (v <= self.covered_cc * (1 + 1e-12))
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

    def volume_at_dose(self, dose_gy) -> np.ndarray | float:
        """``V(d)``: volume (cc) receiving at least ``dose_gy`` = sup{v : D(v) >= d}."""
        d = np.asarray(dose_gy, dtype=np.float64)
        x, y = self.curve_volume_cc, self.curve_dose_gy
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

    def cumulative(self, dose_gy=None, relative: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The cumulative DVH sampled at doses.

        Parameters
        ----------
        dose_gy : array_like or None
            Doses (Gy) at which to evaluate ``V(d)``.  Default: every 0.01 Gy from
            min(0, Min) to just above Max.
        relative : bool
            Volumes in % of covered_cc instead of cc.

        Returns
        -------
        (dose_gy, volume) : two float64 arrays of the same length
        """
        if dose_gy is None:
            lo = min(0.0, math.floor(self.min_gy / DEFAULT_BIN_GY) * DEFAULT_BIN_GY) \
                if math.isfinite(self.min_gy) else 0.0
            hi = self.max_gy if math.isfinite(self.max_gy) else 0.0
            n = int(math.floor((hi - lo) / DEFAULT_BIN_GY + 1e-9)) + 2
            dose = lo + DEFAULT_BIN_GY * np.arange(n, dtype=np.float64)
        else:
            dose = np.asarray(dose_gy, dtype=np.float64).ravel()
        vol = np.asarray(self.volume_at_dose(dose), dtype=np.float64).reshape(dose.shape)
        if relative:
            vol = self._relative(vol)
        return dose, vol

    def differential(self, bin_gy: float = DEFAULT_BIN_GY, relative: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The differential DVH: volume whose dose lies in each bin.

        Bins are ``[k bin_gy, (k+1) bin_gy)`` from the one holding Min to the one holding
        Max; the volumes sum to covered_cc.

        Returns
        -------
        (dose_gy, volume) : bin centres in Gy, and volume per bin in cc (or % of
        covered_cc when ``relative``)
        """
        if not (math.isfinite(bin_gy) and bin_gy > 0):
            raise ParameterError(f"differential: bin_gy must be > 0 Gy, got {bin_gy!r}")
        if not math.isfinite(self.min_gy):
            return np.zeros(0), np.zeros(0)
        k0 = math.floor(self.min_gy / bin_gy)
        k1 = math.floor(self.max_gy / bin_gy) + 1
        edges = bin_gy * np.arange(k0, k1 + 1, dtype=np.float64)
        v = np.asarray(self.volume_at_dose(edges))
        v[0] = self.covered_cc
        v[-1] = 0.0
        vol = np.maximum(v[:-1] - v[1:], 0.0)
        if relative:
            vol = self._relative(vol)
        return 0.5 * (edges[:-1] + edges[1:]), vol

    def _relative(self, vol_cc: np.ndarray) -> np.ndarray:
        if self.covered_cc <= 0:
            return np.full_like(vol_cc, np.nan)
        return 100.0 * vol_cc / self.covered_cc

    # --- metrics ----------------------------------------------------------------------
    def label(self, spec: str | MetricSpec) -> str:
        """The TG-263 label of ``spec`` on this DVH, with the quantity explicit."""
        return metric_label(spec, self.quantity)

    def evaluate(self, spec: str | MetricSpec) -> MetricResult:
        """Evaluate one metric and say why when it has no value.

        Raises
        ------
        MetricSpecError
            Malformed spec, or a spec naming another dose quantity than this DVH's.
        ParameterError
            A ``%``-of-prescription metric on a DVH without ``prescription_gy``.
        """
        if not isinstance(spec, (str, MetricSpec)):
            raise MetricSpecError(f"metric must be a TG-263 spec such as 'D95%[Gy]', got {type(spec).__name__} {spec!r:.40}")
        s = parse_metric(spec) if isinstance(spec, str) else spec
        self._check_quantity(s)
        value, note = self._value(s)
        unit = s.output_unit
        if unit == "Gy" and self.quantity != "dose":
            unit = self.quantity
        cov = self.coverage_warning
        if cov and s.kind != "Volume" and note is None and self.covered_cc > 0:
            note = cov
        return MetricResult(spec=s.text, label=self.label(s), value=float(value), unit=unit, note=note)

    def metric(self, spec: str | MetricSpec) -> float:
        """Value of one TG-263 metric, e.g. ``"D0.03cc[Gy]"``, ``"CV15Gy[cc]"``.

        Returns NaN (and issues a :class:`DVHWarning` with the reason) when the metric has
        no value; see the module docstring for every definition.

        Parameters
        ----------
        spec : str or MetricSpec
            TG-263 metric with its output unit: ``"D95%[Gy]"``, ``"D0.03cc[Gy]"``,
            ``"V20Gy[%]"``, ``"CV15Gy[cc]"``, ``"Mean[Gy]"``, ``"Volume[cc]"``.

        Returns
        -------
        float
            In the spec's unit (Gy, cGy, cc, % or the DVH's converted quantity).

        Examples
        --------
        Ten 1 cc samples at 0.5, 1.5, ..., 9.5 Gy: a dose spread evenly over 0-10 Gy.

        >>> import numpy as np
        >>> d = DVH.from_samples(np.arange(10) + 0.5, np.ones(10), name="PTV")
        >>> d.metric("Mean[Gy]"), d.metric("V5Gy[cc]"), d.metric("D50%[Gy]")
        (5.0, 5.0, 5.0)
        >>> d.metric("CV2Gy[%]")
        20.0
        """
        r = self.evaluate(spec)
        if math.isnan(r.value):
            warnings.warn(f"{r.label}: {r.note}", DVHWarning, stacklevel=2)
        return r.value

    def metrics(self, specs: Iterable[str | MetricSpec]) -> dict[str, float]:
        """Several metrics at once: ``{spec: value}`` (NaN with a warning when undefined)."""
        out = {}
        for spec in specs:
            r = self.evaluate(spec)
            if math.isnan(r.value):
                warnings.warn(f"{r.label}: {r.note}", DVHWarning, stacklevel=2)
            out[str(spec) if isinstance(spec, MetricSpec) else spec] = r.value
        return out

    def _check_quantity(self, s: MetricSpec) -> None:
        lab = s.dose_label
        if lab is None:
            return
        if lab == "cGy" and self.quantity != "dose":
            raise MetricSpecError(f"metric {s.text!r}: cGy applies to physical dose only; this DVH "
                                  f"holds {self.quantity} (use Gy)")
        if not quantity_matches(lab, self.quantity):
            raise MetricSpecError(f"metric {s.text!r} is about {lab} but the DVH of {self.name!r} holds "
                                  f"{'physical dose' if self.quantity == 'dose' else self.quantity}")

    def _rx(self, s: MetricSpec) -> float:
        if self.prescription_gy is None:
            raise ParameterError(f"metric {s.text!r} is relative to the prescription, but the DVH of "
                                 f"{self.name!r} has no prescription_gy: pass prescription_gy")
        return self.prescription_gy

    def _dose_out(self, s: MetricSpec, dose: float) -> float:
        if s.output_unit == "%":
            return 100.0 * dose / self._rx(s)
        if s.output_unit == "cGy":
            return 100.0 * dose
        return dose

    def _value(self, s: MetricSpec) -> tuple[float, str | None]:
        if self.empty_reason:
            return math.nan, f"{self.name!r} has no volume: {self.empty_reason}"
        if s.kind == "Volume":
            return self.volume_cc, None
        if s.needs_prescription:
            self._rx(s)  # raise before anything else when there is no prescription
        if self.covered_cc <= 0:
            return math.nan, f"no part of {self.name!r} lies inside the dose grid ({self.volume_cc:.3f} cc outside)"
        if s.kind in ("Mean", "Max", "Min"):
            dose = {"Mean": self.mean_gy, "Max": self.max_gy, "Min": self.min_gy}[s.kind]
            return self._dose_out(s, dose), None
        x = 0.0 if s.value is None else float(s.value)  # D/DC/V/CV specs always carry x
        if s.kind in ("D", "DC"):
            if s.value_unit == "%":
                x_cc = x / 100.0 * self.covered_cc
            else:
                x_cc = x
                if x_cc > self.covered_cc * (1 + 1e-12):
                    what = "hottest" if s.kind == "D" else "coldest"
                    return math.nan, (f"the {what} {s.value:g} cc do not exist: {self.name!r} has "
                                      f"{self.covered_cc:.4g} cc inside the dose grid")
                x_cc = min(x_cc, self.covered_cc)
            at = x_cc if s.kind == "D" else self.covered_cc - x_cc
            return self._dose_out(s, float(self.dose_at_volume(max(at, 0.0)))), None
        # V / CV
        if s.value_unit == "%":
            threshold = x / 100.0 * self._rx(s)
        elif s.value_unit == "cGy":
            threshold = x / 100.0
        else:
            threshold = x
        vol = float(self.volume_at_dose(threshold))
        if s.kind == "CV":
            vol = max(self.covered_cc - vol, 0.0)
        if s.output_unit == "%":
            vol = 100.0 * vol / self.covered_cc
        return vol, None

    # --- notebook display ---------------------------------------------------------------
    def _unit(self) -> str:
        return "Gy" if self.quantity == "dose" else self.quantity

    def __repr__(self) -> str:
        u = self._unit()
        out = f", {self.outside_cc:.3g} cc outside the dose grid" if self.coverage_warning else ""
        return (f"<DVH {self.name!r}: {self.volume_cc:.4g} cc{out}; Min {self.min_gy:.4g}, Mean "
                f"{self.mean_gy:.4g}, Max {self.max_gy:.4g} {u}; {self.settings.get('mode', '')}>")

    def _repr_html_(self) -> str:
        import html

        u = html.escape(self._unit())
        cells = [("Structure", html.escape(self.name)), ("Volume", f"{self.volume_cc:.4g} cc"),
                 ("Outside dose grid", f"{self.outside_cc:.4g} cc"),
                 ("Min / Mean / Max", f"{self.min_gy:.4g} / {self.mean_gy:.4g} / {self.max_gy:.4g} {u}"),
                 ("Prescription", "none" if self.prescription_gy is None else f"{self.prescription_gy:g} Gy"),
                 ("Mode", html.escape(str(self.settings.get("mode", ""))))]
        rows = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in cells)
        warn = (f"<p style='color:#8a6200'>{html.escape(self.coverage_warning)}</p>"
                if self.coverage_warning else "")
        return f"<table><caption>DVH</caption>{rows}</table>{warn}"

    # --- export -----------------------------------------------------------------------
    def to_dataframe(self, kind: str = "cumulative", step_gy: float = DEFAULT_BIN_GY):
        """The curve as a pandas DataFrame: ``dose_gy``, ``volume_cc``, ``volume_pct``.

        Parameters
        ----------
        kind : {"cumulative", "differential"}
            Cumulative: volume (cc, and % of the covered volume) receiving at least
            ``dose_gy``.  Differential: volume in the bin centred on ``dose_gy``.
        step_gy : float
            Dose step (bin width), Gy; default 0.01 Gy.

        Returns
        -------
        pandas.DataFrame
            Needs pandas (the ``pandas`` extra).

        Examples
        --------
        >>> import numpy as np
        >>> d = DVH.from_samples(np.linspace(0.5, 9.5, 10), np.full(10, 1.0), name="PTV")
        >>> df = d.to_dataframe(step_gy=1.0)
        >>> list(df.columns), float(df.volume_cc.iloc[0])
        (['dose_gy', 'volume_cc', 'volume_pct'], 10.0)
        """
        return dvh_curve_frame(self, kind=kind, step_gy=step_gy)  # type: ignore[arg-type]

    def to_dict(self, metrics: Iterable[str] = (), curve_step_gy: float | None = None) -> dict:
        """A JSON-ready summary (NaN becomes None).

        Parameters
        ----------
        metrics : iterable of str
            Metric specs to include under ``"metrics"`` (``{spec: value}``) with any notes
            under ``"notes"``.
        curve_step_gy : float or None
            When given, include the cumulative curve every ``curve_step_gy`` Gy
            (``"cumulative": {"dose_gy": [...], "volume_cc": [...]}``).
        """
        def num(x):
            return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)

        out = {
            "name": self.name,
            "quantity": self.quantity,
            "volume_cc": num(self.volume_cc),
            "covered_cc": num(self.covered_cc),
            "outside_cc": num(self.outside_cc),
            "coverage_warning": self.coverage_warning,
            "prescription_gy": num(self.prescription_gy),
            "min_gy": num(self.min_gy),
            "mean_gy": num(self.mean_gy),
            "max_gy": num(self.max_gy),
            "settings": jsonable(self.settings),
        }
        specs = list(metrics)
        if specs:
            results = [self.evaluate(s) for s in specs]
            out["metrics"] = {r.spec: num(r.value) for r in results}
            notes = {r.spec: r.note for r in results if r.note and r.note != self.coverage_warning}
            if notes:
                out["notes"] = notes
        if curve_step_gy is not None:
            if not (math.isfinite(curve_step_gy) and curve_step_gy > 0):
                raise ParameterError(f"curve_step_gy must be > 0 Gy, got {curve_step_gy!r}")
            hi = self.max_gy if math.isfinite(self.max_gy) else 0.0
            n = int(math.floor(max(hi, 0.0) / curve_step_gy + 1e-9)) + 2
            dose, vol = self.cumulative(curve_step_gy * np.arange(n, dtype=np.float64))
            out["cumulative"] = {"dose_gy": dose.tolist(), "volume_cc": vol.tolist()}
        return out


def dvh_curve_frame(dvh: DVH, kind: Literal["cumulative", "differential"] = "cumulative",
                    step_gy: float = DEFAULT_BIN_GY) -> "pandas.DataFrame":
    """The DVH curve as a table: ``dose_gy``, ``volume_cc``, ``volume_pct``.

    Parameters
    ----------
    dvh : DVH
    kind : {"cumulative", "differential"}
        Cumulative: volume receiving at least ``dose_gy``, every ``step_gy`` from 0 to
        just above Max.  Differential: volume whose dose lies in the bin centred on
        ``dose_gy`` (width ``step_gy``).
    step_gy : float
        Dose step, Gy (> 0).

    Returns
    -------
    pandas.DataFrame
        ``volume_pct`` is % of the covered volume; ``attrs`` hold name, quantity and
        ``covered_cc``.  For a converted DVH ``dose_gy`` is in its quantity (EQD2 Gy...).
    """
    pd = pandas_module("DVH.to_dataframe()")
    if not (isinstance(step_gy, (int, float)) and math.isfinite(step_gy) and step_gy > 0):
        raise ParameterError(f"step_gy must be > 0 Gy, got {step_gy!r}")
    if kind == "cumulative":
        hi = dvh.max_gy if math.isfinite(dvh.max_gy) else 0.0
        n = int(math.floor(max(hi, 0.0) / step_gy + 1e-9)) + 2
        dose, vol = dvh.cumulative(step_gy * np.arange(n, dtype=np.float64))
    elif kind == "differential":
        dose, vol = dvh.differential(bin_gy=step_gy)
    else:
        raise ParameterError(f"kind must be 'cumulative' or 'differential', got {kind!r}")
    pct = 100.0 * vol / dvh.covered_cc if dvh.covered_cc > 0 else np.full_like(vol, np.nan)
    df = pd.DataFrame({"dose_gy": dose, "volume_cc": vol, "volume_pct": pct})
    df.attrs.update({"structure": dvh.name, "quantity": dvh.quantity, "kind": kind,
                     "covered_cc": dvh.covered_cc, "volume_cc": dvh.volume_cc})
    return df
