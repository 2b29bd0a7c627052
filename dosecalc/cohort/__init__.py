"""Cohorts: evaluate many plans against a protocol, locally in parallel or on Dask.

The entry point is :func:`batch`, public as ``dosecalc.batch`` (``import dosecalc;
dosecalc.batch(...)`` or ``from dosecalc import batch``).  This package is
``dosecalc.cohort``: a package named ``batch`` beside a function ``dosecalc.batch`` made
the name mean the module or the function depending on what had been imported before.

The unit of work is one plan: a patient folder below the cohort root, or, when a folder
holds several plans, one plan of it (selected by its RTPLAN SOP instance UID).  Each plan
is loaded, checked and reduced to a small JSON-able result in a worker; no dose array
leaves the worker, so memory per worker stays bounded by one plan.

Whatever goes wrong stays with its plan: a folder that cannot be searched, a file that
cannot be read, a bug, a worker killed by the out-of-memory killer, a plan past the time
limit.  Results are written as they finish (one JSON per plan, atomically); a re-run skips
a plan only when its input files and the protocol and options are what its stored result
was made from.

Modules: :mod:`.discover` (plans below a root), :mod:`.fingerprint` (what makes a stored
result reusable), :mod:`.evaluate` (one plan), :mod:`.pool` (worker processes),
:mod:`.store` (the output folder and tables), :mod:`.run` (the run itself).
"""

from __future__ import annotations

from .discover import find_plans
from .evaluate import evaluate_plan
from .jobs import RESULT_VERSION, PlanJob, PlanResult
from .run import DEFAULT_TIMEOUT_S, BatchRun, batch
from .store import CSV_COLUMNS, SUMMARY_COLUMNS, constraint_rows, summary_row

__all__ = ["batch", "BatchRun", "PlanJob", "PlanResult", "find_plans", "evaluate_plan",
           "constraint_rows", "summary_row", "CSV_COLUMNS", "SUMMARY_COLUMNS", "RESULT_VERSION",
           "DEFAULT_TIMEOUT_S"]

