"""Cohorts: evaluate many plans against a protocol, locally in parallel or on Dask.

The unit of work is one plan: a patient folder below the cohort root, or, when a folder
holds several plans, one plan of it (selected by its RTPLAN SOP instance UID).  Each plan
is loaded, checked and reduced to a small JSON-able result in a worker; no dose array
leaves the worker, so memory per worker stays bounded by one plan.

A plan that fails to load or evaluate is recorded with its error and never stops the
others.  Results are written as they finish (one JSON per plan, atomically); a re-run
skips every plan whose result exists for the same protocol and options, unless
``force`` is given.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .errors import DoseCalcError, ParameterError, SelectionError
from .io.uids import RTPLAN_CLASSES
from .verdict import Verdict

RESULT_VERSION = 1
CSV_COLUMNS = ("plan", "patient_id", "structure", "metric", "value", "limit", "level2",
               "verdict", "reason", "source", "confidence")
SUMMARY_COLUMNS = ("plan", "patient_id", "status", "verdict", "n_fail", "n_not_evaluable",
                   "seconds", "error", "dose_reading")


@dataclass(frozen=True)
class PlanJob:
    """One plan to evaluate.

    Attributes
    ----------
    key : str
        The plan's folder relative to the cohort root (POSIX separators), with
        ``#<plan UID>`` appended when the folder holds several plans.
    folder : str
        Absolute folder to load.
    plan : str or None
        RTPLAN SOP instance UID passed to :func:`dosecalc.load` when the folder holds
        several plans.
    """

    key: str
    folder: str
    plan: str | None = None


@dataclass(frozen=True)
class PlanResult:
    """What one plan's evaluation gave: the report as a dict, or the error."""

    plan: str
    status: str  # "ok" | "error" | "skipped" (done in an earlier run)
    patient_id: str | None = None
    verdict: str | None = None
    error: str | None = None
    seconds: float = 0.0
    report: dict | None = None
    fingerprint: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["result_version"] = RESULT_VERSION
        return d


# --- discovery -------------------------------------------------------------------------
def _plan_uids(folder: Path) -> list[str]:
    """SOP instance UIDs of the RTPLAN files below ``folder`` (headers only)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    uids = set()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True,
                                 specific_tags=["SOPClassUID", "SOPInstanceUID"])
        except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, EOFError):
            continue  # the loader reports unreadable files when the plan is evaluated
        if str(ds.get("SOPClassUID", "")) in RTPLAN_CLASSES and ds.get("SOPInstanceUID"):
            uids.add(str(ds.SOPInstanceUID))
    return sorted(uids)


def find_plans(root: str | Path) -> list[PlanJob]:
    """Every plan below a cohort root.

    Each immediate sub-folder of ``root`` is one patient (files directly in ``root`` form
    one more unit, keyed "."); a unit with several RTPLANs gives one job per plan.

    Parameters
    ----------
    root : str or Path
        Cohort folder.

    Returns
    -------
    list of PlanJob, sorted by key.
    """
    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"cohort root {root} is not a folder")
    units = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    if any(p.is_file() for p in root.iterdir()):
        units.insert(0, root)
    jobs = []
    for unit in units:
        rel = unit.relative_to(root).as_posix() or "."
        if unit == root:
            # only the loose files of the root: sub-folders are their own units
            uids = []
        else:
            uids = _plan_uids(unit)
        if len(uids) <= 1:
            jobs.append(PlanJob(rel, str(unit.resolve())))
        else:
            jobs.extend(PlanJob(f"{rel}#{uid}", str(unit.resolve()), uid) for uid in uids)
    if not jobs:
        raise SelectionError(f"no plan folders found below {root}", path=root)
    return sorted(jobs, key=lambda j: j.key)


# --- one plan ----------------------------------------------------------------------------
def evaluate_plan(job: PlanJob, protocol, fractions=None, child_pugh=None,
                  fingerprint: str = "", dose_is=None, options: dict | None = None) -> PlanResult:
    """Load and check one plan; every error becomes part of the result, never raised."""
    from .io.load import load
    from .protocols.evaluate import check

    t0 = time.perf_counter()
    patient_id = None
    try:
        if job.plan is None:
            case = load(job.folder, dose_is=dose_is)
        else:
            case = load(job.folder, plan=job.plan, dose_is=dose_is)
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
    except Exception as exc:  # a bug must not stop the cohort; keep where it happened
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        message = f"internal error {type(exc).__name__}: {exc} (at {Path(tb.filename).name}:{tb.lineno})"
    return PlanResult(job.key, "error", patient_id, None, message, time.perf_counter() - t0,
                      None, fingerprint)


def _init_worker(numba_threads: int) -> None:
    """Process-pool initialiser: share the cores between workers instead of oversubscribing."""
    try:
        import numba

        numba.set_num_threads(max(1, min(numba_threads, numba.config.NUMBA_NUM_THREADS)))
    except ImportError:  # pragma: no cover - numba is a hard dependency
        pass


# --- outputs -----------------------------------------------------------------------------
def _safe_name(key: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._") or "root"
    # the hash keeps two keys that sanitise alike ("a b", "a_b") apart
    return f"{name[:100]}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def _fingerprint(protocol, fractions, child_pugh, dose_is=None, options=None) -> str:
    from . import __version__

    proto = protocol.to_dict() if hasattr(protocol, "to_dict") else repr(protocol)
    extra = options
    options = {"protocol": proto, "fractions": fractions, "child_pugh": child_pugh}
    if dose_is is not None:  # absent when unset: earlier results keep their fingerprint
        options["dose_is"] = dose_is
    if extra:  # matching, site, conversion: absent when unset, as dose_is
        options["check_options"] = extra
    blob = json.dumps({**options,
                       "dosecalc": __version__, "result_version": RESULT_VERSION},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _Store:
    """The output folder: ``plans/<name>.json``, ``constraints.csv``, ``summary.csv``."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.plans = self.out / "plans"
        self.plans.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.plans / f"{_safe_name(key)}.json"

    def done(self, key: str, fingerprint: str) -> PlanResult | None:
        p = self.path(key)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("fingerprint") != fingerprint or data.get("plan") != key:
            return None
        data.pop("result_version", None)
        return PlanResult(**data)

    def write(self, result: PlanResult) -> None:
        from .io.atomic import write_text

        write_text(self.path(result.plan), json.dumps(result.to_dict(), indent=1, default=str) + "\n")

    def write_tables(self, results: list[PlanResult]) -> None:
        from .io.atomic import write_text

        write_text(self.out / "constraints.csv", _csv(constraint_rows(results), CSV_COLUMNS))
        write_text(self.out / "summary.csv", _csv([summary_row(r) for r in results], SUMMARY_COLUMNS))


def constraint_rows(results: Iterable[PlanResult]) -> list[dict]:
    """One row per plan x constraint (plans that failed give no rows: see the summary)."""
    rows = []
    for r in results:
        if not r.report:
            continue
        for c in r.report.get("constraints", []):
            row = {"plan": r.plan, "patient_id": r.patient_id}
            row.update({k: c.get(k) for k in CSV_COLUMNS if k not in row})
            rows.append(row)
    return rows


def summary_row(r: PlanResult) -> dict:
    constraints = (r.report or {}).get("constraints", [])
    return {"plan": r.plan, "patient_id": r.patient_id, "status": r.status, "verdict": r.verdict,
            "n_fail": sum(1 for c in constraints if c.get("verdict") == Verdict.FAIL),
            "n_not_evaluable": sum(1 for c in constraints if c.get("verdict") == Verdict.NOT_EVALUABLE),
            "seconds": round(r.seconds, 3), "error": r.error,
            "dose_reading": (r.report or {}).get("dose_reading")}


def _csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


# --- the run -----------------------------------------------------------------------------
@dataclass
class BatchRun:
    """Iterator over :class:`PlanResult` as plans finish; ``results`` keeps them all."""

    _iter: Iterator[PlanResult]
    jobs: list[PlanJob]
    results: list[PlanResult] = field(default_factory=list)

    def __iter__(self) -> "BatchRun":
        return self

    def __next__(self) -> PlanResult:
        r = next(self._iter)
        self.results.append(r)
        return r

    def run(self) -> list[PlanResult]:
        """Consume the remaining results and return them all."""
        for _ in self:
            pass
        return self.results

    def to_dataframe(self):
        """All results (consumed first) as a pandas DataFrame, one row per plan x constraint;
        plans without a report appear once with their status and error."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ParameterError("to_dataframe() needs pandas: pip install pandas") from exc
        self.run()
        rows = constraint_rows(self.results)
        rows += [summary_row(r) for r in self.results if not r.report]
        return pd.DataFrame(rows)


def batch(paths, protocol, workers: int | None = None, client=None, *, out=None,
          force: bool = False, fractions=None, child_pugh=None, progress: bool | None = None,
          dose_is=None, mapping: dict | None = None, site: str | None = None, convert: bool = False,
          transition_dose: float | None = None) -> BatchRun:
    """Evaluate many plans against a protocol.

    Parameters
    ----------
    paths : str, Path or list of them
        A cohort root (its plans are found with :func:`find_plans`) or several roots.
    protocol : str, Path or Protocol
        A built-in protocol id, a protocol file, or a loaded protocol.
    workers : int, optional
        Local worker processes (default: the number of cores).  1 runs in this process.
    client : dask.distributed.Client, optional
        Run on this Dask cluster instead of local processes.
    out : str or Path, optional
        Output folder: one JSON per plan, ``constraints.csv``, ``summary.csv``.  With an
        ``out``, plans already done for the same protocol and options are skipped
        (status ``skipped``) unless ``force``.
    fractions, child_pugh
        Passed to :func:`dosecalc.check` for every plan.
    dose_is : {"total", "per-fraction"}, optional
        Passed to :func:`dosecalc.load` for every plan (how to read the RTDOSE).
    mapping, site, convert, transition_dose
        Passed to :func:`dosecalc.check` for every plan (see there).
    progress : bool, optional
        Show a progress bar (default: only when stderr is a terminal).

    Returns
    -------
    BatchRun
        Iterate it to get :class:`PlanResult` objects as they finish.
    """
    from .protocols.schema import load_protocol

    if not hasattr(protocol, "constraints"):
        protocol = load_protocol(protocol)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ParameterError(f"workers must be a whole number >= 1, got {workers!r}")
    roots = [paths] if isinstance(paths, (str, Path)) else list(paths)
    jobs = [j for r in roots for j in find_plans(r)]
    from .dose_reading import parse_dose_is

    dose_is = parse_dose_is(dose_is)
    protocol.site(site)  # an unknown site is bad input for the whole cohort
    options = {k: v for k, v in (("mapping", mapping or None), ("site", site), ("convert", convert or None),
                                 ("transition_dose", transition_dose)) if v is not None}
    fingerprint = _fingerprint(protocol, fractions, child_pugh, dose_is, options)
    store = _Store(out) if out is not None else None
    return BatchRun(_run(jobs, protocol, fractions, child_pugh, fingerprint, store, force,
                         workers, client, progress, dose_is, options), jobs)


def _run(jobs, protocol, fractions, child_pugh, fingerprint, store, force, workers, client,
         progress, dose_is=None, options=None) -> Iterator[PlanResult]:
    done: list[PlanResult] = []
    todo: list[PlanJob] = []
    for job in jobs:
        previous = None if (store is None or force) else store.done(job.key, fingerprint)
        if previous is not None:
            done.append(previous)
        else:
            todo.append(job)
    all_results: list[PlanResult] = []
    bar = _progress(len(jobs), initial=len(done), enabled=progress)
    try:
        for r in done:
            skipped = PlanResult(**{**asdict(r), "status": "skipped" if r.status == "ok" else r.status})
            all_results.append(r)
            yield skipped
        for r in _execute(todo, protocol, fractions, child_pugh, fingerprint, workers, client, dose_is, options):
            if store is not None:
                store.write(r)
            all_results.append(r)
            bar.update(1)
            if r.status == "error":
                bar.write_note(f"{r.plan}: {r.error}")
            yield r
    finally:
        bar.close()
        if store is not None:
            store.write_tables(sorted(all_results, key=lambda r: r.plan))


def _execute(jobs, protocol, fractions, child_pugh, fingerprint, workers, client, dose_is=None, options=None):
    if not jobs:
        return
    args = (protocol, fractions, child_pugh, fingerprint, dose_is, options)
    if client is not None:
        from distributed import as_completed

        futures = [client.submit(evaluate_plan, job, *args, pure=False, key=f"dosecalc-{_safe_name(job.key)}-{i}")
                   for i, job in enumerate(jobs)]
        try:
            for fut in as_completed(futures):
                yield fut.result()
                fut.release()  # let the cluster forget the result once it is written
        finally:
            for fut in futures:
                fut.cancel()
        return
    n = workers or os.cpu_count() or 1
    n = min(n, len(jobs))
    if n == 1:
        for job in jobs:
            yield evaluate_plan(job, *args)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // n)
    # spawn, not fork: numba's thread pools do not survive a fork safely
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = [pool.submit(evaluate_plan, job, *args) for job in jobs]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()


class _progress:
    """tqdm when stderr is a terminal (or when asked); silent otherwise."""

    def __init__(self, total: int, initial: int, enabled: bool | None):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="plan", file=sys.stderr,
                            dynamic_ncols=True, desc="plans")

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def write_note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
