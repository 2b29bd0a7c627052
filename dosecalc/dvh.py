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

The DVH's jobs live beside it, one a module: :mod:`dosecalc.dvh_curve` (the curve from
samples, exact or binned, and read back), :mod:`dosecalc.dvh_evaluate` (the metrics),
:mod:`dosecalc.dvh_export` (dict and pandas table); this module holds the DVH type.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from .display import dvh_html, dvh_repr
from .dvh_curve import (  # noqa: F401  (EXACT_LIMIT, MIN_BINS: re-exported, their old home)
    DEFAULT_BIN_GY, EXACT_LIMIT, MIN_BINS, OUTSIDE_TOL_CC, curve_fields, dose_at_volume, read_only,
    volume_at_dose)
from .dvh_evaluate import MetricResult, evaluate_metric
from .dvh_export import dvh_curve_frame, dvh_to_dict
from .errors import DoseCalcWarning, ParameterError
from .metrics import MetricSpec, metric_label

__all__ = ["DEFAULT_BIN_GY", "DVH", "EXACT_LIMIT", "MIN_BINS", "CoverageWarning", "DVHWarning", "MetricResult",
           "dvh_curve_frame"]


class DVHWarning(UserWarning):
    """A metric came out NaN (with the reason in the message)."""


class CoverageWarning(DVHWarning, DoseCalcWarning):
    """Part of a structure lies outside the dose grid: its metrics describe the covered
    part only (``DVH.outside_cc``, ``DVH.coverage_warning``)."""



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
                   curve_volume_cc=read_only(np.zeros(0)), curve_dose_gy=read_only(np.zeros(0)),
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
        return cls(**curve_fields(chunks, name=name, outside_cc=outside_cc,
                                  prescription_gy=prescription_gy, quantity=quantity,
                                  settings=settings, mode=mode, bin_gy=bin_gy,
                                  extremes_gy=extremes_gy, minmax_gy=minmax_gy,
                                  minmax_source=minmax_source))

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
        if self.outside_cc <= OUTSIDE_TOL_CC:
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
        return dose_at_volume(self.curve_volume_cc, self.curve_dose_gy, self.covered_cc, volume_cc)

    def volume_at_dose(self, dose_gy) -> np.ndarray | float:
        """``V(d)``: volume (cc) receiving at least ``dose_gy`` = sup{v : D(v) >= d}."""
        return volume_at_dose(self.curve_volume_cc, self.curve_dose_gy, dose_gy)

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
        return evaluate_metric(self, spec)

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

    # --- notebook display: a few lines, constant time (dosecalc/display.py) -------------
    def __repr__(self) -> str:
        return dvh_repr(self)

    def _repr_html_(self) -> str:
        return dvh_html(self)

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
        return dvh_to_dict(self, metrics, curve_step_gy)
