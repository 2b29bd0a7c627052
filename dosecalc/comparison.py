"""Two DVHs (or two plans' DVH sets) side by side: metric differences and overlaid curves.

``compare(a, b)`` takes two :class:`~dosecalc.dvh.DVH` objects, or two mappings
``{structure: DVH}`` (``case.dvhs()`` of two plans), and returns a :class:`Comparison`.
Differences are always ``b - a`` in the metric's own unit (``a`` is the reference plan),
and the relative difference is ``100 (b - a) / a`` % (NaN when ``a`` is 0 or NaN).
Both DVHs must hold the same dose quantity (physical, or the same EQD2/BED label).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from ._pandas import pandas_module
from .dvh import DEFAULT_BIN_GY, DVH
from .errors import ParameterError
from .plot import plot_comparison

if TYPE_CHECKING:  # pragma: no cover
    import pandas

#: Metrics compared when none are given (the ``dosecalc dvh`` defaults).
DEFAULT_METRICS: tuple[str, ...] = ("Volume[cc]", "Min[Gy]", "Max[Gy]", "Mean[Gy]", "D99%[Gy]",
                                    "D95%[Gy]", "D50%[Gy]", "D5%[Gy]", "D1%[Gy]", "D0.03cc[Gy]")


@dataclass(frozen=True)
class MetricDifference:
    """One metric of one structure in plans ``a`` and ``b``.

    Attributes
    ----------
    structure : str
    spec : str
        Metric as asked (``"D95%[Gy]"``); ``label`` carries the dose quantity.
    label, unit : str
    a, b : float
        Values in ``unit`` (NaN when the metric has no value).
    difference : float
        ``b - a`` in ``unit``.
    relative_pct : float
        ``100 (b - a) / a`` in %, NaN when ``a`` is 0 or NaN.
    """

    structure: str
    spec: str
    label: str
    unit: str
    a: float
    b: float
    difference: float
    relative_pct: float


def _quantity_of(d: DVH) -> str:
    return d.quantity


def _rows(name: str, a: DVH, b: DVH, specs: Sequence[str]) -> list[MetricDifference]:
    if _quantity_of(a) != _quantity_of(b):
        raise ParameterError(f"compare {name!r}: DVH a holds {a.quantity!r} and DVH b {b.quantity!r}; "
                             "compare the same dose quantity")
    out = []
    for spec in specs:
        ra, rb = a.evaluate(spec), b.evaluate(spec)
        diff = rb.value - ra.value
        rel = 100.0 * diff / ra.value if ra.value and math.isfinite(ra.value) else math.nan
        out.append(MetricDifference(name, ra.spec, ra.label, ra.unit, ra.value, rb.value, diff, rel))
    return out


@dataclass(frozen=True, eq=False)
class Comparison:
    """The outcome of :func:`compare`: per-structure metric differences and both DVHs.

    Attributes
    ----------
    labels : tuple of 2 str
        Names of plan ``a`` and plan ``b`` (for tables and plot legends).
    rows : tuple of MetricDifference
        One row per structure x metric, structures in ``a``'s order.
    pairs : dict of str -> (DVH, DVH)
        The DVHs compared, by structure.
    """

    labels: tuple[str, str]
    rows: tuple[MetricDifference, ...]
    pairs: dict

    def difference(self, structure: str, spec: str) -> float:
        """``b - a`` of one metric of one structure, in the metric's unit."""
        for r in self.rows:
            if r.structure == structure and r.spec == spec:
                return r.difference
        raise ParameterError(f"no comparison of {spec!r} for {structure!r}; structures: "
                             f"{list(self.pairs)}")

    def curves(self, structure: str | None = None, dose_gy: Any = None,
               relative: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Both cumulative curves on one dose axis.

        Parameters
        ----------
        structure : str, optional
            Which pair; optional when there is one.
        dose_gy : array_like, optional
            Dose axis (Gy); default every 0.01 Gy from 0 to the higher Max.
        relative : bool
            Volumes in % of each DVH's covered volume instead of cc.

        Returns
        -------
        (dose_gy, volume_a, volume_b) : three float64 arrays of one length
        """
        a, b = self._pair(structure)
        if dose_gy is None:
            hi = max(x for x in (a.max_gy, b.max_gy, 0.0) if math.isfinite(x))
            n = int(math.floor(hi / DEFAULT_BIN_GY + 1e-9)) + 2
            dose_gy = DEFAULT_BIN_GY * np.arange(n, dtype=np.float64)
        d, va = a.cumulative(dose_gy, relative=relative)
        _, vb = b.cumulative(d, relative=relative)
        return d, va, vb

    def _pair(self, structure: str | None) -> tuple[DVH, DVH]:
        if structure is None:
            if len(self.pairs) != 1:
                raise ParameterError(f"give structure=: this comparison holds {list(self.pairs)}")
            structure = next(iter(self.pairs))
        if structure not in self.pairs:
            raise ParameterError(f"no structure {structure!r} in this comparison; structures: {list(self.pairs)}")
        a, b = self.pairs[structure]
        return a, b

    def as_dict(self) -> dict:
        """JSON-ready: ``{"a", "b", "rows": [{structure, metric, label, unit, a, b,
        difference, relative_pct}]}`` (NaN as None)."""
        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {"a": self.labels[0], "b": self.labels[1], "difference": "b - a",
                "rows": [{"structure": r.structure, "metric": r.spec, "label": r.label, "unit": r.unit,
                          "a": num(r.a), "b": num(r.b), "difference": num(r.difference),
                          "relative_pct": num(r.relative_pct)} for r in self.rows]}

    def to_dataframe(self) -> "pandas.DataFrame":
        """One row per structure x metric: ``structure, metric, label, unit, a, b,
        difference, relative_pct`` (needs pandas)."""
        pd = pandas_module("Comparison.to_dataframe()")
        return pd.DataFrame([{"structure": r.structure, "metric": r.spec, "label": r.label, "unit": r.unit,
                              "a": r.a, "b": r.b, "difference": r.difference,
                              "relative_pct": r.relative_pct} for r in self.rows])

    def plot(self, structure: str | None = None, ax: Any = None, **options: Any) -> Any:
        """Both curves overlaid (see :func:`dosecalc.plot.plot_comparison`)."""
        return plot_comparison(self, structure=structure, ax=ax, **options)

    def __repr__(self) -> str:
        return (f"<Comparison {self.labels[0]!r} -> {self.labels[1]!r}: {len(self.pairs)} structure(s), "
                f"{len(self.rows)} metric difference(s) (b - a)>")

    def _repr_html_(self) -> str:
        e = html.escape
        head = "".join(f"<th>{e(h)}</th>" for h in ("Structure", "Metric", "a", "b", "b - a", "%"))
        body = "".join(
            f"<tr><td>{e(r.structure)}</td><td>{e(r.label)}</td><td>{_f(r.a)}</td><td>{_f(r.b)}</td>"
            f"<td>{_f(r.difference)}</td><td>{_f(r.relative_pct)}</td></tr>" for r in self.rows[:200])
        more = f"<p>... {len(self.rows) - 200} more rows</p>" if len(self.rows) > 200 else ""
        return (f"<p><b>Comparison</b> a = {e(self.labels[0])}, b = {e(self.labels[1])}</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}")


def _f(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.4g}"


def compare(a: DVH | Mapping[str, DVH], b: DVH | Mapping[str, DVH], metrics: Iterable[str] | None = None,
            *, labels: tuple[str, str] = ("a", "b")) -> Comparison:
    """Compare two DVHs, or two plans' DVH sets, metric by metric (``b - a``).

    Parameters
    ----------
    a, b : DVH or mapping of str -> DVH
        Two DVHs, or two ``case.dvhs()`` results; with mappings the structures present in
        both are compared (in ``a``'s order) and at least one must be shared.
    metrics : iterable of str, optional
        TG-263 metric specs; default :data:`DEFAULT_METRICS`.
    labels : (str, str)
        Names of the two plans in tables and plots.

    Returns
    -------
    Comparison

    Raises
    ------
    ParameterError
        Different dose quantities, or no structure in common.

    Examples
    --------
    >>> import numpy as np, dosecalc
    >>> d = np.linspace(0.05, 9.95, 100)
    >>> a = dosecalc.DVH.from_samples(d, np.full(100, 0.01), name="PTV")
    >>> b = dosecalc.DVH.from_samples(d + 1.0, np.full(100, 0.01), name="PTV")
    >>> round(dosecalc.compare(a, b, ["Mean[Gy]"]).difference("PTV", "Mean[Gy]"), 6)
    1.0
    """
    specs = list(DEFAULT_METRICS if metrics is None else metrics)
    if isinstance(a, DVH) and isinstance(b, DVH):
        name = a.name if a.name == b.name or not b.name else f"{a.name} / {b.name}"
        pairs = {name: (a, b)}
    elif isinstance(a, Mapping) and isinstance(b, Mapping):
        shared = [k for k in a if k in b]
        if not shared:
            raise ParameterError(f"compare: no structure in common; a has {list(a)}, b has {list(b)}")
        pairs = {k: (a[k], b[k]) for k in shared}
    else:
        raise ParameterError(f"compare takes two DVHs or two mappings of DVHs, got {type(a).__name__} "
                             f"and {type(b).__name__}")
    rows: list[MetricDifference] = []
    for name, (da, db) in pairs.items():
        rows += _rows(name, da, db, specs)
    return Comparison((str(labels[0]), str(labels[1])), tuple(rows), pairs)
