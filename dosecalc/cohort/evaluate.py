"""One plan: load, check, reduce to a small JSON-able result; every error stays with it."""

from __future__ import annotations

import time
import traceback
from dataclasses import replace
from pathlib import Path

from ..case import load
from ..errors import DoseCalcError
from ..protocols.evaluate import check
from ..textsafe import one_line
from .jobs import PlanJob, PlanResult


def evaluate_plan(job: PlanJob, protocol, fractions=None, child_pugh=None,
                  fingerprint: str = "", dose_is=None, options: dict | None = None) -> PlanResult:
    """Load and check one plan; every error becomes part of the result, never raised."""
    t0 = time.perf_counter()
    patient_id = None
    if job.error is not None:
        return PlanResult(job.key, "error", None, None, job.error, 0.0, None, fingerprint)
    try:
        paths = job.files or (job.folder,)
        if job.plan is None:
            case = load(*paths, dose_is=dose_is)
        else:
            case = load(*paths, plan=job.plan, dose_is=dose_is)
        patient_id = case.patient_id
        report = check(case, protocol, fractions=fractions, child_pugh=child_pugh, **(options or {}))
        data = report.to_dict()
        del case, report  # nothing of the plan's arrays outlives its result
        return PlanResult(job.key, "ok", patient_id, data.get("verdict"), None,
                          time.perf_counter() - t0, data, fingerprint)
    except DoseCalcError as exc:
        message = str(exc)
    except MemoryError:
        message = "MemoryError: the plan does not fit in this worker's memory"
    except RecursionError:
        message = "internal error RecursionError: input nested too deep"
    except Exception as exc:  # a bug must not stop the cohort; keep where it happened
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        message = f"internal error {type(exc).__name__}: {exc} (at {Path(tb.filename).name}:{tb.lineno})"
    return PlanResult(job.key, "error", patient_id, None, one_line(message, 2000),
                      time.perf_counter() - t0, None, fingerprint)


def evaluate_on_threads(threads: dict, job: PlanJob, *args) -> PlanResult:
    """:func:`evaluate_plan` on a Dask worker, with numba's thread count set for that
    worker (``threads``: worker address -> threads, see ``cohort.run._dask_threads``) so
    that the workers of one machine together use its cores once, not once each.  The
    results do not depend on the thread count (a rule of the kernels)."""
    try:
        from distributed import get_worker

        n = threads.get(get_worker().address)
    except (ImportError, ValueError):  # not on a Dask worker: numba's own setting
        n = None
    if n:
        import numba

        numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    return evaluate_plan(job, *args)


def warm_up() -> None:
    """Ready a new worker process before its first plan: importing this module did the
    imports of :func:`evaluate_plan`; this does numba's one-time set-up of its compiler
    context, which the first kernel call of a process pays whether the kernel is
    compiled or loaded from the on-disk cache (measured 0.5-0.9 s on the 2-core machine).
    """
    try:
        from numba.core.registry import cpu_target  # numba's own first step of a cache load

        cpu_target.target_context.refresh()
    except (ImportError, AttributeError):  # another numba layout: the first plan pays it
        pass


def failed(job: PlanJob, message: str, seconds: float, fingerprint: str) -> PlanResult:
    """The result of a plan whose evaluation never returned (worker died, time limit)."""
    return PlanResult(job.key, "error", None, None, one_line(message, 2000), seconds, None, fingerprint)


def with_inputs(result: PlanResult, inputs_fingerprint: str, inputs: dict, reason: str | None) -> PlanResult:
    return replace(result, inputs_fingerprint=inputs_fingerprint, inputs=inputs, reason=reason)
