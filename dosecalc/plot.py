"""DVH plots with matplotlib (the optional ``plot`` extra: ``pip install "dosecalc[plot]"``).

* :func:`plot_dvh` draws one DVH, a list of them or a ``case.dvhs()`` mapping:
  cumulative or differential, volume absolute (cc) or relative (% of the part inside the
  dose grid), physical dose or a converted dose (the axis label is the DVH's quantity,
  e.g. ``EQD2Gy(a/b=2.5)``), optionally a logarithmic volume axis so that point-dose
  limits such as ``D0.03cc`` can be read.
* ``limits=`` adds protocol limits as labelled markers: a protocol :class:`Report`
  (every dose constraint whose evaluated ROI is plotted) or a list of
  ``(structure, metric, comparator, limit)``.  A marker sits where the limit lies on the
  cumulative plane: ``D0.03cc[Gy] < 30`` at (30 Gy, 0.03 cc), ``V15Gy[cc] < 700`` at
  (15 Gy, 700 cc), ``CV15Gy[cc] >= 700`` at (15 Gy, covered - 700 cc); ``Max`` at the
  lowest volume shown; ``Mean`` as a short vertical tick at the limit dose.  The curve
  should pass on the allowed side of its marker.
* :func:`plot_report` draws a protocol check (its curves and every labelled limit);
  :func:`plot_comparison` overlays the two plans of a :func:`dosecalc.compare`.

Structure colours are neutral (blues, purples, browns, greys): red, amber and green mean
fail, acceptable and pass in the markers and in the reports.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np

from .dvh import DEFAULT_BIN_GY, DVH
from .errors import ParameterError
from .metrics import parse_metric

#: Structure colours: none of them reads as a verdict.
NEUTRAL_PALETTE: tuple[str, ...] = ("#1f77b4", "#9467bd", "#17becf", "#8c564b", "#7f7f7f", "#e377c2",
                                    "#393b79", "#6b6ecf", "#5f9ea0", "#a0522d")
#: Marker colours by verdict.
VERDICT_COLOUR: dict[str, str] = {"pass": "#1a7f37", "acceptable": "#b58100", "fail": "#c62828",
                                  "not evaluable": "#6a4c93"}
#: Lowest volume of a logarithmic axis, cc or %.
LOG_FLOOR = 0.01


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ParameterError("dosecalc.plot needs matplotlib: pip install \"dosecalc[plot]\"") from exc
    return plt


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    plt = _pyplot()
    _, ax = plt.subplots(figsize=(7.0, 4.2))
    return ax


def _dvh_items(dvhs: DVH | Mapping[str, DVH] | Iterable[DVH]) -> list[tuple[str, DVH]]:
    if isinstance(dvhs, DVH):
        return [(dvhs.name, dvhs)]
    if isinstance(dvhs, Mapping):
        return [(str(k), v) for k, v in dvhs.items()]
    items = [(d.name, d) for d in dvhs]
    if not all(isinstance(d, DVH) for _, d in items):
        raise ParameterError("plot_dvh takes a DVH, a list of DVHs or a mapping {name: DVH}")
    return items


def _quantity_label(quantity: str) -> str:
    return "Dose (Gy)" if quantity == "dose" else f"Dose ({quantity})"


def limit_point(metric: str, limit: float, covered_cc: float, prescription_gy: float | None,
                relative: bool) -> tuple[float, float] | None:
    """Where a limit sits on the cumulative DVH plane: ``(dose, volume)`` with volume in
    cc, or in % of ``covered_cc`` when ``relative``; ``None`` when it has no point
    (``Mean``, a % metric without prescription, an empty structure).

    ``Max`` gets volume 0 (the caller puts it at the lowest volume shown).

    Examples
    --------
    >>> limit_point("D0.03cc[Gy]", 30.0, 10.0, None, relative=False)
    (30.0, 0.03)
    >>> limit_point("CV15Gy[cc]", 700.0, 1500.0, None, relative=False)
    (15.0, 800.0)
    """
    s = parse_metric(metric)
    if covered_cc <= 0 or not math.isfinite(limit):
        return None

    def dose_of(value: float, unit: str) -> float | None:
        if unit == "%":
            return None if prescription_gy is None else value / 100.0 * prescription_gy
        if unit == "cGy":
            return value / 100.0
        return value

    x = 0.0 if s.value is None else float(s.value)  # D/V/CV specs always carry their x
    if s.kind == "D":
        dose = dose_of(limit, s.output_unit)
        vol_cc = x / 100.0 * covered_cc if s.value_unit == "%" else x
    elif s.kind in ("V", "CV"):
        dose = dose_of(x, s.value_unit or "Gy")
        vol_cc = limit / 100.0 * covered_cc if s.output_unit == "%" else limit
        if s.kind == "CV":
            vol_cc = covered_cc - vol_cc
    elif s.kind == "Max":
        dose, vol_cc = dose_of(limit, s.output_unit), 0.0
    else:
        return None
    if dose is None:
        return None
    vol_cc = min(max(vol_cc, 0.0), covered_cc)
    return float(dose), float(100.0 * vol_cc / covered_cc if relative else vol_cc)


def _limits_of(limits: Any) -> list[dict]:
    """Limits as dicts: structure (plotted name / ROI), metric, comparator, limit, verdict, text."""
    if limits is None:
        return []
    results = getattr(limits, "results", None)
    out = []
    if results is not None:  # a protocol Report
        for r in results:
            if getattr(r, "kind", "dose") != "dose" or not r.roi:
                continue
            out.append({"structure": r.roi, "metric": r.metric, "comparator": r.comparator,
                        "limit": r.limit, "verdict": r.verdict,
                        "text": f"{r.structure} {r.metric} {r.comparator} {r.limit:g}"})
        return out
    for item in limits:
        if isinstance(item, Mapping):
            d = dict(item)
        else:
            structure, metric, comparator, limit = item
            d = {"structure": structure, "metric": metric, "comparator": comparator, "limit": limit}
        d.setdefault("verdict", None)
        d.setdefault("text", f"{d['structure']} {d['metric']} {d['comparator']} {float(d['limit']):g}")
        out.append(d)
    return out


def _draw_limits(ax: Any, limits: list[dict], dvhs: Mapping[str, DVH], colours: Mapping[str, str],
                 relative: bool, log_volume: bool) -> int:
    drawn = 0
    floor = LOG_FLOOR if log_volume else 0.0
    stacked: dict[tuple[float, float], int] = {}  # labels of markers at one point stack upwards
    for lim in limits:
        dvh = dvhs.get(lim["structure"])
        if dvh is None:
            continue
        kind = parse_metric(lim["metric"]).kind
        fill = VERDICT_COLOUR.get(lim.get("verdict") or "", "#444444")
        edge = colours.get(lim["structure"], "#444444")
        if kind == "Mean":
            dose = float(lim["limit"])
            ax.axvline(dose, ymin=0.0, ymax=0.06, color=fill, lw=2)
            ax.annotate(lim["text"], (dose, 0.06), xycoords=("data", "axes fraction"), fontsize=7,
                        rotation=90, va="bottom", ha="right", color="#222222")
            drawn += 1
            continue
        pt = limit_point(lim["metric"], float(lim["limit"]), dvh.covered_cc, dvh.prescription_gy, relative)
        if pt is None:
            continue
        dose, vol = pt
        vol = max(vol, floor) if log_volume else vol
        ax.plot([dose], [vol], marker="D", ms=7, color=fill, markeredgecolor=edge, markeredgewidth=1.5,
                linestyle="none", zorder=5)
        k = stacked.get((dose, vol), 0)
        stacked[(dose, vol)] = k + 1
        ax.annotate(lim["text"], (dose, vol), xytext=(5, 4 + 9 * k), textcoords="offset points", fontsize=7,
                    color="#222222", zorder=6)
        drawn += 1
    return drawn


def plot_dvh(dvhs: DVH | Mapping[str, DVH] | Iterable[DVH], *, ax: Any = None,
             kind: Literal["cumulative", "differential"] = "cumulative",
             volume: Literal["relative", "absolute"] = "relative", limits: Any = None,
             log_volume: bool = False, bin_gy: float = DEFAULT_BIN_GY, title: str | None = None,
             colours: Mapping[str, str] | None = None, linestyle: str = "-") -> Any:
    """Plot DVHs on a matplotlib axes.

    Parameters
    ----------
    dvhs : DVH, list of DVH, or mapping of name -> DVH
        All of one dose quantity (physical dose, or one EQD2/BED label).
    ax : matplotlib Axes, optional
        Drawn into; default a new figure.
    kind : {"cumulative", "differential"}
    volume : {"relative", "absolute"}
        % of the covered volume, or cc.
    limits : Report or list of (structure, metric, comparator, limit), optional
        Drawn as labelled markers (see the module docstring); cumulative plots only.
    log_volume : bool
        Logarithmic volume axis from :data:`LOG_FLOOR` up: small-volume limits
        (``D0.03cc``) become readable.
    bin_gy : float
        Bin width of a differential plot, Gy.
    title : str, optional
    colours : mapping of name -> colour, optional
        Default: :data:`NEUTRAL_PALETTE` in order.
    linestyle : str
        Matplotlib line style (``"--"`` for a second plan).

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ParameterError
        matplotlib missing, DVHs of different quantities, bad ``kind``/``volume``.

    Examples
    --------
    >>> import numpy as np, dosecalc
    >>> from dosecalc.plot import plot_dvh
    >>> d = dosecalc.DVH.from_samples(np.linspace(1, 40, 50), np.full(50, 0.1), name="PTV")
    >>> ax = plot_dvh(d, limits=[("PTV", "D0.03cc[Gy]", "<", 42.0)], log_volume=True)
    >>> ax.get_ylabel()
    'Volume (%)'
    """
    if kind not in ("cumulative", "differential"):
        raise ParameterError(f"kind must be 'cumulative' or 'differential', got {kind!r}")
    if volume not in ("relative", "absolute"):
        raise ParameterError(f"volume must be 'relative' or 'absolute', got {volume!r}")
    items = _dvh_items(dvhs)
    quantities = {d.quantity for _, d in items}
    if len(quantities) > 1:
        raise ParameterError(f"plot_dvh: the DVHs hold different quantities {sorted(quantities)}; "
                             "plot each quantity on its own axes")
    relative = volume == "relative"
    ax = _axes(ax)
    cols = dict(colours or {})
    for i, (name, _) in enumerate(items):
        cols.setdefault(name, NEUTRAL_PALETTE[i % len(NEUTRAL_PALETTE)])
    for name, d in items:
        if kind == "cumulative":
            x, y = d.cumulative(relative=relative)
            if log_volume:
                y = np.where(y > 0, y, np.nan)
        else:
            x, y = d.differential(bin_gy=bin_gy, relative=relative)
        ax.plot(x, y, color=cols[name], lw=1.6, linestyle=linestyle, label=name)
    if kind == "cumulative" and limits is not None:
        _draw_limits(ax, _limits_of(limits), dict(items), cols, relative, log_volume)
    quantity = next(iter(quantities)) if quantities else "dose"
    ax.set_xlabel(_quantity_label(quantity))
    unit = "%" if relative else "cc"
    ax.set_ylabel(f"Volume ({unit})" if kind == "cumulative" else f"Volume per {bin_gy:g} Gy ({unit})")
    if log_volume:
        ax.set_yscale("log")
        ax.set_ylim(bottom=LOG_FLOOR)
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, loc="left", fontsize=11)
    if items:
        ax.legend(fontsize=7, loc="best")
    return ax


def plot_report(report: Any, *, ax: Any = None, volume: Literal["relative", "absolute"] = "relative",
                log_volume: bool = False, structures: Sequence[str] | None = None) -> Any:
    """A protocol check's DVHs with every dose constraint as a labelled marker.

    Parameters
    ----------
    report : dosecalc.protocols.evaluate.Report
        From :func:`dosecalc.check`; its ``dvhs`` (or ``curves``) are drawn.
    ax : matplotlib Axes, optional
    volume : {"relative", "absolute"}
    log_volume : bool
        Logarithmic volume axis (point-dose limits readable).
    structures : sequence of str, optional
        Evaluated ROIs to draw; default all.

    Returns
    -------
    matplotlib Axes
    """
    dvhs = getattr(report, "dvhs", None)
    if dvhs:
        items = {k: v for k, v in dvhs.items() if structures is None or k in structures}
        return plot_dvh(items, ax=ax, volume=volume, limits=report, log_volume=log_volume,
                        title=f"{report.protocol.id}: {report.verdict}")
    # Older reports carry only their curves (dose Gy, volume %)
    ax = _axes(ax)
    for i, c in enumerate(report.curves):
        if structures is not None and c.label not in structures:
            continue
        y = np.asarray(c.volume_pct) if volume == "relative" else np.asarray(c.volume_pct) * c.volume_cc / 100
        ax.plot(c.dose_gy, y, color=NEUTRAL_PALETTE[i % len(NEUTRAL_PALETTE)], lw=1.6, label=c.label)
    from types import SimpleNamespace

    shown = {c.label: SimpleNamespace(covered_cc=c.volume_cc, prescription_gy=report.prescription_gy)
             for c in report.curves if structures is None or c.label in structures}
    cols = {c.label: NEUTRAL_PALETTE[i % len(NEUTRAL_PALETTE)] for i, c in enumerate(report.curves)}
    _draw_limits(ax, _limits_of(report), shown, cols, volume == "relative", log_volume)  # type: ignore[arg-type]
    ax.set_xlabel("Dose (Gy)")
    ax.set_ylabel("Volume (%)" if volume == "relative" else "Volume (cc)")
    ax.set_title(f"{report.protocol.id}: {report.verdict}", loc="left", fontsize=11)
    if log_volume:
        ax.set_yscale("log")
        ax.set_ylim(bottom=LOG_FLOOR)
    ax.legend(fontsize=7)
    return ax


def plot_comparison(comparison: Any, structure: str | None = None, *, ax: Any = None,
                    volume: Literal["relative", "absolute"] = "relative", log_volume: bool = False) -> Any:
    """Plans ``a`` (solid) and ``b`` (dashed) of a :class:`dosecalc.comparison.Comparison`.

    Parameters
    ----------
    comparison : Comparison
    structure : str, optional
        One structure; default every structure compared.
    ax : matplotlib Axes, optional
    volume : {"relative", "absolute"}
    log_volume : bool

    Returns
    -------
    matplotlib Axes
    """
    names = [structure] if structure is not None else list(comparison.pairs)
    ax = _axes(ax)
    cols = {n: NEUTRAL_PALETTE[i % len(NEUTRAL_PALETTE)] for i, n in enumerate(names)}
    a_label, b_label = comparison.labels
    plot_dvh({f"{n} ({a_label})": comparison.pairs[n][0] for n in names}, ax=ax, volume=volume,
             log_volume=log_volume, colours={f"{n} ({a_label})": cols[n] for n in names})
    plot_dvh({f"{n} ({b_label})": comparison.pairs[n][1] for n in names}, ax=ax, volume=volume,
             log_volume=log_volume, colours={f"{n} ({b_label})": cols[n] for n in names}, linestyle="--")
    return ax
