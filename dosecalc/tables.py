"""Tables for pandas: a DVH's curve, a case's metric table, a protocol report, a cohort.

Each function returns a :class:`pandas.DataFrame` (pandas is the optional ``pandas``
extra) whose column names carry their unit, and backs a method of the object concerned
(``DVH.to_dataframe``, ``Case.dvh_table``, ``Report.to_dataframe``,
``BatchRun.to_dataframe(wide=True)``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping, Sequence

import numpy as np

from ._pandas import pandas_module
from .analysis import case_dvhs
from .dvh import DEFAULT_BIN_GY, DVH, dvh_curve_frame  # noqa: F401  (dvh_curve_frame: its old home)
from .errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    import pandas

#: Metrics of ``case.dvh_table()`` when none are given (the ``dosecalc dvh`` defaults).
DEFAULT_METRICS: tuple[str, ...] = ("Volume[cc]", "Min[Gy]", "Max[Gy]", "Mean[Gy]", "D99%[Gy]",
                                    "D95%[Gy]", "D50%[Gy]", "D5%[Gy]", "D1%[Gy]", "D0.03cc[Gy]")


def dvh_metric_rows(dvhs: Mapping[str, DVH], metrics: Sequence[str]) -> list[dict]:
    """One dict per structure: ``structure``, ``quantity``, ``outside_cc`` then one key per
    metric label (``D95%[Gy]``, ``D95%[EQD2Gy(a/b=2.5)]``), NaN when undefined."""
    rows = []
    for key, d in dvhs.items():
        row: dict[str, Any] = {"structure": key, "quantity": d.quantity, "outside_cc": d.outside_cc}
        for spec in metrics:
            r = d.evaluate(spec)
            row[r.label] = r.value
        rows.append(row)
    return rows


def case_dvh_table(case: Any, metrics: Iterable[str] | str | None = None,
                   structures: Iterable[str | int] | str | int | None = None,
                   **options: Any) -> "pandas.DataFrame":
    """One row per structure, one column per metric (see :meth:`Case.dvh_table`)."""
    pd = pandas_module("case.dvh_table()")
    specs = list(DEFAULT_METRICS if metrics is None else [metrics] if isinstance(metrics, str) else metrics)
    if isinstance(structures, (str, int)):
        structures = [structures]   # one name, never its characters
    dvhs = case_dvhs(case, None if structures is None else list(structures), **options)
    df = pd.DataFrame(dvh_metric_rows(dvhs, specs))
    if len(df):
        df = df.set_index("structure")
    return df


def report_frame(report: Any) -> "pandas.DataFrame":
    """One row per constraint of a protocol check, with the plan's identity repeated on
    every row (ready to append to a chart or a trial CRF)."""
    pd = pandas_module("Report.to_dataframe()")
    d = report.as_dict()
    ident = {f"{k}": v for k, v in (d.get("identity") or {}).items() if not isinstance(v, (dict, list))}
    rows = []
    for c in d["constraints"]:
        row = dict(ident)
        row.update({"protocol": d["protocol"], "overall_verdict": d["verdict"]})
        row.update(c)
        rows.append(row)
    return pd.DataFrame(rows)


def constraint_key(c: Mapping[str, Any]) -> str:
    """Column stem of one constraint in a wide table: its id, else ``structure metric``."""
    return str(c.get("id") or f"{c.get('structure')} {c.get('metric')}")


def constraint_keys(constraints: Sequence[Mapping[str, Any]]) -> list[str]:
    """Unique column stems of a report's rows: the constraint id, with the evaluated ROI
    added where one id gives several rows (``combine = "each"``: one row per PTV)."""
    stems = [constraint_key(c) for c in constraints]
    counts: dict[str, int] = {}
    for k in stems:
        counts[k] = counts.get(k, 0) + 1
    return [f"{k} ({c.get('roi')})" if counts[k] > 1 else k for k, c in zip(stems, constraints)]


def batch_wide_rows(results: Iterable[Any]) -> list[dict]:
    """One row per plan: identity, status, verdict, then ``<constraint> value [unit]`` and
    ``<constraint> verdict`` for every constraint (see :func:`constraint_keys`)."""
    rows = []
    for r in results:
        rep = r.report or {}
        ident = rep.get("identity") or {}
        row: dict[str, Any] = {"plan": r.plan, "patient_id": r.patient_id, "status": r.status,
                               "verdict": r.verdict, "error": r.error}
        for k in ("patient_name", "plan_label", "plan_date", "rtplan_sop_instance_uid",
                  "rtdose_sop_instance_uid", "dosecalc_version", "protocol_id", "protocol_version",
                  "run_at"):
            if k in ident:
                row[k] = ident[k]
        constraints = rep.get("constraints", [])
        for key, c in zip(constraint_keys(constraints), constraints):
            unit = c.get("unit") or ""
            row[f"{key} value [{unit}]" if unit else f"{key} value"] = c.get("value")
            row[f"{key} verdict"] = c.get("verdict")
        rows.append(row)
    return rows


def batch_wide_frame(results: Iterable[Any]) -> "pandas.DataFrame":
    """:func:`batch_wide_rows` as a DataFrame indexed by plan."""
    pd = pandas_module("BatchRun.to_dataframe(wide=True)")
    df = pd.DataFrame(batch_wide_rows(results))
    return df.set_index("plan") if len(df) else df
