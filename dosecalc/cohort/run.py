"""A cohort run: discover, decide what is new work, evaluate, record, write the tables."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from ..display import batch_html, batch_repr
from ..dose_reading import parse_dose_is
from ..errors import OutputError, ParameterError
from ..io.walk import display_path
from ..net import is_url
from ..net.dicomweb import fetch_cohort
from ..protocols.schema import load_protocol
from ..tables import batch_wide_frame
from .discover import find_plans
from .evaluate import evaluate_on_threads, evaluate_plan, failed
from .fingerprint import (
    input_table,
    inputs_fingerprint,
    options_fingerprint,
    redo_reason,
)
from .jobs import PlanJob, PlanResult
from .pool import cores, prepare, run_pool
from .store import Store, check_out_folder, constraint_rows, safe_name, summary_row

#: Default per-plan time limit (s).  A plan takes seconds; a 1 mm grid with many
#: structures well under a minute.  Ten minutes marks a plan that will never finish
#: (a hung file system, a pathological export) without cutting a slow real one.
DEFAULT_TIMEOUT_S = 600.0

#: What readies a worker process (imported by the workers' fork server).
WORKER_PRELOAD = "dosecalc.cohort.warm"


@dataclass
class BatchRun:
    """Iterator over :class:`PlanResult` as plans finish; ``results`` keeps them all.

    ``redone`` counts the plans evaluated in this run by reason (``new``, ``inputs
    changed``, ``protocol or options changed``, ``the previous run did not finish it``,
    ``forced``).
    """

    _iter: Iterator[PlanResult]
    jobs: list[PlanJob]
    results: list[PlanResult] = field(default_factory=list)
    redone: dict = field(default_factory=dict)

    def __iter__(self) -> "BatchRun":
        return self

    def __next__(self) -> PlanResult:
        r = next(self._iter)
        self.results.append(r)
        return r

    def close(self) -> None:
        """Stop: workers are ended and the tables written for what is done."""
        self._iter.close()

    def run(self) -> list[PlanResult]:
        """Consume the remaining results and return them all."""
        for _ in self:
            pass
        return self.results

    def __repr__(self) -> str:
        return batch_repr(self)

    def _repr_html_(self) -> str:
        return batch_html(self)

    def to_dataframe(self, wide: bool = False):
        """All results (consumed first) as a pandas DataFrame.

        Parameters
        ----------
        wide : bool
            False (default): one row per plan x constraint (columns as the batch CSV);
            plans without a report appear once with their status and error.  True: one
            row per plan (a trial database row): identity, status, verdict, then
            ``<constraint id> value [unit]`` and ``<constraint id> verdict`` columns.
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ParameterError("to_dataframe() needs pandas: pip install pandas") from exc
        self.run()
        if wide:
            return batch_wide_frame(self.results)
        rows = constraint_rows(self.results)
        rows += [summary_row(r) for r in self.results if not r.report]
        return pd.DataFrame(rows)


def _check_args(paths, workers, timeout, force, progress) -> tuple[list, float | None]:
    if isinstance(paths, (str, os.PathLike)):
        roots = [paths]
    elif isinstance(paths, (list, tuple)):
        roots = list(paths)
    else:
        raise ParameterError(f"paths must be a cohort folder or a list of them, got {type(paths).__name__}")
    if not roots:
        raise ParameterError("no cohort folder given")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise ParameterError(f"workers must be a whole number >= 0 (0: in this process), got {workers!r}")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0 \
                or timeout != timeout:
            raise ParameterError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
        timeout = float(timeout)
    for name, v in (("force", force),):
        if not isinstance(v, bool):
            raise ParameterError(f"{name} must be True or False, got {v!r}")
    if progress is not None and not isinstance(progress, bool):
        raise ParameterError(f"progress must be True, False or None, got {progress!r}")
    return roots, timeout


def batch(paths, protocol, workers: int | None = None, client=None, *, out=None,
          force: bool = False, fractions=None, child_pugh=None, progress: bool | None = None,
          timeout: float | None = DEFAULT_TIMEOUT_S, dose_is=None, mapping: dict | None = None,
          site: str | None = None, convert: bool = False, transition_dose: float | None = None) -> BatchRun:
    """Evaluate many plans against a protocol.

    Parameters
    ----------
    paths : str, Path or list of them
        A cohort root (its plans are found with :func:`find_plans`) or several roots.
    protocol : str, Path or Protocol
        A built-in protocol id, a protocol file, or a loaded protocol.
    workers : int, optional
        Local worker processes (default: the number of cores).  0 runs the plans in this
        process, one after the other, without a time limit (for debugging).
    client : dask.distributed.Client, optional
        Run on this Dask cluster instead of local processes.
    out : str or Path, optional
        Output folder: one JSON per plan, ``constraints.csv``, ``summary.csv``.  With an
        ``out``, a plan is skipped (status ``skipped``) when its stored result was made
        from the same input files (paths, sizes, modification times, SOP Instance UIDs)
        with the same protocol and options; ``force`` evaluates every plan again and takes
        over a folder made for another cohort (refused otherwise).  An ``out`` inside a
        cohort root is left out of the search.
    fractions, child_pugh
        Passed to :func:`dosecalc.check` for every plan.
    progress : bool, optional
        Show a progress bar (default: only when stderr is a terminal).
    dose_is : {"total", "per-fraction"}, optional
        Passed to :func:`dosecalc.load` for every plan (how to read the RTDOSE).
    mapping, site, convert, transition_dose
        Passed to :func:`dosecalc.check` for every plan (see there).
    timeout : float or None
        Per-plan time limit in seconds for local workers (default 600); a plan past it
        is recorded as an error and its worker replaced.

    Returns
    -------
    BatchRun
        Iterate it to get :class:`PlanResult` objects as they finish.

    Examples
    --------
    ``cohort_dir`` holds one folder per patient (here two copies of the synthetic export):

    >>> from dosecalc import batch
    >>> results = list(batch(cohort_dir, "hcc-oligoprogression", workers=1))
    >>> sorted((r.plan, r.status) for r in results)
    [('p1', 'ok'), ('p2', 'ok')]
    """
    roots, timeout = _check_args(paths, workers, timeout, force, progress)
    roots = _local_roots(roots)
    dose_is = parse_dose_is(dose_is)
    if not hasattr(protocol, "constraints"):
        protocol = load_protocol(protocol)
    protocol.site(site)  # an unknown site is bad input for the whole cohort
    options = {k: v for k, v in (("mapping", mapping or None), ("site", site), ("convert", convert or None),
                                 ("transition_dose", transition_dose)) if v is not None}
    out_path = check_out_folder(out) if out is not None else None
    if out_path is not None:
        _refuse_root_as_out(out_path, roots)
    n = (os.cpu_count() or 1) if workers is None else workers
    if client is None and n > 0:
        # the fork server of the workers imports what a plan needs while this process
        # searches the cohort and fingerprints its files (once per process: later batch
        # calls find it ready)
        prepare(WORKER_PRELOAD)
    exclude = [out_path] if out_path is not None and out_path.exists() else []
    jobs = [j for r in roots for j in find_plans(r, exclude=exclude)]
    _check_keys(jobs)
    fingerprint = options_fingerprint(protocol, fractions, child_pugh, dose_is, options)
    store = None
    if out_path is not None:
        inputs = {os.path.realpath(f) for j in jobs for f in j.files}
        resolved = [os.path.realpath(os.path.expanduser(os.fspath(r))) for r in roots]
        store = Store(out_path, [display_path(r) for r in resolved], inputs, force=force)
    runner = BatchRun(iter(()), jobs)
    runner._iter = _run(runner, jobs, (protocol, fractions, child_pugh, fingerprint, dose_is, options), store,
                        force, n, client, progress, timeout)
    return runner


def _local_roots(roots: list) -> list:
    """A DICOMweb archive URL becomes its materialised cohort folder (dosecalc.net)."""
    if not any(is_url(r) for r in roots):
        return roots
    return [fetch_cohort(r) if is_url(r) else r for r in roots]


def _refuse_root_as_out(out_path: Path, roots) -> None:
    real = os.path.realpath(out_path)
    for r in roots:
        if os.path.realpath(os.path.expanduser(os.fspath(r))) == real:
            raise OutputError("output folder is the cohort root: its outputs would be read as plans "
                              "by the next run; give a folder of its own (a folder inside the root "
                              "is fine: it is left out of the search)", path=display_path(out_path))


def _check_keys(jobs: list[PlanJob]) -> None:
    seen = set()
    for j in jobs:
        if j.key in seen:
            raise ParameterError(f"two cohort roots both hold a plan {j.key!r}; give roots whose "
                                 f"patient folders have different names")
        seen.add(j.key)


def _plan_work(jobs, fingerprint, store, force):
    """(stored results still valid, [(job, table, inputs fingerprint, reason)] to evaluate)."""
    done, todo = [], []
    for job in jobs:
        table = input_table(job)
        fp_inputs = inputs_fingerprint(table)
        previous = None if store is None else store.previous(job.key)
        reason = "forced" if force else redo_reason(previous, fingerprint, table, fp_inputs)
        if reason is None and store is not None:
            done.append(previous)
        else:
            todo.append((job, table, fp_inputs, reason))
    return done, todo


def _run(runner: BatchRun, jobs, args, store, force, workers, client, progress,
         timeout) -> Iterator[PlanResult]:
    """``args``: what :func:`evaluate_plan` takes after the job (protocol, fractions,
    child_pugh, options fingerprint, dose_is, check options)."""
    fingerprint = args[3]
    done, todo = _plan_work(jobs, fingerprint, store, force)
    by_key = {job.key: (table, fp, reason) for job, table, fp, reason in todo}
    for _, _, _, reason in todo:
        kind = reason.split(":", 1)[0]
        runner.redone[kind] = runner.redone.get(kind, 0) + 1
    all_results: list[PlanResult] = []
    bar = _progress(len(jobs), initial=len(done), enabled=progress)
    try:
        for r in done:
            all_results.append(r)
            yield replace(r, status="skipped" if r.status == "ok" else r.status, reason=None)
        for r in _execute([t[0] for t in todo], args, workers, client, timeout):
            table, fp_inputs, reason = by_key[r.plan]
            r = replace(r, inputs_fingerprint=fp_inputs, inputs=table, reason=reason)
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


def _execute(jobs, args, workers, client, timeout):
    if not jobs:
        return
    fingerprint = args[3]

    def on_fail(job, message, seconds):
        return failed(job, message, seconds, fingerprint)

    if client is not None:
        yield from _execute_dask(jobs, args, client, on_fail)
        return
    if workers == 0:
        for job in jobs:
            yield evaluate_plan(job, *args)
        return

    yield from run_pool(jobs, evaluate_plan, args, workers, timeout, on_fail, preload=WORKER_PRELOAD)


def _dask_threads(client) -> dict:
    """numba threads per Dask worker (address -> n): the cores of its machine shared
    among the worker threads Dask runs there (a LocalCluster of 2 single-threaded workers
    on 2 cores: 1 each, not numba's default of 2 each)."""
    try:
        workers = client.scheduler_info()["workers"]
        machine_cores = client.run(cores)  # address -> cores the worker may run on
    except Exception:  # noqa: BLE001 - an old or odd cluster: leave numba's default
        return {}
    per_host: dict = {}
    for info in workers.values():
        per_host[info.get("host")] = per_host.get(info.get("host"), 0) + int(info.get("nthreads") or 1)
    return {addr: max(1, int(machine_cores.get(addr, 1)) // max(1, per_host.get(info.get("host"), 1)))
            for addr, info in workers.items()}


def _execute_dask(jobs, args, client, on_fail):
    from distributed import as_completed

    threads = _dask_threads(client)
    futures = {client.submit(evaluate_on_threads, threads, job, *args, pure=False,
                             key=f"dosecalc-{safe_name(job.key)}-{i}"): job
               for i, job in enumerate(jobs)}
    try:
        for fut in as_completed(list(futures)):
            try:
                yield fut.result()
            except Exception as exc:  # a lost or killed Dask worker is this plan's error
                yield on_fail(futures[fut], f"Dask worker failed: {type(exc).__name__}: {exc}", 0.0)
            fut.release()  # let the cluster forget the result once it is written
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
