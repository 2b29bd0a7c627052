"""A DVH as JSON-ready data (:meth:`DVH.to_dict <dosecalc.dvh.DVH.to_dict>`) and as a pandas
table (:func:`dvh_curve_frame`).  Doses in Gy (or the DVH's quantity), volumes in cc.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterable, Literal

import numpy as np

from ._pandas import pandas_module
from .dvh_curve import DEFAULT_BIN_GY
from .errors import ParameterError
from .serialise import jsonable

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from .dvh import DVH


def dvh_to_dict(dvh: "DVH", metrics: Iterable[str] = (), curve_step_gy: float | None = None) -> dict:
    """:meth:`DVH.to_dict <dosecalc.dvh.DVH.to_dict>` of ``dvh`` (parameters there): a
    JSON-ready summary, NaN as None, doses in Gy (or the DVH's quantity), volumes in cc."""
    def num(x):
        return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)

    out = {
        "name": dvh.name,
        "quantity": dvh.quantity,
        "volume_cc": num(dvh.volume_cc),
        "covered_cc": num(dvh.covered_cc),
        "outside_cc": num(dvh.outside_cc),
        "coverage_warning": dvh.coverage_warning,
        "prescription_gy": num(dvh.prescription_gy),
        "min_gy": num(dvh.min_gy),
        "mean_gy": num(dvh.mean_gy),
        "max_gy": num(dvh.max_gy),
        "settings": jsonable(dvh.settings),
    }
    specs = list(metrics)
    if specs:
        results = [dvh.evaluate(s) for s in specs]
        out["metrics"] = {r.spec: num(r.value) for r in results}
        notes = {r.spec: r.note for r in results if r.note and r.note != dvh.coverage_warning}
        if notes:
            out["notes"] = notes
    if curve_step_gy is not None:
        if not (math.isfinite(curve_step_gy) and curve_step_gy > 0):
            raise ParameterError(f"curve_step_gy must be > 0 Gy, got {curve_step_gy!r}")
        hi = dvh.max_gy if math.isfinite(dvh.max_gy) else 0.0
        n = int(math.floor(max(hi, 0.0) / curve_step_gy + 1e-9)) + 2
        dose, vol = dvh.cumulative(curve_step_gy * np.arange(n, dtype=np.float64))
        out["cumulative"] = {"dose_gy": dose.tolist(), "volume_cc": vol.tolist()}
    return out


def dvh_curve_frame(dvh: "DVH", kind: Literal["cumulative", "differential"] = "cumulative",
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
